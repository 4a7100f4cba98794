"""The ViT families beyond the original ViT: DeiT, DeiT-III, DINOv2, CLIP and SigLIP.

One decorated function per architecture timm 1.0.31 has pretrained weights for,
named in vitzoo's short style; timm's architecture names are aliases. Importing
:mod:`vitzoo.variants` registers them.

Example:
    >>> from vitzoo.variants import get_spec
    >>> spec = get_spec("vit_base_patch16_clip_quickgelu_224")
    >>> spec.gelu, spec.norm_eps, spec.num_classes
    ('quick', 1e-05, 512)
"""

from __future__ import annotations

from vitzoo.spec import ViTSpec
from vitzoo.variants import register_variant

_TI = dict(embed_dim=192, depth=12, num_heads=3, mlp_dim=768)
_S = dict(embed_dim=384, depth=12, num_heads=6, mlp_dim=1536)
_M = dict(embed_dim=512, depth=12, num_heads=8, mlp_dim=2048)
_B = dict(embed_dim=768, depth=12, num_heads=12, mlp_dim=3072)
_L = dict(embed_dim=1024, depth=24, num_heads=16, mlp_dim=4096)
_H = dict(embed_dim=1280, depth=32, num_heads=16, mlp_dim=5120)
_SO400M = dict(embed_dim=1152, depth=27, num_heads=16, mlp_dim=4304)  # SigLIP's shape-optimised 400M
_GIANT_OPT = dict(embed_dim=1536, depth=40, num_heads=16, mlp_dim=6144)  # SigLIP 2's shape-optimised giant

_DEIT3 = dict(layer_scale=True, pos_embed_prefix=False)
_DINOV2 = dict(img_size=518, patch_size=14, layer_scale=True, num_classes=0)
_REG4 = dict(reg_tokens=4, pos_embed_prefix=False)
_CLIP = dict(pre_norm=True, patch_bias=False, norm_eps=1e-5)
_SIGLIP = dict(class_token=False, global_pool="map", num_classes=0)
_SIGLIP_GAP = dict(_SIGLIP, global_pool="avg")  # the "_gap" towers average the tokens instead


# DeiT ("Training data-efficient image transformers"): the ViT recipe, plus distilled
# models with a second (distillation) token and head.
@register_variant("deit_tiny_patch16_224")
def deit_ti_16() -> ViTSpec:
    return ViTSpec(**_TI)


@register_variant("deit_tiny_distilled_patch16_224")
def deit_ti_16_distilled() -> ViTSpec:
    return ViTSpec(**_TI, dist_token=True)


@register_variant("deit_small_patch16_224")
def deit_s_16() -> ViTSpec:
    return ViTSpec(**_S)


@register_variant("deit_small_distilled_patch16_224")
def deit_s_16_distilled() -> ViTSpec:
    return ViTSpec(**_S, dist_token=True)


@register_variant("deit_base_patch16_224")
def deit_b_16() -> ViTSpec:
    return ViTSpec(**_B)


@register_variant("deit_base_patch16_384")
def deit_b_16_384() -> ViTSpec:
    return ViTSpec(**_B, img_size=384)


@register_variant("deit_base_distilled_patch16_224")
def deit_b_16_distilled() -> ViTSpec:
    return ViTSpec(**_B, dist_token=True)


@register_variant("deit_base_distilled_patch16_384")
def deit_b_16_distilled_384() -> ViTSpec:
    return ViTSpec(**_B, img_size=384, dist_token=True)


# DeiT-III ("Revenge of the ViT"): layer scale, position embedding without the class token.
@register_variant("deit3_small_patch16_224")
def deit3_s_16() -> ViTSpec:
    return ViTSpec(**_S, **_DEIT3)


@register_variant("deit3_small_patch16_384")
def deit3_s_16_384() -> ViTSpec:
    return ViTSpec(**_S, **_DEIT3, img_size=384)


@register_variant("deit3_medium_patch16_224")
def deit3_m_16() -> ViTSpec:
    return ViTSpec(**_M, **_DEIT3)


@register_variant("deit3_base_patch16_224")
def deit3_b_16() -> ViTSpec:
    return ViTSpec(**_B, **_DEIT3)


@register_variant("deit3_base_patch16_384")
def deit3_b_16_384() -> ViTSpec:
    return ViTSpec(**_B, **_DEIT3, img_size=384)


@register_variant("deit3_large_patch16_224")
def deit3_l_16() -> ViTSpec:
    return ViTSpec(**_L, **_DEIT3)


@register_variant("deit3_large_patch16_384")
def deit3_l_16_384() -> ViTSpec:
    return ViTSpec(**_L, **_DEIT3, img_size=384)


@register_variant("deit3_huge_patch14_224")
def deit3_h_14() -> ViTSpec:
    return ViTSpec(**_H, **_DEIT3, patch_size=14)


# DINOv2 (self-supervised, no classifier): patch 14 at 518 px, layer scale; registers
# (``_reg4``) add four tokens; the giant model has a packed SwiGLU MLP.
@register_variant("vit_small_patch14_dinov2")
def dinov2_s_14() -> ViTSpec:
    return ViTSpec(**_S, **_DINOV2)


@register_variant("vit_small_patch14_reg4_dinov2")
def dinov2_s_14_reg4() -> ViTSpec:
    return ViTSpec(**_S, **_DINOV2, **_REG4)


@register_variant("vit_base_patch14_dinov2")
def dinov2_b_14() -> ViTSpec:
    return ViTSpec(**_B, **_DINOV2)


@register_variant("vit_base_patch14_reg4_dinov2")
def dinov2_b_14_reg4() -> ViTSpec:
    return ViTSpec(**_B, **_DINOV2, **_REG4)


@register_variant("vit_large_patch14_dinov2")
def dinov2_l_14() -> ViTSpec:
    return ViTSpec(**_L, **_DINOV2)


@register_variant("vit_large_patch14_reg4_dinov2")
def dinov2_l_14_reg4() -> ViTSpec:
    return ViTSpec(**_L, **_DINOV2, **_REG4)


@register_variant("vit_giant_patch14_dinov2")
def dinov2_g_14() -> ViTSpec:
    return ViTSpec(embed_dim=1536, depth=40, num_heads=24, mlp_dim=4096, **_DINOV2, mlp_type="swiglu")


@register_variant("vit_giant_patch14_reg4_dinov2")
def dinov2_g_14_reg4() -> ViTSpec:
    return ViTSpec(embed_dim=1536, depth=40, num_heads=24, mlp_dim=4096, **_DINOV2, **_REG4, mlp_type="swiglu")


# CLIP image towers (OpenAI, LAION, DataComp, MetaCLIP): a LayerNorm before the blocks,
# eps 1e-5, no patch bias; the head is the image projection (or a classifier after
# fine-tuning). ``_quickgelu`` towers use OpenAI's QuickGELU.
@register_variant()
def vit_xsmall_patch16_clip_224() -> ViTSpec:
    return ViTSpec(embed_dim=256, depth=10, num_heads=4, mlp_dim=1024, **_CLIP, num_classes=512)


@register_variant("vit_medium_patch16_clip_224")
def clip_m_16() -> ViTSpec:
    return ViTSpec(**_M, **_CLIP, num_classes=512)


@register_variant("vit_medium_patch32_clip_224")
def clip_m_32() -> ViTSpec:
    return ViTSpec(**_M, **_CLIP, patch_size=32, num_classes=512)


@register_variant()
def vit_betwixt_patch32_clip_224() -> ViTSpec:
    return ViTSpec(embed_dim=640, depth=12, num_heads=10, mlp_dim=2560, **_CLIP, patch_size=32, num_classes=512)


@register_variant("vit_base_patch16_clip_224")
def clip_b_16() -> ViTSpec:
    return ViTSpec(**_B, **_CLIP)


@register_variant("vit_base_patch16_clip_384")
def clip_b_16_384() -> ViTSpec:
    return ViTSpec(**_B, **_CLIP, img_size=384)


@register_variant("vit_base_patch16_clip_quickgelu_224")
def clip_b_16_quickgelu() -> ViTSpec:
    return ViTSpec(**_B, **_CLIP, gelu="quick", num_classes=512)


@register_variant("vit_base_patch32_clip_224")
def clip_b_32() -> ViTSpec:
    return ViTSpec(**_B, **_CLIP, patch_size=32)


@register_variant("vit_base_patch32_clip_256")
def clip_b_32_256() -> ViTSpec:
    return ViTSpec(**_B, **_CLIP, patch_size=32, img_size=256, num_classes=512)


@register_variant("vit_base_patch32_clip_384")
def clip_b_32_384() -> ViTSpec:
    return ViTSpec(**_B, **_CLIP, patch_size=32, img_size=384)


@register_variant("vit_base_patch32_clip_448")
def clip_b_32_448() -> ViTSpec:
    return ViTSpec(**_B, **_CLIP, patch_size=32, img_size=448)


@register_variant("vit_base_patch32_clip_quickgelu_224")
def clip_b_32_quickgelu() -> ViTSpec:
    return ViTSpec(**_B, **_CLIP, patch_size=32, gelu="quick", num_classes=512)


@register_variant()
def vit_base_patch16_plus_clip_240() -> ViTSpec:
    return ViTSpec(embed_dim=896, depth=12, num_heads=14, mlp_dim=3584, **_CLIP, img_size=240, num_classes=640)


@register_variant("vit_large_patch14_clip_224")
def clip_l_14() -> ViTSpec:
    return ViTSpec(**_L, **_CLIP, patch_size=14)


@register_variant("vit_large_patch14_clip_336")
def clip_l_14_336() -> ViTSpec:
    return ViTSpec(**_L, **_CLIP, patch_size=14, img_size=336)


@register_variant("vit_large_patch14_clip_quickgelu_224")
def clip_l_14_quickgelu() -> ViTSpec:
    return ViTSpec(**_L, **_CLIP, patch_size=14, gelu="quick", num_classes=768)


@register_variant("vit_large_patch14_clip_quickgelu_336")
def clip_l_14_quickgelu_336() -> ViTSpec:
    return ViTSpec(**_L, **_CLIP, patch_size=14, img_size=336, gelu="quick", num_classes=768)


@register_variant("vit_huge_patch14_clip_224")
def clip_h_14() -> ViTSpec:
    return ViTSpec(**_H, **_CLIP, patch_size=14)


@register_variant("vit_huge_patch14_clip_336")
def clip_h_14_336() -> ViTSpec:
    return ViTSpec(**_H, **_CLIP, patch_size=14, img_size=336)


@register_variant("vit_huge_patch14_clip_378")
def clip_h_14_378() -> ViTSpec:
    return ViTSpec(**_H, **_CLIP, patch_size=14, img_size=378, num_classes=1024)


@register_variant("vit_huge_patch14_clip_quickgelu_224")
def clip_h_14_quickgelu() -> ViTSpec:
    return ViTSpec(**_H, **_CLIP, patch_size=14, gelu="quick", num_classes=1024)


@register_variant("vit_huge_patch14_clip_quickgelu_378")
def clip_h_14_quickgelu_378() -> ViTSpec:
    return ViTSpec(**_H, **_CLIP, patch_size=14, img_size=378, gelu="quick", num_classes=1024)


@register_variant("vit_giant_patch14_clip_224")
def clip_g_14() -> ViTSpec:
    return ViTSpec(embed_dim=1408, depth=40, num_heads=16, mlp_dim=6144, **_CLIP, patch_size=14, num_classes=1024)


@register_variant("vit_gigantic_patch14_clip_224")
def clip_bigg_14() -> ViTSpec:
    return ViTSpec(embed_dim=1664, depth=48, num_heads=16, mlp_dim=8192, **_CLIP, patch_size=14, num_classes=1280)


@register_variant("vit_gigantic_patch14_clip_378")
def clip_bigg_14_378() -> ViTSpec:
    return ViTSpec(embed_dim=1664, depth=48, num_heads=16, mlp_dim=8192, **_CLIP, patch_size=14, img_size=378, num_classes=1280)


@register_variant("vit_gigantic_patch14_clip_quickgelu_224")
def clip_bigg_14_quickgelu() -> ViTSpec:
    return ViTSpec(embed_dim=1664, depth=48, num_heads=16, mlp_dim=8192, **_CLIP, patch_size=14, gelu="quick", num_classes=1280)


# SigLIP and SigLIP 2 image towers: no class token, an attention-pool (MAP) head and
# no classifier; ``_gap`` towers average the tokens instead. SigLIP 2's patch-16
# so400m/giant-opt and the B/32 and L/16-512 towers use the tanh GELU (as timm builds them).
@register_variant("vit_base_patch16_siglip_224")
def siglip_b_16() -> ViTSpec:
    return ViTSpec(**_B, **_SIGLIP)


@register_variant("vit_base_patch16_siglip_256")
def siglip_b_16_256() -> ViTSpec:
    return ViTSpec(**_B, **_SIGLIP, img_size=256)


@register_variant("vit_base_patch16_siglip_384")
def siglip_b_16_384() -> ViTSpec:
    return ViTSpec(**_B, **_SIGLIP, img_size=384)


@register_variant("vit_base_patch16_siglip_512")
def siglip_b_16_512() -> ViTSpec:
    return ViTSpec(**_B, **_SIGLIP, img_size=512)


@register_variant("vit_base_patch16_siglip_gap_224")
def siglip_b_16_gap() -> ViTSpec:
    return ViTSpec(**_B, **_SIGLIP_GAP)


@register_variant("vit_base_patch16_siglip_gap_256")
def siglip_b_16_gap_256() -> ViTSpec:
    return ViTSpec(**_B, **_SIGLIP_GAP, img_size=256)


@register_variant("vit_base_patch16_siglip_gap_384")
def siglip_b_16_gap_384() -> ViTSpec:
    return ViTSpec(**_B, **_SIGLIP_GAP, img_size=384)


@register_variant("vit_base_patch16_siglip_gap_512")
def siglip_b_16_gap_512() -> ViTSpec:
    return ViTSpec(**_B, **_SIGLIP_GAP, img_size=512)


@register_variant("vit_base_patch32_siglip_256")
def siglip_b_32_256() -> ViTSpec:
    return ViTSpec(**_B, **_SIGLIP, patch_size=32, img_size=256, gelu="tanh")


@register_variant("vit_base_patch32_siglip_gap_256")
def siglip_b_32_gap_256() -> ViTSpec:
    return ViTSpec(**_B, **_SIGLIP_GAP, patch_size=32, img_size=256, gelu="tanh")


@register_variant("vit_large_patch16_siglip_256")
def siglip_l_16_256() -> ViTSpec:
    return ViTSpec(**_L, **_SIGLIP, img_size=256)


@register_variant("vit_large_patch16_siglip_384")
def siglip_l_16_384() -> ViTSpec:
    return ViTSpec(**_L, **_SIGLIP, img_size=384)


@register_variant("vit_large_patch16_siglip_512")
def siglip_l_16_512() -> ViTSpec:
    return ViTSpec(**_L, **_SIGLIP, img_size=512, gelu="tanh")


@register_variant("vit_large_patch16_siglip_gap_256")
def siglip_l_16_gap_256() -> ViTSpec:
    return ViTSpec(**_L, **_SIGLIP_GAP, img_size=256)


@register_variant("vit_large_patch16_siglip_gap_384")
def siglip_l_16_gap_384() -> ViTSpec:
    return ViTSpec(**_L, **_SIGLIP_GAP, img_size=384)


@register_variant("vit_large_patch16_siglip_gap_512")
def siglip_l_16_gap_512() -> ViTSpec:
    return ViTSpec(**_L, **_SIGLIP_GAP, img_size=512, gelu="tanh")


@register_variant("vit_so400m_patch14_siglip_224")
def siglip_so400m_14() -> ViTSpec:
    return ViTSpec(**_SO400M, **_SIGLIP, patch_size=14)


@register_variant("vit_so400m_patch14_siglip_378")
def siglip_so400m_14_378() -> ViTSpec:
    return ViTSpec(**_SO400M, **_SIGLIP, patch_size=14, img_size=378)


@register_variant("vit_so400m_patch14_siglip_384")
def siglip_so400m_14_384() -> ViTSpec:
    return ViTSpec(**_SO400M, **_SIGLIP, patch_size=14, img_size=384)


@register_variant("vit_so400m_patch14_siglip_gap_224")
def siglip_so400m_14_gap() -> ViTSpec:
    return ViTSpec(**_SO400M, **_SIGLIP_GAP, patch_size=14)


@register_variant("vit_so400m_patch14_siglip_gap_378")
def siglip_so400m_14_gap_378() -> ViTSpec:
    return ViTSpec(**_SO400M, **_SIGLIP_GAP, patch_size=14, img_size=378)


@register_variant("vit_so400m_patch14_siglip_gap_384")
def siglip_so400m_14_gap_384() -> ViTSpec:
    return ViTSpec(**_SO400M, **_SIGLIP_GAP, patch_size=14, img_size=384)


@register_variant("vit_so400m_patch14_siglip_gap_448")
def siglip_so400m_14_gap_448() -> ViTSpec:
    return ViTSpec(**_SO400M, **_SIGLIP_GAP, patch_size=14, img_size=448)


@register_variant("vit_so400m_patch14_siglip_gap_896")
def siglip_so400m_14_gap_896() -> ViTSpec:
    return ViTSpec(**_SO400M, **_SIGLIP_GAP, patch_size=14, img_size=896)


@register_variant("vit_so400m_patch16_siglip_256")
def siglip_so400m_16_256() -> ViTSpec:
    return ViTSpec(**_SO400M, **_SIGLIP, img_size=256, gelu="tanh")


@register_variant("vit_so400m_patch16_siglip_384")
def siglip_so400m_16_384() -> ViTSpec:
    return ViTSpec(**_SO400M, **_SIGLIP, img_size=384, gelu="tanh")


@register_variant("vit_so400m_patch16_siglip_512")
def siglip_so400m_16_512() -> ViTSpec:
    return ViTSpec(**_SO400M, **_SIGLIP, img_size=512, gelu="tanh")


@register_variant("vit_so400m_patch16_siglip_gap_256")
def siglip_so400m_16_gap_256() -> ViTSpec:
    return ViTSpec(**_SO400M, **_SIGLIP_GAP, img_size=256, gelu="tanh")


@register_variant("vit_so400m_patch16_siglip_gap_384")
def siglip_so400m_16_gap_384() -> ViTSpec:
    return ViTSpec(**_SO400M, **_SIGLIP_GAP, img_size=384, gelu="tanh")


@register_variant("vit_so400m_patch16_siglip_gap_512")
def siglip_so400m_16_gap_512() -> ViTSpec:
    return ViTSpec(**_SO400M, **_SIGLIP_GAP, img_size=512, gelu="tanh")


@register_variant("vit_giantopt_patch16_siglip_256")
def siglip_gopt_16_256() -> ViTSpec:
    return ViTSpec(**_GIANT_OPT, **_SIGLIP, img_size=256, gelu="tanh")


@register_variant("vit_giantopt_patch16_siglip_384")
def siglip_gopt_16_384() -> ViTSpec:
    return ViTSpec(**_GIANT_OPT, **_SIGLIP, img_size=384, gelu="tanh")


@register_variant("vit_giantopt_patch16_siglip_gap_256")
def siglip_gopt_16_gap_256() -> ViTSpec:
    return ViTSpec(**_GIANT_OPT, **_SIGLIP_GAP, img_size=256, gelu="tanh")


@register_variant("vit_giantopt_patch16_siglip_gap_384")
def siglip_gopt_16_gap_384() -> ViTSpec:
    return ViTSpec(**_GIANT_OPT, **_SIGLIP_GAP, img_size=384, gelu="tanh")
