"""NaFlex inputs and position grids, framework-agnostic (timm's ``naflexvit.py``, SigLIP 2 NaFlex).

A NaFlex model keeps a learned position grid of its own size (16 × 16 for SigLIP 2, 128 × 128 for
C-RADIO) and resamples it to each image's patch grid with ``F.interpolate``'s settings of the spec
(``pos_interp``, ``pos_antialias``, ``pos_align_corners``; ``pos_ar_preserving`` resamples to a
square of the longer side and keeps the top-left corner). Every such resampling is separable and
linear, so it is two small matrices here, ``R_rows · G · R_colsᵀ``, and a backend needs only matmuls.

NaFlex batches ("patch n' pack", timm's NaFlex collator) are dictionaries::

    {"patches": [B, N, P·P·C],       # each image's patches in row-major order, channels last, then padding
     "patch_coord": [B, N, 2],       # (row, column) of each patch; an image's grid is the largest + 1
     "patch_valid": [B, N]}          # False for the padding

as timm's model takes them; transformers' ``Siglip2VisionModel`` inputs (``pixel_values``,
``pixel_attention_mask``, ``spatial_shapes``) are read too. As in timm, the resampled grid of an
image of ``h × w`` patches is added to its first ``h·w`` tokens; the padding attends nowhere and is
left out of the pooling.

Example:
    >>> import numpy as np
    >>> batch = patchify([np.zeros((3, 32, 48), np.float32), np.zeros((3, 16, 16), np.float32)], 16)
    >>> batch["patches"].shape, batch["patch_valid"].sum(1).tolist(), grid_sizes(batch["patch_coord"])
    ((2, 6, 768), [6, 1], [(2, 3), (1, 1)])
"""

from __future__ import annotations

import functools
import math
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from vitzoo.errors import VitzooError

# What timm's NaFlex collator adds beside the three tensors (the padded length, also the patches' N).
_IGNORED_KEYS = ("seq_len",)
_TIMM_KEYS = ("patches", "patch_coord", "patch_valid")
_HF_KEYS = ("pixel_values", "pixel_attention_mask", "spatial_shapes")


class NaFlexInputError(VitzooError, ValueError):
    """A NaFlex batch that does not describe padded patch sequences the model can take."""


# Resampling matrices -----------------------------------------------------------------------
@functools.lru_cache(maxsize=256)
def interp_matrix(n_in: int, n_out: int, mode: str, antialias: bool, align_corners: bool) -> np.ndarray:
    """``[n_out, n_in]`` float32 weights of torch's 1-D ``F.interpolate`` (``mode`` "bilinear"/"bicubic"/"linear").

    Equal to ``F.interpolate`` of the identity: the antialiased filters widen when shrinking
    (bicubic with ``a = -0.5``, as Pillow), the plain ones are two- or four-tap interpolation
    (bicubic ``a = -0.75``, taps clamped at the borders).

    Example:
        >>> interp_matrix(2, 4, "bilinear", False, True).astype(float).round(3).tolist()
        [[1.0, 0.0], [0.667, 0.333], [0.333, 0.667], [0.0, 1.0]]
    """
    if n_in == n_out:
        matrix = np.eye(n_in)
    elif antialias:
        matrix = _antialiased(n_in, n_out, "bilinear" if mode == "linear" else mode, align_corners)
    else:
        matrix = _plain(n_in, n_out, mode, align_corners)
    matrix = matrix.astype(np.float32)
    matrix.setflags(write=False)
    return matrix


def _scale(n_in: int, n_out: int, align_corners: bool) -> float:
    """torch's ``area_pixel_compute_scale`` for an output size."""
    if align_corners:
        return (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    return n_in / n_out


def _antialiased(n_in: int, n_out: int, mode: str, align_corners: bool) -> np.ndarray:
    from vitzoo.adapt import _FILTERS

    kernel, radius = _FILTERS[mode]
    scale = _scale(n_in, n_out, align_corners)
    stretch = max(scale, 1.0)
    support = radius * stretch
    matrix = np.zeros((n_out, n_in), np.float64)
    for i in range(n_out):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        taps = np.arange(lo, hi)
        w = kernel((taps - center + 0.5) / stretch)
        total = w.sum()
        matrix[i, lo:hi] = w / total if total != 0 else w
    return matrix


def _plain(n_in: int, n_out: int, mode: str, align_corners: bool) -> np.ndarray:
    scale = _scale(n_in, n_out, align_corners)
    matrix = np.zeros((n_out, n_in), np.float64)
    for i in range(n_out):
        src = scale * i if align_corners else scale * (i + 0.5) - 0.5
        if mode in ("bilinear", "linear"):
            src = max(src, 0.0)  # torch clamps linear sources at the first pixel
            i0 = min(int(math.floor(src)), n_in - 1)
            i1 = min(i0 + 1, n_in - 1)
            t = min(max(src - i0, 0.0), 1.0)
            matrix[i, i0] += 1.0 - t
            matrix[i, i1] += t
        else:  # bicubic, a = -0.75, out-of-range taps read the border pixel
            i0 = int(math.floor(src))
            t = src - i0
            for k, w in zip(range(i0 - 1, i0 + 3), _cubic_weights(t)):
                matrix[i, min(max(k, 0), n_in - 1)] += w
    return matrix


def _cubic_weights(t: float, a: float = -0.75) -> tuple[float, float, float, float]:
    def near(x: float) -> float:
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: float) -> float:
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return far(t + 1), near(t), near(1 - t), far(2 - t)


def grid_matrices(spec: Any, rows: int, cols: int) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """``(R_rows [rows, G], R_cols [cols, G])`` resampling the learned ``G × G`` grid, or ``None`` when unchanged.

    timm's ``_apply_learned_pos_embed``: ``F.interpolate`` to ``(rows, cols)`` (to a square of
    ``max(rows, cols)`` with ``pos_ar_preserving``, then the top-left ``rows × cols``).
    """
    return resample_pair(spec.pos_grid, rows, cols, spec.pos_interp, spec.pos_antialias, spec.pos_align_corners, spec.pos_ar_preserving)


def factor_matrices(spec: Any, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """``(R_rows [rows, G], R_cols [cols, G])`` for the factorized tables (timm: 1-D linear, no antialias, no corner alignment)."""
    pair = resample_pair(spec.pos_grid, rows, cols, "linear", False, False, spec.pos_ar_preserving)
    return pair if pair is not None else (interp_matrix(spec.pos_grid, rows, "linear", False, False),) * 2


def resample_pair(g: int, rows: int, cols: int, mode: str, antialias: bool, align_corners: bool, ar_preserving: bool) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """:func:`grid_matrices` from plain values (what a compiled MindSpore graph can pass: ints, strings, bools)."""
    if rows == g and cols == g:
        return None
    if ar_preserving:
        square = interp_matrix(g, max(rows, cols), mode, antialias, align_corners)
        return square[:rows], square[:cols]
    return interp_matrix(g, rows, mode, antialias, align_corners), interp_matrix(g, cols, mode, antialias, align_corners)


def position_grid_numpy(spec: Any, state: Mapping[str, np.ndarray], rows: int, cols: int) -> np.ndarray:
    """The position embedding of a ``rows × cols`` patch grid, ``[rows·cols, D]`` (row-major), in NumPy."""
    if spec.pos_factorized:
        r_rows, r_cols = factor_matrices(spec, rows, cols)
        pe_y = r_rows @ state["pos_embed_y"][0]  # [rows, D]
        pe_x = r_cols @ state["pos_embed_x"][0]  # [cols, D]
        return (pe_y[:, None, :] + pe_x[None, :, :]).reshape(rows * cols, -1)
    g, d = spec.pos_grid, spec.embed_dim
    grid = state["pos_embed"].reshape(g, g, d)
    mats = grid_matrices(spec, rows, cols)
    if mats is None:
        return grid.reshape(g * g, d)
    r_rows, r_cols = mats
    out = np.einsum("ih,hwd->iwd", r_rows, grid)
    return np.einsum("jw,iwd->ijd", r_cols, out).reshape(rows * cols, d).astype(np.float32)


def batch_positions_numpy(spec: Any, state: Mapping[str, np.ndarray], sizes: Sequence[tuple[int, int]], n: int) -> np.ndarray:
    """``[B, N, D]``: each image's resampled grid on its first ``h·w`` tokens (at most ``N``), zeros after (timm's order)."""
    out = np.zeros((len(sizes), n, spec.embed_dim), np.float32)
    cache: dict[tuple[int, int], np.ndarray] = {}
    for b, (h, w) in enumerate(sizes):
        if (h, w) not in cache:
            cache[(h, w)] = position_grid_numpy(spec, state, h, w)
        m = min(n, h * w)
        out[b, :m] = cache[(h, w)][:m]
    return out


# Inputs ---------------------------------------------------------------------------------------
def grid_sizes(patch_coord: Any) -> list[tuple[int, int]]:
    """Each image's patch grid ``(rows, columns)``: the largest coordinates + 1 (timm's ``calculate_naflex_grid_sizes``)."""
    coord = np.asarray(patch_coord)
    top = coord.max(axis=1) + 1
    return [(int(h), int(w)) for h, w in top]


def is_naflex_input(x: Any) -> bool:
    """Whether ``x`` is a NaFlex dictionary (timm's keys or transformers' Siglip2 keys)."""
    return isinstance(x, Mapping)


def unpack(x: Any, patch_coord: Any = None, patch_valid: Any = None, *, spec: Any, to_numpy: Any = np.asarray) -> tuple[Any, np.ndarray, np.ndarray]:
    """``(patches, patch_coord, patch_valid)`` of a NaFlex call, checked against ``spec``.

    ``x`` is timm's dictionary, transformers' (``pixel_values``, ``pixel_attention_mask``,
    ``spatial_shapes``: the coordinates are then the row-major positions of each image's grid),
    or the patches themselves with ``patch_coord`` and ``patch_valid`` given. ``patches`` is
    returned as it came (a backend tensor stays one); coordinates and mask as NumPy arrays,
    through ``to_numpy``.
    """
    if isinstance(x, Mapping):
        if patch_coord is not None or patch_valid is not None:
            raise NaFlexInputError("Give the NaFlex batch either as one dictionary or as patches with patch_coord and patch_valid, not both.")
        keys = set(x) - set(_IGNORED_KEYS)
        if keys == set(_TIMM_KEYS):
            patches, patch_coord, patch_valid = x["patches"], x["patch_coord"], x["patch_valid"]
        elif keys == set(_HF_KEYS):
            patches = x["pixel_values"]
            patch_valid = to_numpy(x["pixel_attention_mask"])
            patch_coord = coords_from_shapes(to_numpy(x["spatial_shapes"]), np.shape(patch_valid))
        else:
            raise NaFlexInputError(
                f"A NaFlex batch is a dictionary with the keys {', '.join(_TIMM_KEYS)} (timm) or {', '.join(_HF_KEYS)} "
                f"(transformers), got {', '.join(sorted(map(str, x))) or 'no keys'}."
            )
    else:
        patches = x
        if patch_coord is None or patch_valid is None:
            raise NaFlexInputError("Pre-patchified NaFlex inputs need patch_coord [B, N, 2] and patch_valid [B, N] (timm requires both).")
    coord = np.asarray(to_numpy(patch_coord))
    valid = np.asarray(to_numpy(patch_valid))
    shape = tuple(int(n) for n in np.shape(patches))
    k = spec.patch_size * spec.patch_size * spec.in_chans
    if len(shape) != 3 or shape[2] != k:
        raise NaFlexInputError(f"NaFlex patches must be [B, N, {k}] (patch {spec.patch_size}² × {spec.in_chans} channels, channels last), got {list(shape)}.")
    b, n = shape[:2]
    if coord.shape != (b, n, 2) or coord.dtype.kind not in "iu":
        raise NaFlexInputError(f"patch_coord must be integer [B, N, 2] = [{b}, {n}, 2] (row, column of each patch), got {coord.dtype} {list(coord.shape)}.")
    if valid.shape != (b, n) or valid.dtype.kind not in "biuf":
        raise NaFlexInputError(f"patch_valid must be [B, N] = [{b}, {n}] (true for real patches), got {valid.dtype} {list(valid.shape)}.")
    if n == 0 or b == 0:
        raise NaFlexInputError(f"A NaFlex batch needs at least one image and one patch, got patches of shape {list(shape)}.")
    if coord.min() < 0:
        raise NaFlexInputError("patch_coord holds negative coordinates; rows and columns count from 0.")
    return patches, coord.astype(np.int64), valid.astype(bool)


def coords_from_shapes(spatial_shapes: np.ndarray, mask_shape: tuple) -> np.ndarray:
    """``[B, N, 2]`` (row, column) of each token for transformers' ``spatial_shapes`` ``[B, 2]`` (padding: (0, 0))."""
    shapes = np.asarray(spatial_shapes)
    if len(mask_shape) != 2 or shapes.shape != (mask_shape[0], 2) or shapes.dtype.kind not in "iu":
        raise NaFlexInputError(f"spatial_shapes must be integer [B, 2] (patch rows, columns per image) for a mask of shape {list(mask_shape)}, "
                               f"got {shapes.dtype} {list(shapes.shape)}.")
    b, n = mask_shape
    coord = np.zeros((b, n, 2), np.int64)
    for i, (h, w) in enumerate(shapes.tolist()):
        if h < 1 or w < 1 or h * w > n:
            raise NaFlexInputError(f"spatial_shapes[{i}] = ({h}, {w}) does not fit {n} patches.")
        t = np.arange(h * w)
        coord[i, : h * w, 0], coord[i, : h * w, 1] = t // w, t % w
    return coord


def attention_bias(valid: np.ndarray, num_prefix_tokens: int) -> np.ndarray:
    """timm's symmetric additive mask ``[B, 1, T, T]``: 0 where query and key are both real, float32's minimum elsewhere.

    Prefix tokens are always real. A padding query attends all tokens evenly (its row is constant), as in timm.
    """
    b = valid.shape[0]
    full = np.concatenate([np.ones((b, num_prefix_tokens), bool), valid], axis=1) if num_prefix_tokens else valid
    both = full[:, None, :, None] & full[:, None, None, :]
    return np.where(both, np.float32(0), np.finfo(np.float32).min).astype(np.float32)


def key_bias(valid: np.ndarray) -> np.ndarray:
    """``[B, 1, 1, N]``: the attention pool's additive mask over keys (0 real, float32's minimum padding)."""
    return np.where(valid, np.float32(0), np.finfo(np.float32).min).astype(np.float32)[:, None, None, :]


# Making batches ---------------------------------------------------------------------------------
def patchify(images: Sequence[Any], patch_size: int, seq_len: Optional[int] = None) -> dict[str, np.ndarray]:
    """A NaFlex batch from images of any sizes (``[C, H, W]``, sides multiples of ``patch_size``), padded to one length.

    Each image keeps its own aspect ratio: its ``H/p × W/p`` patches (channels last inside a patch,
    as timm's ``Patchify``) in row-major order, then zero padding up to ``seq_len`` (default: the
    longest image). Resize images first so they have at most ``seq_len`` patches (timm's
    ``get_image_size_for_seq`` picks such a size).

    Example:
        >>> b = patchify([np.ones((3, 16, 32), np.float32)], 16, seq_len=4)
        >>> b["patch_coord"][0].tolist(), b["patch_valid"][0].tolist()
        ([[0, 0], [0, 1], [0, 0], [0, 0]], [True, True, False, False])
    """
    p = int(patch_size)
    items = []
    for i, img in enumerate(images):
        a = np.asarray(img, np.float32)
        if a.ndim != 3 or a.shape[1] % p or a.shape[2] % p or a.shape[1] < p or a.shape[2] < p:
            raise NaFlexInputError(f"Image {i} has shape {list(a.shape)}; patchify takes [C, H, W] arrays whose sides are multiples of {p}.")
        c, h, w = a.shape
        rows, cols = h // p, w // p
        patches = a.reshape(c, rows, p, cols, p).transpose(1, 3, 2, 4, 0).reshape(rows * cols, p * p * c)
        items.append((patches, rows, cols))
    if not items:
        raise NaFlexInputError("patchify needs at least one image.")
    if len({it[0].shape[1] for it in items}) > 1:
        raise NaFlexInputError("The images have different channel counts; give them all the model's channels.")
    longest = max(it[0].shape[0] for it in items)
    n = longest if seq_len is None else int(seq_len)
    if n < longest:
        raise NaFlexInputError(f"An image has {longest} patches, more than seq_len={n}; resize it smaller first.")
    out = {"patches": np.zeros((len(items), n, items[0][0].shape[1]), np.float32),
           "patch_coord": np.zeros((len(items), n, 2), np.int64), "patch_valid": np.zeros((len(items), n), bool)}
    for b, (patches, rows, cols) in enumerate(items):
        m = rows * cols
        t = np.arange(m)
        out["patches"][b, :m] = patches
        out["patch_coord"][b, :m, 0], out["patch_coord"][b, :m, 1] = t // cols, t % cols
        out["patch_valid"][b, :m] = True
    return out
