"""MobileCLIP's convolutional stem (timm's ``ConvStem`` in ``vit_base_mci_224``), framework-agnostic.

``ViTSpec.backbone == "convstem"``: three non-overlapping convolutions make the tokens, with no patch
projection after them (timm's ``HybridEmbed(proj=False)``): a 4×4 stride-4 convolution to D/4 channels,
BatchNorm + exact GELU, a 2×2 stride-2 convolution (D/4 → D/4), BatchNorm + GELU, and a 2×2 stride-2
convolution with bias to the width D. Together a 16-pixel patch (``patch_size`` is 16), each token
a function of its own patch only.

The tensor names follow timm's attribute paths: ``patch_embed.backbone.{i}.conv.weight``,
``patch_embed.backbone.{i}.bn.{weight,bias,running_mean,running_var}`` for the first two stages and
``patch_embed.backbone.2.conv.{weight,bias}``. timm's ``num_batches_tracked`` counters are not kept
(torch refills them on a strict load).

Example:
    >>> sorted(shapes(3, 64))[:2], KERNELS
    (['patch_embed.backbone.0.bn.bias', 'patch_embed.backbone.0.bn.running_mean'], (4, 2, 2))
"""

from __future__ import annotations

KERNELS = (4, 2, 2)  # each convolution's kernel and stride
PATCH = 16  # their product: the pixels of one token along a side
BN_EPS = 1e-5  # torch's BatchNorm2d default, which timm's BatchNormAct2d keeps
PREFIX = "patch_embed.backbone."
ANCHOR = PREFIX + "0.bn.running_mean"  # a tensor only this stem has


def channels(embed_dim: int) -> tuple[int, int, int]:
    """The three convolutions' output channels (timm: ``(768 // 4, 768 // 4, 768)`` for ViT-B)."""
    return embed_dim // 4, embed_dim // 4, embed_dim


def shapes(in_chans: int, embed_dim: int) -> dict[str, tuple[int, ...]]:
    """The stem's tensors and their shapes."""
    out: dict[str, tuple[int, ...]] = {}
    c_in = in_chans
    for i, (c, k) in enumerate(zip(channels(embed_dim), KERNELS)):
        p = f"{PREFIX}{i}."
        out[p + "conv.weight"] = (c, c_in, k, k)
        if i < 2:
            out.update({p + "bn." + leaf: (c,) for leaf in ("weight", "bias", "running_mean", "running_var")})
        else:
            out[p + "conv.bias"] = (c,)
        c_in = c
    return out
