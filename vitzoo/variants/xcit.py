"""timm's ``xcit.py`` models: XCiT (El-Nouby et al., "XCiT: Cross-Covariance Image Transformers"), ImageNet-1k.

The patch tokens (from a stack of 3×3 stride-2 convolutions with BatchNorms; Fourier position features)
go through cross-covariance blocks (``block="xcit"``: attention over channels with a learned temperature
per head, a local patch interaction of depthwise convolutions, layer scales ``gamma1``/``gamma3``/``gamma2``);
then the class token joins in two class-attention blocks (``depth_token_only=2``) and the final norm covers
all tokens. MLP ratio 4, eps 1e-6, exact GELU, q/k/v biases. The 12-block models start their layer scales at
1.0 (timm's ``eta``), the 24-block ones at 1e-5; all but nano norm every token in the class-attention blocks
(``tokens_norm``). XCiT has no position table, so every model takes any multiple of its patch size
(``dynamic_img_size``); ``_384`` only names the size its weights were trained at. The 28 architectures below
are all of timm 1.0.31's; the ``fb_dist_in1k`` weight sets are distilled from a teacher but have the one head.

Example:
    >>> from vitzoo.variants import get_spec
    >>> spec = get_spec("xcit_small_12_p8_224")
    >>> spec.block, spec.patch_size, spec.depth, spec.depth_token_only, spec.tokens_norm, spec.layer_scale_init
    ('xcit', 8, 12, 2, True, 1.0)
"""

from __future__ import annotations

from vitzoo.spec import ViTSpec

from .registry import register_variant

# size → (embed_dim, num_heads); depth 12 or 24 is in the name
_SIZES = {"nano": (128, 4), "tiny": (192, 4), "small": (384, 8), "medium": (512, 8), "large": (768, 16)}
_ARCHS = [("nano", 12), ("tiny", 12), ("small", 12), ("tiny", 24), ("small", 24), ("medium", 24), ("large", 24)]


def xcit_spec(size: str, depth: int, patch: int, img_size: int) -> ViTSpec:
    """timm's ``xcit_{size}_{depth}_p{patch}_{img_size}`` (its model arguments, with timm's fixed defaults)."""
    d, heads = _SIZES[size]
    return ViTSpec(img_size=img_size, patch_size=patch, embed_dim=d, depth=depth, num_heads=heads, mlp_dim=4 * d, block="xcit",
                   depth_token_only=2, abs_pos_embed=False, patch_bias=False, layer_scale=True, dynamic_img_size=True,
                   tokens_norm=size != "nano", layer_scale_init=1.0 if depth == 12 else 1e-5)


def _register(size: str, depth: int, patch: int, img_size: int) -> None:
    def variant() -> ViTSpec:
        return xcit_spec(size, depth, patch, img_size)

    variant.__name__ = variant.__qualname__ = f"xcit_{size}_{depth}_p{patch}_{img_size}"
    register_variant()(variant)


for _patch in (16, 8):
    for _size, _depth in _ARCHS:
        for _img in (224, 384):
            _register(_size, _depth, _patch, _img)
