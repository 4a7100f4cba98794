"""timm's ``vision_transformer_hybrid.py`` models with BiT's ResNetV2 stem (``backbone="resnetv2"``).

The image goes through timm's ResNetV2 (weight-standardised convolutions, GroupNorm, SAME padding; see
:mod:`vitzoo.resnetv2`): the stem alone for ViT-Ti (``r_s16_p8``: a stride-4 map cut into 8×8 patches),
ResNet-26 (2, 2, 2, 2 blocks, stride 32) for ``r26_s32``, ResNet-50's first three stages (3, 4, 9; stride
16) for ViT-B and its four (3, 4, 6, 3; stride 32) for ViT-L; then a 1×1 projection (patch 1) into the
tokens of a plain ViT (class token, eps 1e-6, exact GELU, qkv bias). Left out: the ResNet-26d/50d stems
(no timm weights) and MobileCLIP's ``vit_base_mci_224`` (a BatchNorm conv stem).

Example:
    >>> from vitzoo.variants import get_spec
    >>> spec = get_spec("vit_base_r50_s16_384")
    >>> spec.backbone, spec.backbone_layers, spec.grid_size
    ('resnetv2', (3, 4, 9), 24)
"""

from __future__ import annotations

from vitzoo.spec import ViTSpec

from .registry import register_variant

_SIZES = {"ti": (192, 12, 3), "s": (384, 12, 6), "b": (768, 12, 12), "l": (1024, 24, 16)}


def _hybrid(size: str, layers: tuple, img_size: int, patch: int = 1) -> ViTSpec:
    d, depth, heads = _SIZES[size]
    return ViTSpec(img_size=img_size, patch_size=patch, embed_dim=d, depth=depth, num_heads=heads, mlp_dim=4 * d,
                   backbone="resnetv2", backbone_layers=layers)


@register_variant("vit_tiny_r_s16_p8_224")
def vit_hybrid_ti_r_s16_p8() -> ViTSpec:
    return _hybrid("ti", (), 224, patch=8)


@register_variant("vit_tiny_r_s16_p8_384")
def vit_hybrid_ti_r_s16_p8_384() -> ViTSpec:
    return _hybrid("ti", (), 384, patch=8)


@register_variant("vit_small_r26_s32_224")
def vit_hybrid_s_r26_s32() -> ViTSpec:
    return _hybrid("s", (2, 2, 2, 2), 224)


@register_variant("vit_small_r26_s32_384")
def vit_hybrid_s_r26_s32_384() -> ViTSpec:
    return _hybrid("s", (2, 2, 2, 2), 384)


@register_variant("vit_base_r26_s32_224")
def vit_hybrid_b_r26_s32() -> ViTSpec:
    return _hybrid("b", (2, 2, 2, 2), 224)


@register_variant("vit_base_r50_s16_224")
def vit_hybrid_b_r50_s16() -> ViTSpec:
    return _hybrid("b", (3, 4, 9), 224)


@register_variant("vit_base_r50_s16_384")
def vit_hybrid_b_r50_s16_384() -> ViTSpec:
    return _hybrid("b", (3, 4, 9), 384)


@register_variant("vit_large_r50_s32_224")
def vit_hybrid_l_r50_s32() -> ViTSpec:
    return _hybrid("l", (3, 4, 6, 3), 224)


@register_variant("vit_large_r50_s32_384")
def vit_hybrid_l_r50_s32_384() -> ViTSpec:
    return _hybrid("l", (3, 4, 6, 3), 384)


@register_variant()
def vit_base_mci_224() -> ViTSpec:
    """MobileCLIP's ViT-B/16 image tower (timm's name): its convolutional stem (``backbone="convstem"``), a 512-wide projection head."""
    return ViTSpec(backbone="convstem", pos_embed_prefix=False, num_classes=512)
