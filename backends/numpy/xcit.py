"""timm's XCiT on the NumPy backend: convolutional stem, cross-covariance blocks, then class attention.

The order and the arithmetic are those of :mod:`vitzoo.backends.mindspore.model.xcit` (see its doc);
BatchNorm uses the running statistics (the NumPy backend is inference only).

Example:
    >>> import numpy as np, vitzoo
    >>> model = vitzoo.create("xcit_nano_12_p16_224", backend="numpy", img_size=32, depth=1, num_classes=3)
    >>> model(np.zeros((1, 3, 32, 48), np.float32)).shape
    (1, 3)
"""

from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np

from vitzoo import features
from vitzoo.xcit_spec import BN_EPS, fourier_features, patch_stages

from .ops import softmax


class XcitForward:
    """XCiT's forward pass over :class:`~vitzoo.backends.numpy.NumpyViT`'s layers (``NumpyXcit`` is the two combined)."""

    spec: Any
    state: dict

    def forward_features(self, x: np.ndarray) -> np.ndarray:
        """Tokens ``[B, 1 + patches, D]`` (class token first) after the final norm."""
        x, rows, cols = self._patch_tokens(x)
        for i in range(self.spec.depth):
            x = self._xca_block(x, f"blocks.{i}.", rows, cols)
        return self._norm(self._class_attend(x), "norm")

    def forward_intermediates(self, x: np.ndarray, indices: Union[int, Sequence[int], None] = None, return_prefix_tokens: bool = False,
                              norm: bool = False, stop_early: bool = False, output_fmt: str = "NCHW", intermediates_only: bool = False,
                              output_dict: bool = False) -> Any:
        """The blocks' patch tokens (no prefix tokens there, as in timm's ``Xcit``); final tokens as :meth:`forward_features`."""
        s = self.spec
        nchw = features.check_output_fmt(output_fmt)
        take, max_index = features.take_indices(s.depth, indices)
        x, rows, cols = self._patch_tokens(x)
        spatial = []
        for i in range(max_index + 1 if stop_early else s.depth):
            x = self._xca_block(x, f"blocks.{i}.", rows, cols)
            if i in take:
                y = self._norm(x, "norm") if norm else x
                spatial.append(y.reshape(len(y), rows, cols, -1).transpose(0, 3, 1, 2) if nchw else y)
        final = self._norm(self._class_attend(x), "norm")
        return features.pack_intermediates(final, spatial, [], False, return_prefix_tokens, intermediates_only, output_dict)

    def _patch_tokens(self, x: np.ndarray) -> tuple[np.ndarray, int, int]:
        """Image → patch tokens plus the projected Fourier features, and the grid."""
        s, w = self.spec, self.state
        x = np.asarray(x, dtype=np.float32)
        rows, cols = features.check_input(s, x.shape)
        for i in range(len(patch_stages(s))):
            if i:
                x = self._gelu(x)
            p = f"patch_embed.proj.{2 * i}."
            x = self._batch_norm(_conv3x3(x, w[p + "0.weight"], stride=2), p + "1")
        b, d = x.shape[:2]
        tokens = x.reshape(b, d, rows * cols).transpose(0, 2, 1)
        proj = w["pos_embed.token_projection.weight"].reshape(d, -1)
        pos = fourier_features(rows, cols) @ proj.T + w["pos_embed.token_projection.bias"]
        return tokens + pos, rows, cols

    def _batch_norm(self, x: np.ndarray, p: str) -> np.ndarray:
        w = self.state
        scale = w[p + ".weight"] / np.sqrt(w[p + ".running_var"] + np.float32(BN_EPS))
        shift = w[p + ".bias"] - w[p + ".running_mean"] * scale
        return x * scale[:, None, None] + shift[:, None, None]

    def _xca_block(self, x: np.ndarray, p: str, rows: int, cols: int) -> np.ndarray:
        w = self.state
        x = x + self._xca(self._norm(x, p + "norm1"), p + "attn.") * w[p + "gamma1"]
        x = x + self._lpi(self._norm(x, p + "norm3"), p + "local_mp.", rows, cols) * w[p + "gamma3"]
        return x + self._plain_mlp(self._norm(x, p + "norm2"), p + "mlp.") * w[p + "gamma2"]

    def _xca(self, x: np.ndarray, p: str) -> np.ndarray:
        """Cross-covariance attention: softmax over channel pairs of L2-normalised q, k (along tokens), times temperature."""
        s = self.spec
        b, n, d = x.shape
        qkv = self._linear(x, p + "qkv").reshape(b, n, 3, s.num_heads, s.head_dim).transpose(2, 0, 3, 4, 1)  # [3, B, H, hd, N]
        q, k = (t / np.maximum(np.linalg.norm(t, axis=-1, keepdims=True), np.float32(1e-12)) for t in (qkv[0], qkv[1]))
        attn = softmax((q @ k.transpose(0, 1, 3, 2)) * self.state[p + "temperature"])
        return self._linear((attn @ qkv[2]).transpose(0, 3, 1, 2).reshape(b, n, d), p + "proj")

    def _lpi(self, x: np.ndarray, p: str, rows: int, cols: int) -> np.ndarray:
        w = self.state
        b, n, d = x.shape
        y = x.transpose(0, 2, 1).reshape(b, d, rows, cols)
        y = _depthwise3x3(y, w[p + "conv1.weight"], w[p + "conv1.bias"])
        y = self._batch_norm(self._gelu(y), p + "bn")
        y = _depthwise3x3(y, w[p + "conv2.weight"], w[p + "conv2.bias"])
        return y.reshape(b, d, n).transpose(0, 2, 1)

    def _class_attend(self, x: np.ndarray) -> np.ndarray:
        """timm's ``forward_cls`` with XCiT's class-attention blocks (see the MindSpore Cell for the order)."""
        s, w = self.spec, self.state
        b, n, d = x.shape
        h, hd = s.num_heads, s.head_dim
        x = np.concatenate([np.broadcast_to(w["cls_token"], (b, 1, d)), x], axis=1)
        for i in range(s.depth_token_only):
            p = f"cls_attn_blocks.{i}."
            u = self._norm(x, p + "norm1")
            q = self._linear(u[:, :1], p + "attn.q").reshape(b, 1, h, hd).transpose(0, 2, 1, 3)
            k = self._linear(u, p + "attn.k").reshape(b, n + 1, h, hd).transpose(0, 2, 1, 3)
            v = self._linear(u, p + "attn.v").reshape(b, n + 1, h, hd).transpose(0, 2, 1, 3)
            out = (softmax((q * np.float32(hd**-0.5)) @ k.transpose(0, 1, 3, 2)) @ v).transpose(0, 2, 1, 3).reshape(b, 1, d)
            x = x + np.concatenate([self._linear(out, p + "attn.proj"), u[:, 1:]], axis=1) * w[p + "gamma1"]
            x = self._norm(x, p + "norm2") if s.tokens_norm else np.concatenate([self._norm(x[:, :1], p + "norm2"), x[:, 1:]], axis=1)
            cls = x[:, :1]
            x = np.concatenate([cls + self._plain_mlp(cls, p + "mlp.") * w[p + "gamma2"], x[:, 1:] * np.float32(2)], axis=1)
        return x


def _conv3x3(x: np.ndarray, weight: np.ndarray, stride: int) -> np.ndarray:
    """A 3×3 convolution with padding 1 (no bias) as one GEMM over the im2col patches."""
    b, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))[:, :, ::stride, ::stride]  # [B, C, H', W', 3, 3]
    rows, cols = windows.shape[2:4]
    cols_mat = windows.transpose(0, 2, 3, 1, 4, 5).reshape(b * rows * cols, c * 9)
    out = cols_mat @ weight.reshape(weight.shape[0], -1).T
    return np.ascontiguousarray(out.reshape(b, rows, cols, -1).transpose(0, 3, 1, 2))


def _depthwise3x3(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A depthwise 3×3 convolution with padding 1: the sum of nine shifted, per-channel scaled copies."""
    h, w = x.shape[2:]
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros_like(x)
    for i in range(3):
        for j in range(3):
            out += padded[:, :, i : i + h, j : j + w] * weight[:, 0, i, j][:, None, None]
    return out + bias[:, None, None]
