"""timm's ``vision_transformer_relpos.py`` models (relative-position ViTs) and ``vit_base_patch16_rpn_224``.

No absolute position embedding: every attention adds a bias per head made by a small MLP over the
log-spaced relative offsets of the patch pairs (``rel_pos_type="mlp"``, timm's ``RelPosMlp`` in its
'cr' mode, hidden width ``rel_pos_dim``: timm's default 128 unless the model names another), one
per block or one shared by all (``vit_srelpos_*``, ``rel_pos_shared``). No class token and average
pooling, with an fc_norm after the pool (``vit_relpos_{s,m,b}``) or the final norm (``_cls``: a class
token and its pooling; ``_clsgap``: a class token but the average pool); layer scale (init 1e-6),
except the ``_rpn`` models, whose residual post-norm blocks (``res_post_norm``) put the norms after the
branches. eps 1e-6, exact GELU, no qkv bias except the B/16+ and B/32+ models. All of timm 1.0.31's
architectures (but its ``test_vit_relpos``); tests/core/test_family_variants.py checks each against the
tensors timm's own model holds.

``vit_base_patch16_rpn_224`` (vision_transformer.py) is the plain ViT-B/16 with an absolute position
embedding, no class token, average pooling with an fc_norm, and residual post-norm blocks.

Example:
    >>> from vitzoo.variants import get_spec
    >>> spec = get_spec("vit_relpos_medium_patch16_cls_224")
    >>> spec.rel_pos_type, spec.rel_pos_dim, spec.class_token, spec.global_pool
    ('mlp', 256, True, 'token')
"""

from __future__ import annotations

from vitzoo.spec import ViTSpec

from .registry import register_variant

_SIZES = {"s": (384, 6), "m": (512, 8), "b": (768, 12), "bplus": (896, 14)}


def _relpos(size: str, patch: int = 16, img_size: int = 224, *, rel_pos_dim: int = 128, qkv_bias: bool = False,
            fc_norm: bool = False, class_token: bool = False, global_pool: str = "avg", shared: bool = False,
            rpn: bool = False) -> ViTSpec:
    d, heads = _SIZES[size]
    return ViTSpec(img_size=img_size, patch_size=patch, embed_dim=d, depth=12, num_heads=heads, mlp_dim=4 * d, qkv_bias=qkv_bias,
                   class_token=class_token, global_pool=global_pool, fc_norm=fc_norm, abs_pos_embed=False, rel_pos_type="mlp",
                   rel_pos_dim=rel_pos_dim, rel_pos_shared=shared, layer_scale=not rpn, res_post_norm=rpn,
                   layer_scale_init=1e-6)  # timm's init_values for these models


@register_variant("vit_relpos_base_patch32_plus_rpn_256")
def vit_relpos_bplus_32_rpn_256() -> ViTSpec:
    return _relpos("bplus", 32, 256, qkv_bias=True, rpn=True)


@register_variant("vit_relpos_base_patch16_plus_240")
def vit_relpos_bplus_16_240() -> ViTSpec:
    return _relpos("bplus", 16, 240, qkv_bias=True)


@register_variant("vit_relpos_small_patch16_224")
def vit_relpos_s_16() -> ViTSpec:
    return _relpos("s", fc_norm=True)


@register_variant("vit_relpos_medium_patch16_224")
def vit_relpos_m_16() -> ViTSpec:
    return _relpos("m", fc_norm=True)


@register_variant("vit_relpos_base_patch16_224")
def vit_relpos_b_16() -> ViTSpec:
    return _relpos("b", fc_norm=True)


@register_variant("vit_srelpos_small_patch16_224")
def vit_srelpos_s_16() -> ViTSpec:
    return _relpos("s", rel_pos_dim=384, shared=True)


@register_variant("vit_srelpos_medium_patch16_224")
def vit_srelpos_m_16() -> ViTSpec:
    return _relpos("m", rel_pos_dim=512, shared=True)


@register_variant("vit_relpos_medium_patch16_cls_224")
def vit_relpos_m_16_cls() -> ViTSpec:
    return _relpos("m", rel_pos_dim=256, class_token=True, global_pool="token")


@register_variant("vit_relpos_base_patch16_cls_224")
def vit_relpos_b_16_cls() -> ViTSpec:
    return _relpos("b", class_token=True, global_pool="token")


@register_variant("vit_relpos_base_patch16_clsgap_224")
def vit_relpos_b_16_clsgap() -> ViTSpec:
    return _relpos("b", fc_norm=True, class_token=True)


@register_variant("vit_relpos_small_patch16_rpn_224")
def vit_relpos_s_16_rpn() -> ViTSpec:
    return _relpos("s", rpn=True)


@register_variant("vit_relpos_medium_patch16_rpn_224")
def vit_relpos_m_16_rpn() -> ViTSpec:
    return _relpos("m", rpn=True)


@register_variant("vit_relpos_base_patch16_rpn_224")
def vit_relpos_b_16_rpn() -> ViTSpec:
    return _relpos("b", rpn=True)


@register_variant("vit_base_patch16_rpn_224")
def vit_rpn_b_16() -> ViTSpec:
    return ViTSpec(qkv_bias=False, class_token=False, global_pool="avg", fc_norm=True, res_post_norm=True)
