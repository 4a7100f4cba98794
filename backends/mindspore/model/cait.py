"""timm's CaiT (``cait.py``) as Cells: talking-heads blocks over the patch tokens, then class attention.

Chosen when a model is built from a spec with ``block == "cait"`` (:class:`Cait`, a
:class:`~.vit.VisionTransformer` whose token path differs), so no other family's forward pass
changes. Parameter names are timm's: ``blocks.{i}.attn.qkv|proj|proj_l|proj_w``, ``blocks.{i}.gamma_1|gamma_2``,
``blocks_token_only.{i}.attn.q|k|v|proj`` and their ``gamma_1|gamma_2``.

The order of timm's ``Cait.forward_features``: patch tokens + ``pos_embed`` (no class token yet) →
``blocks`` → the class token, alone updated by each ``blocks_token_only`` block reading
``[cls, patches]`` → ``[cls, patches]`` → ``norm``.

Talking heads: the heads' scores are mixed by ``proj_l`` (a Linear over the heads axis) before the
softmax and by ``proj_w`` after it; written as one ``[H, H] · [B, H, N·N]`` matmul each, no transposes.
The mixing sits between the scores and the softmax, so the fused attention kernel does not apply.

Example:
    >>> import numpy as np, mindspore as ms, vitzoo
    >>> model = vitzoo.create("cait_xxs24_224", img_size=32, depth=1, num_classes=3)
    >>> type(model).__name__, model(ms.Tensor(np.zeros((1, 3, 32, 32), np.float32))).shape
    ('Cait', (1, 3))
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from mindspore import Tensor, nn, ops

from vitzoo.spec import ViTSpec

from .drop_path import DropPath
from .layers import MLP_CELLS, LayerNorm, Linear, to_parameter
from .vit import VisionTransformer

State = Mapping[str, np.ndarray]


class TalkingHeadAttention(nn.Cell):
    """timm's ``TalkingHeadAttn``: ``proj_w(softmax(proj_l(q·kᵀ·scale)))·v`` with the Linears over the heads axis."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.num_heads = spec.num_heads
        self.head_dim = spec.head_dim
        self.scale = spec.head_dim**-0.5
        self.qkv = Linear(state, name + ".qkv")
        self.proj = Linear(state, name + ".proj")
        self.proj_l = _HeadMix(state, name + ".proj_l")
        self.proj_w = _HeadMix(state, name + ".proj_w")
        self.scores = ops.BatchMatMul(transpose_b=True)
        self.mix = ops.BatchMatMul()

    def construct(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        q, k, v = self._split(self.qkv(x), b, n)
        attn = self.proj_l(self.scores(q * self.scale, k))
        attn = self.proj_w(ops.softmax(attn, -1))
        return self.proj(self.mix(attn, v).transpose(0, 2, 1, 3).reshape(b, n, d))

    def _split(self, qkv: Tensor, b: int, n: int) -> tuple:
        """q, k, v as ``[B, heads, N, head_dim]`` (``Unstack``, the fastest split on CPU; export swaps it for slices)."""
        return ops.unstack(qkv.reshape(b, n, 3, self.num_heads, self.head_dim).transpose(2, 0, 3, 1, 4), 0)


class _HeadMix(nn.Cell):
    """A Linear over the heads axis of ``[B, H, N, M]`` scores (timm permutes the heads last and back): ``W·s + b`` per pair."""

    def __init__(self, state: State, name: str) -> None:
        super().__init__()
        self.weight = to_parameter(state[name + ".weight"])
        self.bias = to_parameter(state[name + ".bias"])

    def construct(self, s: Tensor) -> Tensor:
        b, h, n, m = s.shape
        out = ops.matmul(self.weight, s.reshape(b, h, n * m)) + self.bias.reshape(h, 1)
        return out.reshape(b, h, n, m)


class CaitBlock(nn.Cell):
    """timm's ``LayerScaleBlock``: ``x + drop_path1(gamma_1·attn(norm1(x)))``, then ``x + drop_path2(gamma_2·mlp(norm2(x)))``."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.gamma_1 = to_parameter(state[name + ".gamma_1"])
        self.gamma_2 = to_parameter(state[name + ".gamma_2"])
        self.norm1 = LayerNorm(state, name + ".norm1", spec.norm_eps)
        self.attn = TalkingHeadAttention(spec, state, name + ".attn")
        self.norm2 = LayerNorm(state, name + ".norm2", spec.norm_eps)
        self.mlp = MLP_CELLS[spec.mlp_type](spec, state, name + ".mlp")
        self.drop_path1 = DropPath()  # timm's rates set for training by drop_path.set_drop_path
        self.drop_path2 = DropPath()

    def construct(self, x: Tensor, rope: Any = None) -> Tensor:
        x = x + self.drop_path1(self.gamma_1 * self.attn(self.norm1(x)))
        return x + self.drop_path2(self.gamma_2 * self.mlp(self.norm2(x)))


class ClassAttention(nn.Cell):
    """timm's ``ClassAttn``: the first token's query attends over all of ``u = [cls, patches]``; out ``[B, 1, D]``."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.num_heads = spec.num_heads
        self.head_dim = spec.head_dim
        self.scale = spec.head_dim**-0.5
        self.q = Linear(state, name + ".q")
        self.k = Linear(state, name + ".k")
        self.v = Linear(state, name + ".v")
        self.proj = Linear(state, name + ".proj")
        self.scores = ops.BatchMatMul(transpose_b=True)
        self.mix = ops.BatchMatMul()

    def construct(self, u: Tensor) -> Tensor:
        b, n, d = u.shape
        h, hd = self.num_heads, self.head_dim
        q = self.q(u[:, :1]).reshape(b, 1, h, hd).transpose(0, 2, 1, 3)
        k = self.k(u).reshape(b, n, h, hd).transpose(0, 2, 1, 3)
        v = self.v(u).reshape(b, n, h, hd).transpose(0, 2, 1, 3)
        attn = ops.softmax(self.scores(q * self.scale, k), -1)
        return self.proj(self.mix(attn, v).transpose(0, 2, 1, 3).reshape(b, 1, d))


class ClassAttentionBlock(nn.Cell):
    """timm's ``LayerScaleBlockClassAttn``: only the class token is updated (timm gives these blocks no drop path)."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.gamma_1 = to_parameter(state[name + ".gamma_1"])
        self.gamma_2 = to_parameter(state[name + ".gamma_2"])
        self.norm1 = LayerNorm(state, name + ".norm1", spec.norm_eps)
        self.attn = ClassAttention(spec, state, name + ".attn")
        self.norm2 = LayerNorm(state, name + ".norm2", spec.norm_eps)
        self.mlp = MLP_CELLS[spec.mlp_type](spec, state, name + ".mlp")

    def construct(self, x: Tensor, cls: Tensor) -> Tensor:
        cls = cls + self.gamma_1 * self.attn(self.norm1(ops.cat((cls, x), 1)))
        return cls + self.gamma_2 * self.mlp(self.norm2(cls))


class Cait(VisionTransformer):
    """timm's ``Cait``: a :class:`VisionTransformer` whose class token joins after the blocks (see the module doc).

    ``forward_features`` gives ``[B, 1 + patches, D]`` (class token first) as timm's does;
    ``forward_intermediates`` gives the main blocks' patch tokens (they have no prefix tokens, so
    ``return_prefix_tokens`` adds none, as timm's ``Cait`` has no such option).
    """

    drop_path_schedule = "uniform"  # timm's Cait: every main block at the same rate (not linearly increasing)

    def __init__(self, spec: ViTSpec, state: State, *, jit: bool = False, copy: bool = True) -> None:
        super().__init__(spec, state, jit=jit, copy=copy)
        state = {k: v for k, v in state.items() if k.startswith("blocks_token_only.")}
        if copy:
            state = {k: np.array(v, dtype=np.float32, copy=True, order="C") for k, v in state.items()}
        self.blocks_token_only = nn.CellList([ClassAttentionBlock(spec, state, f"blocks_token_only.{i}") for i in range(spec.depth_token_only)])

    def _make_block(self, spec: ViTSpec, state: State, name: str) -> nn.Cell:
        return CaitBlock(spec, state, name)

    def _add_tokens(self, x: Tensor, rows: int, cols: int) -> Tensor:
        return x + self.pos_embed  # patch tokens only: the class token joins in the class-attention blocks

    def _features(self, x: Tensor) -> Tensor:
        x = self._embed_tokens(x)
        for block in self.blocks:
            x = block(x)
        return self.norm(self._class_attend(x))

    def _class_attend(self, x: Tensor) -> Tensor:
        """timm's ``forward_cls``: the class token through every class-attention block, then ``[cls, patches]``."""
        cls = ops.broadcast_to(self.cls_token, (x.shape[0], 1, self.embed_dim))
        for block in self.blocks_token_only:
            cls = block(x, cls)
        return ops.cat((cls, x), 1)

    def forward_intermediates(self, x: Tensor, indices: Any = None, return_prefix_tokens: bool = False, norm: bool = False,
                              stop_early: bool = False, output_fmt: str = "NCHW", intermediates_only: bool = False,
                              output_dict: bool = False) -> Any:
        """timm's ``Cait.forward_intermediates`` (the arguments of :meth:`VisionTransformer.forward_intermediates`)."""
        return super().forward_intermediates(x, indices, False, norm, stop_early, output_fmt, intermediates_only, output_dict)

    def _intermediates(self, x: Tensor, take: tuple, norm: bool, last: int, nchw: bool) -> tuple:
        b = x.shape[0]
        rows, cols = self._patch_grid(x.shape[2], x.shape[3])
        x = self._embed_tokens(x)
        spatial = []
        for i, block in enumerate(self.blocks):
            if i <= last:
                x = block(x)
                if i in take:
                    y = self.norm(x) if norm else x
                    spatial.append(y.reshape(b, rows, cols, -1).transpose(0, 3, 1, 2) if nchw else y)
        return self.norm(self._class_attend(x)), spatial, []
