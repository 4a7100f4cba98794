"""Differential attention on NumPy (timm's ``DiffAttention``; see the MindSpore Cell in ``model/diff_attn.py``).

Example:
    >>> import numpy as np, vitzoo
    >>> model = vitzoo.create("vit_dwee_patch16_reg1_gap_256", backend="numpy", depth=1, img_size=32)
    >>> model(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 1000)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .ops import softmax

SUB_NORM_EPS = 1e-5  # timm fixes it


def diff_attention(model: Any, x: np.ndarray, p: str, rope: Any = None) -> np.ndarray:
    """``x`` [B, N, D] through block ``p``'s (``"blocks.{i}.attn."``) differential attention."""
    return model._linear(differential(model, model._linear(x, p + "qkv"), p, int(p.split(".")[1])), p + "proj")


def differential(model: Any, qkv: np.ndarray, p: str, block_index: int) -> np.ndarray:
    """Packed q, k, v ``[B, N, 3·D]`` → ``[B, N, D]`` before the output projection; λ and ``sub_norm`` under ``p``."""
    s, w = model.spec, model.state
    b, n, d3 = qkv.shape
    d = d3 // 3
    h, hd = s.num_heads, s.head_dim // 2
    init = 0.8 - 0.6 * math.exp(-0.3 * block_index)  # timm's λ_init of block i
    q = qkv[..., :d].reshape(b, n, 2 * h, hd).transpose(0, 2, 1, 3)
    k = qkv[..., d : 2 * d].reshape(b, n, 2 * h, hd).transpose(0, 2, 1, 3)
    v = qkv[..., 2 * d :].reshape(b, n, h, 2 * hd).transpose(0, 2, 1, 3)
    lam = np.float32(np.exp(np.sum(w[p + "lambda_q1"] * w[p + "lambda_k1"])) - np.exp(np.sum(w[p + "lambda_q2"] * w[p + "lambda_k2"])) + init)
    attn = softmax((q * np.float32(hd**-0.5)) @ k.transpose(0, 1, 3, 2)).reshape(b, h, 2, n, n)
    out = (attn[:, :, 0] - lam * attn[:, :, 1]) @ v  # [B, heads, N, 2·half]
    out = out / np.sqrt(np.mean(out * out, axis=-1, keepdims=True) + np.float32(SUB_NORM_EPS)) * w[p + "sub_norm.weight"]
    out = out * np.float32(1.0 - init)
    return out.transpose(0, 2, 1, 3).reshape(b, n, d)
