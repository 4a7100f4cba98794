"""AIMv2's native-resolution positions: a fixed 2-D sin-cos embedding of each input's patch grid, in NumPy.

transformers' ``Aimv2VisionModel`` with ``is_native`` has no learned position embedding: for an input of
``rows × cols`` patches it builds, per patch (row-major), ``[sin(r·ω) | cos(r·ω) | sin(c·ω) | cos(c·ω)]`` with
``ω_k = temperature ** (-k / (D/4))``, ``k < D/4``, and then swaps the two halves, so the column (width) terms
come first: ``[sin(c·ω) | cos(c·ω) | sin(r·ω) | cos(r·ω)]``. It is added to the patch tokens after the patch
embedding's norm (``ViTSpec.sincos_pos``). The frequencies and angles are computed in float64, as transformers
does on CPU, and rounded to float32 at the end.

Example:
    >>> table(2, 3, 8).shape
    (6, 8)
    >>> float(table(1, 1, 8)[0, 2])  # cos(0) of the column terms
    1.0
"""

from __future__ import annotations

import numpy as np

TEMPERATURE = 10000.0


def frequencies(dim: int, temperature: float = TEMPERATURE) -> np.ndarray:
    """``[dim // 4]`` float64: the angular frequency of each sin/cos channel pair."""
    quarter = dim // 4
    return 1.0 / temperature ** (np.arange(quarter, dtype=np.float64) / quarter)


def table(rows: int, cols: int, dim: int, temperature: float = TEMPERATURE) -> np.ndarray:
    """``[rows·cols, dim]`` float32: the embedding of every patch, row-major, width terms first."""
    omega = frequencies(dim, temperature)
    r, c = np.meshgrid(np.arange(rows, dtype=np.float64), np.arange(cols, dtype=np.float64), indexing="ij")
    a_row, a_col = np.outer(r.reshape(-1), omega), np.outer(c.reshape(-1), omega)
    return np.concatenate([np.sin(a_col), np.cos(a_col), np.sin(a_row), np.cos(a_row)], axis=1).astype(np.float32)
