"""The registry of architectures: named :class:`~vitzoo.spec.ViTSpec` variants, as timm's ``register_model``.

``registry`` holds the lookup; ``vit``, ``deit_dinov2``, ``clip_siglip``, ``eva``, ``beit``, ``aimv2``, ``cait``, ``naflex``, ``xcit``, ``relpos``, ``hybrid``, ``radio``, ``beit3``, ``diff``, ``parallel``, ``qwen3`` and ``deepseek`` are the tables, registered here in that
order (the original ViT first, so it wins among identical architectures).

Example:
    >>> from vitzoo.variants import get_spec
    >>> get_spec("vit_base_patch16_224") == get_spec("vit_b_16")
    True
"""

from __future__ import annotations

from . import vit, deit_dinov2, clip_siglip, eva, beit, aimv2, cait, naflex, xcit, relpos, hybrid, radio, beit3, diff, parallel, qwen3, deepseek  # noqa: F401  (the tables, in registration order)
from .registry import (
    SUPPORTED_FAMILIES,
    aliases_of,
    get_spec,
    list_models,
    register_variant,
    resolve_name,
    split_name,
    variant_names,
)

__all__ = ["SUPPORTED_FAMILIES", "aliases_of", "get_spec", "list_models", "register_variant", "resolve_name", "split_name", "variant_names"]
