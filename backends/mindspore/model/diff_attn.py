"""Differential attention (timm's ``DiffAttention``, ``attn_layer='diff'``: the ``vit_dwee``/``vit_dlittle`` ViTs).

Each head splits into two halves of queries and keys: two softmax maps, the second subtracted with a
learned weight λ = exp(λ_q1·λ_k1) − exp(λ_q2·λ_k2) + λ_init, over values of twice the half width; the
result goes through an RMSNorm (``attn.sub_norm``, eps 1e-5) and is scaled by ``1 − λ_init``, where
``λ_init = 0.8 − 0.6·exp(−0.3·i)`` for block ``i``. Chosen for ``spec.diff_attn``; the plain block keeps
its attention otherwise.

Example:
    >>> import numpy as np, mindspore as ms
    >>> from vitzoo.spec import ViTSpec
    >>> from vitzoo.init import init_state
    >>> spec = ViTSpec(img_size=16, patch_size=8, embed_dim=32, depth=1, num_heads=2, mlp_dim=64, diff_attn=True)
    >>> attn = DiffAttention(spec, init_state(spec), "blocks.0.attn")
    >>> tuple(attn(ms.Tensor(np.ones((1, 5, 32), np.float32))).shape)
    (1, 5, 32)
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
from mindspore import Tensor, nn, ops

from vitzoo.spec import ViTSpec

from .layers import Block, Linear, RmsNorm, to_parameter

State = Mapping[str, np.ndarray]
SUB_NORM_EPS = 1e-5  # timm's DiffAttention fixes it, whatever the model's norms use


def lambda_init(block_index: int) -> float:
    """timm's depth-dependent λ_init of block ``block_index``."""
    return 0.8 - 0.6 * math.exp(-0.3 * block_index)


class Differential(nn.Cell):
    """The differential map of timm's ``DiffAttention``, shared by the attention Cell and the parallel block.

    :meth:`_set_differential` puts the λ vectors and ``sub_norm`` on the Cell itself, so their names are the
    Cell's (``attn.lambda_q1`` in the plain block, ``lambda_q1`` in timm's ``DiffParallelScalingBlock``).
    """

    def _set_differential(self, spec: ViTSpec, state: State, prefix: str, block_index: int) -> None:
        self.heads, self.half = spec.num_heads, spec.head_dim // 2
        self.scale = self.half**-0.5
        for part in ("q1", "k1", "q2", "k2"):
            setattr(self, "lambda_" + part, to_parameter(state[f"{prefix}lambda_{part}"]))
        self.sub_norm = RmsNorm(state, prefix + "sub_norm", SUB_NORM_EPS)
        self.lambda_init = lambda_init(block_index)
        self.scores = ops.BatchMatMul(transpose_b=True)
        self.mix = ops.BatchMatMul()

    def _differential(self, qkv: Tensor) -> Tensor:
        """``[B, N, 3·D]`` packed q, k, v → ``[B, N, D]``, before the output projection."""
        b, n, d3 = qkv.shape
        d = d3 // 3
        h, hd = self.heads, self.half
        q = qkv[:, :, :d].reshape(b, n, 2 * h, hd).transpose(0, 2, 1, 3)
        k = qkv[:, :, d : 2 * d].reshape(b, n, 2 * h, hd).transpose(0, 2, 1, 3)
        v = qkv[:, :, 2 * d :].reshape(b, n, h, 2 * hd).transpose(0, 2, 1, 3)
        lam = (ops.exp((self.lambda_q1 * self.lambda_k1).sum()) - ops.exp((self.lambda_q2 * self.lambda_k2).sum())
               + self.lambda_init)
        attn = ops.softmax(self.scores(q * self.scale, k), -1).reshape(b, h, 2, n, n)
        attn = attn[:, :, 0] - lam * attn[:, :, 1]
        out = self.sub_norm(self.mix(attn, v)) * (1.0 - self.lambda_init)
        return out.transpose(0, 2, 1, 3).reshape(b, n, d)


class DiffAttention(Differential):
    """timm's ``DiffAttention`` (the paper's λ_q/λ_k vectors), with timm's parameter names."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.qkv = Linear(state, name + ".qkv")
        self._set_differential(spec, state, name + ".", int(name.split(".")[1]))  # "blocks.{i}.attn"
        self.proj = Linear(state, name + ".proj")

    def construct(self, x: Tensor) -> Tensor:
        return self.proj(self._differential(self.qkv(x)))


class DiffBlock(Block):
    """timm's pre-norm ``Block`` around differential attention (same norms, layer scale and MLP)."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__(spec, state, name)
        self.attn = DiffAttention(spec, state, name + ".attn")


def make_vit_block(spec: ViTSpec, state: State, name: str) -> Any:
    """The plain ViT block, or with differential attention."""
    return (DiffBlock if spec.diff_attn else Block)(spec, state, name)
