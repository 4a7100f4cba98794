"""The EVA family's Cells (timm's ``eva.py``: EVA-02, DINOv3, PE, RoPE-ViT): rotary positions and the EVA block.

RoPE-Mixed (``rope="mixed"``) adds learned per-block, per-head frequencies (:class:`MixedRotary`) and a
block that picks its own tables (:class:`MixedRopeBlock`); EVA-02-E (``post_norm``) its post-norm block
(:class:`EvaPostNormBlock`); Sapiens2 timm's ``AttentionRope`` (q/k norms, grouped-query attention:
:class:`RopeAttention`) and attention-only layer scale (:class:`AttnScaleBlock`).

Chosen from the spec when a model is built (``spec.block == "eva"``, ``spec.rope``), so the
plain ViT's Cells stay as they are. Parameter names are timm's ``EvaBlock`` names:
``gamma_1``/``gamma_2`` for layer scale, ``attn.q_bias``/``attn.v_bias`` (k has no bias),
``attn.q_proj``/``k_proj``/``v_proj`` when q, k and v are apart, ``attn.norm`` and ``mlp.norm``
for EVA-CLIP's inner norms, ``mlp.fc1_g``/``fc1_x`` for the split SwiGLU.

Rotary positions act on the packed ``qkv`` projection ``[B, N, 3, heads, head_dim]``: q and k
channels rotate (``x·cos + (x @ R)·sin``, ``R`` a signed permutation, so exact), v and the
prefix tokens get ``cos = 1, sin = 0``. So the attention core afterwards is the same as
for the plain ViT, fused kernel included. The tables are computed with MindSpore operators
from the patch grid of each input (static shapes: constants in a graph), mirroring
:mod:`vitzoo.rotary`.

Example:
    >>> import numpy as np, mindspore as ms
    >>> from vitzoo.spec import ViTSpec
    >>> spec = ViTSpec(embed_dim=32, num_heads=2, depth=1, mlp_dim=64, rope="dinov3", rope_half=True, abs_pos_embed=False)
    >>> cos, sin = Rotary(spec)(2, 3)
    >>> tuple(cos.shape)
    (7, 3, 1, 16)
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops

from vitzoo import rel_pos, rotary
from vitzoo.spec import ViTSpec

from .. import kernels
from .drop_path import DropPath
from .layers import GELU_CELLS, MLP_CELLS, LayerNorm, Linear, make_norm, to_parameter

State = Mapping[str, np.ndarray]


class NoRotary(nn.Cell):
    """Models without rotary positions: no tables."""

    def construct(self, rows: int, cols: int) -> Any:
        return None


class Rotary(nn.Cell):
    """``(rows, cols) → (cos, sin)``, each ``[prefix + rows·cols, 3, 1, head_dim]`` for the packed qkv."""

    def __init__(self, spec: ViTSpec) -> None:
        super().__init__()
        self.freq = Tensor(rotary.frequencies(spec).astype(np.float32))
        self.nb = spec.head_dim // 4
        self.head_dim = spec.head_dim
        self.dinov3 = spec.rope == "dinov3"
        self.offset = spec.rope_grid_offset
        self.ref = float(spec.rope_ref_grid)
        self.xy = spec.rope_grid_xy
        self.half = spec.rope_half
        self.prefix = spec.num_prefix_tokens

    def _axis(self, size: int) -> Tensor:
        t = ops.arange(0, size, dtype=ms.float32)
        if self.dinov3:
            return ((t + (0.5 + self.offset)) / size) * 2.0 - 1.0
        t = t + self.offset
        if self.ref:
            t = t / size * self.ref
        return t

    def construct(self, rows: int, cols: int) -> tuple:
        nb, hd = self.nb, self.head_dim
        a_row = ops.broadcast_to((self._axis(rows).reshape(rows, 1) * self.freq).reshape(rows, 1, nb), (rows, cols, nb))
        a_col = ops.broadcast_to((self._axis(cols).reshape(cols, 1) * self.freq).reshape(1, cols, nb), (rows, cols, nb))
        pair = (a_col, a_row) if self.xy else (a_row, a_col)
        a = ops.cat(pair, -1).reshape(rows * cols, 2 * nb)
        a = ops.cat((a, a), -1) if self.half else ops.stack((a, a), -1).reshape(rows * cols, hd)
        cos, sin = ops.cos(a), ops.sin(a)
        if self.prefix:
            cos = ops.cat((ops.ones((self.prefix, hd), ms.float32), cos), 0)
            sin = ops.cat((ops.zeros((self.prefix, hd), ms.float32), sin), 0)
        n = cos.shape[0]
        cos3 = ops.stack((cos, cos, ops.ones_like(cos)), 1).reshape(n, 3, 1, hd)  # v keeps its values
        sin3 = ops.stack((sin, sin, ops.zeros_like(sin)), 1).reshape(n, 3, 1, hd)
        return cos3, sin3


class MixedRotary(nn.Cell):
    """naver's RoPE-Mixed: ``(rows, cols) → (cos, sin)``, each ``[depth, prefix + rows·cols, 3, heads, head_dim]``.

    The learned frequencies are this Cell's parameter ``freqs`` (canonical ``rope.freqs``, [2, depth, heads,
    head_dim / 2]); block ``i`` takes row ``i`` of the tables (:class:`MixedRopeBlock`). Mirrors
    :func:`vitzoo.rotary.mixed_tables`.
    """

    def __init__(self, spec: ViTSpec, state: State) -> None:
        super().__init__()
        self.freqs = to_parameter(state["rope.freqs"])
        self.depth, self.heads, self.head_dim = spec.depth, spec.num_heads, spec.head_dim
        self.xy = spec.rope_grid_xy
        self.prefix = spec.num_prefix_tokens

    def construct(self, rows: int, cols: int) -> tuple:
        n, hd, half = rows * cols, self.head_dim, self.head_dim // 2
        r = ops.broadcast_to(ops.arange(0, rows, dtype=ms.float32).reshape(rows, 1), (rows, cols)).reshape(1, 1, n, 1)
        c = ops.broadcast_to(ops.arange(0, cols, dtype=ms.float32).reshape(1, cols), (rows, cols)).reshape(1, 1, n, 1)
        t_x, t_y = (c, r) if self.xy else (r, c)
        f = self.freqs.reshape(2, self.depth, self.heads, 1, half)
        a = t_x * f[0] + t_y * f[1]  # [depth, heads, N, head_dim / 2]
        a = ops.stack((a, a), -1).reshape(self.depth, self.heads, n, hd)  # interleaved pairs
        cos, sin = ops.cos(a), ops.sin(a)
        if self.prefix:
            cos = ops.cat((ops.ones((self.depth, self.heads, self.prefix, hd), ms.float32), cos), 2)
            sin = ops.cat((ops.zeros((self.depth, self.heads, self.prefix, hd), ms.float32), sin), 2)
        cos, sin = cos.transpose(0, 2, 1, 3), sin.transpose(0, 2, 1, 3)  # [depth, N', heads, head_dim]
        return ops.stack((cos, cos, ops.ones_like(cos)), 2), ops.stack((sin, sin, ops.zeros_like(sin)), 2)  # v keeps its values


def make_rotary(spec: ViTSpec, state: Optional[State] = None) -> nn.Cell:
    if spec.rope == "mixed":
        return MixedRotary(spec, state)
    return NoRotary() if spec.rope == "none" else Rotary(spec)


class EvaAttention(nn.Cell):
    """timm's ``EvaAttention``/``AttentionRope``: q/k/v packed or apart, k without a bias, RoPE, inner norm."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        d = spec.embed_dim
        self.num_heads = spec.num_heads
        self.head_dim = spec.head_dim
        self.scale = spec.head_dim**-0.5
        self.fused_qkv = spec.qkv_fused
        self.qv_bias = spec.qkv_bias and not spec.k_bias and spec.qkv_fused
        if spec.qkv_fused:
            self.qkv = Linear(state, name + ".qkv")
            if self.qv_bias:  # timm concatenates (q_bias, zeros, v_bias): k's bias is no parameter
                self.q_bias = to_parameter(state[name + ".q_bias"])
                self.v_bias = to_parameter(state[name + ".v_bias"])
                self.k_zero = Tensor(np.zeros(d, np.float32))
        else:
            self.q_proj = Linear(state, name + ".q_proj")
            self.k_proj = Linear(state, name + ".k_proj")
            self.v_proj = Linear(state, name + ".v_proj")
        self.has_norm = spec.attn_norm
        if spec.attn_norm:
            self.norm = LayerNorm(state, name + ".norm", spec.norm_eps)
        self.proj = Linear(state, name + ".proj")
        self.rotation = Tensor(rotary.rotation(spec.head_dim, spec.rope_half))
        self.matmul = ops.MatMul()
        self.scores = ops.BatchMatMul(transpose_b=True)
        self.mix = ops.BatchMatMul()
        fused = kernels.active()
        self.fused = fused is not None
        if self.fused:
            self.attend, self.attend_train = fused.attention(self.num_heads)
            self.attend_cfg = fused.config(self.num_heads, self.scale)

    def _qkv(self, x: Tensor) -> Tensor:
        if not self.fused_qkv:
            return ops.cat((self.q_proj(x), self.k_proj(x), self.v_proj(x)), -1)
        qkv = self.qkv(x)
        if self.qv_bias:
            qkv = qkv + ops.cat((self.q_bias, self.k_zero, self.v_bias))
        return qkv

    def construct(self, x: Tensor, rope: Optional[tuple] = None) -> Tensor:
        b, n, d = x.shape
        qkv = self._qkv(x)
        if rope is not None:
            cos, sin = rope
            qkv5 = qkv.reshape(b, n, 3, self.num_heads, self.head_dim)
            turned = self.matmul(qkv5.reshape(-1, self.head_dim), self.rotation).reshape(b, n, 3, self.num_heads, self.head_dim)
            qkv = (qkv5 * cos + turned * sin).reshape(b, n, 3 * d)
        out = self._attend(qkv, b, n, d)
        if self.has_norm:
            out = self.norm(out)
        return self.proj(out)

    def _attend(self, qkv: Tensor, b: int, n: int, d: int) -> Tensor:
        """softmax(q·kᵀ·scale)·v over the packed ``[B, N, 3D]`` projection, heads merged back to ``[B, N, D]``."""
        if self.fused:
            return self.attend_train(qkv, self.attend_cfg)[0] if self.training else self.attend(qkv, self.attend_cfg)
        q, k, v = self._split(qkv, b, n)
        attn = ops.softmax(self.scores(q * self.scale, k), -1)
        return self.mix(attn, v).transpose(0, 2, 1, 3).reshape(b, n, d)

    def _split(self, qkv: Tensor, b: int, n: int) -> tuple:
        """q, k, v as ``[B, heads, N, head_dim]`` (``Unstack``: the fastest split on CPU; export swaps it for slices)."""
        return ops.unstack(qkv.reshape(b, n, 3, self.num_heads, self.head_dim).transpose(2, 0, 3, 1, 4), 0)


class RelPosAttention(EvaAttention):
    """BEiT's attention: EVA's q/v-biased qkv, plus a learned bias per head on the scores, looked up by each
    token pair's relative position (``rel_pos_bias == "block"``; the table is this block's parameter).

    The bias goes inside the softmax, so this path uses the primitive operators, not the fused kernel
    (whose attention takes no bias). The pair index is a constant of the model's one grid.
    """

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__(spec, state, name)
        self.relative_position_bias_table = to_parameter(state[name + ".relative_position_bias_table"])  # the canonical name
        self.index = Tensor(rel_pos.relative_position_index(spec.grid_size).reshape(-1))

    def _attend(self, qkv: Tensor, b: int, n: int, d: int) -> Tensor:
        q, k, v = self._split(qkv, b, n)
        bias = ops.gather(self.relative_position_bias_table, self.index, 0).reshape(n, n, self.num_heads).transpose(2, 0, 1)
        attn = ops.softmax(self.scores(q * self.scale, k) + bias, -1)
        return self.mix(attn, v).transpose(0, 2, 1, 3).reshape(b, n, d)


class RopeAttention(EvaAttention):
    """timm's ``AttentionRope`` (Sapiens2): q/k/v apart, per-head q/k norms before RoPE, fewer key/value heads (GQA).

    Block ``i`` has ``spec.kv_heads(i)`` key/value heads; query head ``j`` reads key/value head ``j // groups``
    (timm's ``repeat_interleave``), so k and v are widened to every head and packed for EVA's attention core.
    """

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__(spec, state, name)
        self.kv = spec.kv_heads(int(name.split(".")[1]))  # "blocks.{i}.attn"
        self.groups = spec.num_heads // self.kv
        self.q_norm = make_norm(spec, state, name + ".q_norm") if spec.qk_norm else nn.Identity()
        self.k_norm = make_norm(spec, state, name + ".k_norm") if spec.qk_norm else nn.Identity()

    def _turn(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        """``x·cos + (x @ R)·sin`` over ``[B, N, heads, head_dim]``."""
        return x * cos + self.matmul(x.reshape(-1, self.head_dim), self.rotation).reshape(x.shape) * sin

    def construct(self, x: Tensor, rope: Optional[tuple] = None) -> Tensor:
        b, n, d = x.shape
        h, kv, hd = self.num_heads, self.kv, self.head_dim
        q = self.q_norm(self.q_proj(x).reshape(b, n, h, hd))
        k = self.k_norm(self.k_proj(x).reshape(b, n, kv, hd))
        if rope is not None:
            cos, sin = rope[0][:, 0], rope[1][:, 0]  # the q rows of the packed tables, [N, 1, head_dim]
            q, k = self._turn(q, cos, sin), self._turn(k, cos, sin)
        wide = (b, n, kv, self.groups, hd)
        k = ops.broadcast_to(k.reshape(b, n, kv, 1, hd), wide).reshape(b, n, d)
        v = ops.broadcast_to(self.v_proj(x).reshape(b, n, kv, 1, hd), wide).reshape(b, n, d)
        out = self._attend(ops.cat((q.reshape(b, n, d), k, v), -1), b, n, d)
        if self.has_norm:
            out = self.norm(out)
        return self.proj(out)


def make_eva_attention(spec: ViTSpec, state: State, name: str) -> nn.Cell:
    """The EVA block's attention: BEiT's with a relative position table, timm's AttentionRope with q/k norms or GQA."""
    if spec.rel_pos_bias == "block":
        return RelPosAttention(spec, state, name)
    return (RopeAttention if spec.qk_norm or spec.num_kv_heads else EvaAttention)(spec, state, name)


class SwiGLUSplit(nn.Cell):
    """timm's ``SwiGLU``: ``fc2(norm(silu(fc1_g(x)) · fc1_x(x)))``, the norm only with ``mlp_norm``."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.fc1_g = Linear(state, name + ".fc1_g")
        self.fc1_x = Linear(state, name + ".fc1_x")
        self.has_norm = spec.mlp_norm
        if spec.mlp_norm:
            self.norm = LayerNorm(state, name + ".norm", spec.norm_eps)
        self.fc2 = Linear(state, name + ".fc2")

    def construct(self, x: Tensor) -> Tensor:
        gate = self.fc1_g(x)
        h = gate * ops.sigmoid(gate) * self.fc1_x(x)
        if self.has_norm:
            h = self.norm(h)
        return self.fc2(h)


class NormedMlp(nn.Cell):
    """timm's ``Mlp`` with a norm on the hidden units: ``fc2(norm(gelu(fc1(x))))``."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.fc1 = Linear(state, name + ".fc1")
        self.act = GELU_CELLS[spec.gelu]()
        self.norm = LayerNorm(state, name + ".norm", spec.norm_eps)
        self.fc2 = Linear(state, name + ".fc2")

    def construct(self, x: Tensor) -> Tensor:
        return self.fc2(self.norm(self.act(self.fc1(x))))


def make_mlp(spec: ViTSpec, state: State, name: str) -> nn.Cell:
    if spec.mlp_type == "swiglu_split":
        return SwiGLUSplit(spec, state, name)
    if spec.mlp_norm:
        return NormedMlp(spec, state, name)
    return MLP_CELLS[spec.mlp_type](spec, state, name)


class EvaBlock(nn.Cell):
    """timm's ``EvaBlock``: ``x + drop_path1(gamma_1·attn(norm1(x), rope))``, then ``x + drop_path2(gamma_2·mlp(norm2(x)))``."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.norm1 = make_norm(spec, state, name + ".norm1")
        self.attn = make_eva_attention(spec, state, name + ".attn")
        self.norm2 = make_norm(spec, state, name + ".norm2")
        self.mlp = make_mlp(spec, state, name + ".mlp")
        self.layer_scale = spec.layer_scale
        if spec.layer_scale:
            self.gamma_1 = to_parameter(state[name + ".gamma_1"])
            if not spec.attn_only_layer_scale:  # Sapiens2's block (AttnScaleBlock) has none
                self.gamma_2 = to_parameter(state[name + ".gamma_2"])
        # identity until training sets timm's stochastic-depth rates (drop_path.set_drop_path)
        self.drop_path1 = DropPath()
        self.drop_path2 = DropPath()

    def construct(self, x: Tensor, rope: Optional[tuple] = None) -> Tensor:
        if self.layer_scale:
            x = x + self.drop_path1(self.gamma_1 * self.attn(self.norm1(x), rope))
            return x + self.drop_path2(self.gamma_2 * self.mlp(self.norm2(x)))
        x = x + self.drop_path1(self.attn(self.norm1(x), rope))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class MixedRopeBlock(EvaBlock):
    """An EVA block of a RoPE-Mixed model: it takes its own row of the per-block rotary tables."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__(spec, state, name)
        self.rope_row = int(name.rsplit(".", 1)[1])  # "blocks.{i}"

    def construct(self, x: Tensor, rope: Optional[tuple] = None) -> Tensor:
        return super().construct(x, (rope[0][self.rope_row], rope[1][self.rope_row]))


class AttnScaleBlock(EvaBlock):
    """timm's ``EvaBlock`` with ``attn_only_layer_scale`` (Sapiens2): ``gamma_1`` on the attention branch, none on the MLP's."""

    def construct(self, x: Tensor, rope: Optional[tuple] = None) -> Tensor:
        x = x + self.drop_path1(self.gamma_1 * self.attn(self.norm1(x), rope))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class EvaPostNormBlock(nn.Cell):
    """timm's ``EvaBlockPostNorm`` (EVA-02-E): ``x + drop_path1(norm1(attn(x, rope)))``, then ``x + drop_path2(norm2(mlp(x)))``."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.attn = EvaAttention(spec, state, name + ".attn")
        self.norm1 = make_norm(spec, state, name + ".norm1")
        self.mlp = make_mlp(spec, state, name + ".mlp")
        self.norm2 = make_norm(spec, state, name + ".norm2")
        self.drop_path1 = DropPath()  # identity until training sets timm's rates
        self.drop_path2 = DropPath()

    def construct(self, x: Tensor, rope: Optional[tuple] = None) -> Tensor:
        x = x + self.drop_path1(self.norm1(self.attn(x, rope)))
        return x + self.drop_path2(self.norm2(self.mlp(x)))


def make_eva_block(spec: ViTSpec, state: State, name: str) -> nn.Cell:
    """The EVA block form the spec asks for."""
    if spec.post_norm:
        return EvaPostNormBlock(spec, state, name)
    if spec.attn_only_layer_scale:
        return AttnScaleBlock(spec, state, name)
    return (MixedRopeBlock if spec.rope == "mixed" else EvaBlock)(spec, state, name)
