"""timm's ``qwen3_vit.py`` models: the Qwen3-VL / Qwen3.5 / Qwen3.8 vision towers (and Qwen-Drive-1.0's).

A pre-norm ViT of timm's EVA blocks (packed qkv with bias, tanh GELU, axial rotary positions
``rope="cat"`` in the rotate-half layout, theta 10000) plus a learned 48×48 position grid
resampled to each input (``pos_embed_grid=48``, bilinear with aligned corners: ``pos_interp='bilinear'``,
``pos_antialias=False``, ``pos_align_corners=True``, NaFlex's resampling code), any input whose
patch grid the projector's 2×2 merge divides (``dynamic_img_size``), no norm on the patch tokens.
Three forms per size, as timm's:

- ``qwen3_vit_<size>``: mean pool, a LayerNorm without weight and bias, the head (timm's
  weights have none: ``num_classes=0``);
- ``qwen3_vit_<size>_merge``: the VLM projector first (``merge_size=2``, to ``merge_dim``, the
  source LLM's width), then the same pool, norm and head;
- ``qwen3_vit_<size>_enc``: the projector's tokens are the output (``output_tokens``).

The projector's width is the LLM's, so it differs between weight sets of one timm architecture:
the variant without a suffix has the width of timm's default tag; ``_<width>`` variants carry the
others (e.g. ``qwen3_vit_306m_enc_2560`` for Qwen3.5-4B's tower, ``qwen3_vit_306m_enc.qwen3_5_4b``
in timm).

Example:
    >>> from vitzoo.variants import get_spec
    >>> spec = get_spec("qwen3_vit_306m_enc_2560")
    >>> spec.embed_dim, spec.merge_size, spec.merge_dim, spec.pos_embed_len
    (1024, 2, 2560, 2304)
"""

from __future__ import annotations

from vitzoo.qwen_spec import GRID_RESAMPLING
from vitzoo.spec import ViTSpec

from .registry import register_variant

SIZES = {"88m": (768, 12, 12, 3072), "306m": (1024, 24, 16, 4096), "416m": (1152, 27, 16, 4304)}
# The projector widths of timm's weight sets per size, timm's default tag's first.
WIDTHS = {"88m": (1024,), "306m": (2048, 2560), "416m": (5120, 2560, 4096, 2048)}


def qwen3_spec(size: str, merge_dim: int = 0, tokens: bool = False) -> ViTSpec:
    """The Qwen3 ViT of ``size``: a classifier, with the projector to ``merge_dim``, or (``tokens``) its encoder."""
    d, depth, heads, mlp = SIZES[size]
    return ViTSpec(img_size=768, patch_size=16, num_classes=0, embed_dim=d, depth=depth, num_heads=heads, mlp_dim=mlp, gelu="tanh",
                   block="eva", class_token=False, global_pool="avg", fc_norm=not tokens, final_norm=not tokens, fc_norm_affine=tokens,
                   rope="cat", rope_half=True, dynamic_img_size=True, pos_embed_grid=48, merge_size=2 if merge_dim else 0,
                   merge_dim=merge_dim, output_tokens=tokens, **GRID_RESAMPLING)


def _register(size: str) -> None:
    arch = f"qwen3_vit_{size}"
    register_variant()(_named(arch, lambda: qwen3_spec(size)))
    for i, width in enumerate(WIDTHS[size]):
        for suffix, tokens in (("_merge", False), ("_enc", True)):
            name = arch + suffix + ("" if i == 0 else f"_{width}")
            register_variant()(_named(name, lambda w=width, t=tokens: qwen3_spec(size, w, t)))


def _named(name: str, fn):  # noqa: ANN001, ANN202 - the registry names a variant by its function's name
    fn.__name__ = fn.__qualname__ = name
    return fn


for _size in SIZES:
    _register(_size)
