"""BEiT's relative position bias, framework-agnostic: the pair index and the table resize, in NumPy.

Every block's attention of a BEiT/BEiTv2 model (``ViTSpec.rel_pos_bias == "block"``) adds a learned
bias per head to its scores, looked up by the relative position of each token pair. On a ``g×g``
patch grid the offsets ``(dy, dx)`` take ``(2g-1)²`` values; three more rows hold the biases of
class→patch, patch→class and class→class (timm's ``gen_relative_position_index`` layout, its
``relative_position_index`` buffer, which checkpoints may carry but never need).

A model built for another image size gets its table resized the way BEiT's fine-tuning code (and
timm's ``resize_rel_pos_bias_table``, its default path) does: the source offsets are placed on a
grid that widens geometrically away from zero, so the central, most-trained offsets keep their
spacing, and the target's integer offsets are read from it by bilinear interpolation (clamped at
the border). The three class rows are kept. transformers' ``BeitModel`` instead interpolates the
``(2g-1)×(2g-1)`` table as an image (PyTorch's bilinear ``interpolate``, half-pixel centres, no
antialiasing): :func:`resize_table_bilinear`, for ``ViTSpec.rel_pos_resize == "bilinear"``.

Example:
    >>> index = relative_position_index(2)
    >>> index.shape, int(index.max()) + 1 == table_rows(2)
    ((5, 5), True)
    >>> resize_table(np.zeros((table_rows(14), 12), np.float32), 24).shape
    (2212, 12)
"""

from __future__ import annotations

import numpy as np

EXTRA_ROWS = 3  # class→patch, patch→class, class→class


def table_rows(grid: int) -> int:
    """Rows of the bias table for a ``grid × grid`` patch grid."""
    return (2 * grid - 1) ** 2 + EXTRA_ROWS


def grid_of_table(rows: int) -> int:
    """The square patch grid a table of ``rows`` rows was made for (``ValueError`` if there is none)."""
    side = int(round(max(rows - EXTRA_ROWS, 0) ** 0.5))
    if side * side != rows - EXTRA_ROWS or side % 2 == 0:
        raise ValueError(f"{rows} rows is no relative position table of a square grid ((2g-1)² + 3 rows)")
    return (side + 1) // 2


def relative_position_index(grid: int) -> np.ndarray:
    """``[1 + g², 1 + g²]`` int32: the table row of each (query, key) token pair, class token first."""
    n = grid * grid
    rows = 2 * grid - 1
    coords = np.stack(np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")).reshape(2, n)
    rel = coords[:, :, None] - coords[:, None, :] + (grid - 1)  # [2, n, n], each in [0, 2g-2]
    index = np.empty((n + 1, n + 1), np.int32)
    index[1:, 1:] = rel[0] * rows + rel[1]
    extra = rows * rows
    index[0, :] = extra  # class token as the query
    index[:, 0] = extra + 1  # class token as the key
    index[0, 0] = extra + 2
    return index


def bias(table: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``[heads, N, N]``: the table's rows for every token pair, one plane per head."""
    n = index.shape[0]
    return np.ascontiguousarray(table[index.reshape(-1)].reshape(n, n, -1).transpose(2, 0, 1))


def _source_offsets(src: int, dst: int) -> np.ndarray:
    """Positions for a source axis of ``src`` offsets spread geometrically to cover ``dst`` offsets."""
    half = src // 2
    lo, hi = 1.01, 1.5  # bisection on the growth ratio q: 1 + q + … + q^(half-1) reaches dst // 2
    while hi - lo > 1e-6:
        q = (lo + hi) / 2.0
        if (1.0 - q**half) / (1.0 - q) > dst // 2:
            hi = q
        else:
            lo = q
    steps = np.cumsum([1.0] + [q ** (i + 1) for i in range(half - 1)])
    return np.concatenate([-steps[::-1], [0.0], steps])


def _linear_weights(points: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Left/right neighbours of each ``x`` on ``points`` and their weights (clamped at the ends)."""
    right = np.minimum(np.searchsorted(points, x, side="left"), points.size - 1)
    left = np.clip(right - 1, 0, points.size - 1)
    d_left = np.maximum(x - points[left], 0.0)
    d_right = np.maximum(points[right] - x, 0.0)
    both = (d_left == 0) & (d_right == 0)
    d_left, d_right = np.where(both, 1.0, d_left), np.where(both, 1.0, d_right)
    total = d_left + d_right
    return left, right, d_right / total, d_left / total  # weight of left is the distance to the right


def resize_table(table: np.ndarray, new_grid: int) -> np.ndarray:
    """The bias table of a square-grid model resized for a ``new_grid × new_grid`` patch grid."""
    old_grid = grid_of_table(table.shape[0])
    if old_grid == new_grid:
        return table
    src, dst = 2 * old_grid - 1, 2 * new_grid - 1
    planes = table[:-EXTRA_ROWS].astype(np.float64).reshape(src, src, -1)  # [dy, dx, heads]
    points = _source_offsets(src, dst)
    target = np.arange(-(dst // 2), dst // 2 + 1, dtype=np.float64)
    left, right, w_left, w_right = _linear_weights(points, target)
    rows = planes[left] * w_left[:, None, None] + planes[right] * w_right[:, None, None]  # along dy
    out = rows[:, left] * w_left[None, :, None] + rows[:, right] * w_right[None, :, None]  # along dx
    resized = out.reshape(dst * dst, -1).astype(table.dtype)
    return np.concatenate([resized, table[-EXTRA_ROWS:]], axis=0)


def _bilinear_matrix(src: int, dst: int) -> np.ndarray:
    """``[dst, src]``: PyTorch's ``interpolate(mode="bilinear", align_corners=False)`` along one axis."""
    x = np.maximum((np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5, 0.0)  # half-pixel centres, clamped below
    left = np.minimum(np.floor(x).astype(np.int64), src - 1)
    right = np.minimum(left + 1, src - 1)
    w = x - left
    m = np.zeros((dst, src))
    np.add.at(m, (np.arange(dst), left), 1.0 - w)
    np.add.at(m, (np.arange(dst), right), w)
    return m


def resize_table_bilinear(table: np.ndarray, new_grid: int) -> np.ndarray:
    """The table resized as transformers' ``BeitRelativePositionBias`` does for a ``new_grid × new_grid`` patch grid."""
    old_grid = grid_of_table(table.shape[0])
    if old_grid == new_grid:
        return table
    src, dst = 2 * old_grid - 1, 2 * new_grid - 1
    planes = table[:-EXTRA_ROWS].astype(np.float64).reshape(src, src, -1)  # [dy, dx, heads]
    m = _bilinear_matrix(src, dst)
    out = np.einsum("ia,jb,abh->ijh", m, m, planes).reshape(dst * dst, -1).astype(table.dtype)
    return np.concatenate([out, table[-EXTRA_ROWS:]], axis=0)
