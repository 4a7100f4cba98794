"""Class names of the label sets pretrained weights are trained on (ImageNet-1k's are shipped).

The other label sets (ImageNet-12k, -21k, -21k-MIIL, Bamboo) are named so each
weight set says what its classifier predicts, but their class names are not
shipped: prediction with such weights reports class indices.

``vitzoo/data/imagenet_classes.txt`` holds one line per ImageNet-1k class, in
the standard class-index order (the sorted WordNet synset ids that ImageNet's
folder names use): ``synset<TAB>comma-separated WordNet lemmas``. It was
generated once from the class lists that timm ships.

Example:
    >>> from vitzoo import labels
    >>> labels.imagenet_class_names()[:2]
    ['tench', 'goldfish']
    >>> labels.imagenet_synsets()[0]
    'n01440764'
    >>> labels.index_of_synset("n01443537")
    1
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Optional

from vitzoo.errors import DataError, UnknownNameError

IMAGENET_1K = "imagenet-1k"
IMAGENET_12K = "imagenet-12k"  # timm's 11821-class subset of ImageNet-22k
IMAGENET_21K = "imagenet-21k"  # Google's 21843-class ImageNet-21k (timm: "imagenet-21k-goog")
IMAGENET_21K_MIIL = "imagenet-21k-miil"  # Alibaba MIIL's 11221-class "ImageNet-21K-P"
IMAGENET_22K = "imagenet-22k"  # the full 21841-class ImageNet-22k (BEiT, EVA fine-tunes)
IMAGENET_22K_MS = "imagenet-22k-ms"  # Microsoft's 21842-class ImageNet-22k
BAMBOO = "bamboo"  # the Bamboo dataset's 115217 classes (timm names no subset for it)
NO_LABELS = "none"  # no classifier: features, or an embedding projection (CLIP)
LABEL_SETS = (IMAGENET_1K, IMAGENET_12K, IMAGENET_21K, IMAGENET_21K_MIIL, IMAGENET_22K, IMAGENET_22K_MS, BAMBOO, NO_LABELS)
# classes in each label set (timm's ``infer_imagenet_subset`` uses the same counts)
LABEL_SET_SIZES = {IMAGENET_1K: 1000, IMAGENET_12K: 11821, IMAGENET_21K: 21843, IMAGENET_21K_MIIL: 11221, IMAGENET_22K: 21841,
                   IMAGENET_22K_MS: 21842, BAMBOO: 115217}


@functools.lru_cache(maxsize=1)
def _imagenet_rows() -> tuple[tuple[str, str], ...]:
    text = resources.files("vitzoo.data").joinpath("imagenet_classes.txt").read_text(encoding="utf-8")
    rows = tuple(tuple(line.split("\t", 1)) for line in text.splitlines() if line.strip())
    if len(rows) != 1000 or any(len(r) != 2 for r in rows):  # a damaged install, not a user error
        raise DataError("vitzoo's ImageNet class list is damaged (expected 1000 'synset<TAB>names' lines); reinstall vitzoo.")
    return rows  # type: ignore[return-value]


def imagenet_synsets() -> list[str]:
    """The 1000 ImageNet-1k WordNet ids (``n01440764`` ...), in class-index order."""
    return [s for s, _ in _imagenet_rows()]


def imagenet_descriptions() -> list[str]:
    """All WordNet lemmas of each class, e.g. ``"tench, Tinca tinca"``."""
    return [d for _, d in _imagenet_rows()]


def imagenet_class_names() -> list[str]:
    """One short name per class (the first lemma), e.g. ``"tench"``."""
    return [d.split(",", 1)[0].strip() for _, d in _imagenet_rows()]


def index_of_synset(synset: str) -> int:
    """The class index of an ImageNet-1k synset id (as in a ``val/n01440764/`` folder)."""
    index = _synset_index().get(synset)
    if index is None:
        raise UnknownNameError(f"{synset!r} is not an ImageNet-1k synset id (expected e.g. 'n01440764').")
    return index


@functools.lru_cache(maxsize=1)
def _synset_index() -> dict[str, int]:
    return {s: i for i, s in enumerate(imagenet_synsets())}


def label_set_for(num_classes: int) -> str:
    """The label set a classifier of this width was trained on, as timm infers it; ``none`` for others.

    Example:
        >>> label_set_for(1000), label_set_for(11821), label_set_for(512)
        ('imagenet-1k', 'imagenet-12k', 'none')
    """
    return next((name for name, size in LABEL_SET_SIZES.items() if size == num_classes), NO_LABELS)


def class_names_for(label_set: Optional[str], num_classes: int) -> Optional[list[str]]:
    """Class names for a label set, or ``None`` when vitzoo does not ship them or the count differs."""
    if label_set == IMAGENET_1K and num_classes == 1000:
        return imagenet_class_names()
    return None
