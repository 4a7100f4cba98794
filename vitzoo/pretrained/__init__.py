"""The registry of weight sets: what each ``variant.tag`` is, where it lives and how it is preprocessed, as data.

``weight_set`` defines the record, ``publishers`` lists the weights published outside timm's hub repos,
``registry`` adds timm's table (``vitzoo/data/pretrained_timm.json``) and answers the lookups; ``clip_tags`` holds the tags of whole CLIP-style models (``vitzoo/data/pretrained_clip.json``).
Fetching the files is :mod:`vitzoo.hub`'s job, one layer up.
"""

from __future__ import annotations

from .clip_tags import ClipWeightSet, get_clip_weight_set, list_pretrained_clip, register_clip_pretrained
from .registry import (
    default_tag,
    get_weight_set,
    list_pretrained,
    preprocessing_for_name,
    register_pretrained,
    timm_weight_sets,
    unregister_pretrained,
)
from .weight_set import MS_ORIGIN, WeightSet

__all__ = [
    "ClipWeightSet",
    "get_clip_weight_set",
    "list_pretrained_clip",
    "register_clip_pretrained",
    "MS_ORIGIN",
    "WeightSet",
    "default_tag",
    "get_weight_set",
    "list_pretrained",
    "preprocessing_for_name",
    "register_pretrained",
    "timm_weight_sets",
    "unregister_pretrained",
]
