"""Backbones without a final norm (timm's ``final_norm=False``): NVIDIA's C-RADIOv3/v4 and OpenGVLab's InternViT-300M.

Both are plain timm ViT blocks whose last block's output is the feature: no norm after the blocks.
C-RADIO keeps its registers (7 in v3, 9 in v4) out of ``pos_embed``, which covers the 32×32 grid of
512 px (timm's hub copies were resampled once from RADIO's 128×128 grid); InternViT-300M reads any
input size (``dynamic_img_size``). All are feature extractors (no classifier). Registered under
timm's names; the suite checks each against ``timm.create_model``.

Example:
    >>> from vitzoo.variants import get_spec
    >>> spec = get_spec("vit_base_patch16_radio_v3")
    >>> spec.final_norm, spec.reg_tokens, spec.pos_embed_prefix
    (False, 7, False)
"""

from __future__ import annotations

from vitzoo.spec import ViTSpec

from .registry import register_variant
from .sizes import B, L, H, SO400M

# C-RADIO: a class token plus registers outside pos_embed, 512 px, class-token features without a norm
_RADIO = dict(img_size=512, patch_size=16, pos_embed_prefix=False, final_norm=False, num_classes=0)


@register_variant()
def vit_base_patch16_radio_v3() -> ViTSpec:
    return ViTSpec(reg_tokens=7, layer_scale=True, **_RADIO, **B)


@register_variant()
def vit_large_patch16_radio_v3() -> ViTSpec:
    return ViTSpec(reg_tokens=7, layer_scale=True, **_RADIO, **L)


@register_variant()
def vit_huge_patch16_radio_v3() -> ViTSpec:
    return ViTSpec(reg_tokens=7, **_RADIO, **H)


@register_variant()
def vit_giant_patch16_radio_v3() -> ViTSpec:
    return ViTSpec(reg_tokens=7, embed_dim=1536, depth=40, num_heads=24, mlp_dim=6144, **_RADIO)


@register_variant()
def vit_so400m_patch16_radio_v4() -> ViTSpec:
    return ViTSpec(reg_tokens=9, **_RADIO, **SO400M)


@register_variant()
def vit_huge_patch16_radio_v4() -> ViTSpec:
    return ViTSpec(reg_tokens=9, **_RADIO, **H)


@register_variant()
def vit_intern300m_patch14_448() -> ViTSpec:
    """InternViT-300M-448px (InternVL 2.5's vision encoder), distilled: layer scale (fresh at 0.1, as timm's), no final norm, any input size."""
    return ViTSpec(img_size=448, patch_size=14, layer_scale=True, layer_scale_init=0.1, final_norm=False, dynamic_img_size=True, num_classes=0, **L)
