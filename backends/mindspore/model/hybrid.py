"""timm's hybrid ViT (``vision_transformer_hybrid.py``) as Cells: BiT's ResNetV2 stem, then the ViT.

Chosen when a model is built from a spec with ``backbone="resnetv2"`` (:class:`HybridViT`, a
:class:`~.vit.VisionTransformer` whose patch embedding is :class:`HybridEmbed`), so no other family's
forward pass changes. The Cell tree follows timm's attribute paths, so the parameters carry timm's
names (``patch_embed.backbone.stem.conv.weight``, ``patch_embed.backbone.stages.0.blocks.0.conv1.weight``,
``patch_embed.proj.weight``; see :mod:`vitzoo.resnetv2`).

The input size is fixed (timm's ``HybridEmbed`` measures its feature map once), so every layer's
"SAME" padding is a constant computed when the layer is built: graph mode sees plain integers.

Example:
    >>> import numpy as np, mindspore as ms, vitzoo
    >>> model = vitzoo.create("vit_small_r26_s32_224", img_size=64, depth=1, num_classes=3)
    >>> type(model).__name__, model(ms.Tensor(np.zeros((1, 3, 64, 64), np.float32))).shape
    ('HybridViT', (1, 3))
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Mapping

import numpy as np
from mindspore import Tensor, nn, ops

from vitzoo import resnetv2
from vitzoo.spec import ViTSpec

from .layers import PatchProj, to_parameter
from .vit import VisionTransformer

State = Mapping[str, np.ndarray]


class StdConv2dSame(nn.Cell):
    """timm's ``StdConv2dSame``: each filter standardised (zero mean, unit variance, eps 1e-8), TF "SAME" padding."""

    def __init__(self, state: State, name: str, stride: int, size: int) -> None:
        super().__init__()
        self.weight = to_parameter(state[name + ".weight"])
        out, _, k, _ = self.weight.shape
        before, after = resnetv2.same_pad(size, k, stride)
        self.has_pad = before + after > 0
        # the Pad primitive and tuple sizes: what MindSpore's ONNX exporter maps faithfully (not PadV3, nor Conv2D's own pad)
        self.pad = ops.Pad(((0, 0), (0, 0), (before, after), (before, after)))
        self.conv = ops.Conv2D(out_channel=int(out), kernel_size=(int(k), int(k)), stride=(stride, stride), pad_mode="valid")
        self.out_size = math.ceil(size / stride)

    def construct(self, x: Tensor) -> Tensor:
        if self.has_pad:
            x = self.pad(x)
        w = self.weight
        mean = w.mean(axis=(1, 2, 3), keep_dims=True)
        centred = w - mean
        var = (centred * centred).mean(axis=(1, 2, 3), keep_dims=True)
        return self.conv(x, centred / ops.sqrt(var + resnetv2.STD_CONV_EPS))


class GroupNormAct(nn.Cell):
    """timm's ``GroupNormAct``: GroupNorm (32 groups, eps 1e-5) with ``weight``/``bias``, then ReLU where ``act``."""

    def __init__(self, state: State, name: str, act: bool) -> None:
        super().__init__()
        self.weight = to_parameter(state[name + ".weight"])
        self.bias = to_parameter(state[name + ".bias"])
        self.act = act

    def construct(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        g = x.reshape(b, resnetv2.GROUP_NORM_GROUPS, -1)
        mean = g.mean(axis=-1, keep_dims=True)
        centred = g - mean
        var = (centred * centred).mean(axis=-1, keep_dims=True)
        y = (centred / ops.sqrt(var + resnetv2.GROUP_NORM_EPS)).reshape(b, c, h, w)
        y = y * self.weight.reshape(1, c, 1, 1) + self.bias.reshape(1, c, 1, 1)
        return ops.relu(y) if self.act else y


class Stem(nn.Cell):
    """``conv`` (7×7, stride 2) → ``norm`` + ReLU → 3×3 stride-2 max pool, all SAME-padded."""

    def __init__(self, state: State, name: str, size: int) -> None:
        super().__init__()
        self.conv = StdConv2dSame(state, name + "conv", 2, size)
        self.norm = GroupNormAct(state, name + "norm", True)
        # MindSpore's "same" is TF's (the odd pixel after); the padding never wins a window, as timm's -inf
        self.pool = ops.MaxPool(kernel_size=3, strides=2, pad_mode="same")
        self.out_size = math.ceil(self.conv.out_size / 2)

    def construct(self, x: Tensor) -> Tensor:
        return self.pool(self.norm(self.conv(x)))


class Downsample(nn.Cell):
    """timm's ``DownsampleConv`` (``preact=False``): 1×1 conv with the block's stride, then GroupNorm."""

    def __init__(self, state: State, name: str, stride: int, size: int) -> None:
        super().__init__()
        self.conv = StdConv2dSame(state, name + ".conv", stride, size)
        self.norm = GroupNormAct(state, name + ".norm", False)

    def construct(self, x: Tensor) -> Tensor:
        return self.norm(self.conv(x))


class Bottleneck(nn.Cell):
    """timm's ResNetV2 ``Bottleneck`` (not pre-activation): 1×1 → 3×3 (stride) → 1×1, each normed, ReLU after the sum."""

    def __init__(self, state: State, name: str, stride: int, size: int) -> None:
        super().__init__()
        self.has_downsample = name + ".downsample.conv.weight" in state
        if self.has_downsample:
            self.downsample = Downsample(state, name + ".downsample", stride, size)
        self.conv1 = StdConv2dSame(state, name + ".conv1", 1, size)
        self.norm1 = GroupNormAct(state, name + ".norm1", True)
        self.conv2 = StdConv2dSame(state, name + ".conv2", stride, size)
        self.norm2 = GroupNormAct(state, name + ".norm2", True)
        self.conv3 = StdConv2dSame(state, name + ".conv3", 1, self.conv2.out_size)
        self.norm3 = GroupNormAct(state, name + ".norm3", False)
        self.out_size = self.conv2.out_size

    def construct(self, x: Tensor) -> Tensor:
        shortcut = self.downsample(x) if self.has_downsample else x
        y = self.norm2(self.conv2(self.norm1(self.conv1(x))))
        return ops.relu(self.norm3(self.conv3(y)) + shortcut)


class Stage(nn.Cell):
    """timm's ``ResNetStage``: its ``blocks``, the first with the stage's stride and the downsample."""

    def __init__(self, state: State, name: str, depth: int, stride: int, size: int) -> None:
        super().__init__()
        blocks = []
        for b in range(depth):
            blocks.append(Bottleneck(state, f"{name}.blocks.{b}", stride if b == 0 else 1, size))
            size = blocks[-1].out_size
        self.blocks = nn.SequentialCell(blocks)
        self.out_size = size

    def construct(self, x: Tensor) -> Tensor:
        return self.blocks(x)


class ResNetV2(nn.Cell):
    """timm's ``ResNetV2(preact=False, stem_type='same')`` without its head: ``stem`` then ``stages``."""

    def __init__(self, spec: ViTSpec, state: State) -> None:
        super().__init__()
        self.stem = Stem(state, "patch_embed.backbone.stem.", spec.img_size)
        size, stages = self.stem.out_size, []
        for s, (depth, stride) in enumerate(zip(spec.backbone_layers, resnetv2.stage_strides(spec.backbone_layers))):
            stages.append(Stage(state, f"patch_embed.backbone.stages.{s}", depth, stride, size))
            size = stages[-1].out_size
        self.stages = nn.SequentialCell(stages)

    def construct(self, x: Tensor) -> Tensor:
        return self.stages(self.stem(x))


class HybridEmbed(nn.Cell):
    """timm's ``HybridEmbed``: ``backbone`` (ResNetV2, or its stem alone) → ``proj`` (a patch convolution) → tokens."""

    def __init__(self, spec: ViTSpec, state: State) -> None:
        super().__init__()
        if spec.backbone_layers:
            self.backbone = ResNetV2(spec, state)
        else:  # timm's create_resnetv2_stem: conv, norm and pool right under backbone
            self.backbone = Stem(state, "patch_embed.backbone.", spec.img_size)
        # the projection is the plain ViT's patch GEMM over the feature map (its channels stand for the image's)
        proj_spec = SimpleNamespace(patch_size=spec.patch_size, in_chans=resnetv2.out_channels(spec.backbone_layers), embed_dim=spec.embed_dim)
        self.proj = PatchProj(state, "patch_embed.proj", proj_spec)  # type: ignore[arg-type]

    def construct(self, x: Tensor) -> Tensor:
        return self.proj(self.backbone(x))


class HybridViT(VisionTransformer):
    """timm's ``VisionTransformer`` with ``HybridEmbed``: the tokens come from the backbone's feature map."""

    def _make_patch_embed(self, spec: ViTSpec, state: State) -> nn.Cell:
        return HybridEmbed(spec, state)

    def _patch_grid(self, height: int, width: int) -> tuple:
        """The token grid: the fixed input's feature map cut into patches (the backbone's strides included)."""
        return self.grid_size, self.grid_size
