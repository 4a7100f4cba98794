"""timm's ``beit.py`` models: BEiT and BEiTv2 (Microsoft's masked-image pre-training, fine-tuned for ImageNet).

Every block's attention has its own relative position bias table (``rel_pos_bias="block"``) and
no absolute position embedding; q and v have a bias, k none; layer scale as ``gamma_1``/``gamma_2``;
the patch tokens' mean goes through ``fc_norm`` (no norm on the tokens). The seven architectures
below are all of timm 1.0.31's; tests/core/test_family_variants.py checks each against the tensors
timm's own model holds.

Example:
    >>> from vitzoo.variants import get_spec
    >>> spec = get_spec("beitv2_base_patch16_224")
    >>> spec.rel_pos_bias, spec.abs_pos_embed, spec.global_pool
    ('block', False, 'avg')
"""

from __future__ import annotations

from vitzoo.spec import ViTSpec

from .registry import register_variant


def _beit(**sizes: float) -> ViTSpec:
    return ViTSpec(**sizes, block="eva", k_bias=False, layer_scale=True, abs_pos_embed=False, rel_pos_bias="block",
                   global_pool="avg", fc_norm=True)


_BASE = dict(embed_dim=768, depth=12, num_heads=12, mlp_dim=3072)
_LARGE = dict(embed_dim=1024, depth=24, num_heads=16, mlp_dim=4096)


@register_variant("beit_base_patch16_224")
def beit_b_16() -> ViTSpec:
    return _beit(layer_scale_init=0.1, **_BASE)  # timm's init_values for BEiT-B (BEiT-L and BEiTv2: 1e-5)


@register_variant("beit_base_patch16_384")
def beit_b_16_384() -> ViTSpec:
    return _beit(img_size=384, layer_scale_init=0.1, **_BASE)


@register_variant("beit_large_patch16_224")
def beit_l_16() -> ViTSpec:
    return _beit(**_LARGE)


@register_variant("beit_large_patch16_384")
def beit_l_16_384() -> ViTSpec:
    return _beit(img_size=384, **_LARGE)


@register_variant("beit_large_patch16_512")
def beit_l_16_512() -> ViTSpec:
    return _beit(img_size=512, **_LARGE)


@register_variant("beitv2_base_patch16_224")
def beitv2_b_16() -> ViTSpec:
    return _beit(**_BASE)


@register_variant("beitv2_large_patch16_224")
def beitv2_l_16() -> ViTSpec:
    return _beit(**_LARGE)
