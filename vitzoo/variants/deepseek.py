"""timm's ``deepseek_vit.py`` models: the DeepSeek-V4 / V4.1 vision encoder (412M, 32 × 1024, patch 14, 546 px).

A pre-norm ViT of EVA blocks with RMSNorms, packed qkv with its bias, a bias-free packed SwiGLU
(hidden 2816) and axial rotary positions (``rope="cat"``, rotate-half, theta 10000) as its only
positions, ending in an RMSNorm over the patch tokens (:data:`vitzoo.deepseek_spec.FORM`). Three
forms, as timm's:

- ``deepseek_vit_412m``: mean pool, a weightless RMSNorm, the head (timm's weights have none: ``num_classes=0``);
- ``deepseek_vit_412m_align``: the aligner first (3 × 3 tokens into one, to ``merge_dim``, the source
  LLM's width), then the same pool, norm and head;
- ``deepseek_vit_412m_enc``: the aligner's tokens are the output (``output_tokens``).

The aligner's width is the LLM's and the default input the tower's own (``vision_min_pixels``): 5120 and
546 px for V4.1-Flash (timm's default tag), 4096 and 392 px for the V4-Flash Vision-Exp tower (its
variants ``deepseek_vit_412m_392``, ``deepseek_vit_412m_align_4096`` and ``deepseek_vit_412m_enc_4096``,
e.g. for ``deepseek_vit_412m_enc.deepseek_v4_flash_vision_exp``). Both run any patch multiple.

Example:
    >>> from vitzoo.variants import get_spec
    >>> spec = get_spec("deepseek_vit_412m_enc_4096")
    >>> spec.embed_dim, spec.mlp_dim, spec.merge_size, spec.merge_dim, spec.output_tokens, spec.img_size
    (1024, 2816, 3, 4096, True, 392)
"""

from __future__ import annotations

from vitzoo.deepseek_spec import FORM
from vitzoo.spec import ViTSpec

from .registry import register_variant

# Each source tower's aligner width and default input, timm's default tag's first.
TOWERS = ((5120, 546), (4096, 392))


def deepseek_spec(merge_dim: int = 0, tokens: bool = False, img_size: int = 546) -> ViTSpec:
    """The DeepSeek ViT: a classifier, with the aligner to ``merge_dim``, or (``tokens``) its encoder."""
    return ViTSpec(img_size=img_size, patch_size=14, num_classes=0, embed_dim=1024, depth=32, num_heads=16, mlp_dim=2816, **FORM,
                   fc_norm=not tokens, fc_norm_affine=tokens, merge_size=3 if merge_dim else 0, merge_dim=merge_dim, output_tokens=tokens)


def _named(name: str, fn):  # noqa: ANN001, ANN202 - the registry names a variant by its function's name
    fn.__name__ = fn.__qualname__ = name
    return fn


for _i, (_width, _size) in enumerate(TOWERS):
    _tail = "" if _i == 0 else f"_{_size}"
    register_variant()(_named("deepseek_vit_412m" + _tail, lambda s=_size: deepseek_spec(img_size=s)))
    for _suffix, _tokens in (("_align", False), ("_enc", True)):
        _name = "deepseek_vit_412m" + _suffix + ("" if _i == 0 else f"_{_width}")
        register_variant()(_named(_name, lambda w=_width, t=_tokens, s=_size: deepseek_spec(w, t, s)))
