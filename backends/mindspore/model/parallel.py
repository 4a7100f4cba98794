"""timm's parallel blocks (``block="parallel"``): attention and MLP side by side from one norm and one projection.

``ParallelScalingBlock`` (ViT-22B's form, the ``vit_pwee`` ViT): ``in_norm``, then ``in_proj`` makes the
MLP's hidden units and q, k, v in one GEMM (``[mlp_dim | q | k | v]``; with no q/k/v bias, the MLP's own
``mlp_bias``); the attention and the GELU run in parallel and ``attn_out_proj(attn) + mlp_out_proj(h)``
(or one ``out_proj`` over both, ``parallel_out_fused``) returns through the layer scale ``ls``:
``x + ls(out)``, one residual per block. ``DiffParallelScalingBlock`` (``vit_dpwee``) is the same with
timm's differential attention (``diff_attn``) and the fused ``out_proj``. Chosen from the spec when the
model is built; no other block's forward pass knows of it.

Example:
    >>> import numpy as np, mindspore as ms
    >>> from vitzoo.spec import ViTSpec
    >>> from vitzoo.init import init_state
    >>> spec = ViTSpec(img_size=16, patch_size=8, embed_dim=32, depth=1, num_heads=2, mlp_dim=64, block="parallel")
    >>> block = ParallelBlock(spec, init_state(spec), "blocks.0")
    >>> tuple(block(ms.Tensor(np.ones((1, 5, 32), np.float32))).shape)
    (1, 5, 32)
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from mindspore import Tensor, ops

from vitzoo.spec import ViTSpec

from .. import kernels
from .diff_attn import Differential
from .drop_path import DropPath
from .layers import GELU_CELLS, LayerScale, Linear, make_norm, to_parameter

State = Mapping[str, np.ndarray]


class ParallelBlock(Differential):
    """timm's ``ParallelScalingBlock`` / ``DiffParallelScalingBlock`` with timm's parameter names."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        p = name + "."
        self.in_norm = make_norm(spec, state, p + "in_norm")
        self.in_proj = Linear(state, p + "in_proj")
        self.hidden, self.width = spec.mlp_dim, spec.embed_dim
        self.has_mlp_bias = p + "mlp_bias" in state  # no q/k/v bias: the MLP keeps a bias of its own
        if self.has_mlp_bias:
            self.mlp_bias = to_parameter(state[p + "mlp_bias"])
        self.act = GELU_CELLS[spec.gelu]()
        self.differential = spec.diff_attn
        if spec.diff_attn:
            self._set_differential(spec, state, p, int(name.split(".")[1]))
        else:
            self.num_heads, self.head_dim = spec.num_heads, spec.head_dim
            self.scores = ops.BatchMatMul(transpose_b=True)
            self.mix = ops.BatchMatMul()
            fused = kernels.active()
            self.fused = fused is not None
            if self.fused:  # the packed q, k, v are the plain attention's layout: its kernel takes them as they are
                self.attend, self.attend_train = fused.attention(spec.num_heads)
                self.attend_cfg = fused.config(spec.num_heads, spec.head_dim**-0.5)
        self.out_fused = spec.parallel_out_fused
        if spec.parallel_out_fused:
            self.out_proj = Linear(state, p + "out_proj")
        else:
            self.attn_out_proj = Linear(state, p + "attn_out_proj")
            self.mlp_out_proj = Linear(state, p + "mlp_out_proj")
        self.layer_scale = spec.layer_scale
        if spec.layer_scale:
            self.ls = LayerScale(state, p + "ls")
        # one residual: drop_path1 is timm's drop_path (training sets its rate); drop_path2 stays the identity
        self.drop_path1 = DropPath()
        self.drop_path2 = DropPath()

    def _attention(self, qkv: Tensor) -> Tensor:
        if self.differential:
            return self._differential(qkv)
        if self.fused:
            return self.attend_train(qkv, self.attend_cfg)[0] if self.training else self.attend(qkv, self.attend_cfg)
        b, n, _ = qkv.shape
        q, k, v = self._split(qkv.reshape(b, n, 3, self.num_heads, self.head_dim).transpose(2, 0, 3, 1, 4))
        attn = ops.softmax(self.scores(q * (self.head_dim**-0.5), k), -1)
        return self.mix(attn, v).transpose(0, 2, 1, 3).reshape(b, n, self.width)

    def _split(self, qkv: Tensor) -> tuple:
        return ops.unstack(qkv, 0)  # one Unstack: 10x cheaper than three slices in PyNative (export indexes instead)

    def construct(self, x: Tensor, rope: Any = None) -> Tensor:
        # ``rope``: the rotary tables every block receives; this block has no use for them
        y = self.in_proj(self.in_norm(x))
        h = y[:, :, : self.hidden]
        if self.has_mlp_bias:
            h = h + self.mlp_bias
        attn = self._attention(y[:, :, self.hidden :])
        h = self.act(h)
        if self.out_fused:
            out = self.out_proj(ops.concat((attn, h), -1))
        else:
            out = self.attn_out_proj(attn) + self.mlp_out_proj(h)
        if self.layer_scale:
            out = self.ls(out)
        return x + self.drop_path1(out)
