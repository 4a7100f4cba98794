"""timm's ``eva.py`` models: EVA-01/EVA-02, DINOv3, Perception Encoder (PE), timm's and naver's RoPE ViTs, Sapiens2.

Written by scripts/make_eva_variants.py from timm's own model arguments and checked against its tensor
shapes; edit that script, not this file.

Example:
    >>> from vitzoo.variants import get_spec
    >>> get_spec("vit_small_patch16_dinov3").rope
    'dinov3'
"""

from __future__ import annotations

from vitzoo.spec import ViTSpec

from .registry import register_variant


@register_variant('eva02_base_patch14_224')
def eva02_b_14() -> ViTSpec:
    return ViTSpec(patch_size=14, mlp_dim=2048, num_classes=0, block='eva', mlp_type='swiglu_split', mlp_norm=True, qkv_fused=False, k_bias=False, global_pool='avg', fc_norm=True, rope='cat', rope_ref_grid=16)


@register_variant('eva02_base_patch14_448')
def eva02_b_14_448() -> ViTSpec:
    return ViTSpec(img_size=448, patch_size=14, mlp_dim=2048, block='eva', mlp_type='swiglu_split', mlp_norm=True, qkv_fused=False, k_bias=False, global_pool='avg', fc_norm=True, rope='cat', rope_ref_grid=16)


@register_variant('eva02_base_patch16_clip_224')
def eva02_b_16_clip() -> ViTSpec:
    return ViTSpec(mlp_dim=2048, num_classes=512, block='eva', mlp_type='swiglu_split', mlp_norm=True, attn_norm=True, qkv_fused=False, k_bias=False, rope='cat', rope_ref_grid=16)


@register_variant('eva02_enormous_patch14_clip_224')
def eva02_e_14_clip() -> ViTSpec:
    return ViTSpec(patch_size=14, embed_dim=1792, depth=64, num_heads=16, mlp_dim=15360, num_classes=1024, block='eva', k_bias=False, post_norm=True)


@register_variant('eva02_large_patch14_224')
def eva02_l_14() -> ViTSpec:
    return ViTSpec(patch_size=14, embed_dim=1024, depth=24, num_heads=16, mlp_dim=2730, num_classes=0, block='eva', mlp_type='swiglu_split', mlp_norm=True, qkv_fused=False, k_bias=False, global_pool='avg', fc_norm=True, rope='cat', rope_ref_grid=16)


@register_variant('eva02_large_patch14_448')
def eva02_l_14_448() -> ViTSpec:
    return ViTSpec(img_size=448, patch_size=14, embed_dim=1024, depth=24, num_heads=16, mlp_dim=2730, block='eva', mlp_type='swiglu_split', mlp_norm=True, qkv_fused=False, k_bias=False, global_pool='avg', fc_norm=True, rope='cat', rope_ref_grid=16)


@register_variant('eva02_large_patch14_clip_224')
def eva02_l_14_clip() -> ViTSpec:
    return ViTSpec(patch_size=14, embed_dim=1024, depth=24, num_heads=16, mlp_dim=2730, num_classes=768, block='eva', mlp_type='swiglu_split', mlp_norm=True, attn_norm=True, qkv_fused=False, k_bias=False, rope='cat', rope_ref_grid=16)


@register_variant('eva02_large_patch14_clip_336')
def eva02_l_14_clip_336() -> ViTSpec:
    return ViTSpec(img_size=336, patch_size=14, embed_dim=1024, depth=24, num_heads=16, mlp_dim=2730, num_classes=768, block='eva', mlp_type='swiglu_split', mlp_norm=True, attn_norm=True, qkv_fused=False, k_bias=False, rope='cat', rope_ref_grid=16)


@register_variant('eva02_small_patch14_224')
def eva02_s_14() -> ViTSpec:
    return ViTSpec(patch_size=14, embed_dim=384, num_heads=6, mlp_dim=1024, num_classes=0, block='eva', mlp_type='swiglu', k_bias=False, global_pool='avg', fc_norm=True, rope='cat', rope_ref_grid=16)


@register_variant('eva02_small_patch14_336')
def eva02_s_14_336() -> ViTSpec:
    return ViTSpec(img_size=336, patch_size=14, embed_dim=384, num_heads=6, mlp_dim=1024, block='eva', mlp_type='swiglu', k_bias=False, global_pool='avg', fc_norm=True, rope='cat', rope_ref_grid=16)


@register_variant('eva02_tiny_patch14_224')
def eva02_ti_14() -> ViTSpec:
    return ViTSpec(patch_size=14, embed_dim=192, num_heads=3, mlp_dim=512, num_classes=0, block='eva', mlp_type='swiglu', k_bias=False, global_pool='avg', fc_norm=True, rope='cat', rope_ref_grid=16)


@register_variant('eva02_tiny_patch14_336')
def eva02_ti_14_336() -> ViTSpec:
    return ViTSpec(img_size=336, patch_size=14, embed_dim=192, num_heads=3, mlp_dim=512, block='eva', mlp_type='swiglu', k_bias=False, global_pool='avg', fc_norm=True, rope='cat', rope_ref_grid=16)


@register_variant('eva_giant_patch14_224')
def eva_g_14() -> ViTSpec:
    return ViTSpec(patch_size=14, embed_dim=1408, depth=40, num_heads=16, mlp_dim=6144, block='eva', k_bias=False, global_pool='avg', fc_norm=True)


@register_variant('eva_giant_patch14_336')
def eva_g_14_336() -> ViTSpec:
    return ViTSpec(img_size=336, patch_size=14, embed_dim=1408, depth=40, num_heads=16, mlp_dim=6144, block='eva', k_bias=False, global_pool='avg', fc_norm=True)


@register_variant('eva_giant_patch14_560')
def eva_g_14_560() -> ViTSpec:
    return ViTSpec(img_size=560, patch_size=14, embed_dim=1408, depth=40, num_heads=16, mlp_dim=6144, block='eva', k_bias=False, global_pool='avg', fc_norm=True)


@register_variant('eva_giant_patch14_clip_224')
def eva_g_14_clip() -> ViTSpec:
    return ViTSpec(patch_size=14, embed_dim=1408, depth=40, num_heads=16, mlp_dim=6144, num_classes=1024, block='eva', k_bias=False)


@register_variant('vit_5b_patch16_sapiens2')
def sapiens2_5b_16() -> ViTSpec:
    return ViTSpec(img_size=1024, embed_dim=2432, depth=56, num_heads=32, mlp_dim=9728, num_classes=0, block='eva', mlp_type='swiglu', qkv_fused=False, reg_tokens=8, layer_scale=True, abs_pos_embed=False, norm_type='rms', qk_norm=True, attn_only_layer_scale=True, img_width=768, dynamic_img_size=True, num_kv_heads=16, num_full_attn_blocks=8, layer_scale_init=1.0, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_7b_patch16_dinov3')
def dinov3_7b_16() -> ViTSpec:
    return ViTSpec(img_size=256, embed_dim=4096, depth=40, num_heads=32, mlp_dim=8192, num_classes=0, block='eva', mlp_type='swiglu_split', qkv_bias=False, reg_tokens=4, global_pool='avg', layer_scale=True, abs_pos_embed=False, norm_eps=1e-05, dynamic_img_size=True, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_base_patch16_dinov3')
def dinov3_b_16() -> ViTSpec:
    return ViTSpec(img_size=256, num_classes=0, block='eva', qkv_bias=False, reg_tokens=4, global_pool='avg', layer_scale=True, abs_pos_embed=False, norm_eps=1e-05, dynamic_img_size=True, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_base_patch16_dinov3_qkvb')
def dinov3_b_16_qkvb() -> ViTSpec:
    return ViTSpec(img_size=256, num_classes=0, block='eva', k_bias=False, reg_tokens=4, global_pool='avg', layer_scale=True, abs_pos_embed=False, norm_eps=1e-05, dynamic_img_size=True, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_base_patch16_lingbot')
def lingbot_b_16() -> ViTSpec:
    return ViTSpec(img_size=512, num_classes=0, block='eva', k_bias=False, reg_tokens=4, layer_scale=True, abs_pos_embed=False, norm_eps=1e-05, dynamic_img_size=True, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_base_patch16_rope_224')
def vit_rope_b_16() -> ViTSpec:
    return ViTSpec(block='eva', layer_scale=True, abs_pos_embed=False, rope='cat', rope_temperature=100.0, rope_grid_xy=True)


@register_variant('vit_base_patch16_rope_ape_224')
def vit_rope_b_16_ape() -> ViTSpec:
    return ViTSpec(block='eva', layer_scale=True, pos_embed_prefix=False, rope='cat', rope_temperature=100.0, rope_grid_xy=True)


@register_variant('vit_base_patch16_rope_mixed_224')
def vit_rope_b_16_mixed() -> ViTSpec:
    return ViTSpec(block='eva', layer_scale=True, abs_pos_embed=False, rope='mixed', rope_temperature=10.0, rope_grid_xy=True)


@register_variant('vit_base_patch16_rope_mixed_ape_224')
def vit_rope_b_16_mixed_ape() -> ViTSpec:
    return ViTSpec(block='eva', layer_scale=True, pos_embed_prefix=False, rope='mixed', rope_temperature=10.0, rope_grid_xy=True)


@register_variant('vit_base_patch16_rope_reg1_gap_256')
def vit_rope_b_16_reg1_gap_256() -> ViTSpec:
    return ViTSpec(img_size=256, block='eva', k_bias=False, class_token=False, reg_tokens=1, global_pool='avg', fc_norm=True, layer_scale=True, abs_pos_embed=False, rope='cat', rope_ref_grid=16)


@register_variant('vit_base_patch16_sapiens2')
def sapiens2_b_16() -> ViTSpec:
    return ViTSpec(img_size=1024, num_classes=0, block='eva', mlp_type='swiglu', qkv_fused=False, reg_tokens=8, layer_scale=True, abs_pos_embed=False, norm_type='rms', qk_norm=True, attn_only_layer_scale=True, img_width=768, dynamic_img_size=True, layer_scale_init=1.0, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_betwixt_patch16_rope_reg4_gap_256')
def vit_rope_bw_16_reg4_gap_256() -> ViTSpec:
    return ViTSpec(img_size=256, embed_dim=640, num_heads=10, mlp_dim=2560, block='eva', k_bias=False, class_token=False, reg_tokens=4, global_pool='avg', fc_norm=True, layer_scale=True, abs_pos_embed=False, rope='cat', rope_ref_grid=16)


@register_variant('vit_giant_patch16_lingbot')
def lingbot_g_16() -> ViTSpec:
    return ViTSpec(img_size=512, embed_dim=1536, depth=40, num_heads=24, mlp_dim=4096, num_classes=0, block='eva', mlp_type='swiglu_split', qkv_bias=False, reg_tokens=4, layer_scale=True, abs_pos_embed=False, norm_eps=1e-05, dynamic_img_size=True, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_giant_patch16_sapiens2')
def sapiens2_g_16() -> ViTSpec:
    return ViTSpec(img_size=1024, embed_dim=1536, depth=40, num_heads=24, mlp_dim=6144, num_classes=0, block='eva', mlp_type='swiglu', qkv_fused=False, reg_tokens=8, layer_scale=True, abs_pos_embed=False, norm_type='rms', qk_norm=True, attn_only_layer_scale=True, img_width=768, dynamic_img_size=True, num_kv_heads=12, num_full_attn_blocks=8, layer_scale_init=1.0, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_huge_patch16_sapiens2')
def sapiens2_h_16() -> ViTSpec:
    return ViTSpec(img_size=1024, embed_dim=1280, depth=32, num_heads=16, mlp_dim=5120, num_classes=0, block='eva', mlp_type='swiglu', qkv_fused=False, reg_tokens=8, layer_scale=True, abs_pos_embed=False, norm_type='rms', qk_norm=True, attn_only_layer_scale=True, img_width=768, dynamic_img_size=True, num_kv_heads=8, num_full_attn_blocks=8, layer_scale_init=1.0, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_huge_plus_patch16_dinov3')
def dinov3_hplus_16() -> ViTSpec:
    return ViTSpec(img_size=256, embed_dim=1280, depth=32, num_heads=20, mlp_dim=5120, num_classes=0, block='eva', mlp_type='swiglu_split', qkv_bias=False, reg_tokens=4, global_pool='avg', layer_scale=True, abs_pos_embed=False, norm_eps=1e-05, dynamic_img_size=True, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_huge_plus_patch16_dinov3_qkvb')
def dinov3_hplus_16_qkvb() -> ViTSpec:
    return ViTSpec(img_size=256, embed_dim=1280, depth=32, num_heads=20, mlp_dim=5120, num_classes=0, block='eva', mlp_type='swiglu_split', k_bias=False, reg_tokens=4, global_pool='avg', layer_scale=True, abs_pos_embed=False, norm_eps=1e-05, dynamic_img_size=True, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_large_patch16_dinov3')
def dinov3_l_16() -> ViTSpec:
    return ViTSpec(img_size=256, embed_dim=1024, depth=24, num_heads=16, mlp_dim=4096, num_classes=0, block='eva', qkv_bias=False, reg_tokens=4, global_pool='avg', layer_scale=True, abs_pos_embed=False, norm_eps=1e-05, dynamic_img_size=True, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_large_patch16_dinov3_qkvb')
def dinov3_l_16_qkvb() -> ViTSpec:
    return ViTSpec(img_size=256, embed_dim=1024, depth=24, num_heads=16, mlp_dim=4096, num_classes=0, block='eva', k_bias=False, reg_tokens=4, global_pool='avg', layer_scale=True, abs_pos_embed=False, norm_eps=1e-05, dynamic_img_size=True, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_large_patch16_lingbot')
def lingbot_l_16() -> ViTSpec:
    return ViTSpec(img_size=512, embed_dim=1024, depth=24, num_heads=16, mlp_dim=4096, num_classes=0, block='eva', k_bias=False, reg_tokens=4, layer_scale=True, abs_pos_embed=False, norm_eps=1e-05, dynamic_img_size=True, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_large_patch16_rope_224')
def vit_rope_l_16() -> ViTSpec:
    return ViTSpec(embed_dim=1024, depth=24, num_heads=16, mlp_dim=4096, block='eva', layer_scale=True, abs_pos_embed=False, rope='cat', rope_temperature=100.0, rope_grid_xy=True)


@register_variant('vit_large_patch16_rope_ape_224')
def vit_rope_l_16_ape() -> ViTSpec:
    return ViTSpec(embed_dim=1024, depth=24, num_heads=16, mlp_dim=4096, block='eva', layer_scale=True, pos_embed_prefix=False, rope='cat', rope_temperature=100.0, rope_grid_xy=True)


@register_variant('vit_large_patch16_rope_mixed_224')
def vit_rope_l_16_mixed() -> ViTSpec:
    return ViTSpec(embed_dim=1024, depth=24, num_heads=16, mlp_dim=4096, block='eva', layer_scale=True, abs_pos_embed=False, rope='mixed', rope_temperature=10.0, rope_grid_xy=True)


@register_variant('vit_large_patch16_rope_mixed_ape_224')
def vit_rope_l_16_mixed_ape() -> ViTSpec:
    return ViTSpec(embed_dim=1024, depth=24, num_heads=16, mlp_dim=4096, block='eva', layer_scale=True, pos_embed_prefix=False, rope='mixed', rope_temperature=10.0, rope_grid_xy=True)


@register_variant('vit_large_patch16_sapiens2')
def sapiens2_l_16() -> ViTSpec:
    return ViTSpec(img_size=1024, embed_dim=1024, depth=24, num_heads=16, mlp_dim=4096, num_classes=0, block='eva', mlp_type='swiglu', qkv_fused=False, reg_tokens=8, layer_scale=True, abs_pos_embed=False, norm_type='rms', qk_norm=True, attn_only_layer_scale=True, img_width=768, dynamic_img_size=True, num_kv_heads=8, num_full_attn_blocks=8, layer_scale_init=1.0, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_medium_patch16_rope_reg1_gap_256')
def vit_rope_m_16_reg1_gap_256() -> ViTSpec:
    return ViTSpec(img_size=256, embed_dim=512, num_heads=8, mlp_dim=2048, block='eva', k_bias=False, class_token=False, reg_tokens=1, global_pool='avg', fc_norm=True, layer_scale=True, abs_pos_embed=False, rope='cat', rope_ref_grid=16)


@register_variant('vit_mediumd_patch16_rope_reg1_gap_256')
def vit_rope_md_16_reg1_gap_256() -> ViTSpec:
    return ViTSpec(img_size=256, embed_dim=512, depth=20, num_heads=8, mlp_dim=2048, block='eva', qkv_bias=False, class_token=False, reg_tokens=1, global_pool='avg', fc_norm=True, layer_scale=True, abs_pos_embed=False, rope='cat', rope_ref_grid=16)


@register_variant('vit_pe_core_base_patch16_224')
def pe_core_b_16() -> ViTSpec:
    return ViTSpec(num_classes=1024, block='eva', global_pool='map', pre_norm=True, patch_bias=False, norm_eps=1e-05, pool_include_prefix=True, pool_heads=8, rope='cat', rope_ref_grid=14, rope_grid_offset=1.0, rope_grid_xy=True)


@register_variant('vit_pe_core_gigantic_patch14_448')
def pe_core_g_14_448() -> ViTSpec:
    return ViTSpec(img_size=448, patch_size=14, embed_dim=1536, depth=50, num_heads=16, mlp_dim=8960, num_classes=1280, block='eva', class_token=False, global_pool='map', pre_norm=True, patch_bias=False, norm_eps=1e-05, pool_include_prefix=True, pool_heads=8, pool_mlp_dim=6144, rope='cat', rope_ref_grid=32, rope_grid_xy=True)


@register_variant('vit_pe_core_large_patch14_336')
def pe_core_l_14_336() -> ViTSpec:
    return ViTSpec(img_size=336, patch_size=14, embed_dim=1024, depth=24, num_heads=16, mlp_dim=4096, num_classes=1024, block='eva', global_pool='map', pre_norm=True, patch_bias=False, norm_eps=1e-05, pool_include_prefix=True, pool_heads=8, rope='cat', rope_ref_grid=24, rope_grid_offset=1.0, rope_grid_xy=True)


@register_variant('vit_pe_core_small_patch16_384')
def pe_core_s_16_384() -> ViTSpec:
    return ViTSpec(img_size=384, embed_dim=384, num_heads=6, mlp_dim=1536, num_classes=512, block='eva', global_pool='map', pre_norm=True, patch_bias=False, norm_eps=1e-05, pool_include_prefix=True, pool_heads=8, rope='cat', rope_ref_grid=24, rope_grid_offset=1.0, rope_grid_xy=True)


@register_variant('vit_pe_core_tiny_patch16_384')
def pe_core_ti_16_384() -> ViTSpec:
    return ViTSpec(img_size=384, embed_dim=192, num_heads=3, mlp_dim=768, num_classes=512, block='eva', global_pool='map', pre_norm=True, patch_bias=False, norm_eps=1e-05, pool_include_prefix=True, pool_heads=8, rope='cat', rope_ref_grid=24, rope_grid_offset=1.0, rope_grid_xy=True)


@register_variant('vit_pe_lang_gigantic_patch14_448')
def pe_lang_g_14_448() -> ViTSpec:
    return ViTSpec(img_size=448, patch_size=14, embed_dim=1536, depth=47, num_heads=16, mlp_dim=8960, num_classes=0, block='eva', class_token=False, global_pool='avg', final_norm=False, pre_norm=True, patch_bias=False, layer_scale=True, norm_eps=1e-05, layer_scale_init=0.1, rope='cat', rope_ref_grid=32, rope_grid_xy=True)


@register_variant('vit_pe_lang_large_patch14_448')
def pe_lang_l_14_448() -> ViTSpec:
    return ViTSpec(img_size=448, patch_size=14, embed_dim=1024, depth=23, num_heads=16, mlp_dim=4096, num_classes=0, block='eva', global_pool='avg', final_norm=False, pre_norm=True, patch_bias=False, layer_scale=True, norm_eps=1e-05, layer_scale_init=0.1, rope='cat', rope_ref_grid=32, rope_grid_offset=1.0, rope_grid_xy=True)


@register_variant('vit_pe_spatial_base_patch16_512')
def pe_spatial_b_16_512() -> ViTSpec:
    return ViTSpec(img_size=512, num_classes=0, block='eva', global_pool='avg', final_norm=False, pre_norm=True, patch_bias=False, norm_eps=1e-05, rope='cat', rope_ref_grid=32, rope_grid_offset=1.0, rope_grid_xy=True)


@register_variant('vit_pe_spatial_gigantic_patch14_448')
def pe_spatial_g_14_448() -> ViTSpec:
    return ViTSpec(img_size=448, patch_size=14, embed_dim=1536, depth=50, num_heads=16, mlp_dim=8960, num_classes=0, block='eva', class_token=False, global_pool='avg', final_norm=False, pre_norm=True, patch_bias=False, layer_scale=True, norm_eps=1e-05, layer_scale_init=0.1, rope='cat', rope_ref_grid=32, rope_grid_xy=True)


@register_variant('vit_pe_spatial_large_patch14_448')
def pe_spatial_l_14_448() -> ViTSpec:
    return ViTSpec(img_size=448, patch_size=14, embed_dim=1024, depth=24, num_heads=16, mlp_dim=4096, num_classes=0, block='eva', global_pool='avg', final_norm=False, pre_norm=True, patch_bias=False, norm_eps=1e-05, rope='cat', rope_ref_grid=32, rope_grid_offset=1.0, rope_grid_xy=True)


@register_variant('vit_pe_spatial_small_patch16_512')
def pe_spatial_s_16_512() -> ViTSpec:
    return ViTSpec(img_size=512, embed_dim=384, num_heads=6, mlp_dim=1536, num_classes=0, block='eva', global_pool='avg', final_norm=False, pre_norm=True, patch_bias=False, norm_eps=1e-05, rope='cat', rope_ref_grid=32, rope_grid_offset=1.0, rope_grid_xy=True)


@register_variant('vit_pe_spatial_tiny_patch16_512')
def pe_spatial_ti_16_512() -> ViTSpec:
    return ViTSpec(img_size=512, embed_dim=192, num_heads=3, mlp_dim=768, num_classes=0, block='eva', global_pool='avg', final_norm=False, pre_norm=True, patch_bias=False, norm_eps=1e-05, rope='cat', rope_ref_grid=32, rope_grid_offset=1.0, rope_grid_xy=True)


@register_variant('vit_small_patch16_dinov3')
def dinov3_s_16() -> ViTSpec:
    return ViTSpec(img_size=256, embed_dim=384, num_heads=6, mlp_dim=1536, num_classes=0, block='eva', qkv_bias=False, reg_tokens=4, global_pool='avg', layer_scale=True, abs_pos_embed=False, norm_eps=1e-05, dynamic_img_size=True, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_small_patch16_dinov3_qkvb')
def dinov3_s_16_qkvb() -> ViTSpec:
    return ViTSpec(img_size=256, embed_dim=384, num_heads=6, mlp_dim=1536, num_classes=0, block='eva', k_bias=False, reg_tokens=4, global_pool='avg', layer_scale=True, abs_pos_embed=False, norm_eps=1e-05, dynamic_img_size=True, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_small_patch16_lingbot')
def lingbot_s_16() -> ViTSpec:
    return ViTSpec(img_size=512, embed_dim=384, num_heads=6, mlp_dim=1536, num_classes=0, block='eva', k_bias=False, reg_tokens=4, layer_scale=True, abs_pos_embed=False, norm_eps=1e-05, dynamic_img_size=True, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_small_patch16_rope_224')
def vit_rope_s_16() -> ViTSpec:
    return ViTSpec(embed_dim=384, num_heads=6, mlp_dim=1536, block='eva', layer_scale=True, abs_pos_embed=False, rope='cat', rope_temperature=100.0, rope_grid_xy=True)


@register_variant('vit_small_patch16_rope_ape_224')
def vit_rope_s_16_ape() -> ViTSpec:
    return ViTSpec(embed_dim=384, num_heads=6, mlp_dim=1536, block='eva', layer_scale=True, pos_embed_prefix=False, rope='cat', rope_temperature=100.0, rope_grid_xy=True)


@register_variant('vit_small_patch16_rope_mixed_224')
def vit_rope_s_16_mixed() -> ViTSpec:
    return ViTSpec(embed_dim=384, num_heads=6, mlp_dim=1536, block='eva', layer_scale=True, abs_pos_embed=False, rope='mixed', rope_temperature=10.0, rope_grid_xy=True)


@register_variant('vit_small_patch16_rope_mixed_ape_224')
def vit_rope_s_16_mixed_ape() -> ViTSpec:
    return ViTSpec(embed_dim=384, num_heads=6, mlp_dim=1536, block='eva', layer_scale=True, pos_embed_prefix=False, rope='mixed', rope_temperature=10.0, rope_grid_xy=True)


@register_variant('vit_small_plus_patch16_dinov3')
def dinov3_splus_16() -> ViTSpec:
    return ViTSpec(img_size=256, embed_dim=384, num_heads=6, mlp_dim=1536, num_classes=0, block='eva', mlp_type='swiglu_split', qkv_bias=False, reg_tokens=4, global_pool='avg', layer_scale=True, abs_pos_embed=False, norm_eps=1e-05, dynamic_img_size=True, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_small_plus_patch16_dinov3_qkvb')
def dinov3_splus_16_qkvb() -> ViTSpec:
    return ViTSpec(img_size=256, embed_dim=384, num_heads=6, mlp_dim=1536, num_classes=0, block='eva', mlp_type='swiglu_split', k_bias=False, reg_tokens=4, global_pool='avg', layer_scale=True, abs_pos_embed=False, norm_eps=1e-05, dynamic_img_size=True, rope='dinov3', rope_temperature=100.0, rope_half=True)


@register_variant('vit_tiny_patch16_dinov3_qkvb')
def dinov3_ti_16_qkvb() -> ViTSpec:
    return ViTSpec(img_size=256, embed_dim=192, num_heads=3, mlp_dim=768, num_classes=0, block='eva', k_bias=False, reg_tokens=4, global_pool='avg', layer_scale=True, abs_pos_embed=False, norm_eps=1e-05, dynamic_img_size=True, rope='dinov3', rope_temperature=100.0, rope_half=True)

