"""MobileCLIP's convolutional stem (``backbone="convstem"``, :mod:`vitzoo.conv_stem`) on the NumPy backend.

Example:
    >>> import numpy as np, vitzoo
    >>> model = vitzoo.create("vit_base_mci_224", backend="numpy", img_size=32, depth=1, embed_dim=64, num_heads=2, mlp_dim=128, num_classes=3)
    >>> model(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vitzoo import conv_stem, features

from .ops import ACTIVATIONS


def patch_conv(x: np.ndarray, weight: np.ndarray, bias: Any = None) -> np.ndarray:
    """A ``k``×``k`` stride-``k`` convolution of a channel-last map ``[B, H, W, C]`` (torch's weight layout)."""
    b, h, w, c = x.shape
    out, _, k, _ = weight.shape
    gh, gw = h // k, w // k
    patches = x[:, : gh * k, : gw * k].reshape(b, gh, k, gw, k, c).transpose(0, 1, 3, 5, 2, 4).reshape(b, gh, gw, c * k * k)
    y = patches @ weight.reshape(out, -1).T
    return y if bias is None else y + bias


class ConvStemForward:
    """The stem as the patch embedding over :class:`~vitzoo.backends.numpy.NumpyViT`'s layers."""

    spec: Any
    state: dict

    def _embed_tokens(self, x: np.ndarray) -> np.ndarray:
        """Stem → tokens, then the class token and ``pos_embed`` as the plain ViT's."""
        s, w = self.spec, self.state
        x = np.asarray(x, dtype=np.float32)
        features.check_input(s, x.shape)
        y = x.transpose(0, 2, 3, 1)
        for i in range(len(conv_stem.KERNELS)):
            p = f"{conv_stem.PREFIX}{i}."
            y = patch_conv(y, w[p + "conv.weight"], w.get(p + "conv.bias"))
            if p + "bn.weight" in w:  # eval BatchNorm: the running statistics
                scale = w[p + "bn.weight"] / np.sqrt(w[p + "bn.running_var"] + np.float32(conv_stem.BN_EPS))
                y = ACTIVATIONS["exact"](y * scale + (w[p + "bn.bias"] - w[p + "bn.running_mean"] * scale))
        tokens = y.reshape(len(x), -1, s.embed_dim).astype(np.float32)
        prefix = [np.broadcast_to(w[n], (len(x), w[n].shape[1], s.embed_dim)) for n in ("cls_token", "reg_token") if n in w]
        if s.pos_embed_prefix:
            return np.concatenate([*prefix, tokens], axis=1) + w["pos_embed"]
        return np.concatenate([*prefix, tokens + w["pos_embed"]], axis=1)
