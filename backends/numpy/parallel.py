"""timm's parallel blocks on NumPy (``block="parallel"``; see the MindSpore Cell in ``model/parallel.py``).

Example:
    >>> import numpy as np, vitzoo
    >>> model = vitzoo.create("vit_pwee_patch16_reg1_gap_256", backend="numpy", depth=1, img_size=32)
    >>> model(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 1000)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .diff_attn import differential
from .ops import softmax


def parallel_block(model: Any, x: np.ndarray, p: str, rope: Any = None) -> np.ndarray:
    """``x`` [B, N, D] through block ``p`` (``"blocks.{i}."``): ``x + ls(out(attn, gelu(h)))`` from one ``in_proj``."""
    s, w = model.spec, model.state
    b, n, d = x.shape
    y = model._linear(model._norm(x, p + "in_norm"), p + "in_proj")
    h, qkv = y[..., : s.mlp_dim], y[..., s.mlp_dim :]
    if p + "mlp_bias" in w:
        h = h + w[p + "mlp_bias"]
    if s.diff_attn:
        attn = differential(model, qkv, p, int(p.split(".")[1]))
    else:
        q, k, v = qkv.reshape(b, n, 3, s.num_heads, s.head_dim).transpose(2, 0, 3, 1, 4)
        attn = (softmax((q * np.float32(s.head_dim**-0.5)) @ k.transpose(0, 1, 3, 2)) @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
    h = model._gelu(h)
    if s.parallel_out_fused:
        out = model._linear(np.concatenate([attn, h], axis=-1), p + "out_proj")
    else:
        out = model._linear(attn, p + "attn_out_proj") + model._linear(h, p + "mlp_out_proj")
    return x + (out * w[p + "ls.gamma"] if s.layer_scale else out)
