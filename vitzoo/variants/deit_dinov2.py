"""DeiT (distilled: a second token and head), DeiT-III (layer scale, position embedding without the class
token) and DINOv2 (self-supervised, no classifier, patch 14 at 518 px, layer scale, registers, SwiGLU giant).

Example:
    >>> from vitzoo.variants import get_spec
    >>> get_spec("vit_small_patch14_reg4_dinov2").reg_tokens
    4
"""

from __future__ import annotations

from vitzoo.spec import ViTSpec

from .registry import register_variant
from .sizes import TI, S, M, B, L, H

_DEIT3 = dict(layer_scale=True, layer_scale_init=1e-6, pos_embed_prefix=False)  # timm: init_values=1e-6

_DINOV2 = dict(img_size=518, patch_size=14, layer_scale=True, num_classes=0)
_REG4 = dict(reg_tokens=4, pos_embed_prefix=False)


# DeiT ("Training data-efficient image transformers"): the ViT recipe, plus distilled
# models with a second (distillation) token and head.
@register_variant("deit_tiny_patch16_224")
def deit_ti_16() -> ViTSpec:
    return ViTSpec(**TI)


@register_variant("deit_tiny_distilled_patch16_224")
def deit_ti_16_distilled() -> ViTSpec:
    return ViTSpec(**TI, dist_token=True)


@register_variant("deit_small_patch16_224")
def deit_s_16() -> ViTSpec:
    return ViTSpec(**S)


@register_variant("deit_small_distilled_patch16_224")
def deit_s_16_distilled() -> ViTSpec:
    return ViTSpec(**S, dist_token=True)


@register_variant("deit_base_patch16_224")
def deit_b_16() -> ViTSpec:
    return ViTSpec(**B)


@register_variant("deit_base_patch16_384")
def deit_b_16_384() -> ViTSpec:
    return ViTSpec(**B, img_size=384)


@register_variant("deit_base_distilled_patch16_224")
def deit_b_16_distilled() -> ViTSpec:
    return ViTSpec(**B, dist_token=True)


@register_variant("deit_base_distilled_patch16_384")
def deit_b_16_distilled_384() -> ViTSpec:
    return ViTSpec(**B, img_size=384, dist_token=True)


# DeiT-III ("Revenge of the ViT"): layer scale, position embedding without the class token.
@register_variant("deit3_small_patch16_224")
def deit3_s_16() -> ViTSpec:
    return ViTSpec(**S, **_DEIT3)


@register_variant("deit3_small_patch16_384")
def deit3_s_16_384() -> ViTSpec:
    return ViTSpec(**S, **_DEIT3, img_size=384)


@register_variant("deit3_medium_patch16_224")
def deit3_m_16() -> ViTSpec:
    return ViTSpec(**M, **_DEIT3)


@register_variant("deit3_base_patch16_224")
def deit3_b_16() -> ViTSpec:
    return ViTSpec(**B, **_DEIT3)


@register_variant("deit3_base_patch16_384")
def deit3_b_16_384() -> ViTSpec:
    return ViTSpec(**B, **_DEIT3, img_size=384)


@register_variant("deit3_large_patch16_224")
def deit3_l_16() -> ViTSpec:
    return ViTSpec(**L, **_DEIT3)


@register_variant("deit3_large_patch16_384")
def deit3_l_16_384() -> ViTSpec:
    return ViTSpec(**L, **_DEIT3, img_size=384)


@register_variant("deit3_huge_patch14_224")
def deit3_h_14() -> ViTSpec:
    return ViTSpec(**H, **_DEIT3, patch_size=14)


# DINOv2 (self-supervised, no classifier): patch 14 at 518 px, layer scale; registers
# (``_reg4``) add four tokens; the giant model has a packed SwiGLU MLP.
@register_variant("vit_small_patch14_dinov2")
def dinov2_s_14() -> ViTSpec:
    return ViTSpec(**S, **_DINOV2)


@register_variant("vit_small_patch14_reg4_dinov2")
def dinov2_s_14_reg4() -> ViTSpec:
    return ViTSpec(**S, **_DINOV2, **_REG4)


@register_variant("vit_base_patch14_dinov2")
def dinov2_b_14() -> ViTSpec:
    return ViTSpec(**B, **_DINOV2)


@register_variant("vit_base_patch14_reg4_dinov2")
def dinov2_b_14_reg4() -> ViTSpec:
    return ViTSpec(**B, **_DINOV2, **_REG4)


@register_variant("vit_large_patch14_dinov2")
def dinov2_l_14() -> ViTSpec:
    return ViTSpec(**L, **_DINOV2)


@register_variant("vit_large_patch14_reg4_dinov2")
def dinov2_l_14_reg4() -> ViTSpec:
    return ViTSpec(**L, **_DINOV2, **_REG4)


@register_variant("vit_giant_patch14_dinov2")
def dinov2_g_14() -> ViTSpec:
    return ViTSpec(embed_dim=1536, depth=40, num_heads=24, mlp_dim=4096, **_DINOV2, mlp_type="swiglu")


@register_variant("vit_giant_patch14_reg4_dinov2")
def dinov2_g_14_reg4() -> ViTSpec:
    return ViTSpec(embed_dim=1536, depth=40, num_heads=24, mlp_dim=4096, **_DINOV2, **_REG4, mlp_type="swiglu")
