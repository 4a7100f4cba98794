"""The Qwen3 ViT's own position and projector arithmetic (timm's ``qwen3_vit.py``), framework-agnostic, in NumPy.

Two things differ from the other families and are computed here for every backend:

- the learned ``pos_embed_grid × pos_embed_grid`` position grid is resampled to each input's
  patch grid bilinearly with ``align_corners=True`` (torch's ``F.interpolate``): the corners
  stay put, output ``i`` of ``n`` reads input position ``i·(g-1)/(n-1)``. One matrix per axis,
  so the resampled grid is ``R_rows · G · R_colsᵀ`` (an identity at the native grid);
- the projector ("merger") concatenates each ``k × k`` block of patch tokens in row-major
  order into one token of ``k²·D`` channels (a pixel unshuffle), blocks in row-major order.

Example:
    >>> import numpy as np
    >>> align_corners_matrix(5, 3)[:, 0].round(2).tolist()
    [1.0, 0.5, 0.0, 0.0, 0.0]
    >>> unshuffle(np.arange(16.0).reshape(1, 4, 4, 1), 2)[0, :, :].tolist()[0]
    [0.0, 1.0, 4.0, 5.0]
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=64)
def align_corners_matrix(n_out: int, n_in: int) -> np.ndarray:
    """``[n_out, n_in]`` float32: 1-D bilinear interpolation with ``align_corners=True`` (read-only, cached)."""
    m = np.zeros((n_out, n_in), np.float64)
    if n_out == 1 or n_in == 1:
        m[:, 0] = 1.0  # torch: a single output reads the first input; a single input is copied
    else:
        pos = np.arange(n_out, dtype=np.float64) * (n_in - 1) / (n_out - 1)
        lo = np.minimum(np.floor(pos).astype(int), n_in - 2)
        frac = pos - lo
        m[np.arange(n_out), lo] = 1.0 - frac
        m[np.arange(n_out), lo + 1] += frac
    out = m.astype(np.float32)
    out.setflags(write=False)
    return out


def resample_grid(pos_embed: np.ndarray, grid: int, rows: int, cols: int) -> np.ndarray:
    """``[1, grid², D]`` → ``[1, rows·cols, D]``, as timm's ``resample_pos_embed_grid``."""
    if rows == grid and cols == grid:
        return pos_embed
    g = pos_embed.reshape(grid, grid, -1)
    out = np.einsum("rg,gcd->rcd", align_corners_matrix(rows, grid), g)
    out = np.einsum("kc,rcd->rkd", align_corners_matrix(cols, grid), out)
    return np.ascontiguousarray(out.reshape(1, rows * cols, -1), dtype=np.float32)


def unshuffle(x: np.ndarray, k: int) -> np.ndarray:
    """``[B, H, W, C]`` → ``[B, H·W / k², k²·C]``: each ``k × k`` block's tokens concatenated (timm's ``merge``)."""
    b, h, w, c = x.shape
    return x.reshape(b, h // k, k, w // k, k, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, (h // k) * (w // k), k * k * c)
