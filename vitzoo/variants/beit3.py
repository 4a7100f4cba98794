"""BEiT-3's image towers as timm builds them (``vision_transformer.py``'s ``beit3_*``: ``scale_attn_norm``/``scale_mlp_norm``).

A plain ViT block with a LayerNorm on the attention output before ``attn.proj`` and one on the MLP's
hidden units before ``fc2`` (Magneto's sub-LayerNorms); eps 1e-5, the patch tokens' mean through
``fc_norm``. Built with the EVA block's Cells (``attn_norm``, ``mlp_norm``): without layer scale and
with a packed, fully biased ``qkv`` its tensor names are exactly timm's ``Block``'s. Checked against the
tensors of timm's own model (tests/core/test_family_variants.py).

Example:
    >>> from vitzoo.variants import get_spec
    >>> spec = get_spec("beit3_base_patch16_224")
    >>> spec.attn_norm, spec.mlp_norm, spec.global_pool, spec.norm_eps
    (True, True, 'avg', 1e-05)
"""

from __future__ import annotations

from vitzoo.spec import ViTSpec

from .registry import register_variant
from .sizes import B, L

_BEIT3 = dict(block="eva", attn_norm=True, mlp_norm=True, global_pool="avg", fc_norm=True, norm_eps=1e-5)


@register_variant("beit3_base_patch16_224")
def beit3_b_16() -> ViTSpec:
    return ViTSpec(**_BEIT3, **B)


@register_variant("beit3_large_patch16_224")
def beit3_l_16() -> ViTSpec:
    return ViTSpec(**_BEIT3, **L)
