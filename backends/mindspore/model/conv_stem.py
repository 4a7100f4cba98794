"""MobileCLIP's convolutional stem (``backbone="convstem"``, :mod:`vitzoo.conv_stem`) as Cells, and its ViT.

Every convolution has its kernel as its stride, so each is a patch GEMM, computed channel-last here
(``[B, H, W, C]`` → ``[B, H/k, W/k, C·k·k]`` by a reshape and one transpose, times the weight seen as
``[C', C·k·k]``): no Conv2D, whose CPU kernel is slow in MindSpore 2.10 (see ``PatchProj``). The Cell
tree follows timm's attribute paths (``patch_embed.backbone.{i}.conv``, ``.bn``), so the parameters
carry timm's names. The last convolution's output is the tokens.

Example:
    >>> import numpy as np, mindspore as ms, vitzoo
    >>> model = vitzoo.create("vit_base_mci_224", img_size=64, depth=1, embed_dim=64, num_heads=2, mlp_dim=128, num_classes=3)
    >>> type(model).__name__, model(ms.Tensor(np.zeros((1, 3, 64, 64), np.float32))).shape
    ('ConvStemViT', (1, 3))
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from mindspore import Tensor, nn, ops

from vitzoo import conv_stem
from vitzoo.spec import ViTSpec

from .layers import GeluErf, to_parameter
from .vit import VisionTransformer
from .xcit import BatchNorm

State = Mapping[str, np.ndarray]


class PatchConv(nn.Cell):
    """A ``k``×``k`` stride-``k`` convolution on channel-last maps, with torch's ``weight`` ``[C', C, k, k]`` (and ``bias``)."""

    def __init__(self, state: State, name: str) -> None:
        super().__init__()
        self.weight = to_parameter(state[name + ".weight"])
        self.out_chans, self.in_chans, self.k, _ = (int(v) for v in state[name + ".weight"].shape)
        self.has_bias = name + ".bias" in state
        if self.has_bias:
            self.bias = to_parameter(state[name + ".bias"])
        self.matmul = ops.MatMul(transpose_b=True)

    def construct(self, x: Tensor) -> Tensor:
        b, h, w, c = x.shape
        k = self.k
        gh, gw = h // k, w // k
        x = x[:, : gh * k, : gw * k]  # as torch's strided convolution, a remainder is left out
        patches = x.reshape(b, gh, k, gw, k, c).transpose(0, 1, 3, 5, 2, 4).reshape(b * gh * gw, c * k * k)  # (C, kh, kw) order
        y = self.matmul(patches, self.weight.reshape(self.out_chans, c * k * k))
        if self.has_bias:
            y = ops.bias_add(y, self.bias)
        return y.reshape(b, gh, gw, self.out_chans)


class ChannelLastBatchNorm(BatchNorm):
    """torch's ``BatchNorm2d`` (its names, eps 1e-5) over the last axis of ``[B, H, W, C]``."""

    def construct(self, x: Tensor) -> Tensor:
        if self.training:  # the batch statistics over B, H and W, as BatchNorm2d's; the running ones updated
            b, h, w, c = x.shape
            flat = ops.batch_norm(x.reshape(b * h * w, c), self.running_mean, self.running_var, self.weight, self.bias, True, 0.1, self.eps)
            return flat.reshape(b, h, w, c)
        scale = self.weight / ops.sqrt(self.running_var + self.eps)
        return x * scale + (self.bias - self.running_mean * scale)


class ConvNormAct(nn.Cell):
    """timm's ``ConvNormAct``: ``conv``, then ``bn`` and GELU (the first two stages) or neither (the last)."""

    def __init__(self, state: State, name: str) -> None:
        super().__init__()
        self.conv = PatchConv(state, name + ".conv")
        self.normed = name + ".bn.weight" in state
        if self.normed:
            self.bn = ChannelLastBatchNorm(state, name + ".bn")
            self.act = GeluErf()

    def construct(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        return self.act(self.bn(x)) if self.normed else x


class ConvStemEmbed(nn.Cell):
    """Image ``[B, C, H, W]`` → tokens ``[B, H/16 · W/16, D]`` through timm's ``ConvStem`` (``patch_embed.backbone``)."""

    def __init__(self, spec: ViTSpec, state: State) -> None:
        super().__init__()
        self.backbone = nn.CellList([ConvNormAct(state, f"{conv_stem.PREFIX}{i}") for i in range(len(conv_stem.KERNELS))])

    def construct(self, x: Tensor) -> Tensor:
        x = x.transpose(0, 2, 3, 1)
        for stage in self.backbone:
            x = stage(x)
        b, h, w, d = x.shape
        return x.reshape(b, h * w, d)


class ConvStemViT(VisionTransformer):
    """timm's ``VisionTransformer`` with MobileCLIP's ``ConvStem`` as its patch embedding (``vit_base_mci_224``)."""

    def _make_patch_embed(self, spec: ViTSpec, state: State) -> nn.Cell:
        return ConvStemEmbed(spec, state)

    def _patch_grid(self, height: int, width: int) -> tuple:
        return self.grid_size, self.grid_size
