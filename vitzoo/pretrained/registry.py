"""The pretrained-weight registry: every weight set vitzoo can fetch, as data.

A weight set is named ``variant.tag`` (``vit_b_16.augreg2_in21k_ft_in1k``); timm's
long names work too (``vit_base_patch16_224.augreg2_in21k_ft_in1k``). Tags:

* timm's own tags (hub repo ``timm/<arch>.<tag>``, ``model.safetensors``): the
  table ``vitzoo/data/pretrained_timm.json``, generated from timm's own
  ``pretrained_cfg``s by ``scripts/make_pretrained_table.py`` and read on first use;
* the other publishers' weights (Google's and other transformers repos,
  MindSpore's and MindCV's checkpoints): :mod:`vitzoo.pretrained.publishers`.

Each entry records where the files live, their format, the license, the
published ImageNet-1k top-1 (``None`` where none is published: timm's
results-imagenet.csv, MindSpore's tutorial and MindCV's model table are the
sources), the label set and the eval preprocessing. ``sha256`` is ``None``
where no checksum is published; the hub verifies its own files, and the digest
of every download is recorded in the converted checkpoint.

Example:
    >>> list_pretrained("vit_b_16.augreg*")
    ['vit_b_16.augreg2_in21k_ft_in1k', 'vit_b_16.augreg_in1k', 'vit_b_16.augreg_in21k', 'vit_b_16.augreg_in21k_ft_in1k']
    >>> get_weight_set("vit_b_16").name   # the best published ImageNet-1k top-1
    'vit_b_16.augreg2_in21k_ft_in1k'
    >>> get_weight_set("vit_base_patch16_224.orig_in21k_ft_in1k").top1
    81.786
"""

from __future__ import annotations

import difflib
import fnmatch
import json
from importlib import resources
from typing import Any

from vitzoo.errors import UnknownNameError, VitzooError
from vitzoo.labels import IMAGENET_1K
from vitzoo.variants import aliases_of, get_spec, split_name

from .publishers import other_weight_sets
from .weight_set import WeightSet

TIMM_TABLE = "pretrained_timm.json"  # in vitzoo/data, written by scripts/make_pretrained_table.py
_PREPROCESSING_KEYS = ("input_size", "interpolation", "crop_pct", "crop_mode", "mean", "std")


_REGISTRY: dict[str, WeightSet] = {}
_LOADED = False


def _registry() -> dict[str, WeightSet]:
    """The registry, filled on first use (so importing vitzoo reads no table)."""
    global _LOADED
    if not _LOADED:
        _LOADED = True
        try:
            for ws in [*timm_weight_sets(), *other_weight_sets()]:
                register_pretrained(ws)
        except BaseException:
            _LOADED = False
            _REGISTRY.clear()
            raise
    return _REGISTRY


def timm_weight_sets() -> list[WeightSet]:
    """timm's weight sets, in timm's order, from the table generated out of timm's own ``pretrained_cfg``s."""
    text = resources.files("vitzoo.data").joinpath(TIMM_TABLE).read_text(encoding="utf-8")
    out = []
    for row in json.loads(text)["entries"]:
        pre = {k: tuple(row[k]) if isinstance(row[k], list) else row[k] for k in _PREPROCESSING_KEYS}
        out.append(WeightSet(row["name"], "timm", row["license"], row["label_set"], row["num_classes"], row["top1"],
                             hub_repo=row["hub_repo"], files=("model.safetensors", "config.json"), preprocessing=pre,
                             notes=row.get("notes", "")))
    return out


def register_pretrained(ws: WeightSet, *, overwrite: bool = False) -> WeightSet:
    """Add a weight set (e.g. a private mirror or a test fixture) to the registry."""
    _registry()
    get_spec(ws.variant)  # the variant must exist
    if ws.variant != split_name(ws.variant)[0]:
        raise VitzooError(f"Register weight set {ws.name!r} under the short variant name {split_name(ws.variant)[0]!r}.")
    if ws.name in _REGISTRY and not overwrite:
        raise VitzooError(f"Weight set {ws.name!r} is already registered.")
    _REGISTRY[ws.name] = ws
    return ws


def unregister_pretrained(name: str) -> None:
    """Remove a weight set registered with :func:`register_pretrained`."""
    _registry().pop(name, None)


def list_pretrained(pattern: str = "*") -> list[str]:
    """Sorted ``variant.tag`` names matching an fnmatch pattern (short or timm variant names).

    Example:
        >>> list_pretrained("vit_base_patch16_384.*")
        ['vit_b_16_384.augreg_in1k', 'vit_b_16_384.augreg_in21k_ft_in1k', 'vit_b_16_384.google_in21k_ft_in1k', 'vit_b_16_384.ms_in1k', 'vit_b_16_384.orig_in21k_ft_in1k']
    """
    out = []
    for name, ws in _registry().items():
        spellings = [name] + [f"{alias}.{ws.tag}" for alias in aliases_of(ws.variant)]
        if any(fnmatch.fnmatchcase(s, pattern) for s in spellings):
            out.append(name)
    return sorted(out)


def get_weight_set(name: str) -> WeightSet:
    """The weight set for ``variant.tag``, or the variant's default for a bare variant name.

    The default is the entry with the best published ImageNet-1k top-1; a variant
    with no such entry falls back to its first listed one (for timm's weights,
    timm's own default tag).
    """
    variant, tag = split_name(name)
    if tag is None:
        tag = default_tag(variant)
    full = f"{variant}.{tag}"
    registry = _registry()
    if full in registry:
        return registry[full]
    tags = [ws.tag for ws in registry.values() if ws.variant == variant]
    if not tags:
        raise UnknownNameError(f"{variant!r} has no pretrained weights in vitzoo; use pretrained=False, or pass a checkpoint file.")
    close = difflib.get_close_matches(tag, tags, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(f'{variant}.{t}' for t in close)}?" if close else f"it has: {', '.join(sorted(tags))}."
    raise UnknownNameError(f"Unknown weight tag {tag!r} for {variant!r}; {hint}")


def default_tag(variant: str) -> str:
    """The tag ``pretrained=True`` loads for a variant."""
    variant, _ = split_name(variant)
    entries = [ws for ws in _registry().values() if ws.variant == variant]
    if not entries:
        raise UnknownNameError(f"{variant!r} has no pretrained weights in vitzoo; use pretrained=False, or pass a checkpoint file.")
    ranked = [ws for ws in entries if ws.label_set == IMAGENET_1K and ws.top1 is not None]
    if ranked:
        return max(ranked, key=lambda ws: ws.top1 or 0.0).tag
    return entries[0].tag


def preprocessing_for_name(name: str) -> dict[str, Any]:
    """The preprocessing config of a weight set (or of a variant's default weights, or timm's defaults)."""
    variant, tag = split_name(name)
    if tag is not None or any(ws.variant == variant for ws in _registry().values()):
        return get_weight_set(name).pretrained_cfg()
    spec = get_spec(variant)
    return {"input_size": [spec.in_chans, *spec.input_size]}


__all__ = [
    "WeightSet",
    "register_pretrained",
    "unregister_pretrained",
    "list_pretrained",
    "get_weight_set",
    "default_tag",
    "preprocessing_for_name",
]
