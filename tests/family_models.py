"""Tiny random-weight timm models of each ViT family, with the vitzoo spec that describes them.

Each case builds the real timm architecture (``timm.create_model(ARCH, pretrained=False)``)
shrunk to 32 px, patch 8, width 32, two blocks, so the whole family suite stays fast.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import timm
import torch

from timm_models import randomise_
from vitzoo.spec import ViTSpec

SHRINK = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)


class Family(NamedTuple):
    arch: str  # timm's architecture name
    timm_args: dict  # create_model overrides beyond SHRINK
    spec: ViTSpec  # what vitzoo must build for it


def _spec(**fields: Any) -> ViTSpec:
    return ViTSpec(**{**SHRINK, "mlp_dim": 128, **fields})


_CLIP = dict(pre_norm=True, patch_bias=False, norm_eps=1e-5)
_DINOV2 = dict(num_classes=0, layer_scale=True)
_SIGLIP = dict(num_classes=0, class_token=False)

FAMILIES = {
    "deit_distilled": Family("deit_tiny_distilled_patch16_224", dict(num_classes=5), _spec(num_classes=5, dist_token=True)),
    "deit3": Family("deit3_small_patch16_224", dict(num_classes=5), _spec(num_classes=5, layer_scale=True, pos_embed_prefix=False)),
    "dinov2": Family("vit_small_patch14_dinov2", {}, _spec(**_DINOV2)),
    "dinov2_reg4": Family("vit_small_patch14_reg4_dinov2", {}, _spec(**_DINOV2, reg_tokens=4, pos_embed_prefix=False)),
    # giant's SwiGLU at width 32: fc1 is int(32 · 5.33334) = 170 wide, split into two halves of 85
    "dinov2_swiglu": Family("vit_giant_patch14_dinov2", {}, _spec(**_DINOV2, mlp_type="swiglu", mlp_dim=85)),
    "clip": Family("vit_base_patch16_clip_224", dict(num_classes=16), _spec(**_CLIP, num_classes=16)),
    "clip_quickgelu": Family("vit_base_patch16_clip_quickgelu_224", dict(num_classes=16), _spec(**_CLIP, num_classes=16, gelu="quick")),
    "siglip": Family("vit_base_patch16_siglip_224", {}, _spec(**_SIGLIP, global_pool="map")),
    "siglip_classifier": Family("vit_base_patch16_siglip_224", dict(num_classes=5), _spec(**{**_SIGLIP, "num_classes": 5}, global_pool="map")),
    "siglip2_tanh": Family("vit_so400m_patch16_siglip_256", {}, _spec(**_SIGLIP, global_pool="map", gelu="tanh", mlp_dim=119)),
    "siglip_gap": Family("vit_base_patch16_siglip_gap_224", {}, _spec(**_SIGLIP, global_pool="avg")),
}


# FAMILIES plus cases with another input size (the shared family tests feed 32-px images).
CASES = {
    **FAMILIES,
    # so400m/14 at 384 px: the patch does not divide the image; timm's conv leaves the last pixels out
    "siglip_uneven": Family("vit_so400m_patch14_siglip_384", dict(img_size=36), _spec(**_SIGLIP, global_pool="map", img_size=36, mlp_dim=119)),
}


def family_timm(name: str, seed: int = 0) -> "torch.nn.Module":
    """The tiny timm model of case ``name`` (FAMILIES or CASES) with seeded, non-trivial random weights, in eval mode."""
    case = CASES[name]
    return randomise_(timm.create_model(case.arch, pretrained=False, **{**SHRINK, **case.timm_args}), seed)


def timm_state(model: "torch.nn.Module") -> dict[str, np.ndarray]:
    """A timm model's state dict as float32 arrays (timm's names are vitzoo's canonical names)."""
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def image(seed: int = 0, batch: int = 2, size: int = SHRINK["img_size"]) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32)


def max_rel_diff(ours: Any, ref: Any) -> float:
    """max |ours - ref| relative to the output scale (max |ref|, at least 1)."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    return float(np.abs(ours - ref).max() / max(1.0, np.abs(ref).max()))
