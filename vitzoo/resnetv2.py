"""The BiT ResNetV2 stem of timm's hybrid ViTs (``vision_transformer_hybrid.py``), framework-agnostic.

``ViTSpec.backbone == "resnetv2"``: the image first goes through timm's ``ResNetV2`` (``preact=False``,
``stem_type='same'``): a 7×7 stride-2 weight-standardised convolution (``StdConv2dSame``, eps 1e-8, TF
"SAME" padding), GroupNorm (32 groups) + ReLU, a 3×3 stride-2 max pool (SAME, padded with -inf), then
``backbone_layers`` stages of bottleneck blocks (width 256·2^i, stride 2 from the second stage on).
``backbone_layers=()`` is the stem alone (timm's ``create_resnetv2_stem``, ``vit_tiny_r_s16_p8_*``). The
feature map is projected by ``patch_embed.proj`` (a ``patch_size`` convolution) into the tokens.

The tensor names follow timm's attribute paths: ``patch_embed.backbone.stem.conv.weight`` (with stages)
or ``patch_embed.backbone.conv.weight`` (stem only), ``patch_embed.backbone.stages.{s}.blocks.{b}.conv1``
… ``norm3``, ``downsample.conv``/``downsample.norm`` in each stage's first block.

Example:
    >>> feature_size(224, (3, 4, 9)), out_channels((3, 4, 9)), out_channels(())
    (14, 1024, 64)
"""

from __future__ import annotations

import math
from typing import Sequence

STEM_CHANNELS = 64
STD_CONV_EPS = 1e-8  # timm's _resnetv2: partial(StdConv2dSame, eps=1e-8)
GROUP_NORM_GROUPS = 32
GROUP_NORM_EPS = 1e-5


def same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding (before, after) of one axis of ``size`` (timm's ``get_same_padding``)."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def stage_strides(layers: Sequence[int]) -> list[int]:
    return [1 if i == 0 else 2 for i in range(len(layers))]


def feature_size(size: int, layers: Sequence[int]) -> int:
    """The backbone's output side for an input side of ``size`` (SAME padding: every stride rounds up)."""
    size = math.ceil(math.ceil(size / 2) / 2)  # the stem's convolution and max pool
    for stride in stage_strides(layers):
        size = math.ceil(size / stride)
    return size


def stride(layers: Sequence[int]) -> int:
    """The backbone's total stride: 4 in the stem, 2 in every stage after the first."""
    return 4 * 2 ** max(len(layers) - 1, 0)


def out_channels(layers: Sequence[int]) -> int:
    return 256 * 2 ** (len(layers) - 1) if layers else STEM_CHANNELS


def prefix(layers: Sequence[int]) -> str:
    """Where the stem's tensors live: ``ResNetV2.stem`` or the bare stem ``Sequential``."""
    return "patch_embed.backbone.stem." if layers else "patch_embed.backbone."


def shapes(in_chans: int, layers: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """Canonical name → shape of every backbone tensor, in timm's order."""
    stem = prefix(layers)
    out: dict[str, tuple[int, ...]] = {stem + "conv.weight": (STEM_CHANNELS, in_chans, 7, 7),
                                       stem + "norm.weight": (STEM_CHANNELS,), stem + "norm.bias": (STEM_CHANNELS,)}
    chans = STEM_CHANNELS
    for s, depth in enumerate(layers):
        wide = 256 * 2**s
        mid = wide // 4
        for b in range(depth):
            p = f"patch_embed.backbone.stages.{s}.blocks.{b}."
            if b == 0:
                out.update({p + "downsample.conv.weight": (wide, chans, 1, 1), p + "downsample.norm.weight": (wide,),
                            p + "downsample.norm.bias": (wide,)})
            for i, (o, c, k) in enumerate(((mid, chans, 1), (mid, mid, 3), (wide, mid, 1)), start=1):
                out.update({f"{p}conv{i}.weight": (o, c, k, k), f"{p}norm{i}.weight": (o,), f"{p}norm{i}.bias": (o,)})
            chans = wide
    return out
