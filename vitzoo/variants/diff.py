"""timm's ViTs with differential attention (``attn_layer='diff'``): ``vit_dwee``/``vit_dlittle`` (SBB recipes, 256 px).

The wee/little shapes of timm's register ViTs (one register outside ``pos_embed``, no class token, mean
pool + ``fc_norm``, layer scale) with timm's ``DiffAttention`` in every block (``diff_attn``). Registered
under timm's names; the suite checks each against ``timm.create_model``.

Example:
    >>> from vitzoo.variants import get_spec
    >>> spec = get_spec("vit_dwee_patch16_reg1_gap_256")
    >>> spec.diff_attn, spec.reg_tokens, spec.global_pool
    (True, 1, 'avg')
"""

from __future__ import annotations

from vitzoo.spec import ViTSpec

from .registry import register_variant

_DIFF = dict(patch_size=16, img_size=256, class_token=False, reg_tokens=1, global_pool="avg", fc_norm=True, layer_scale=True,
             pos_embed_prefix=False, diff_attn=True)


@register_variant()
def vit_dwee_patch16_reg1_gap_256() -> ViTSpec:
    return ViTSpec(embed_dim=256, depth=14, num_heads=4, mlp_dim=1280, **_DIFF)


@register_variant()
def vit_dlittle_patch16_reg1_gap_256() -> ViTSpec:
    return ViTSpec(embed_dim=320, depth=14, num_heads=5, mlp_dim=1792, **_DIFF)
