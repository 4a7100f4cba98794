"""The image towers of CLIP (OpenAI, LAION, DataComp, MetaCLIP: a LayerNorm before the blocks, eps 1e-5,
no patch bias, the head is the projection) and SigLIP / SigLIP 2 (no class token, an attention-pool head).

Example:
    >>> from vitzoo.variants import get_spec
    >>> spec = get_spec("vit_base_patch16_clip_quickgelu_224")
    >>> spec.gelu, spec.norm_eps, spec.num_classes
    ('quick', 1e-05, 512)
"""

from __future__ import annotations

from vitzoo.spec import ViTSpec

from .registry import register_variant
from .sizes import M, B, L, H, SO400M, GIANT_OPT

_CLIP = dict(pre_norm=True, patch_bias=False, norm_eps=1e-5)

_SIGLIP = dict(class_token=False, global_pool="map", num_classes=0)
_SIGLIP_GAP = dict(_SIGLIP, global_pool="avg")  # the "_gap" towers average the tokens instead


# CLIP image towers (OpenAI, LAION, DataComp, MetaCLIP): a LayerNorm before the blocks,
# eps 1e-5, no patch bias; the head is the image projection (or a classifier after
# fine-tuning). ``_quickgelu`` towers use OpenAI's QuickGELU.
@register_variant()
def vit_xsmall_patch16_clip_224() -> ViTSpec:
    return ViTSpec(embed_dim=256, depth=10, num_heads=4, mlp_dim=1024, **_CLIP, num_classes=512)


@register_variant("vit_medium_patch16_clip_224")
def clip_m_16() -> ViTSpec:
    return ViTSpec(**M, **_CLIP, num_classes=512)


@register_variant("vit_medium_patch32_clip_224")
def clip_m_32() -> ViTSpec:
    return ViTSpec(**M, **_CLIP, patch_size=32, num_classes=512)


@register_variant()
def vit_betwixt_patch32_clip_224() -> ViTSpec:
    return ViTSpec(embed_dim=640, depth=12, num_heads=10, mlp_dim=2560, **_CLIP, patch_size=32, num_classes=512)


@register_variant("vit_base_patch16_clip_224")
def clip_b_16() -> ViTSpec:
    return ViTSpec(**B, **_CLIP)


@register_variant("vit_base_patch16_clip_384")
def clip_b_16_384() -> ViTSpec:
    return ViTSpec(**B, **_CLIP, img_size=384)


@register_variant("vit_base_patch16_clip_quickgelu_224")
def clip_b_16_quickgelu() -> ViTSpec:
    return ViTSpec(**B, **_CLIP, gelu="quick", num_classes=512)


@register_variant("vit_base_patch32_clip_224")
def clip_b_32() -> ViTSpec:
    return ViTSpec(**B, **_CLIP, patch_size=32)


@register_variant("vit_base_patch32_clip_256")
def clip_b_32_256() -> ViTSpec:
    return ViTSpec(**B, **_CLIP, patch_size=32, img_size=256, num_classes=512)


@register_variant("vit_base_patch32_clip_384")
def clip_b_32_384() -> ViTSpec:
    return ViTSpec(**B, **_CLIP, patch_size=32, img_size=384)


@register_variant("vit_base_patch32_clip_448")
def clip_b_32_448() -> ViTSpec:
    return ViTSpec(**B, **_CLIP, patch_size=32, img_size=448)


@register_variant("vit_base_patch32_clip_quickgelu_224")
def clip_b_32_quickgelu() -> ViTSpec:
    return ViTSpec(**B, **_CLIP, patch_size=32, gelu="quick", num_classes=512)


@register_variant()
def vit_base_patch16_plus_clip_240() -> ViTSpec:
    return ViTSpec(embed_dim=896, depth=12, num_heads=14, mlp_dim=3584, **_CLIP, img_size=240, num_classes=640)


@register_variant("vit_large_patch14_clip_224")
def clip_l_14() -> ViTSpec:
    return ViTSpec(**L, **_CLIP, patch_size=14)


@register_variant("vit_large_patch14_clip_336")
def clip_l_14_336() -> ViTSpec:
    return ViTSpec(**L, **_CLIP, patch_size=14, img_size=336)


@register_variant("vit_large_patch14_clip_quickgelu_224")
def clip_l_14_quickgelu() -> ViTSpec:
    return ViTSpec(**L, **_CLIP, patch_size=14, gelu="quick", num_classes=768)


@register_variant("vit_large_patch14_clip_quickgelu_336")
def clip_l_14_quickgelu_336() -> ViTSpec:
    return ViTSpec(**L, **_CLIP, patch_size=14, img_size=336, gelu="quick", num_classes=768)


@register_variant("vit_huge_patch14_clip_224")
def clip_h_14() -> ViTSpec:
    return ViTSpec(**H, **_CLIP, patch_size=14)


@register_variant("vit_huge_patch14_clip_336")
def clip_h_14_336() -> ViTSpec:
    return ViTSpec(**H, **_CLIP, patch_size=14, img_size=336)


@register_variant("vit_huge_patch14_clip_378")
def clip_h_14_378() -> ViTSpec:
    return ViTSpec(**H, **_CLIP, patch_size=14, img_size=378, num_classes=1024)


@register_variant("vit_huge_patch14_clip_quickgelu_224")
def clip_h_14_quickgelu() -> ViTSpec:
    return ViTSpec(**H, **_CLIP, patch_size=14, gelu="quick", num_classes=1024)


@register_variant("vit_huge_patch14_clip_quickgelu_378")
def clip_h_14_quickgelu_378() -> ViTSpec:
    return ViTSpec(**H, **_CLIP, patch_size=14, img_size=378, gelu="quick", num_classes=1024)


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
    return ViTSpec(**B, **_SIGLIP)


@register_variant("vit_base_patch16_siglip_256")
def siglip_b_16_256() -> ViTSpec:
    return ViTSpec(**B, **_SIGLIP, img_size=256)


@register_variant("vit_base_patch16_siglip_384")
def siglip_b_16_384() -> ViTSpec:
    return ViTSpec(**B, **_SIGLIP, img_size=384)


@register_variant("vit_base_patch16_siglip_512")
def siglip_b_16_512() -> ViTSpec:
    return ViTSpec(**B, **_SIGLIP, img_size=512)


@register_variant("vit_base_patch16_siglip_gap_224")
def siglip_b_16_gap() -> ViTSpec:
    return ViTSpec(**B, **_SIGLIP_GAP)


@register_variant("vit_base_patch16_siglip_gap_256")
def siglip_b_16_gap_256() -> ViTSpec:
    return ViTSpec(**B, **_SIGLIP_GAP, img_size=256)


@register_variant("vit_base_patch16_siglip_gap_384")
def siglip_b_16_gap_384() -> ViTSpec:
    return ViTSpec(**B, **_SIGLIP_GAP, img_size=384)


@register_variant("vit_base_patch16_siglip_gap_512")
def siglip_b_16_gap_512() -> ViTSpec:
    return ViTSpec(**B, **_SIGLIP_GAP, img_size=512)


@register_variant("vit_base_patch32_siglip_256")
def siglip_b_32_256() -> ViTSpec:
    return ViTSpec(**B, **_SIGLIP, patch_size=32, img_size=256, gelu="tanh")


@register_variant("vit_base_patch32_siglip_gap_256")
def siglip_b_32_gap_256() -> ViTSpec:
    return ViTSpec(**B, **_SIGLIP_GAP, patch_size=32, img_size=256, gelu="tanh")


@register_variant("vit_large_patch16_siglip_256")
def siglip_l_16_256() -> ViTSpec:
    return ViTSpec(**L, **_SIGLIP, img_size=256)


@register_variant("vit_large_patch16_siglip_384")
def siglip_l_16_384() -> ViTSpec:
    return ViTSpec(**L, **_SIGLIP, img_size=384)


@register_variant("vit_large_patch16_siglip_512")
def siglip_l_16_512() -> ViTSpec:
    return ViTSpec(**L, **_SIGLIP, img_size=512, gelu="tanh")


@register_variant("vit_large_patch16_siglip_gap_256")
def siglip_l_16_gap_256() -> ViTSpec:
    return ViTSpec(**L, **_SIGLIP_GAP, img_size=256)


@register_variant("vit_large_patch16_siglip_gap_384")
def siglip_l_16_gap_384() -> ViTSpec:
    return ViTSpec(**L, **_SIGLIP_GAP, img_size=384)


@register_variant("vit_large_patch16_siglip_gap_512")
def siglip_l_16_gap_512() -> ViTSpec:
    return ViTSpec(**L, **_SIGLIP_GAP, img_size=512, gelu="tanh")


@register_variant("vit_so400m_patch14_siglip_224")
def siglip_so400m_14() -> ViTSpec:
    return ViTSpec(**SO400M, **_SIGLIP, patch_size=14)


@register_variant("vit_so400m_patch14_siglip_378")
def siglip_so400m_14_378() -> ViTSpec:
    return ViTSpec(**SO400M, **_SIGLIP, patch_size=14, img_size=378)


@register_variant("vit_so400m_patch14_siglip_384")
def siglip_so400m_14_384() -> ViTSpec:
    return ViTSpec(**SO400M, **_SIGLIP, patch_size=14, img_size=384)


@register_variant("vit_so400m_patch14_siglip_gap_224")
def siglip_so400m_14_gap() -> ViTSpec:
    return ViTSpec(**SO400M, **_SIGLIP_GAP, patch_size=14)


@register_variant("vit_so400m_patch14_siglip_gap_378")
def siglip_so400m_14_gap_378() -> ViTSpec:
    return ViTSpec(**SO400M, **_SIGLIP_GAP, patch_size=14, img_size=378)


@register_variant("vit_so400m_patch14_siglip_gap_384")
def siglip_so400m_14_gap_384() -> ViTSpec:
    return ViTSpec(**SO400M, **_SIGLIP_GAP, patch_size=14, img_size=384)


@register_variant("vit_so400m_patch14_siglip_gap_448")
def siglip_so400m_14_gap_448() -> ViTSpec:
    return ViTSpec(**SO400M, **_SIGLIP_GAP, patch_size=14, img_size=448)


@register_variant("vit_so400m_patch14_siglip_gap_896")
def siglip_so400m_14_gap_896() -> ViTSpec:
    return ViTSpec(**SO400M, **_SIGLIP_GAP, patch_size=14, img_size=896)


@register_variant("vit_so400m_patch16_siglip_256")
def siglip_so400m_16_256() -> ViTSpec:
    return ViTSpec(**SO400M, **_SIGLIP, img_size=256, gelu="tanh")


@register_variant("vit_so400m_patch16_siglip_384")
def siglip_so400m_16_384() -> ViTSpec:
    return ViTSpec(**SO400M, **_SIGLIP, img_size=384, gelu="tanh")


@register_variant("vit_so400m_patch16_siglip_512")
def siglip_so400m_16_512() -> ViTSpec:
    return ViTSpec(**SO400M, **_SIGLIP, img_size=512, gelu="tanh")


@register_variant("vit_so400m_patch16_siglip_gap_256")
def siglip_so400m_16_gap_256() -> ViTSpec:
    return ViTSpec(**SO400M, **_SIGLIP_GAP, img_size=256, gelu="tanh")


@register_variant("vit_so400m_patch16_siglip_gap_384")
def siglip_so400m_16_gap_384() -> ViTSpec:
    return ViTSpec(**SO400M, **_SIGLIP_GAP, img_size=384, gelu="tanh")


@register_variant("vit_so400m_patch16_siglip_gap_512")
def siglip_so400m_16_gap_512() -> ViTSpec:
    return ViTSpec(**SO400M, **_SIGLIP_GAP, img_size=512, gelu="tanh")


@register_variant("vit_giantopt_patch16_siglip_256")
def siglip_gopt_16_256() -> ViTSpec:
    return ViTSpec(**GIANT_OPT, **_SIGLIP, img_size=256, gelu="tanh")


@register_variant("vit_giantopt_patch16_siglip_384")
def siglip_gopt_16_384() -> ViTSpec:
    return ViTSpec(**GIANT_OPT, **_SIGLIP, img_size=384, gelu="tanh")


@register_variant("vit_giantopt_patch16_siglip_gap_256")
def siglip_gopt_16_gap_256() -> ViTSpec:
    return ViTSpec(**GIANT_OPT, **_SIGLIP_GAP, img_size=256, gelu="tanh")


@register_variant("vit_giantopt_patch16_siglip_gap_384")
def siglip_gopt_16_gap_384() -> ViTSpec:
    return ViTSpec(**GIANT_OPT, **_SIGLIP_GAP, img_size=384, gelu="tanh")
