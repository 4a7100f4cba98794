"""Weight sets published outside timm's hub repos, as data.

timm's own weight sets come from ``vitzoo/data/pretrained_timm.json`` (generated
from timm's ``pretrained_cfg``s by ``scripts/make_pretrained_table.py``); this
module lists the others, each with the eval preprocessing its publisher states:

* ``google_in21k_ft_in1k`` / ``google_in21k``: Google's ``google/vit-*`` repos in
  Hugging Face transformers' layout;
* ``ms_in1k`` / ``ms_tv_in1k``: MindSpore's ViT tutorial checkpoints on
  download.mindspore.cn; ``mindcv_in1k``: MindCV's checkpoints.

Example:
    >>> [ws.name for ws in other_weight_sets()][:2]
    ['vit_b_16.google_in21k_ft_in1k', 'vit_b_16.google_in21k']
"""

from __future__ import annotations

from typing import Optional

from vitzoo.labels import IMAGENET_1K, NO_LABELS
from vitzoo.pretrained import MS_ORIGIN, WeightSet
from vitzoo.variants import get_spec

_INCEPTION = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
_IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


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


def other_weight_sets() -> list[WeightSet]:
    """Every non-timm weight set vitzoo knows."""
    return [
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
    ]
