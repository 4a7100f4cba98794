"""timm's hybrid ViT on the NumPy backend: BiT's ResNetV2 stem (:mod:`vitzoo.resnetv2`), then the ViT.

Example:
    >>> import numpy as np, vitzoo
    >>> model = vitzoo.create("vit_tiny_r_s16_p8_224", backend="numpy", img_size=64, depth=1, num_classes=3)
    >>> model(np.zeros((1, 3, 64, 64), np.float32)).shape
    (1, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vitzoo import features, resnetv2


def std_conv_same(x: np.ndarray, weight: np.ndarray, stride: int) -> np.ndarray:
    """timm's ``StdConv2dSame`` on ``[B, C, H, W]``: standardised filters, TF "SAME" padding, as one GEMM."""
    out, _, k, _ = weight.shape
    mean = weight.mean(axis=(1, 2, 3), keepdims=True)
    var = ((weight - mean) ** 2).mean(axis=(1, 2, 3), keepdims=True)
    w = ((weight - mean) / np.sqrt(var + np.float32(resnetv2.STD_CONV_EPS))).astype(np.float32)
    return conv(x, w, stride, resnetv2.same_pad(x.shape[2], k, stride), resnetv2.same_pad(x.shape[3], k, stride))


def conv(x: np.ndarray, w: np.ndarray, stride: int, pad_h: tuple, pad_w: tuple, value: float = 0.0) -> np.ndarray:
    """A plain convolution (no bias) after padding ``pad_h``/``pad_w`` with ``value``."""
    out, c, k, _ = w.shape
    x = np.pad(x, ((0, 0), (0, 0), pad_h, pad_w), constant_values=value)
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]  # [B, C, OH, OW, k, k]
    b, _, oh, ow = windows.shape[:4]
    cols = np.ascontiguousarray(windows.transpose(0, 2, 3, 1, 4, 5)).reshape(b * oh * ow, c * k * k)
    return (cols @ w.reshape(out, -1).T).reshape(b, oh, ow, out).transpose(0, 3, 1, 2)


def group_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, act: bool) -> np.ndarray:
    b, c, h, w = x.shape
    g = x.reshape(b, resnetv2.GROUP_NORM_GROUPS, -1)
    g = (g - g.mean(axis=-1, keepdims=True)) / np.sqrt(g.var(axis=-1, keepdims=True) + np.float32(resnetv2.GROUP_NORM_EPS))
    y = g.reshape(b, c, h, w) * weight.reshape(1, c, 1, 1) + bias.reshape(1, c, 1, 1)
    return np.maximum(y, 0.0) if act else y


def max_pool_same(x: np.ndarray) -> np.ndarray:
    """timm's ``MaxPool2dSame`` (3×3, stride 2), padded with -inf."""
    x = np.pad(x, ((0, 0), (0, 0), resnetv2.same_pad(x.shape[2], 3, 2), resnetv2.same_pad(x.shape[3], 3, 2)), constant_values=-np.inf)
    return np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))[:, :, ::2, ::2].max(axis=(-1, -2))


class HybridForward:
    """The hybrid patch embedding over :class:`~vitzoo.backends.numpy.NumpyViT`'s layers (``NumpyHybrid`` is the two combined)."""

    spec: Any
    state: dict

    def _backbone(self, x: np.ndarray) -> np.ndarray:
        s, w = self.spec, self.state
        p = resnetv2.prefix(s.backbone_layers)
        x = group_norm(std_conv_same(x, w[p + "conv.weight"], 2), w[p + "norm.weight"], w[p + "norm.bias"], True)
        x = max_pool_same(x)
        for i, (depth, stride) in enumerate(zip(s.backbone_layers, resnetv2.stage_strides(s.backbone_layers))):
            for j in range(depth):
                x = self._bottleneck(x, f"patch_embed.backbone.stages.{i}.blocks.{j}.", stride if j == 0 else 1)
        return x

    def _bottleneck(self, x: np.ndarray, p: str, stride: int) -> np.ndarray:
        w = self.state

        def conv_norm(y: np.ndarray, name: str, norm: str, s: int, act: bool) -> np.ndarray:
            return group_norm(std_conv_same(y, w[p + name + ".weight"], s), w[p + norm + ".weight"], w[p + norm + ".bias"], act)

        shortcut = conv_norm(x, "downsample.conv", "downsample.norm", stride, False) if p + "downsample.conv.weight" in w else x
        y = conv_norm(conv_norm(x, "conv1", "norm1", 1, True), "conv2", "norm2", stride, True)
        return np.maximum(conv_norm(y, "conv3", "norm3", 1, False) + shortcut, 0.0)

    def _embed_tokens(self, x: np.ndarray) -> np.ndarray:
        """Backbone → the patch projection (bias) → tokens, then the class token and ``pos_embed`` as the plain ViT's."""
        s, w = self.spec, self.state
        x = np.asarray(x, dtype=np.float32)
        features.check_input(s, x.shape)
        fmap = self._backbone(x)
        k = s.patch_size
        rows = cols = s.grid_size
        fmap = fmap[:, :, : rows * k, : cols * k]  # timm's strided projection leaves a remainder out
        tokens = conv(fmap, w["patch_embed.proj.weight"], k, (0, 0), (0, 0)) + w["patch_embed.proj.bias"].reshape(1, -1, 1, 1)
        x = tokens.reshape(len(x), s.embed_dim, -1).transpose(0, 2, 1)
        prefix = [np.broadcast_to(w[n], (len(x), w[n].shape[1], s.embed_dim)) for n in ("cls_token", "reg_token") if n in w]
        if s.pos_embed_prefix:
            return np.concatenate([*prefix, x], axis=1) + w["pos_embed"]
        return np.concatenate([*prefix, x + w["pos_embed"]], axis=1)
