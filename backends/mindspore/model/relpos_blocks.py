"""The Cells of timm's relative-position ViT blocks: the bias MLP, its attention, and the residual post-norm block.

:class:`RelPosMlp` is timm's ``RelPosMlp`` (``fc1`` → ReLU → ``fc2`` over the log-spaced relative offsets,
see :mod:`vitzoo.rel_pos_mlp`), looked up for every patch pair, a class token's row and column zero.
:class:`ResPostBlock` is timm's ``ResPostBlock`` / ``ResPostRelPosBlock`` (``res_post_norm``): the norms
follow the branches, ``x + norm1(attn(x))``, ``x + norm2(mlp(x))``; the plain ViT's builder uses it too
(``vit_base_patch16_rpn_224``). The bias sits inside the softmax, so these attentions use the primitive
operators, not the fused kernel; the offsets and the pair index are constants of the model's one grid.

Example:
    >>> import numpy as np
    >>> from vitzoo.spec import ViTSpec
    >>> from vitzoo.init import init_state
    >>> spec = ViTSpec(img_size=32, embed_dim=32, depth=1, num_heads=2, mlp_dim=64, class_token=False, global_pool="avg",
    ...                abs_pos_embed=False, rel_pos_type="mlp", rel_pos_dim=16)
    >>> tuple(RelPosMlp(spec, init_state(spec), "blocks.0.attn.rel_pos")().shape)
    (1, 2, 4, 4)
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from mindspore import Tensor, nn, ops

from vitzoo import rel_pos_mlp
from vitzoo.spec import ViTSpec

from .drop_path import DropPath
from .layers import MLP_CELLS, Attention, LayerNorm, LayerScale, Linear

State = Mapping[str, np.ndarray]


class _CoordMlp(nn.Cell):
    """timm's ``Mlp(2, hidden, heads, act_layer=ReLU)`` inside ``RelPosMlp`` (parameters ``fc1``, ``fc2``)."""

    def __init__(self, state: State, name: str) -> None:
        super().__init__()
        self.fc1 = Linear(state, name + ".fc1")
        self.fc2 = Linear(state, name + ".fc2")

    def construct(self, x: Tensor) -> Tensor:
        return self.fc2(ops.relu(self.fc1(x)))


class RelPosMlp(nn.Cell):
    """``[1, heads, N, N]`` biases from the MLP under ``name`` (timm's ``RelPosMlp.get_bias``)."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        grid = spec.grid_size
        self.mlp = _CoordMlp(state, name + ".mlp")
        self.coords = Tensor(rel_pos_mlp.log_coords(grid, spec.rel_pos_type))
        self.index = Tensor(rel_pos_mlp.pair_index(grid))
        self.n = grid * grid
        self.num_heads = spec.num_heads
        self.swin = spec.rel_pos_type == "mlp_swin"
        self.prefix = spec.num_prefix_tokens

    def construct(self) -> Tensor:
        table = self.mlp(self.coords)  # [(2g-1)², heads]
        planes = ops.gather(table, self.index, 0).reshape(self.n, self.n, self.num_heads).transpose(2, 0, 1)
        if self.swin:
            planes = ops.sigmoid(planes) * rel_pos_mlp.SWIN_GAIN
        if self.prefix:  # the class token's row and column: zero bias (timm's F.pad)
            planes = ops.cat((ops.zeros((self.num_heads, self.n, self.prefix), planes.dtype), planes), 2)
            planes = ops.cat((ops.zeros((self.num_heads, self.prefix, self.n + self.prefix), planes.dtype), planes), 1)
        return planes.reshape(1, self.num_heads, self.n + self.prefix, self.n + self.prefix)


class RelPosAttention(nn.Cell):
    """timm's relpos ``RelPosAttention``: packed qkv, ``softmax(q·kᵀ·scale + bias)·v``; the bias its own MLP's or the shared one."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.num_heads = spec.num_heads
        self.head_dim = spec.head_dim
        self.scale = spec.head_dim**-0.5
        self.qkv = Linear(state, name + ".qkv")
        self.qk_norm = spec.qk_norm
        if spec.qk_norm:
            self.q_norm = LayerNorm(state, name + ".q_norm", spec.norm_eps)
            self.k_norm = LayerNorm(state, name + ".k_norm", spec.norm_eps)
        self.own_bias = not spec.rel_pos_shared
        if self.own_bias:
            self.rel_pos = RelPosMlp(spec, state, name + ".rel_pos")
        self.proj = Linear(state, name + ".proj")
        self.scores = ops.BatchMatMul(transpose_b=True)
        self.mix = ops.BatchMatMul()

    def construct(self, x: Tensor, shared: Any = None) -> Tensor:
        b, n, d = x.shape
        q, k, v = self._split(self.qkv(x), b, n)
        if self.qk_norm:
            q = self.q_norm(q)
            k = self.k_norm(k)
        bias = self.rel_pos() if self.own_bias else shared
        attn = ops.softmax(self.scores(q * self.scale, k) + bias, -1)
        return self.proj(self.mix(attn, v).transpose(0, 2, 1, 3).reshape(b, n, d))

    def _split(self, qkv: Tensor, b: int, n: int) -> tuple:
        qkv = qkv.reshape(b, n, 3, self.num_heads, self.head_dim).transpose(2, 0, 3, 1, 4)
        q, k, v = ops.unstack(qkv, 0)
        return q, k, v


class RelPosBlock(nn.Cell):
    """timm's ``RelPosBlock``: the pre-norm block (layer scale ``ls1``/``ls2`` where the model has it) around :class:`RelPosAttention`."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.norm1 = LayerNorm(state, name + ".norm1", spec.norm_eps)
        self.attn = RelPosAttention(spec, state, name + ".attn")
        self.norm2 = LayerNorm(state, name + ".norm2", spec.norm_eps)
        self.mlp = MLP_CELLS[spec.mlp_type](spec, state, name + ".mlp")
        self.layer_scale = spec.layer_scale
        if spec.layer_scale:
            self.ls1 = LayerScale(state, name + ".ls1")
            self.ls2 = LayerScale(state, name + ".ls2")
        self.drop_path1 = DropPath()
        self.drop_path2 = DropPath()

    def construct(self, x: Tensor, shared: Any = None) -> Tensor:
        if self.layer_scale:
            x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x), shared)))
            return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))
        x = x + self.drop_path1(self.attn(self.norm1(x), shared))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class ResPostBlock(nn.Cell):
    """timm's ``ResPostBlock`` / ``ResPostRelPosBlock``: ``x + norm1(attn(x))``, then ``x + norm2(mlp(x))``."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.relative = spec.rel_pos_type != "none"
        self.attn = RelPosAttention(spec, state, name + ".attn") if self.relative else Attention(spec, state, name + ".attn")
        self.norm1 = LayerNorm(state, name + ".norm1", spec.norm_eps)
        self.mlp = MLP_CELLS[spec.mlp_type](spec, state, name + ".mlp")
        self.norm2 = LayerNorm(state, name + ".norm2", spec.norm_eps)
        self.drop_path1 = DropPath()
        self.drop_path2 = DropPath()

    def construct(self, x: Tensor, shared: Any = None) -> Tensor:
        # ``shared``: the shared bias of a relpos model (or the rotary tables every block receives: none here)
        y = self.attn(x, shared) if self.relative else self.attn(x)
        x = x + self.drop_path1(self.norm1(y))
        return x + self.drop_path2(self.norm2(self.mlp(x)))
