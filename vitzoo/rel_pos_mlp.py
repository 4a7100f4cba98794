"""timm's log-coordinate relative position MLP (``RelPosMlp``), framework-agnostic: its inputs, in NumPy.

timm's relative-position ViTs (``vision_transformer_relpos.py``, ``ViTSpec.rel_pos_type``) make each
attention's bias per head with a small MLP instead of a learned table: the ``(2g-1)²`` relative
offsets ``(dy, dx)`` of a ``g×g`` patch grid are mapped to log-spaced coordinates, the MLP
(``fc1`` 2 → hidden, ReLU, ``fc2`` hidden → heads) turns each into one bias per head, and every
(query, key) patch pair reads its offset's row (the same pair index as BEiT's table,
:func:`vitzoo.rel_pos.relative_position_index`, without the class token's rows). A class token, where
the model has one, gets zero bias (timm pads the bias with zeros).

Two coordinate forms, timm's ``mode``:

* ``"mlp"`` (timm's ``'cr'``): ``sign(d)·ln(1 + |d|)`` on the raw offsets;
* ``"mlp_swin"`` (Swin-V2's): offsets divided by ``g - 1``, times 8, then ``sign·log2(1 + |d|) / 3``;
  the MLP's output goes through ``16·sigmoid`` (and ``fc2`` has no bias).

The weights do not depend on the grid, so a model of another image size uses them as they are.

Example:
    >>> log_coords(3, "mlp").shape, pair_index(3).shape
    ((25, 2), (81,))
    >>> round(float(log_coords(2, "mlp")[0, 0]), 4)  # dy = -1: -ln 2
    -0.6931
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from vitzoo import rel_pos

SWIN_GAIN = 16.0  # Swin-V2: 16·sigmoid(mlp(coords))


def log_coords(grid: int, mode: str) -> np.ndarray:
    """``[(2g-1)², 2]`` float32: the log-spaced ``(dy, dx)`` of every relative offset, row-major over (dy, dx)."""
    offsets = np.arange(-(grid - 1), grid, dtype=np.float64)
    coords = np.stack(np.meshgrid(offsets, offsets, indexing="ij"), axis=-1).reshape(-1, 2)
    if mode == "mlp_swin":
        coords = coords / max(grid - 1, 1) * 8.0  # timm divides by the window size less one (a 1-patch grid has only 0)
        return (np.sign(coords) * np.log2(1.0 + np.abs(coords)) / np.log2(8.0)).astype(np.float32)
    return (np.sign(coords) * np.log1p(np.abs(coords))).astype(np.float32)


def pair_index(grid: int) -> np.ndarray:
    """``[g⁴]`` int32: the offset row of each (query, key) patch pair, flattened."""
    return np.ascontiguousarray(rel_pos.relative_position_index(grid)[1:, 1:].reshape(-1))


def bias(state: Mapping[str, np.ndarray], prefix: str, grid: int, mode: str, prefix_tokens: int) -> np.ndarray:
    """``[heads, N, N]`` with ``N = prefix_tokens + g²``: the MLP under ``prefix`` (``...rel_pos.``) on this grid."""
    h = log_coords(grid, mode) @ state[prefix + "mlp.fc1.weight"].T + state[prefix + "mlp.fc1.bias"]
    out = np.maximum(h, 0.0) @ state[prefix + "mlp.fc2.weight"].T
    if prefix + "mlp.fc2.bias" in state:
        out = out + state[prefix + "mlp.fc2.bias"]
    n = grid * grid
    planes = out[pair_index(grid)].reshape(n, n, -1).transpose(2, 0, 1)
    if mode == "mlp_swin":
        planes = np.float32(SWIN_GAIN) / (1.0 + np.exp(-planes))
    full = np.zeros((planes.shape[0], n + prefix_tokens, n + prefix_tokens), np.float32)
    full[:, prefix_tokens:, prefix_tokens:] = planes
    return full
