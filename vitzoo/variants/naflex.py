"""timm's ``naflexvit.py`` models with weights: NaFlex ViTs (native aspect ratio, any resolution).

Each keeps a learned position grid of its own size (``pos_embed_grid``: 16 × 16 patches, C-RADIO's
128 × 128), resampled to every input's patch grid as timm does (``pos_interp``, ``pos_antialias``,
``pos_align_corners``, ``pos_ar_preserving``), with no position for the class/register tokens. They
take NCHW images of any patch-multiple size and timm's NaFlex dictionaries (see :mod:`vitzoo.naflex`).
``img_size`` is only the size timm evaluates the weights at (384 px; C-RADIO 512 px).

- ``naflexvit_base_patch16_gap`` (and ``_par_gap``: aspect-preserving grid; ``_parfac_gap``: also two
  1-D tables, ``pos_embed_y``/``pos_embed_x``): timm's ImageNet-1k NaFlex ViT-B/16, 4 registers, layer
  scale, average pool with ``fc_norm``, bicubic antialiased grid.
- ``naflexvit_base_patch16_siglip``, ``naflexvit_so400m_patch16_siglip``: SigLIP 2 NaFlex image towers
  (MAP head, tanh GELU, bilinear antialiased grid).
- ``naflexvit_*_patch16_radio_v3`` / ``_v4``: NVIDIA's C-RADIO backbones (class token plus 7 or 9
  summary tokens as registers, class-token output, no final norm, bilinear grid without antialias,
  aspect-preserving, corners aligned for v3 B/H as their release code does).

Example:
    >>> from vitzoo.variants import get_spec
    >>> spec = get_spec("naflexvit_base_patch16_siglip")
    >>> spec.naflex, spec.pos_grid, spec.pos_interp, spec.pos_embed_len
    (True, 16, 'bilinear', 256)
"""

from __future__ import annotations

from vitzoo.spec import ViTSpec

from .registry import register_variant
from .sizes import B, H, L, SO400M

_NAFLEX = dict(naflex=True, pos_embed_grid=16, pos_embed_prefix=False, class_token=False, img_size=384)
_GAP = dict(_NAFLEX, reg_tokens=4, layer_scale=True, global_pool="avg", fc_norm=True)
_SIGLIP2 = dict(_NAFLEX, global_pool="map", gelu="tanh", num_classes=0, pos_interp="bilinear")
_RADIO = dict(naflex=True, pos_embed_grid=128, pos_embed_prefix=False, img_size=512, num_classes=0, class_token=True, global_pool="token",
              final_norm=False, pos_interp="bilinear", pos_antialias=False, pos_ar_preserving=True)


@register_variant("naflexvit_base_patch16_gap")
def naflex_b_16_gap() -> ViTSpec:
    return ViTSpec(**B, **_GAP)


@register_variant("naflexvit_base_patch16_par_gap")
def naflex_b_16_par_gap() -> ViTSpec:
    return ViTSpec(**B, **_GAP, pos_ar_preserving=True)


@register_variant("naflexvit_base_patch16_parfac_gap")
def naflex_b_16_parfac_gap() -> ViTSpec:
    return ViTSpec(**B, **_GAP, pos_ar_preserving=True, pos_factorized=True)


@register_variant("naflexvit_base_patch16_siglip")
def siglip2_naflex_b_16() -> ViTSpec:
    return ViTSpec(**B, **_SIGLIP2)


@register_variant("naflexvit_so400m_patch16_siglip")
def siglip2_naflex_so400m_16() -> ViTSpec:
    return ViTSpec(**SO400M, **_SIGLIP2)


@register_variant("naflexvit_base_patch16_radio_v3")
def radio_v3_b_16() -> ViTSpec:
    return ViTSpec(**B, **_RADIO, reg_tokens=7, layer_scale=True, pos_align_corners=True)


@register_variant("naflexvit_large_patch16_radio_v3")
def radio_v3_l_16() -> ViTSpec:
    return ViTSpec(**L, **_RADIO, reg_tokens=7, layer_scale=True)


@register_variant("naflexvit_huge_patch16_radio_v3")
def radio_v3_h_16() -> ViTSpec:
    return ViTSpec(**H, **_RADIO, reg_tokens=7, pos_align_corners=True)


@register_variant("naflexvit_giant_patch16_radio_v3")
def radio_v3_g_16() -> ViTSpec:
    return ViTSpec(embed_dim=1536, depth=40, num_heads=24, mlp_dim=6144, **_RADIO, reg_tokens=7)


@register_variant("naflexvit_so400m_patch16_radio_v4")
def radio_v4_so400m_16() -> ViTSpec:
    return ViTSpec(**SO400M, **_RADIO, reg_tokens=9)


@register_variant("naflexvit_huge_patch16_radio_v4")
def radio_v4_h_16() -> ViTSpec:
    return ViTSpec(**H, **_RADIO, reg_tokens=9)
