"""The pretrained-weight registry: every weight set vitzoo can fetch, as data.

A weight set is named ``variant.tag`` (``vit_b_16.augreg2_in21k_ft_in1k``); timm's
long names work too (``vit_base_patch16_224.augreg2_in21k_ft_in1k``). Tags:

* timm's own tags (hub repo ``timm/<arch>.<tag>``, ``model.safetensors``);
* ``google_in21k_ft_in1k`` / ``google_in21k``: Google's ``google/vit-*`` repos
  in Hugging Face transformers' layout;
* ``ms_in1k`` / ``ms_tv_in1k``: MindSpore's ViT tutorial checkpoints on
  download.mindspore.cn; ``mindcv_in1k``: MindCV's checkpoints.

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
from dataclasses import dataclass, field
from typing import Any, Optional

from vitzoo.errors import UnknownNameError, VitzooError
from vitzoo.labels import IMAGENET_1K, IMAGENET_21K, LABEL_SETS, NO_LABELS
from vitzoo.variants import aliases_of, get_spec, split_name

MS_ORIGIN = "https://download.mindspore.cn"
_INCEPTION = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
_IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


@dataclass(frozen=True)
class WeightSet:
    """One published set of weights for one variant, and how to fetch and preprocess for it."""

    name: str  # "variant.tag", variant by its short name
    source_format: str  # a vitzoo.weights format name: "timm", "hf", "mindspore", "mindcv", "vitzoo", ...
    license: str
    label_set: str  # imagenet-1k, imagenet-21k or none (no classifier)
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


_REGISTRY: dict[str, WeightSet] = {}


def register_pretrained(ws: WeightSet, *, overwrite: bool = False) -> WeightSet:
    """Add a weight set (e.g. a private mirror or a test fixture) to the registry."""
    get_spec(ws.variant)  # the variant must exist
    if ws.variant != split_name(ws.variant)[0]:
        raise VitzooError(f"Register weight set {ws.name!r} under the short variant name {split_name(ws.variant)[0]!r}.")
    if ws.name in _REGISTRY and not overwrite:
        raise VitzooError(f"Weight set {ws.name!r} is already registered.")
    _REGISTRY[ws.name] = ws
    return ws


def unregister_pretrained(name: str) -> None:
    """Remove a weight set registered with :func:`register_pretrained`."""
    _REGISTRY.pop(name, None)


def list_pretrained(pattern: str = "*") -> list[str]:
    """Sorted ``variant.tag`` names matching an fnmatch pattern (short or timm variant names).

    Example:
        >>> list_pretrained("vit_base_patch16_384.*")
        ['vit_b_16_384.augreg_in1k', 'vit_b_16_384.augreg_in21k_ft_in1k', 'vit_b_16_384.google_in21k_ft_in1k', 'vit_b_16_384.ms_in1k', 'vit_b_16_384.orig_in21k_ft_in1k']
    """
    out = []
    for name, ws in _REGISTRY.items():
        spellings = [name] + [f"{alias}.{ws.tag}" for alias in aliases_of(ws.variant)]
        if any(fnmatch.fnmatchcase(s, pattern) for s in spellings):
            out.append(name)
    return sorted(out)


def get_weight_set(name: str) -> WeightSet:
    """The weight set for ``variant.tag``, or the variant's default for a bare variant name.

    The default is the entry with the best published ImageNet-1k top-1; a variant
    with no such entry falls back to its first listed one.
    """
    variant, tag = split_name(name)
    if tag is None:
        tag = default_tag(variant)
    full = f"{variant}.{tag}"
    if full in _REGISTRY:
        return _REGISTRY[full]
    tags = [ws.tag for ws in _REGISTRY.values() if ws.variant == variant]
    if not tags:
        raise UnknownNameError(f"{variant!r} has no pretrained weights in vitzoo; use pretrained=False, or pass a checkpoint file.")
    close = difflib.get_close_matches(tag, tags, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(f'{variant}.{t}' for t in close)}?" if close else f"it has: {', '.join(sorted(tags))}."
    raise UnknownNameError(f"Unknown weight tag {tag!r} for {variant!r}; {hint}")


def default_tag(variant: str) -> str:
    """The tag ``pretrained=True`` loads for a variant."""
    variant, _ = split_name(variant)
    entries = [ws for ws in _REGISTRY.values() if ws.variant == variant]
    if not entries:
        raise UnknownNameError(f"{variant!r} has no pretrained weights in vitzoo; use pretrained=False, or pass a checkpoint file.")
    ranked = [ws for ws in entries if ws.label_set == IMAGENET_1K and ws.top1 is not None]
    if ranked:
        return max(ranked, key=lambda ws: ws.top1 or 0.0).tag
    return entries[0].tag


def load_pretrained(name: str, *, force: bool = False) -> Any:
    """The canonical :class:`~vitzoo.weights.Checkpoint` of a weight set, fetched and converted once, then cached."""
    from vitzoo import hub

    return hub.load(get_weight_set(name), force=force)


def preprocessing_for_name(name: str) -> dict[str, Any]:
    """The preprocessing config of a weight set (or of a variant's default weights, or timm's defaults)."""
    variant, tag = split_name(name)
    if tag is not None or any(ws.variant == variant for ws in _REGISTRY.values()):
        return get_weight_set(name).pretrained_cfg()
    spec = get_spec(variant)
    return {"input_size": [spec.in_chans, spec.img_size, spec.img_size]}


# ---------------------------------------------------------------------------
# The data. Helpers only fill in what every entry of one source shares.


def _timm(variant: str, tag: str, top1: Optional[float], *, label_set: str = IMAGENET_1K, license: str = "apache-2.0", **kw: Any) -> WeightSet:
    size = get_spec(variant).img_size
    long_name = aliases_of(variant)[0]  # timm's name of the variant
    num_classes = {IMAGENET_1K: 1000, IMAGENET_21K: 21843, NO_LABELS: 0}[label_set]
    norm = kw.pop("norm", _INCEPTION)
    pre = dict(input_size=(3, size, size), interpolation="bicubic", crop_pct=0.9 if size == 224 else 1.0, crop_mode="center", **norm)
    return WeightSet(f"{variant}.{tag}", "timm", license, label_set, num_classes, top1, hub_repo=f"timm/{long_name}.{tag}",
                     files=("model.safetensors", "config.json"), preprocessing=pre, **kw)


def _google(variant: str, repo: str, *, in21k: bool = False) -> WeightSet:
    size = get_spec(variant).img_size
    # ViTImageProcessor: resize both sides to the input size (bilinear), no crop, mean/std 0.5
    pre = dict(input_size=(3, size, size), interpolation="bilinear", crop_pct=1.0, crop_mode="squash", **_INCEPTION)
    tag = "google_in21k" if in21k else "google_in21k_ft_in1k"
    return WeightSet(f"{variant}.{tag}", "hf", "apache-2.0", NO_LABELS if in21k else IMAGENET_1K, 0 if in21k else 1000, None,
                     hub_repo=repo, files=("model.safetensors", "config.json"), fallback_file="pytorch_model.bin", preprocessing=pre,
                     notes="ViTModel without a classifier (pooler kept by the reader if present)" if in21k else "")


def _mindspore(variant: str, tag: str, path: str, top1: Optional[float], *, fmt: str, interpolation: str = "bilinear", notes: str = "") -> WeightSet:
    size = get_spec(variant).img_size
    # the tutorial's eval: resize 256, centre crop 224, ImageNet mean/std (crop_pct 0.875)
    pre = dict(input_size=(3, size, size), interpolation=interpolation, crop_pct=0.875, crop_mode="center", **_IMAGENET)
    return WeightSet(f"{variant}.{tag}", fmt, "apache-2.0", IMAGENET_1K, 1000, top1, url=f"{MS_ORIGIN}/{path}", preprocessing=pre, notes=notes)


_MS_384 = "preprocessing not published for 384 px; the tutorial's recipe (crop_pct 0.875, bilinear) is assumed"
_MS_TV = "the '_tv' file of MindSpore's ViT tutorial; accuracy not published"
_MAE, _DINO = dict(label_set=NO_LABELS, norm=_IMAGENET, license="cc-by-nc-4.0"), dict(label_set=NO_LABELS, norm=_IMAGENET)
_IN21K, _NOHEAD = dict(label_set=IMAGENET_21K), dict(label_set=NO_LABELS)

# timm's tags (top-1: timm's results-imagenet.csv)
for _ws in [
    _timm("vit_ti_16", "augreg_in21k_ft_in1k", 75.454),
    _timm("vit_ti_16", "augreg_in21k", None, **_IN21K),
    _timm("vit_ti_16_384", "augreg_in21k_ft_in1k", 78.424),
    _timm("vit_s_16", "augreg_in21k_ft_in1k", 81.384),
    _timm("vit_s_16", "augreg_in1k", 78.846),
    _timm("vit_s_16", "augreg_in21k", None, **_IN21K),
    _timm("vit_s_16", "dino", None, **_DINO),
    _timm("vit_s_16_384", "augreg_in21k_ft_in1k", 83.802),
    _timm("vit_s_16_384", "augreg_in1k", 81.116),
    _timm("vit_s_32", "augreg_in21k_ft_in1k", 75.994),
    _timm("vit_s_32", "augreg_in21k", None, **_IN21K),
    _timm("vit_s_32_384", "augreg_in21k_ft_in1k", 80.486),
    _timm("vit_b_16", "augreg2_in21k_ft_in1k", 85.096),
    _timm("vit_b_16", "augreg_in21k_ft_in1k", 84.532),
    _timm("vit_b_16", "orig_in21k_ft_in1k", 81.786),
    _timm("vit_b_16", "sam_in1k", 80.244),
    _timm("vit_b_16", "augreg_in1k", 79.154),
    _timm("vit_b_16", "augreg_in21k", None, **_IN21K),
    _timm("vit_b_16", "orig_in21k", None, **_NOHEAD),
    _timm("vit_b_16", "dino", None, **_DINO),
    _timm("vit_b_16", "mae", None, **_MAE),
    _timm("vit_b_16_384", "augreg_in21k_ft_in1k", 85.996),
    _timm("vit_b_16_384", "orig_in21k_ft_in1k", 84.200),
    _timm("vit_b_16_384", "augreg_in1k", 81.102),
    _timm("vit_b_32", "augreg_in21k_ft_in1k", 80.716),
    _timm("vit_b_32", "augreg_in1k", 74.894),
    _timm("vit_b_32", "sam_in1k", 73.694),
    _timm("vit_b_32", "augreg_in21k", None, **_IN21K),
    _timm("vit_b_32", "orig_in21k", None, **_NOHEAD),
    _timm("vit_b_32_384", "augreg_in21k_ft_in1k", 83.350),
    _timm("vit_b_32_384", "augreg_in1k", 78.752),
    _timm("vit_b_8", "augreg2_in21k_ft_in1k", 86.218),
    _timm("vit_b_8", "augreg_in21k_ft_in1k", 85.798),
    _timm("vit_b_8", "augreg_in21k", None, **_IN21K),
    _timm("vit_b_8", "dino", None, **_DINO),
    _timm("vit_l_16", "augreg_in21k_ft_in1k", 85.834),
    _timm("vit_l_16", "augreg_in21k", None, **_IN21K),
    _timm("vit_l_16", "orig_in21k", None, **_NOHEAD),
    _timm("vit_l_16", "mae", None, **_MAE),
    _timm("vit_l_16_384", "augreg_in21k_ft_in1k", 87.084),
    _timm("vit_l_32", "orig_in21k", None, **_NOHEAD),
    _timm("vit_l_32_384", "orig_in21k_ft_in1k", 81.510),
    _timm("vit_h_14", "orig_in21k", None, **_NOHEAD),
    _timm("vit_h_14", "mae", None, **_MAE),
    # Google's transformers-format repos (no accuracy published for this preprocessing)
    _google("vit_b_16", "google/vit-base-patch16-224"),
    _google("vit_b_16", "google/vit-base-patch16-224-in21k", in21k=True),
    _google("vit_b_16_384", "google/vit-base-patch16-384"),
    _google("vit_b_32", "google/vit-base-patch32-224-in21k", in21k=True),
    _google("vit_b_32_384", "google/vit-base-patch32-384"),
    _google("vit_l_16", "google/vit-large-patch16-224"),
    _google("vit_l_16", "google/vit-large-patch16-224-in21k", in21k=True),
    _google("vit_l_16_384", "google/vit-large-patch16-384"),
    _google("vit_l_32", "google/vit-large-patch32-224-in21k", in21k=True),
    _google("vit_l_32_384", "google/vit-large-patch32-384"),
    _google("vit_h_14", "google/vit-huge-patch14-224-in21k", in21k=True),
    # MindSpore's ViT tutorial checkpoints (top-1 of vit_b_16_224: the tutorial's 75.24)
    _mindspore("vit_b_16", "ms_in1k", "vision/classification/vit_b_16_224.ckpt", 75.24, fmt="mindspore"),
    _mindspore("vit_b_16_384", "ms_in1k", "vision/classification/vit_b_16_384.ckpt", None, fmt="mindspore", notes=_MS_384),
    _mindspore("vit_l_16", "ms_in1k", "vision/classification/vit_l_16_224.ckpt", None, fmt="mindspore"),
    _mindspore("vit_l_16_384", "ms_in1k", "vision/classification/vit_l_16_384.ckpt", None, fmt="mindspore", notes=_MS_384),
    _mindspore("vit_b_32_384", "ms_in1k", "vision/classification/vit_b_32_384.ckpt", None, fmt="mindspore", notes=_MS_384),
    _mindspore("vit_b_32", "ms_tv_in1k", "vision/classification/vit_b_32_224_tv.ckpt", None, fmt="mindspore", notes=_MS_TV),
    _mindspore("vit_l_32", "ms_tv_in1k", "vision/classification/vit_l_32_224_tv.ckpt", None, fmt="mindspore", notes=_MS_TV),
    # MindCV (top-1 from MindCV's ViT model table; eval: resize 256 bicubic, crop 224)
    _mindspore("vit_b_32", "mindcv_in1k", "toolkits/mindcv/vit/vit_b_32_224-4a1c9d8e.ckpt", 77.45, fmt="mindcv", interpolation="bicubic"),
    _mindspore("vit_l_16", "mindcv_in1k", "toolkits/mindcv/vit/vit_l_16_224-d2635f8b.ckpt", 81.25, fmt="mindcv", interpolation="bicubic"),
    _mindspore("vit_l_32", "mindcv_in1k", "toolkits/mindcv/vit/vit_l_32_224-8c8ea164.ckpt", 74.57, fmt="mindcv", interpolation="bicubic"),
]:
    register_pretrained(_ws)
del _ws

__all__ = [
    "WeightSet",
    "register_pretrained",
    "unregister_pretrained",
    "list_pretrained",
    "get_weight_set",
    "default_tag",
    "load_pretrained",
    "preprocessing_for_name",
]
