"""Pretrained tags of whole CLIP-style models (``"ViT-B-16.laion2b_s34b_b88k"``), as data.

A tag names the weights open_clip publishes for one of its model names: ``create_clip("ViT-B-16",
pretrained="laion2b_s34b_b88k")`` is ``open_clip.create_model("ViT-B-16", pretrained="laion2b_s34b_b88k")``.
The table ``vitzoo/data/pretrained_clip.json`` is generated from open_clip's own
``get_pretrained_cfg`` by ``scripts/make_clip_pretrained_table.py``: the Hugging Face hub repo
open_clip downloads, the eval preprocessing (mean, std, interpolation, resize mode) and the licence
where timm states one. Only models vitzoo builds and weights on the hub are listed.

Example:
    >>> list_pretrained_clip("ViT-B-16.laion*")
    ['ViT-B-16.laion2b_s34b_b88k', 'ViT-B-16.laion400m_e31', 'ViT-B-16.laion400m_e32']
    >>> get_clip_weight_set("ViT-B-16", "laion2b_s34b_b88k").hub_repo
    'laion/CLIP-ViT-B-16-laion2B-s34B-b88K'
"""

from __future__ import annotations

import difflib
import fnmatch
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, Optional

from vitzoo.errors import UnknownNameError

CLIP_TABLE = "pretrained_clip.json"  # in vitzoo/data, written by scripts/make_clip_pretrained_table.py


@dataclass(frozen=True)
class ClipWeightSet:
    """One tag of an open_clip model: where its weights live and how its images are prepared."""

    model: str
    tag: str
    hub_repo: str
    license: Optional[str] = None
    mean: tuple[float, ...] = (0.48145466, 0.4578275, 0.40821073)
    std: tuple[float, ...] = (0.26862954, 0.26130258, 0.27577711)
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"

    @property
    def name(self) -> str:
        return f"{self.model}.{self.tag}"

    @property
    def hub_name(self) -> str:
        """The ``hf-hub:`` name the weights download through."""
        return "hf-hub:" + self.hub_repo

    def pretrained_cfg(self, img_size: int) -> dict[str, Any]:
        """vitzoo's preprocessing dict: open_clip's eval transform for this tag (resize, centre crop or squash)."""
        return {"input_size": [3, img_size, img_size], "interpolation": self.interpolation, "crop_pct": 1.0,
                "crop_mode": "squash" if self.resize_mode == "squash" else "center", "mean": list(self.mean), "std": list(self.std)}


_TAGS: dict[str, ClipWeightSet] = {}


def _table() -> dict[str, ClipWeightSet]:
    """The registry, read from the table on first use (so importing vitzoo reads no file)."""
    if not _TAGS:
        text = resources.files("vitzoo.data").joinpath(CLIP_TABLE).read_text(encoding="utf-8")
        for row in json.loads(text)["entries"]:
            ws = ClipWeightSet(row["model"], row["tag"], row["hub_repo"], row["license"], tuple(row["mean"]), tuple(row["std"]),
                               row["interpolation"], row["resize_mode"])
            _TAGS[ws.name] = ws
    return _TAGS


def register_clip_pretrained(ws: ClipWeightSet, *, overwrite: bool = False) -> ClipWeightSet:
    """Add a tag (a private mirror of open_clip's weights, say) to the registry."""
    from vitzoo.errors import VitzooError

    if ws.name in _table() and not overwrite:
        raise VitzooError(f"CLIP weight tag {ws.name!r} is already registered; pass overwrite=True to replace it.")
    _TAGS[ws.name] = ws
    return ws


def unregister_clip_pretrained(name: str) -> None:
    """Remove a tag added with :func:`register_clip_pretrained` (``"MODEL.tag"``)."""
    _table().pop(name, None)


def list_pretrained_clip(pattern: str = "*") -> list[str]:
    """Sorted ``MODEL.tag`` names of whole CLIP-style models matching an fnmatch pattern.

    Example:
        >>> list_pretrained_clip("*SigLIP2-256*")[:2]
        ['ViT-B-16-SigLIP2-256.webli', 'ViT-B-32-SigLIP2-256.webli']
    """
    return sorted(n for n in _table() if fnmatch.fnmatchcase(n, pattern))


def clip_tags_of(model: str) -> list[str]:
    """The tags of an open_clip model name, in open_clip's order."""
    return [ws.tag for ws in _table().values() if ws.model == model]


def split_clip_name(name: str) -> tuple[str, Optional[str]]:
    """``"ViT-B-16.laion2b_s34b_b88k"`` -> ``("ViT-B-16", "laion2b_s34b_b88k")`` when the part before the dot has tags."""
    model, dot, tag = name.rpartition(".")
    if dot and clip_tags_of(model):
        return model, tag
    return name, None


def get_clip_weight_set(model: str, tag: Optional[str] = None) -> ClipWeightSet:
    """The weight set of ``model`` + ``tag`` (``None``: the model's default, open_clip's first listed tag).

    Tags are compared as open_clip does (lower case, ``-`` read as ``_``); an unknown model or tag
    is one :class:`~vitzoo.errors.UnknownNameError` naming the closest ones.
    """
    tags = clip_tags_of(model)
    if not tags:
        close = difflib.get_close_matches(model, sorted({ws.model for ws in _table().values()}), n=4, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else "vitzoo.list_pretrained_clip() lists them."
        raise UnknownNameError(f"{model!r} has no pretrained CLIP weight tags in vitzoo; {hint}")
    if tag is None:
        return _table()[f"{model}.{tags[0]}"]
    clean = tag.lower().replace("-", "_")
    if f"{model}.{clean}" in _table():
        return _table()[f"{model}.{clean}"]
    close = difflib.get_close_matches(clean, tags, n=3, cutoff=0.4)
    elsewhere = [n for n in _table() if n.endswith("." + clean) and n.startswith(model)]  # e.g. the -quickgelu name
    hint = ", ".join([f"{model}.{t}" for t in close] + elsewhere) or ", ".join(f"{model}.{t}" for t in tags[:5]) + (", ..." if len(tags) > 5 else "")
    raise UnknownNameError(f"Unknown CLIP weight tag {tag!r} for {model!r}; the closest known: {hint}.")


__all__ = ["ClipWeightSet", "clip_tags_of", "get_clip_weight_set", "list_pretrained_clip", "register_clip_pretrained", "split_clip_name",
           "unregister_clip_pretrained"]
