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
    >>> spec = ViTSpec(embed_dim=64, num_heads=2, depth=1, mlp_dim=64, block="eva", rope="cat", abs_pos_embed=True)
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


# naver's RoPE-Mixed (timm's RotaryEmbeddingMixed, ``rope="mixed"``): every block and head has its own learned
# 2-D frequencies ``rope.freqs`` [2, depth, heads, head_dim / 2]; a patch at (t_x, t_y) turns channel pair k of
# head h in block i by ``t_x·freqs[0, i, h, k] + t_y·freqs[1, i, h, k]`` (integer coordinates, no scaling).


def mixed_coords(spec: ViTSpec, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """``(t_x, t_y)`` per patch (row-major): (column, row) with ``rope_grid_xy``, else (row, column); float64."""
    r, c = np.meshgrid(np.arange(rows, dtype=np.float64), np.arange(cols, dtype=np.float64), indexing="ij")
    first, second = (c, r) if spec.rope_grid_xy else (r, c)
    return first.reshape(-1), second.reshape(-1)


def mixed_tables(spec: ViTSpec, freqs: np.ndarray, rows: int, cols: int, prefix: int) -> tuple[np.ndarray, np.ndarray]:
    """``(cos, sin)``, each ``[depth, heads, prefix + rows·cols, head_dim]`` float32, from the learned ``freqs``.

    Example:
        >>> spec = ViTSpec(embed_dim=32, num_heads=2, depth=3, mlp_dim=64, block="eva", rope="mixed", abs_pos_embed=False)
        >>> cos, sin = mixed_tables(spec, init_mixed_freqs(spec, np.random.default_rng(0)), 2, 3, prefix=1)
        >>> cos.shape, float(cos[:, :, 0].min()), float(np.abs(sin[:, :, 0]).max())
        ((3, 2, 7, 16), 1.0, 0.0)
    """
    t_x, t_y = mixed_coords(spec, rows, cols)
    f = np.asarray(freqs, dtype=np.float32)  # timm computes the angles in float32
    a = t_x.astype(np.float32)[:, None] * f[0][:, :, None, :] + t_y.astype(np.float32)[:, None] * f[1][:, :, None, :]
    a = layout(a, spec.rope_half)  # [depth, heads, N, head_dim]
    pad = ((0, 0), (0, 0), (prefix, 0), (0, 0))
    cos = np.pad(np.cos(a), pad, constant_values=1.0).astype(np.float32)
    sin = np.pad(np.sin(a), pad, constant_values=0.0).astype(np.float32)
    return cos, sin


def init_mixed_freqs(spec: ViTSpec, rng: np.random.Generator) -> np.ndarray:
    """Fresh ``rope.freqs`` as timm draws them: magnitudes ``temperature ** -(4j / head_dim)``, one random
    direction per block and head (the second half of the pairs a quarter turn from the first)."""
    hd = spec.head_dim
    mag = 1.0 / spec.rope_temperature ** (np.arange(0, hd, 4, dtype=np.float64) / hd)
    theta = rng.uniform(0.0, 2 * np.pi, (spec.depth, spec.num_heads, 1))
    fx = np.concatenate([mag * np.cos(theta), mag * np.cos(theta + np.pi / 2)], axis=-1)
    fy = np.concatenate([mag * np.sin(theta), mag * np.sin(theta + np.pi / 2)], axis=-1)
    return np.stack([fx, fy]).astype(np.float32)
