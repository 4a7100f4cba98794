"""The variant registry: named ViT architectures, as in timm's ``register_model``.

A variant is one small decorated function returning a :class:`ViTSpec`; its
function name is the variant's name and ``aliases`` are timm's long names.
"""

from __future__ import annotations

import difflib
import fnmatch
from typing import Any, Callable

from vitzoo.errors import UnknownNameError
from vitzoo.spec import ViTSpec

_VARIANTS: dict[str, Callable[[], ViTSpec]] = {}
_ALIASES: dict[str, str] = {}


def register_variant(*aliases: str) -> Callable[[Callable[[], ViTSpec]], Callable[[], ViTSpec]]:
    """Register the decorated spec function under its name and ``aliases``.

    Example:
        >>> @register_variant("vit_micro_patch16_224")
        ... def vit_micro_16() -> ViTSpec:
        ...     return ViTSpec(embed_dim=96, depth=4, num_heads=3, mlp_dim=384)
        >>> get_spec("vit_micro_patch16_224").embed_dim
        96
    """

    def decorator(fn: Callable[[], ViTSpec]) -> Callable[[], ViTSpec]:
        for name in (fn.__name__, *aliases):
            if name in _VARIANTS or name in _ALIASES:
                raise ValueError(f"Variant name {name!r} is already registered.")
        _VARIANTS[fn.__name__] = fn
        for alias in aliases:
            _ALIASES[alias] = fn.__name__
        return fn

    return decorator


def resolve_name(name: str) -> str:
    """The registered short name for ``name`` (a short name or a timm alias); tags are not accepted."""
    if name in _VARIANTS:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    close = difflib.get_close_matches(name, [*_VARIANTS, *_ALIASES], n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else " See vitzoo.list_models()."
    raise UnknownNameError(f"Unknown model name {name!r}.{hint}")


def split_name(name: str) -> tuple[str, str | None]:
    """Split ``"variant.tag"`` into the short variant name and the tag (``None`` if absent)."""
    base, _, tag = name.partition(".")
    return resolve_name(base), (tag or None)


def get_spec(name: str, **overrides: Any) -> ViTSpec:
    """The spec of a variant (short name, timm alias, or ``variant.tag``), with fields overridden.

    Example:
        >>> get_spec("vit_base_patch16_224") == get_spec("vit_b_16")
        True
        >>> get_spec("vit_b_16", num_classes=10).num_classes
        10
    """
    variant, _ = split_name(name)
    spec = _VARIANTS[variant]()
    return spec.replace(**overrides) if overrides else spec


def list_models(pattern: str = "*", include_aliases: bool = True) -> list[str]:
    """Sorted variant names matching an fnmatch ``pattern`` (timm aliases included by default).

    Example:
        >>> list_models("vit_b_32*")
        ['vit_b_32', 'vit_b_32_384']
    """
    names = list(_VARIANTS) + (list(_ALIASES) if include_aliases else [])
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))


def aliases_of(name: str) -> list[str]:
    """timm's long names for a variant."""
    short = resolve_name(name)
    return sorted(a for a, v in _ALIASES.items() if v == short)


# The ViT family of "An Image is Worth 16x16 Words" and "How to train your ViT",
# with timm's defaults (LayerNorm eps 1e-6, exact GELU, class-token pooling).
_TI = dict(embed_dim=192, depth=12, num_heads=3, mlp_dim=768)
_S = dict(embed_dim=384, depth=12, num_heads=6, mlp_dim=1536)
_B = dict(embed_dim=768, depth=12, num_heads=12, mlp_dim=3072)
_L = dict(embed_dim=1024, depth=24, num_heads=16, mlp_dim=4096)
_H = dict(embed_dim=1280, depth=32, num_heads=16, mlp_dim=5120)


@register_variant("vit_tiny_patch16_224")
def vit_ti_16() -> ViTSpec:
    return ViTSpec(patch_size=16, **_TI)


@register_variant("vit_tiny_patch16_384")
def vit_ti_16_384() -> ViTSpec:
    return ViTSpec(img_size=384, patch_size=16, **_TI)


@register_variant("vit_small_patch16_224")
def vit_s_16() -> ViTSpec:
    return ViTSpec(patch_size=16, **_S)


@register_variant("vit_small_patch16_384")
def vit_s_16_384() -> ViTSpec:
    return ViTSpec(img_size=384, patch_size=16, **_S)


@register_variant("vit_small_patch32_224")
def vit_s_32() -> ViTSpec:
    return ViTSpec(patch_size=32, **_S)


@register_variant("vit_small_patch32_384")
def vit_s_32_384() -> ViTSpec:
    return ViTSpec(img_size=384, patch_size=32, **_S)


@register_variant("vit_base_patch16_224")
def vit_b_16() -> ViTSpec:
    return ViTSpec(patch_size=16, **_B)


@register_variant("vit_base_patch16_384")
def vit_b_16_384() -> ViTSpec:
    return ViTSpec(img_size=384, patch_size=16, **_B)


@register_variant("vit_base_patch32_224")
def vit_b_32() -> ViTSpec:
    return ViTSpec(patch_size=32, **_B)


@register_variant("vit_base_patch32_384")
def vit_b_32_384() -> ViTSpec:
    return ViTSpec(img_size=384, patch_size=32, **_B)


@register_variant("vit_base_patch8_224")
def vit_b_8() -> ViTSpec:
    return ViTSpec(patch_size=8, **_B)


@register_variant("vit_large_patch16_224")
def vit_l_16() -> ViTSpec:
    return ViTSpec(patch_size=16, **_L)


@register_variant("vit_large_patch16_384")
def vit_l_16_384() -> ViTSpec:
    return ViTSpec(img_size=384, patch_size=16, **_L)


@register_variant("vit_large_patch32_224")
def vit_l_32() -> ViTSpec:
    return ViTSpec(patch_size=32, **_L)


@register_variant("vit_large_patch32_384")
def vit_l_32_384() -> ViTSpec:
    return ViTSpec(img_size=384, patch_size=32, **_L)


@register_variant("vit_huge_patch14_224")
def vit_h_14() -> ViTSpec:
    return ViTSpec(patch_size=14, **_H)


@register_variant("vit_small_patch8_224")
def vit_s_8() -> ViTSpec:
    return ViTSpec(patch_size=8, **_S)


@register_variant("vit_base_patch16_224_miil")
def vit_b_16_miil() -> ViTSpec:
    return ViTSpec(patch_size=16, qkv_bias=False, **_B)


# timm's own ViTs beyond the paper's sizes ("vit_medium" = 512 wide, "betwixt" = 640,
# "little" = 320, "wee" = 256, "so150m" = shape-optimised ~150M). Average pooling
# over the patch tokens; the register models keep their registers out of pos_embed.
_M = dict(embed_dim=512, depth=12, num_heads=8, mlp_dim=2048)
_MEDIUM_GAP = dict(patch_size=16, class_token=False, global_pool="avg", qkv_bias=False, layer_scale=True, **_M)
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
    return ViTSpec(reg_tokens=1, **_REG_GAP, **_M)


@register_variant("vit_medium_patch16_reg4_gap_256")
def vit_m_16_reg4_gap_256() -> ViTSpec:
    return ViTSpec(reg_tokens=4, **_REG_GAP, **_M)


@register_variant()
def vit_mediumd_patch16_reg4_gap_256() -> ViTSpec:
    return ViTSpec(reg_tokens=4, **_REG_GAP, **{**_M, "depth": 20})


@register_variant()
def vit_mediumd_patch16_reg4_gap_384() -> ViTSpec:
    return ViTSpec(reg_tokens=4, **{**_REG_GAP, "img_size": 384}, **{**_M, "depth": 20})


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
    return ViTSpec(patch_size=14, class_token=False, global_pool="avg", **_H)


@register_variant("vit_huge_patch16_gap_448")
def vit_h_16_gap_448() -> ViTSpec:
    return ViTSpec(img_size=448, patch_size=16, class_token=False, global_pool="avg", **_H)


@register_variant("vit_giant_patch16_gap_224")
def vit_g_16_gap() -> ViTSpec:
    return ViTSpec(patch_size=16, embed_dim=1408, depth=40, num_heads=16, mlp_dim=6144, class_token=False, global_pool="avg")


# TIPSv2 image encoders: class token plus one register outside pos_embed, layer scale, 448 px.
_TIPS = dict(img_size=448, patch_size=14, reg_tokens=1, pos_embed_prefix=False, layer_scale=True, num_classes=0)


@register_variant()
def vit_base_patch14_reg1_tipsv2() -> ViTSpec:
    return ViTSpec(**_TIPS, **_B)


@register_variant()
def vit_large_patch14_reg1_tipsv2() -> ViTSpec:
    return ViTSpec(**_TIPS, **_L)


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
    return ViTSpec(**_FLEXI, **_S)


@register_variant()
def flexivit_base() -> ViTSpec:
    return ViTSpec(**_FLEXI, **_B)


@register_variant()
def flexivit_large() -> ViTSpec:
    return ViTSpec(**_FLEXI, **_L)
