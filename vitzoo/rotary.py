"""Rotary position embeddings (RoPE) of a spec, framework-agnostic: the reference math in NumPy.

timm builds two 2-D forms that vitzoo carries (``ViTSpec.rope``):

- ``"cat"`` (``RotaryEmbeddingCat``: EVA-02, PE): integer patch coordinates plus
  ``rope_grid_offset``, scaled so the grid spans ``rope_ref_grid`` patches when that is set,
  times the frequencies ``temperature ** -(j / nb)`` for ``j < nb = head_dim / 4``;
- ``"dinov3"`` (``RotaryEmbeddingDinoV3``): patch centres normalised to [-1, 1] per axis,
  times ``2π / temperature ** (2j / (head_dim / 2))``.

Each of the two axes gives ``nb`` angles (channel order (row, column), or (x, y) with
``rope_grid_xy``), laid out over the head's ``head_dim`` channels as interleaved pairs
or, with ``rope_half``, as two halves. A channel pair rotates by its angle:
``x·cos + rotate(x)·sin``. Prefix tokens (class, registers) are not rotated: their
rows are ``cos = 1, sin = 0``. The backends compute the same tables (MindSpore inside its
graphs); this module is what the NumPy backend uses and what they are tested against.

Example:
    >>> from vitzoo.spec import ViTSpec
    >>> spec = ViTSpec(embed_dim=64, num_heads=2, depth=1, mlp_dim=64, rope="cat", abs_pos_embed=True)
    >>> cos, sin = tables(spec, 2, 3, prefix=1)
    >>> cos.shape, float(cos[0].min()), float(sin[0].max())
    ((7, 32), 1.0, 0.0)
"""

from __future__ import annotations

import numpy as np

from vitzoo.spec import ViTSpec


def frequencies(spec: ViTSpec) -> np.ndarray:
    """The ``head_dim / 4`` angular frequencies per axis (radians per coordinate unit), float64."""
    nb = spec.head_dim // 4
    j = np.arange(nb, dtype=np.float64)
    if spec.rope == "dinov3":
        return 2 * np.pi / spec.rope_temperature ** (2 * j / (spec.head_dim // 2))
    return 1.0 / spec.rope_temperature ** (j / nb)


def axis_coords(spec: ViTSpec, size: int) -> np.ndarray:
    """Coordinates of ``size`` patches along one axis, float64."""
    if spec.rope == "dinov3":
        return 2.0 * ((np.arange(size, dtype=np.float64) + 0.5 + spec.rope_grid_offset) / size) - 1.0
    t = np.arange(size, dtype=np.float64) + spec.rope_grid_offset
    if spec.rope_ref_grid:
        t = t / size * spec.rope_ref_grid  # EVA's scheme: a fine-tuned size keeps the pre-training range
    return t


def angles(spec: ViTSpec, rows: int, cols: int) -> np.ndarray:
    """``[rows·cols, head_dim / 2]``: per patch (row-major), the first axis's angles then the second's."""
    f = frequencies(spec)
    a_row = np.broadcast_to((axis_coords(spec, rows)[:, None] * f)[:, None, :], (rows, cols, f.size))
    a_col = np.broadcast_to((axis_coords(spec, cols)[:, None] * f)[None, :, :], (rows, cols, f.size))
    first, second = (a_col, a_row) if spec.rope_grid_xy else (a_row, a_col)
    return np.concatenate([first, second], axis=-1).reshape(rows * cols, 2 * f.size)


def layout(values: np.ndarray, half: bool) -> np.ndarray:
    """``[..., hd/2]`` → ``[..., hd]``: two halves (``half``) or each value twice in a row (interleaved pairs)."""
    return np.concatenate([values, values], axis=-1) if half else np.repeat(values, 2, axis=-1)


def tables(spec: ViTSpec, rows: int, cols: int, prefix: int) -> tuple[np.ndarray, np.ndarray]:
    """``(cos, sin)``, each ``[prefix + rows·cols, head_dim]`` float32; prefix rows leave their tokens as they are."""
    a = layout(angles(spec, rows, cols), spec.rope_half)
    cos = np.concatenate([np.ones((prefix, a.shape[1])), np.cos(a)]).astype(np.float32)
    sin = np.concatenate([np.zeros((prefix, a.shape[1])), np.sin(a)]).astype(np.float32)
    return cos, sin


def rotation(head_dim: int, half: bool) -> np.ndarray:
    """``R`` with ``x @ R`` = timm's ``rope_rotate_half(x)`` (``half``) or ``rot(x)`` (interleaved), float32.

    Example:
        >>> np.arange(4.0) @ rotation(4, half=True), np.arange(4.0) @ rotation(4, half=False)
        (array([-2., -3.,  0.,  1.]), array([-1.,  0., -3.,  2.]))
    """
    r = np.zeros((head_dim, head_dim), np.float32)
    if half:
        h = head_dim // 2
        for i in range(h):
            r[i + h, i] = -1.0  # out[i] = -x[i + h]
            r[i, i + h] = 1.0  # out[i + h] = x[i]
    else:
        for k in range(head_dim // 2):
            r[2 * k + 1, 2 * k] = -1.0  # out[2k] = -x[2k + 1]
            r[2 * k, 2 * k + 1] = 1.0  # out[2k + 1] = x[2k]
    return r
