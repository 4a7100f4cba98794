"""Weight sets published outside timm's hub repos, as data.

timm's own weight sets come from ``vitzoo/data/pretrained_timm.json`` (generated
from timm's ``pretrained_cfg``s by ``scripts/make_pretrained_table.py``); this
module lists the others, each with the eval preprocessing its publisher states:

* ``google_in21k_ft_in1k`` / ``google_in21k``: Google's ``google/vit-*`` repos in
  Hugging Face transformers' layout;
* ``ms_in1k`` / ``ms_tv_in1k``: MindSpore's ViT tutorial checkpoints on
  download.mindspore.cn; ``mindcv_in1k``: MindCV's checkpoints;
* ``hf_<timm's tag>``: the transformers repos of the families (``facebook/deit-*``,
  ``facebook/dinov2-*``, ``openai/clip-vit-*``, ``google/siglip-*``, ``facebook/dinov3-*``,
  ``google/siglip2-*-naflex``, ``microsoft/beit-*``), read with vitzoo's transformers readers;
  the same training run as timm's tag.

Example:
    >>> [ws.name for ws in other_weight_sets()][:2]
    ['vit_b_16.google_in21k_ft_in1k', 'vit_b_16.google_in21k']
"""

from __future__ import annotations

from typing import Optional

from vitzoo.labels import IMAGENET_1K, NO_LABELS
from vitzoo.variants import get_spec

from .weight_set import IMAGENET_MEAN, IMAGENET_STD, INCEPTION_MEAN, INCEPTION_STD, MS_ORIGIN, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, WeightSet

_INCEPTION = dict(mean=INCEPTION_MEAN, std=INCEPTION_STD)
_IMAGENET = dict(mean=IMAGENET_MEAN, std=IMAGENET_STD)
_OPENAI = dict(mean=OPENAI_CLIP_MEAN, std=OPENAI_CLIP_STD)


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


def _transformers(variant: str, repo: str, tag: str, *, license: str, label_set: str = NO_LABELS, num_classes: int = 0,
                  size: int, crop_pct: float, crop_mode: str, norm: dict, notes: str, interpolation: str = "bicubic") -> WeightSet:
    pre = dict(input_size=(3, size, size), interpolation=interpolation, crop_pct=crop_pct, crop_mode=crop_mode, **norm)
    return WeightSet(f"{variant}.{tag}", "hf", license, label_set, num_classes, None, hub_repo=repo,
                     files=("model.safetensors", "config.json"), fallback_file="pytorch_model.bin", preprocessing=pre, notes=notes)


# What each entry relies on. Verified: transformers 5.24's image processor defaults (DeiT: 256x256 resize,
# crop 224, bicubic; CLIP: shorter side to 224, crop 224, bicubic, OpenAI mean/std; SigLIP: both sides to
# 224, bicubic, mean/std 0.5), transformers' DeiT conversion script (resize int(256/224 * size) square, crop
# size) and timm's pretrained_cfg of the same weights (DeiT: ImageNet mean/std; DINOv2: ImageNet mean/std,
# bicubic). Licenses: what timm's pretrained_cfg states for the same weights (tested).
# Not verifiable offline: each repo's own preprocessor_config.json.
_DEIT = ("facebook/deit-* (DeiTForImageClassificationWithTeacher, timm's fb_in1k weights converted by transformers' script): "
         "resize to {r}x{r} bicubic, centre crop {s}; mean/std are timm's ImageNet values for these weights (transformers "
         "5.24's DeiTImageProcessor default would be 0.5; the repo's preprocessor_config.json was not readable offline)")
_DINO = ("facebook/dinov2* (Dinov2Model / Dinov2WithRegistersModel, no classifier): resize shorter side to 256 bicubic, "
         "centre crop 224, ImageNet mean/std (the DINOv2 eval recipe); transformers interpolates the 518-px position "
         "embedding to the input, vitzoo's model is built at 518 px: use create(..., img_size=224) for 224-px inputs")
_CLIP = ("openai/clip-vit-* (CLIPModel, vision tower and projection; QuickGELU): CLIPImageProcessor's resize shorter "
         "side to {s} bicubic, centre crop {s}, OpenAI CLIP mean/std; the head is the image projection, not classes")
_SIGLIP = ("google/siglip-* (SiglipModel, vision tower; transformers runs the tanh GELU, timm's arch the exact one: "
           "the reader keeps the source's form): SiglipImageProcessor's resize to {s}x{s} bicubic, no crop, mean/std 0.5; "
           "no classifier")


def _deit(variant: str, repo: str, size: int) -> WeightSet:
    resize = int(256 / 224 * size)  # what transformers' conversion script gives the processor
    return _transformers(variant, repo, "hf_fb_in1k", license="apache-2.0", label_set=IMAGENET_1K, num_classes=1000, size=size,
                         crop_pct=size / resize, crop_mode="squash", norm=_IMAGENET, notes=_DEIT.format(r=resize, s=size))


def _dinov2(variant: str, repo: str) -> WeightSet:
    return _transformers(variant, repo, "hf_lvd142m", license="apache-2.0", size=224, crop_pct=0.875, crop_mode="center",
                         norm=_IMAGENET, notes=_DINO)


def _clip(variant: str, repo: str, size: int, proj_dim: int) -> WeightSet:
    return _transformers(variant, repo, "hf_openai", license="apache-2.0", num_classes=proj_dim, size=size, crop_pct=1.0,
                         crop_mode="center", norm=_OPENAI, notes=_CLIP.format(s=size))


def _siglip(variant: str, repo: str, size: int) -> WeightSet:
    return _transformers(variant, repo, "hf_webli", license="apache-2.0", size=size, crop_pct=1.0, crop_mode="squash",
                         norm=_INCEPTION, notes=_SIGLIP.format(s=size))


_DINOV3 = ("facebook/dinov3-* (DINOv3ViTModel, gated under the DINOv3 license; no classifier, pooler_output = the class "
           "token after the final norm): DINOv3ViTImageProcessorFast's resize to 224x224 bilinear (antialiased), no crop, "
           "{norm} mean/std{sat}")
_SAT = (" (timm's values for the SAT-493M weights; the processor's class default would be ImageNet's, the repo's "
        "preprocessor_config.json was not readable offline)")
_SIGLIP2_NAFLEX = ("google/siglip2-*-naflex (Siglip2Model, vision tower with NaFlex inputs): Siglip2ImageProcessor resizes each "
                   "image, keeping its aspect ratio, to at most 256 patches of 16 px (bilinear), mean/std 0.5; "
                   "vitzoo.naflex.patchify packs such images; input_size is the square image of that budget")
_BEIT = ("microsoft/beit-* (BeitForImageClassification, in22k pre-train, in22k then in1k fine-tune): BeitImageProcessor's "
         "resize to {s}x{s} bicubic, no crop, mean/std 0.5; the relative position tables are transformers' (for another "
         "img_size they are interpolated as transformers does)")


def _dinov3_hf(variant: str, repo: str, *, sat: bool = False) -> WeightSet:
    norm = dict(mean=(0.43, 0.411, 0.296), std=(0.213, 0.156, 0.143)) if sat else _IMAGENET
    return _transformers(variant, repo, "hf_sat493m" if sat else "hf_lvd1689m", license="dinov3-license", size=224, crop_pct=1.0,
                         crop_mode="squash", norm=norm, interpolation="bilinear",
                         notes=_DINOV3.format(norm="SAT-493M" if sat else "ImageNet", sat=_SAT if sat else ""))


def _siglip2_naflex_hf(variant: str, repo: str) -> WeightSet:
    return _transformers(variant, repo, "hf_v2_webli", license="apache-2.0", size=256, crop_pct=1.0, crop_mode="squash",
                         norm=_INCEPTION, interpolation="bilinear", notes=_SIGLIP2_NAFLEX)


def _beit_hf(variant: str, repo: str, size: int) -> WeightSet:
    return _transformers(variant, repo, "hf_in22k_ft_in22k_in1k", license="apache-2.0", label_set=IMAGENET_1K, num_classes=1000,
                         size=size, crop_pct=1.0, crop_mode="squash", norm=_INCEPTION, notes=_BEIT.format(s=size))


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
        # the families' transformers repos
        _deit("deit_ti_16_distilled", "facebook/deit-tiny-distilled-patch16-224", 224),
        _deit("deit_s_16_distilled", "facebook/deit-small-distilled-patch16-224", 224),
        _deit("deit_b_16_distilled", "facebook/deit-base-distilled-patch16-224", 224),
        _deit("deit_b_16_distilled_384", "facebook/deit-base-distilled-patch16-384", 384),
        _dinov2("dinov2_s_14", "facebook/dinov2-small"),
        _dinov2("dinov2_b_14", "facebook/dinov2-base"),
        _dinov2("dinov2_l_14", "facebook/dinov2-large"),
        _dinov2("dinov2_g_14", "facebook/dinov2-giant"),
        _dinov2("dinov2_s_14_reg4", "facebook/dinov2-with-registers-small"),
        _dinov2("dinov2_b_14_reg4", "facebook/dinov2-with-registers-base"),
        _dinov2("dinov2_l_14_reg4", "facebook/dinov2-with-registers-large"),
        _dinov2("dinov2_g_14_reg4", "facebook/dinov2-with-registers-giant"),
        _clip("clip_b_32_quickgelu", "openai/clip-vit-base-patch32", 224, 512),
        _clip("clip_b_16_quickgelu", "openai/clip-vit-base-patch16", 224, 512),
        _clip("clip_l_14_quickgelu", "openai/clip-vit-large-patch14", 224, 768),
        _clip("clip_l_14_quickgelu_336", "openai/clip-vit-large-patch14-336", 336, 768),
        _siglip("siglip_b_16", "google/siglip-base-patch16-224", 224),
        _siglip("siglip_b_16_256", "google/siglip-base-patch16-256", 256),
        _siglip("siglip_b_16_384", "google/siglip-base-patch16-384", 384),
        _siglip("siglip_b_16_512", "google/siglip-base-patch16-512", 512),
        _siglip("siglip_l_16_256", "google/siglip-large-patch16-256", 256),
        _siglip("siglip_l_16_384", "google/siglip-large-patch16-384", 384),
        _siglip("siglip_so400m_14", "google/siglip-so400m-patch14-224", 224),
        _siglip("siglip_so400m_14_384", "google/siglip-so400m-patch14-384", 384),
        # Families II in transformers' layout (7B's repos are sharded, which the hub path does not fetch: timm's entries serve them)
        _dinov3_hf("dinov3_s_16_qkvb", "facebook/dinov3-vits16-pretrain-lvd1689m"),
        _dinov3_hf("dinov3_splus_16_qkvb", "facebook/dinov3-vits16plus-pretrain-lvd1689m"),
        _dinov3_hf("dinov3_b_16_qkvb", "facebook/dinov3-vitb16-pretrain-lvd1689m"),
        _dinov3_hf("dinov3_l_16_qkvb", "facebook/dinov3-vitl16-pretrain-lvd1689m"),
        _dinov3_hf("dinov3_hplus_16_qkvb", "facebook/dinov3-vith16plus-pretrain-lvd1689m"),
        _dinov3_hf("dinov3_l_16_qkvb", "facebook/dinov3-vitl16-pretrain-sat493m", sat=True),
        _siglip2_naflex_hf("siglip2_naflex_b_16", "google/siglip2-base-patch16-naflex"),
        _siglip2_naflex_hf("siglip2_naflex_so400m_16", "google/siglip2-so400m-patch16-naflex"),
        _beit_hf("beit_b_16", "microsoft/beit-base-patch16-224", 224),
        _beit_hf("beit_b_16_384", "microsoft/beit-base-patch16-384", 384),
        _beit_hf("beit_l_16", "microsoft/beit-large-patch16-224", 224),
        _beit_hf("beit_l_16_384", "microsoft/beit-large-patch16-384", 384),
        _beit_hf("beit_l_16_512", "microsoft/beit-large-patch16-512", 512),
    ]
