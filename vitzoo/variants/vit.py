"""The original ViT ("An Image is Worth 16x16 Words", "How to train your ViT") and timm's other plain ViTs.

timm's defaults throughout (LayerNorm eps 1e-6, exact GELU, class-token pooling). An architecture with no
natural short name is registered under timm's own name; the suite checks each against ``timm.create_model``.

Example:
    >>> from vitzoo.variants import get_spec
    >>> get_spec("vit_medium_patch16_gap_256").global_pool
    'avg'
"""

from __future__ import annotations

from vitzoo.spec import ViTSpec

from .registry import register_variant
from .sizes import TI, S, M, B, L, H


@register_variant("vit_tiny_patch16_224")
def vit_ti_16() -> ViTSpec:
    return ViTSpec(patch_size=16, **TI)


@register_variant("vit_tiny_patch16_384")
def vit_ti_16_384() -> ViTSpec:
    return ViTSpec(img_size=384, patch_size=16, **TI)


@register_variant("vit_small_patch16_224")
def vit_s_16() -> ViTSpec:
    return ViTSpec(patch_size=16, **S)


@register_variant("vit_small_patch16_384")
def vit_s_16_384() -> ViTSpec:
    return ViTSpec(img_size=384, patch_size=16, **S)


@register_variant("vit_small_patch32_224")
def vit_s_32() -> ViTSpec:
    return ViTSpec(patch_size=32, **S)


@register_variant("vit_small_patch32_384")
def vit_s_32_384() -> ViTSpec:
    return ViTSpec(img_size=384, patch_size=32, **S)


@register_variant("vit_base_patch16_224")
def vit_b_16() -> ViTSpec:
    return ViTSpec(patch_size=16, **B)


@register_variant("vit_base_patch16_384")
def vit_b_16_384() -> ViTSpec:
    return ViTSpec(img_size=384, patch_size=16, **B)


@register_variant("vit_base_patch32_224")
def vit_b_32() -> ViTSpec:
    return ViTSpec(patch_size=32, **B)


@register_variant("vit_base_patch32_384")
def vit_b_32_384() -> ViTSpec:
    return ViTSpec(img_size=384, patch_size=32, **B)


@register_variant("vit_base_patch8_224")
def vit_b_8() -> ViTSpec:
    return ViTSpec(patch_size=8, **B)


@register_variant("vit_large_patch16_224")
def vit_l_16() -> ViTSpec:
    return ViTSpec(patch_size=16, **L)


@register_variant("vit_large_patch16_384")
def vit_l_16_384() -> ViTSpec:
    return ViTSpec(img_size=384, patch_size=16, **L)


@register_variant("vit_large_patch32_224")
def vit_l_32() -> ViTSpec:
    return ViTSpec(patch_size=32, **L)


@register_variant("vit_large_patch32_384")
def vit_l_32_384() -> ViTSpec:
    return ViTSpec(img_size=384, patch_size=32, **L)


@register_variant("vit_huge_patch14_224")
def vit_h_14() -> ViTSpec:
    return ViTSpec(patch_size=14, **H)


@register_variant("vit_small_patch8_224")
def vit_s_8() -> ViTSpec:
    return ViTSpec(patch_size=8, **S)


@register_variant("vit_base_patch16_224_miil")
def vit_b_16_miil() -> ViTSpec:
    return ViTSpec(patch_size=16, qkv_bias=False, **B)


# timm's own ViTs beyond the paper's sizes ("vit_medium" = 512 wide, "betwixt" = 640,
# "little" = 320, "wee" = 256, "so150m" = shape-optimised ~150M). Average pooling
# over the patch tokens; the register models keep their registers out of pos_embed.
_M = dict(embed_dim=512, depth=12, num_heads=8, mlp_dim=2048)
_MEDIUM_GAP = dict(patch_size=16, class_token=False, global_pool="avg", qkv_bias=False, layer_scale=True, layer_scale_init=1e-6, **M)
_REG_GAP = dict(patch_size=16, img_size=256, class_token=False, global_pool="avg", fc_norm=True, layer_scale=True, pos_embed_prefix=False)


@register_variant("vit_medium_patch16_gap_240")
def vit_m_16_gap_240() -> ViTSpec:
    return ViTSpec(img_size=240, **_MEDIUM_GAP)


@register_variant("vit_medium_patch16_gap_256")
def vit_m_16_gap_256() -> ViTSpec:
    return ViTSpec(img_size=256, **_MEDIUM_GAP)


@register_variant("vit_medium_patch16_gap_384")
def vit_m_16_gap_384() -> ViTSpec:
    return ViTSpec(img_size=384, **_MEDIUM_GAP)


@register_variant("vit_medium_patch16_reg1_gap_256")
def vit_m_16_reg1_gap_256() -> ViTSpec:
    return ViTSpec(reg_tokens=1, **_REG_GAP, **M)


@register_variant("vit_medium_patch16_reg4_gap_256")
def vit_m_16_reg4_gap_256() -> ViTSpec:
    return ViTSpec(reg_tokens=4, **_REG_GAP, **M)


@register_variant()
def vit_mediumd_patch16_reg4_gap_256() -> ViTSpec:
    return ViTSpec(reg_tokens=4, **_REG_GAP, **{**M, "depth": 20})


@register_variant()
def vit_mediumd_patch16_reg4_gap_384() -> ViTSpec:
    return ViTSpec(reg_tokens=4, **{**_REG_GAP, "img_size": 384}, **{**M, "depth": 20})


_BETWIXT = dict(embed_dim=640, depth=12, num_heads=10, mlp_dim=2560)


@register_variant()
def vit_betwixt_patch16_reg1_gap_256() -> ViTSpec:
    return ViTSpec(reg_tokens=1, **_REG_GAP, **_BETWIXT)


@register_variant()
def vit_betwixt_patch16_reg4_gap_256() -> ViTSpec:
    return ViTSpec(reg_tokens=4, **_REG_GAP, **_BETWIXT)


@register_variant()
def vit_betwixt_patch16_reg4_gap_384() -> ViTSpec:
    return ViTSpec(reg_tokens=4, **{**_REG_GAP, "img_size": 384}, **_BETWIXT)


_LITTLE = dict(embed_dim=320, depth=14, num_heads=5, mlp_dim=1792)


@register_variant()
def vit_little_patch16_reg1_gap_256() -> ViTSpec:
    return ViTSpec(reg_tokens=1, **_REG_GAP, **_LITTLE)


@register_variant()
def vit_little_patch16_reg4_gap_256() -> ViTSpec:
    return ViTSpec(reg_tokens=4, **_REG_GAP, **_LITTLE)


@register_variant()
def vit_wee_patch16_reg1_gap_256() -> ViTSpec:
    return ViTSpec(reg_tokens=1, embed_dim=256, depth=14, num_heads=4, mlp_dim=1280, **_REG_GAP)


# so150m: registers inside pos_embed, no layer scale, plain final norm;
# so150m2: one register, no qkv bias, layer scale and fc_norm.
_SO150M = dict(patch_size=16, embed_dim=896, depth=18, num_heads=14, mlp_dim=2304, class_token=False, reg_tokens=4, global_pool="avg")
_SO150M2 = dict(patch_size=16, embed_dim=832, depth=21, num_heads=13, mlp_dim=2176, class_token=False, reg_tokens=1, global_pool="avg",
                qkv_bias=False, layer_scale=True, fc_norm=True)


@register_variant()
def vit_so150m_patch16_reg4_gap_256() -> ViTSpec:
    return ViTSpec(img_size=256, **_SO150M)


@register_variant()
def vit_so150m_patch16_reg4_gap_384() -> ViTSpec:
    return ViTSpec(img_size=384, **_SO150M)


@register_variant()
def vit_so150m2_patch16_reg1_gap_256() -> ViTSpec:
    return ViTSpec(img_size=256, **_SO150M2)


@register_variant()
def vit_so150m2_patch16_reg1_gap_384() -> ViTSpec:
    return ViTSpec(img_size=384, **_SO150M2)


@register_variant()
def vit_so150m2_patch16_reg1_gap_448() -> ViTSpec:
    return ViTSpec(img_size=448, **_SO150M2)


# Average-pooled, class-token-free ViTs of I-JEPA.
@register_variant("vit_huge_patch14_gap_224")
def vit_h_14_gap() -> ViTSpec:
    return ViTSpec(patch_size=14, class_token=False, global_pool="avg", **H)


@register_variant("vit_huge_patch16_gap_448")
def vit_h_16_gap_448() -> ViTSpec:
    return ViTSpec(img_size=448, patch_size=16, class_token=False, global_pool="avg", **H)


@register_variant("vit_giant_patch16_gap_224")
def vit_g_16_gap() -> ViTSpec:
    return ViTSpec(patch_size=16, embed_dim=1408, depth=40, num_heads=16, mlp_dim=6144, class_token=False, global_pool="avg")


# TIPSv2 image encoders: class token plus one register outside pos_embed, layer scale (fresh at 1.0, as timm's), 448 px.
_TIPS = dict(img_size=448, patch_size=14, reg_tokens=1, pos_embed_prefix=False, layer_scale=True, layer_scale_init=1.0, num_classes=0)


@register_variant()
def vit_base_patch14_reg1_tipsv2() -> ViTSpec:
    return ViTSpec(**_TIPS, **B)


@register_variant()
def vit_large_patch14_reg1_tipsv2() -> ViTSpec:
    return ViTSpec(**_TIPS, **L)


@register_variant()
def vit_so400m_patch14_reg1_tipsv2() -> ViTSpec:
    return ViTSpec(**_TIPS, embed_dim=1152, depth=27, num_heads=16, mlp_dim=4304)


@register_variant()
def vit_giant_patch14_reg1_tipsv2() -> ViTSpec:
    return ViTSpec(**_TIPS, embed_dim=1536, depth=40, num_heads=24, mlp_dim=4096, mlp_type="swiglu")


# FlexiViT at its 16 px patch size and 240 px: the position embedding leaves out the class token.
_FLEXI = dict(img_size=240, patch_size=16, pos_embed_prefix=False)


@register_variant()
def flexivit_small() -> ViTSpec:
    return ViTSpec(**_FLEXI, **S)


@register_variant()
def flexivit_base() -> ViTSpec:
    return ViTSpec(**_FLEXI, **B)


@register_variant()
def flexivit_large() -> ViTSpec:
    return ViTSpec(**_FLEXI, **L)


# EVA-01 L/14 (BAAI, fine-tuned from MIM on CLIP features): timm builds it as a plain ViT whose
# patch tokens' mean goes through fc_norm.
_EVA01 = dict(patch_size=14, global_pool="avg", fc_norm=True, **L)


@register_variant("eva_large_patch14_196")
def eva_l_14_196() -> ViTSpec:
    return ViTSpec(img_size=196, **_EVA01)


@register_variant("eva_large_patch14_336")
def eva_l_14_336() -> ViTSpec:
    return ViTSpec(img_size=336, **_EVA01)
