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


SUPPORTED_FAMILIES = "ViT, DeiT, DeiT-III, DINOv2, CLIP, SigLIP, EVA/EVA-02, DINOv3, PE, RoPE-ViT, BEiT/BEiTv2, AIMv2, CaiT, NaFlex ViT (SigLIP 2 NaFlex, C-RADIO), XCiT, Qwen3 ViT, DeepSeek-V4 ViT, Sapiens2, parallel-block ViTs, relative-position ViTs, ResNetV2 hybrid ViTs and MobileCLIP"
# timm model families vitzoo's spec cannot express yet: name prefix → (family, what it needs).
_UNSUPPORTED_FAMILIES = {
    "samvit": ("SAM", "windowed attention with decomposed relative positions and a conv neck"),
}


def resolve_name(name: str) -> str:
    """The registered short name for ``name`` (a short name or a timm alias); tags are not accepted."""
    if name in _VARIANTS:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    family = next((f for prefix, f in _UNSUPPORTED_FAMILIES.items() if name.lower().startswith(prefix)), None)
    if family is not None:
        raise UnknownNameError(
            f"{name!r} belongs to timm's {family[0]} models ({family[1]}), which vitzoo does not support yet; "
            f"vitzoo supports the {SUPPORTED_FAMILIES} families (see vitzoo.list_models())."
        )
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


def variant_names() -> list[str]:
    """Short names in registration order: the original ViT first, so it wins among identical architectures.

    Example:
        >>> variant_names()[0]
        'vit_ti_16'
    """
    return list(_VARIANTS)


def aliases_of(name: str) -> list[str]:
    """timm's long names for a variant."""
    short = resolve_name(name)
    return sorted(a for a, v in _ALIASES.items() if v == short)
