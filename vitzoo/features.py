"""Framework-agnostic parts of feature extraction, shared by the backends.

* :func:`take_indices`: which blocks ``forward_intermediates(indices=...)`` returns
  (timm's ``feature_take_indices``: ``None`` = all, an int ``n`` = the last ``n``,
  a sequence = those indices, negative ones counted from the end).
* :func:`grid_for_input`: the patch grid of an input size, checked against the spec
  (fixed size, or timm's ``dynamic_img_size`` / ``dynamic_img_pad`` rules).
* :func:`pos_embed_resampler`: the two ``[new, old]`` matrices that resample the
  position embedding's patch grid at run time, with the filter timm uses
  (``F.interpolate(mode="bicubic", antialias=True)``), so a backend needs only matmuls.

Example:
    >>> take_indices(12, 3), take_indices(12, [0, -1])
    (([9, 10, 11], 11), ([0, 11], 11))
    >>> from vitzoo.spec import ViTSpec
    >>> grid_for_input(ViTSpec(img_size=32, patch_size=8, dynamic_img_size=True, dynamic_img_pad=True), 40, 20)
    (5, 3)
"""

from __future__ import annotations

import functools
from typing import Any, Optional, Sequence, Union

import numpy as np

from vitzoo.errors import VitzooError

OUTPUT_FORMATS = ("NCHW", "NLC")
Indices = Union[int, Sequence[int], None]


class FeatureError(VitzooError, ValueError):
    """A feature-extraction request the model cannot serve (indices, format, input size)."""


def take_indices(depth: int, indices: Indices = None) -> tuple[list[int], int]:
    """Absolute block indices to return, and the largest of them (timm's ``feature_take_indices``).

    Example:
        >>> take_indices(4)
        ([0, 1, 2, 3], 3)
        >>> take_indices(4, 5)
        Traceback (most recent call last):
        ...
        vitzoo.features.FeatureError: indices=5 asks for the last 5 blocks, but the model has 4; use 1 to 4.
    """
    if indices is None:
        indices = depth
    if isinstance(indices, (int, np.integer)) and not isinstance(indices, bool):
        n = int(indices)
        if not 0 < n <= depth:
            raise FeatureError(f"indices={n} asks for the last {n} blocks, but the model has {depth}; use 1 to {depth}.")
        taken = list(range(depth - n, depth))
    else:
        try:
            items = [int(i) for i in indices]  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise FeatureError(f"indices must be None, an int (the last n blocks) or a list of block indices, got {indices!r}.") from None
        if not items:
            raise FeatureError("indices is an empty list; name at least one block.")
        taken = []
        for i in items:
            absolute = depth + i if i < 0 else i
            if not 0 <= absolute < depth:
                raise FeatureError(f"Block index {i} is out of range for a model with {depth} blocks (0 to {depth - 1}, or negative from the end).")
            taken.append(absolute)
    return taken, max(taken)


def check_output_fmt(output_fmt: str) -> bool:
    """True for ``"NCHW"`` (feature maps), False for ``"NLC"`` (token sequences)."""
    if output_fmt not in OUTPUT_FORMATS:
        raise FeatureError(f"output_fmt must be 'NCHW' or 'NLC', got {output_fmt!r}.")
    return output_fmt == "NCHW"


def pack_intermediates(
    final: Any, spatial: list, prefix: list, has_prefix: bool, return_prefix_tokens: bool, intermediates_only: bool, output_dict: bool
) -> Any:
    """timm's result shapes for ``forward_intermediates``: a list, ``(final, list)`` or a dict (any backend's arrays)."""
    if output_dict:
        out: dict = {"image_intermediates": spatial}
        if return_prefix_tokens and has_prefix:
            out["image_intermediates_prefix"] = prefix
        if not intermediates_only:
            out["image_features"] = final
        return out
    if return_prefix_tokens and has_prefix:
        spatial = list(zip(spatial, prefix))
    return spatial if intermediates_only else (final, spatial)


def grid_for_input(spec: object, height: int, width: int) -> tuple[int, int]:
    """The patch grid ``(rows, cols)`` for an input of ``height × width``; a size the model cannot take is a :class:`FeatureError`.

    Without ``dynamic_img_size`` only ``img_size × img_size`` fits. With it, any size
    that is a patch multiple; with ``dynamic_img_pad`` too, any size (padded up, as timm).
    """
    p, size = spec.patch_size, spec.img_size  # type: ignore[attr-defined]
    if not spec.dynamic_img_size:  # type: ignore[attr-defined]
        if (height, width) != (size, size):
            raise FeatureError(
                f"The model takes {size}x{size} images, got {height}x{width}; resize the input, "
                "or create the model with dynamic_img_size=True to accept any size."
            )
        return spec.grid_size, spec.grid_size  # type: ignore[attr-defined]  # (a hybrid ViT's counts its backbone's strides)
    if spec.dynamic_img_pad:  # type: ignore[attr-defined]
        return -(-height // p), -(-width // p)
    if height % p or width % p:
        raise FeatureError(
            f"Input {height}x{width} is not a multiple of the patch size {p}; crop or resize it, "
            "or create the model with dynamic_img_pad=True to pad it."
        )
    return height // p, width // p


def check_input(spec: object, shape: Sequence[int]) -> tuple[int, int]:
    """The patch grid of an NCHW input ``shape``; a wrong rank, channel count or size is a :class:`FeatureError`."""
    shape = tuple(int(n) for n in shape)
    if len(shape) != 4 or shape[1] != spec.in_chans:  # type: ignore[attr-defined]
        raise FeatureError(f"The model takes float32 NCHW images [B, {spec.in_chans}, H, W], got shape {list(shape)}.")  # type: ignore[attr-defined]
    rows, cols = grid_for_input(spec, shape[2], shape[3])
    k = getattr(spec, "merge_size", 0)
    # the Qwen3 ViT projector merges k x k blocks of patches (DeepSeek's aligner zero-pads the grid instead)
    if k and not getattr(spec, "deepseek_vit", False) and (rows % k or cols % k):
        raise FeatureError(f"Input {shape[2]}x{shape[3]} gives a {rows}x{cols} patch grid, which the projector's {k}x{k} merge does not divide; "
                           f"use a size that is a multiple of {k * spec.patch_size}.")  # type: ignore[attr-defined]
    return rows, cols


def pos_embed_resampler(old_grid: int, rows: int, cols: int) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """``(R_rows [rows, old], R_cols [cols, old])`` float32 matrices, or None when the grid is unchanged.

    The resampled grid is ``R_rows · G · R_colsᵀ`` per channel: timm's
    ``resample_abs_pos_embed`` (bicubic, antialiased, half-pixel centres).
    """
    if rows == old_grid and cols == old_grid:
        return None
    return _matrix(old_grid, rows), _matrix(old_grid, cols)


@functools.lru_cache(maxsize=64)
def _matrix(n_in: int, n_out: int) -> np.ndarray:
    from vitzoo.adapt import resample_matrix

    matrix = resample_matrix(n_in, n_out, "bicubic").astype(np.float32)
    matrix.setflags(write=False)
    return matrix


def resample_pos_embed_numpy(pos_embed: np.ndarray, old_grid: int, rows: int, cols: int, num_prefix_tokens: int) -> np.ndarray:
    """The position embedding for a ``rows × cols`` grid (prefix tokens kept apart), in NumPy.

    Example:
        >>> pe = np.zeros((1, 1 + 16, 8), np.float32)
        >>> resample_pos_embed_numpy(pe, 4, 3, 5, 1).shape
        (1, 16, 8)
    """
    mats = pos_embed_resampler(old_grid, rows, cols)
    if mats is None:
        return pos_embed
    r_rows, r_cols = mats
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    d = grid.shape[-1]
    grid = grid.reshape(old_grid, old_grid, d)
    out = np.einsum("ih,hwd->iwd", r_rows, grid)
    out = np.einsum("jw,iwd->ijd", r_cols, out).reshape(1, rows * cols, d).astype(np.float32)
    return np.concatenate([prefix, out], axis=1)
