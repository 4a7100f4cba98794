"""timm's ``AttentionRope`` and attention-only layer scale on NumPy (Sapiens2; the MindSpore Cells are in ``model/eva.py``).

Example:
    >>> import numpy as np, vitzoo
    >>> model = vitzoo.create("sapiens2_l_16", backend="numpy", depth=3, num_full_attn_blocks=1, img_size=32, img_width=48)
    >>> model(np.zeros((1, 3, 32, 48), np.float32)).shape
    (1, 1024)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vitzoo import rotary

from .ops import softmax


def rope_attention(model: Any, x: np.ndarray, p: str, rope: Any = None) -> np.ndarray:
    """``x`` [B, N, D] through block ``p``'s (``"blocks.{i}.attn."``) attention: q/k/v apart, per-head q/k norms, then
    RoPE, with the block's key/value heads each shared by ``num_heads / kv`` query heads (timm's ``repeat_interleave``)."""
    s = model.spec
    b, n, d = x.shape
    h, hd = s.num_heads, s.head_dim
    kv = s.kv_heads(int(p.split(".")[1]))
    q = model._linear(x, p + "q_proj").reshape(b, n, h, hd).transpose(0, 2, 1, 3)
    k = model._linear(x, p + "k_proj").reshape(b, n, kv, hd).transpose(0, 2, 1, 3)
    v = model._linear(x, p + "v_proj").reshape(b, n, kv, hd).transpose(0, 2, 1, 3)
    if s.qk_norm:  # before the rotation, as timm's AttentionRope
        q, k = model._norm(q, p + "q_norm"), model._norm(k, p + "k_norm")
    if rope is not None:
        cos, sin = rope
        turn = rotary.rotation(hd, s.rope_half)
        q, k = q * cos + (q @ turn) * sin, k * cos + (k @ turn) * sin
    k, v = np.repeat(k, h // kv, axis=1), np.repeat(v, h // kv, axis=1)
    out = (softmax((q * np.float32(hd**-0.5)) @ k.transpose(0, 1, 3, 2)) @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
    if s.attn_norm:
        out = model._norm(out, p + "norm")
    return model._linear(out, p + "proj")


def attn_scale_block(model: Any, x: np.ndarray, p: str, rope: Any = None) -> np.ndarray:
    """timm's ``EvaBlock`` with ``attn_only_layer_scale``: ``gamma_1`` on the attention branch, none on the MLP's."""
    x = x + model._attention(model._norm(x, p + "norm1"), p + "attn.", rope) * model.state[p + "gamma_1"]
    return x + model._mlp(model._norm(x, p + "norm2"), p + "mlp.")
