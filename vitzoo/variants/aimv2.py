"""Apple's AIMv2 image encoders (timm's ``aimv2_*`` in vision_transformer.py), pre-trained autoregressively.

RMSNorm (eps 1e-5) on the patch embeddings, in every block and at the end; no class token; projections
without biases (the patch projection keeps its bias); split SwiGLU MLPs; the output is the mean of the
patch tokens after the final norm. vitzoo builds them with the EVA block's builder (whose tensor names
are timm's here: no layer scale, no q/v biases), so ``block="eva"``. tests/core/test_family_variants.py
checks each architecture against the tensors timm's own model holds.

Example:
    >>> from vitzoo.variants import get_spec
    >>> spec = get_spec("aimv2_large_patch14_224")
    >>> spec.norm_type, spec.patch_norm, spec.class_token
    ('rms', True, False)
"""

from __future__ import annotations

from vitzoo.spec import ViTSpec

from .registry import register_variant


def _aimv2(img_size: int, embed_dim: int, num_heads: int, mlp_dim: int) -> ViTSpec:
    return ViTSpec(img_size=img_size, patch_size=14, embed_dim=embed_dim, depth=24, num_heads=num_heads, mlp_dim=mlp_dim,
                   num_classes=0, block="eva", class_token=False, global_pool="avg", qkv_bias=False, proj_bias=False,
                   mlp_bias=False, mlp_type="swiglu_split", norm_type="rms", patch_norm=True, norm_eps=1e-5)


@register_variant("aimv2_large_patch14_224")
def aimv2_l_14() -> ViTSpec:
    return _aimv2(224, 1024, 8, 2816)


@register_variant("aimv2_large_patch14_336")
def aimv2_l_14_336() -> ViTSpec:
    return _aimv2(336, 1024, 8, 2816)


@register_variant("aimv2_large_patch14_448")
def aimv2_l_14_448() -> ViTSpec:
    return _aimv2(448, 1024, 8, 2816)


@register_variant("aimv2_huge_patch14_224")
def aimv2_h_14() -> ViTSpec:
    return _aimv2(224, 1536, 12, 4096)


@register_variant("aimv2_huge_patch14_336")
def aimv2_h_14_336() -> ViTSpec:
    return _aimv2(336, 1536, 12, 4096)


@register_variant("aimv2_huge_patch14_448")
def aimv2_h_14_448() -> ViTSpec:
    return _aimv2(448, 1536, 12, 4096)


@register_variant("aimv2_1b_patch14_224")
def aimv2_1b_14() -> ViTSpec:
    return _aimv2(224, 2048, 16, 5632)


@register_variant("aimv2_1b_patch14_336")
def aimv2_1b_14_336() -> ViTSpec:
    return _aimv2(336, 2048, 16, 5632)


@register_variant("aimv2_1b_patch14_448")
def aimv2_1b_14_448() -> ViTSpec:
    return _aimv2(448, 2048, 16, 5632)


@register_variant("aimv2_3b_patch14_224")
def aimv2_3b_14() -> ViTSpec:
    return _aimv2(224, 3072, 24, 8192)


@register_variant("aimv2_3b_patch14_336")
def aimv2_3b_14_336() -> ViTSpec:
    return _aimv2(336, 3072, 24, 8192)


@register_variant("aimv2_3b_patch14_448")
def aimv2_3b_14_448() -> ViTSpec:
    return _aimv2(448, 3072, 24, 8192)
