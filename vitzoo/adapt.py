"""Adapt pretrained weights to a changed model on load, as timm does.

* ``num_classes``: the same count keeps the head; ``0`` drops it; another count
  gets a fresh head (truncated normal, std 0.02, zero bias), like timm, which
  discards a classifier whose size does not match.
* ``img_size``: the position embedding is resampled on the patch grid with the
  class/register tokens kept apart. The filter is the one timm uses
  (``F.interpolate(mode="bicubic", antialias=True)``): a separable cubic with
  ``a = -0.5`` whose support widens when shrinking, i.e. Pillow's resampling, not
  plain ``a = -0.75`` bicubic. BEiT's relative position tables are resized too
  (:func:`vitzoo.rel_pos.resize_table`).
* ``in_chans``: the patch projection's input channels are summed (1 channel) or
  tiled and rescaled by ``old / new`` (any other count), as timm's
  ``adapt_input_conv``.

Example:
    >>> import vitzoo
    >>> from vitzoo.weights import Checkpoint
    >>> from vitzoo.init import init_state
    >>> spec = vitzoo.get_spec("vit_ti_16", depth=1, img_size=32)
    >>> ckpt = Checkpoint(init_state(spec), spec)
    >>> out = adapt_checkpoint(ckpt, num_classes=10, img_size=64, in_chans=1)
    >>> out.state["pos_embed"].shape, out.state["patch_embed.proj.weight"].shape[1], out.spec.num_classes
    ((1, 17, 192), 1, 10)
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import numpy as np

from vitzoo import rel_pos
from vitzoo.canonical import expected_shapes, is_classifier
from vitzoo.errors import CheckpointError, SpecError

HEAD_INIT_STD = 0.02


def adapt_checkpoint(
    ckpt: Any,
    *,
    num_classes: Optional[int] = None,
    img_size: Optional[int] = None,
    in_chans: Optional[int] = None,
    seed: int = 0,
) -> Any:
    """A checkpoint whose spec and tensors have the requested classes, image size and input channels.

    ``None`` keeps a field as the weights have it. ``seed`` makes a fresh head reproducible.
    Provenance in ``ckpt.meta`` follows: a new head has no class names, and the
    preprocessing config takes the new input size.
    """
    spec = ckpt.spec
    state = dict(ckpt.state)
    changes: dict[str, int] = {}
    try:
        if img_size is not None and img_size != spec.img_size:
            new_spec = spec.replace(img_size=img_size)
            if spec.abs_pos_embed and not spec.pos_embed_grid:  # rotary positions (DINOv3) and own-size grids (NaFlex, Qwen3 ViT) follow the input by themselves
                state["pos_embed"] = resample_pos_embed(
                    state["pos_embed"], new_spec.grid_size, num_prefix_tokens=spec.num_prefix_tokens if spec.pos_embed_prefix else 0
                )
            if spec.rel_pos_bias == "block":  # BEiT: each block's table, resized as timm's checkpoint filter (or transformers) does
                resize = rel_pos.resize_table_bilinear if spec.rel_pos_resize == "bilinear" else rel_pos.resize_table
                for name in [k for k in state if k.endswith(".attn.relative_position_bias_table")]:
                    state[name] = resize(state[name], new_spec.grid_size)
            changes["img_size"] = img_size
        if in_chans is not None and in_chans != spec.in_chans:
            spec.replace(in_chans=in_chans)  # validates the count
            state["patch_embed.proj.weight"] = adapt_input_conv(state["patch_embed.proj.weight"], in_chans)
            changes["in_chans"] = in_chans
        if num_classes is not None and num_classes != spec.num_classes:
            new_spec = spec.replace(num_classes=num_classes)
            state = {k: v for k, v in state.items() if not is_classifier(k)}
            state.update(_fresh_head(new_spec, seed))
            changes["num_classes"] = num_classes
    except SpecError as exc:
        raise CheckpointError(f"Cannot adapt the weights: {exc}") from None
    if not changes:
        return ckpt
    return ckpt.replace(spec=spec.replace(**changes), state=state, meta=_adapt_meta(ckpt.meta, changes)).validate()


def resample_pos_embed(pos_embed: np.ndarray, new_grid: int, *, num_prefix_tokens: int = 1, interpolation: str = "bicubic") -> np.ndarray:
    """Resample a ``[1, prefix + g*g, D]`` position embedding to a ``new_grid``² patch grid.

    Prefix (class/register) tokens pass through unchanged. ``interpolation`` is
    ``"bicubic"`` or ``"bilinear"``, both antialiased as timm/PyTorch do.

    Example:
        >>> pe = np.random.default_rng(0).standard_normal((1, 1 + 4, 8)).astype(np.float32)
        >>> resample_pos_embed(pe, 4).shape
        (1, 17, 8)
    """
    pos = np.asarray(pos_embed, np.float32)
    prefix, grid = pos[:, :num_prefix_tokens], pos[:, num_prefix_tokens:]
    old = math.isqrt(grid.shape[1])
    if old * old != grid.shape[1]:
        raise CheckpointError(f"The position embedding has {grid.shape[1]} patch positions, not a square grid; it cannot be resampled.")
    if old == new_grid:
        return pos
    rows = resample_matrix(old, new_grid, interpolation)  # [new, old]
    grid = grid.reshape(old, old, -1).astype(np.float64)
    # separable: along height, then width (the order PyTorch uses)
    out = np.einsum("ih,hwd->iwd", rows, grid)
    out = np.einsum("jw,iwd->ijd", rows, out)
    out = out.reshape(1, new_grid * new_grid, -1).astype(np.float32)
    return np.concatenate([prefix, out], axis=1)


def adapt_input_conv(weight: np.ndarray, in_chans: int) -> np.ndarray:
    """The patch projection ``[D, C, p, p]`` for ``in_chans`` inputs (timm's ``adapt_input_conv``).

    Example:
        >>> w = np.ones((2, 3, 1, 1), np.float32)
        >>> adapt_input_conv(w, 1)[0, :, 0, 0].tolist(), adapt_input_conv(w, 6)[0, :, 0, 0].tolist()
        ([3.0], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    """
    weight = np.asarray(weight, np.float32)
    base = weight.shape[1]
    if in_chans == base:
        return weight
    if in_chans == 1:  # a grey image equals the same value on every channel: sum the filters
        return weight.sum(axis=1, keepdims=True)
    repeat = math.ceil(in_chans / base)
    tiled = np.tile(weight, (1, repeat, 1, 1))[:, :in_chans]
    return tiled * np.float32(base / in_chans)  # keeps the activation scale of the original input


def _cubic(a: float) -> Callable[[np.ndarray], np.ndarray]:
    def kernel(x: np.ndarray) -> np.ndarray:
        x = np.abs(x)
        near = ((a + 2) * x - (a + 3)) * x * x + 1
        far = (((x - 5) * x + 8) * x - 4) * a
        return np.where(x < 1, near, np.where(x < 2, far, 0.0))

    return kernel


# name -> (kernel, support radius at scale 1)
_FILTERS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    "bicubic": (_cubic(-0.5), 2.0),
    "bilinear": (lambda x: np.clip(1.0 - np.abs(x), 0.0, None), 1.0),
}


def resample_matrix(n_in: int, n_out: int, interpolation: str) -> np.ndarray:
    """``[n_out, n_in]`` weights of antialiased 1-D resampling (half-pixel centres, edge-normalised)."""
    if interpolation not in _FILTERS:
        raise CheckpointError(f"Unknown position-embedding interpolation {interpolation!r}; use bicubic or bilinear.")
    kernel, radius = _FILTERS[interpolation]
    scale = n_in / n_out
    stretch = max(scale, 1.0)  # widen the filter when shrinking (antialiasing)
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


def _fresh_head(spec: Any, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    head: dict[str, np.ndarray] = {}
    for name, shape in expected_shapes(spec).items():
        if not is_classifier(name):
            continue
        if name.endswith(".bias"):
            head[name] = np.zeros(shape, np.float32)
        else:  # truncated normal at ±2 std, redrawn outside
            value = rng.standard_normal(shape, dtype=np.float32)
            while (outside := np.abs(value) > 2.0).any():
                value[outside] = rng.standard_normal(int(outside.sum()), dtype=np.float32)
            head[name] = value * np.float32(HEAD_INIT_STD)
    return head


def _adapt_meta(meta: dict[str, Any], changes: dict[str, int]) -> dict[str, Any]:
    meta = dict(meta)
    cfg = dict(meta.get("pretrained_cfg") or {})
    if "num_classes" in changes:
        meta.pop("class_names", None)
        if cfg:
            cfg.update(num_classes=changes["num_classes"], label_set="none")
    if cfg and ("img_size" in changes or "in_chans" in changes):
        old = list(cfg.get("input_size") or [3, 0, 0])
        size = changes.get("img_size", old[-1])
        cfg["input_size"] = [changes.get("in_chans", old[0]), size, size]
    if cfg:
        meta["pretrained_cfg"] = cfg
    return meta
