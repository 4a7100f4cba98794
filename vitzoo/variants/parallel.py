"""timm's ViTs with parallel blocks (``block="parallel"``): ``vit_pwee``/``vit_dpwee`` (SBB recipes, 256 px).

The wee shape of timm's register ViTs (one register outside ``pos_embed``, no class token, mean pool +
``fc_norm``, layer scale) built from timm's ``ParallelScalingBlock`` (attention and MLP side by side,
separate output projections) or ``DiffParallelScalingBlock`` (differential attention, one fused output
projection). Registered under timm's names; the suite checks each against ``timm.create_model``.

Example:
    >>> from vitzoo.variants import get_spec
    >>> spec = get_spec("vit_dpwee_patch16_reg1_gap_256")
    >>> spec.block, spec.diff_attn, spec.parallel_out_fused, spec.mlp_dim
    ('parallel', True, True, 1280)
"""

from __future__ import annotations

from vitzoo.spec import ViTSpec

from .registry import register_variant

_WEE = dict(patch_size=16, img_size=256, embed_dim=256, depth=16, num_heads=4, mlp_dim=1280, class_token=False, reg_tokens=1,
            global_pool="avg", fc_norm=True, layer_scale=True, pos_embed_prefix=False, block="parallel")


@register_variant()
def vit_pwee_patch16_reg1_gap_256() -> ViTSpec:
    return ViTSpec(**_WEE)


@register_variant()
def vit_dpwee_patch16_reg1_gap_256() -> ViTSpec:
    return ViTSpec(**_WEE, diff_attn=True, parallel_out_fused=True)
