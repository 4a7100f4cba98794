"""What a weight set is: one published set of weights, where it lives, and how its inputs are preprocessed.

The normalisation constants publishers use live here too, so the tables and the eval transform read
the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from vitzoo.errors import VitzooError
from vitzoo.labels import LABEL_SET_SIZES, LABEL_SETS

MS_ORIGIN = "https://download.mindspore.cn"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = INCEPTION_STD = (0.5, 0.5, 0.5)
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class WeightSet:
    """One published set of weights for one variant, and how to fetch and preprocess for it."""

    name: str  # "variant.tag", variant by its short name
    source_format: str  # a vitzoo.weights format name: "timm", "hf", "mindspore", "mindcv", "vitzoo", ...
    license: str
    label_set: str  # what the classifier predicts (vitzoo.labels.LABEL_SETS); "none": no classifier or an embedding head
    num_classes: int
    top1: Optional[float] = None  # published ImageNet-1k top-1 (%), None if none is published
    hub_repo: Optional[str] = None  # Hugging Face hub repo id
    files: tuple[str, ...] = ("model.safetensors",)  # hub files, the weights first
    fallback_file: Optional[str] = None  # hub weights file to use if the first is missing
    revision: Optional[str] = None
    url: Optional[str] = None  # a direct download (MindSpore's site)
    sha256: Optional[str] = None  # published checksum of the downloaded file
    preprocessing: dict[str, Any] = field(default_factory=dict)  # input_size, interpolation, crop_pct, crop_mode, mean, std
    notes: str = ""

    def __post_init__(self) -> None:
        if (self.hub_repo is None) == (self.url is None):
            raise VitzooError(f"Weight set {self.name!r} needs exactly one of hub_repo and url.")
        if self.label_set not in LABEL_SETS:
            raise VitzooError(f"Weight set {self.name!r}: unknown label set {self.label_set!r}; use one of {', '.join(LABEL_SETS)}.")
        size = LABEL_SET_SIZES.get(self.label_set)
        if size is not None and self.num_classes != size:
            raise VitzooError(f"Weight set {self.name!r}: label set {self.label_set} has {size} classes, not {self.num_classes}.")

    @property
    def variant(self) -> str:
        return self.name.partition(".")[0]

    @property
    def tag(self) -> str:
        return self.name.partition(".")[2]

    @property
    def source(self) -> str:
        """Where the weights come from, as one string (``hf-hub:repo`` or the URL)."""
        return f"hf-hub:{self.hub_repo}" if self.hub_repo else str(self.url)

    def pretrained_cfg(self) -> dict[str, Any]:
        """What travels with the weights into ``model.pretrained_cfg["pretrained_cfg"]``."""
        cfg = {k: list(v) if isinstance(v, tuple) else v for k, v in self.preprocessing.items()}
        cfg.update(num_classes=self.num_classes, label_set=self.label_set, license=self.license, top1=self.top1, source=self.source)
        return cfg
