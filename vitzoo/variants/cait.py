"""timm's ``cait.py`` models: CaiT (Touvron et al., "Going deeper with Image Transformers"), distilled on ImageNet-1k.

The patch tokens (a ``pos_embed`` over them only) go through talking-heads blocks (``block="cait"``:
``attn.proj_l``/``proj_w`` mix the heads' scores before and after the softmax, layer scale as
``gamma_1``/``gamma_2``); then the class token joins and only it is updated, by two class-attention
blocks (``blocks_token_only``, ``depth_token_only=2``); the final norm covers all tokens and the head
reads the class token. MLP ratio 4 in both stages, eps 1e-6, exact GELU, q/k/v biases. The ten
architectures below are all of timm 1.0.31's; tests/core/test_family_variants.py checks each against
the tensors timm's own model holds.

Example:
    >>> from vitzoo.variants import get_spec
    >>> spec = get_spec("cait_xxs24_224")
    >>> spec.block, spec.depth, spec.depth_token_only, spec.pos_embed_len
    ('cait', 24, 2, 196)
"""

from __future__ import annotations

from vitzoo.spec import ViTSpec

from .registry import register_variant


def _cait(embed_dim: int, depth: int, num_heads: int, img_size: int, layer_scale_init: float = 1e-5) -> ViTSpec:
    # layer_scale_init: timm's init_values, the fresh layer scales (1e-6 for the 36- and 48-block S and M models)
    return ViTSpec(img_size=img_size, embed_dim=embed_dim, depth=depth, num_heads=num_heads, mlp_dim=4 * embed_dim, block="cait",
                   depth_token_only=2, pos_embed_prefix=False, layer_scale=True, layer_scale_init=layer_scale_init)


@register_variant("cait_xxs24_224")
def cait_xxs24() -> ViTSpec:
    return _cait(192, 24, 4, 224)


@register_variant("cait_xxs24_384")
def cait_xxs24_384() -> ViTSpec:
    return _cait(192, 24, 4, 384)


@register_variant("cait_xxs36_224")
def cait_xxs36() -> ViTSpec:
    return _cait(192, 36, 4, 224)


@register_variant("cait_xxs36_384")
def cait_xxs36_384() -> ViTSpec:
    return _cait(192, 36, 4, 384)


@register_variant("cait_xs24_384")
def cait_xs24_384() -> ViTSpec:
    return _cait(288, 24, 6, 384)


@register_variant("cait_s24_224")
def cait_s24() -> ViTSpec:
    return _cait(384, 24, 8, 224)


@register_variant("cait_s24_384")
def cait_s24_384() -> ViTSpec:
    return _cait(384, 24, 8, 384)


@register_variant("cait_s36_384")
def cait_s36_384() -> ViTSpec:
    return _cait(384, 36, 8, 384, 1e-6)


@register_variant("cait_m36_384")
def cait_m36_384() -> ViTSpec:
    return _cait(768, 36, 16, 384, 1e-6)


@register_variant("cait_m48_448")
def cait_m48_448() -> ViTSpec:
    return _cait(768, 48, 16, 448, 1e-6)
