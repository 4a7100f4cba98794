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

from .hybrid import conv
from .ops import ACTIVATIONS


class ConvStemForward:
    """The stem as the patch embedding over :class:`~vitzoo.backends.numpy.NumpyViT`'s layers."""

    spec: Any
    state: dict

    def _embed_tokens(self, x: np.ndarray) -> np.ndarray:
        """Stem → tokens, then the class token and ``pos_embed`` as the plain ViT's."""
        s, w = self.spec, self.state
        x = np.asarray(x, dtype=np.float32)
        features.check_input(s, x.shape)
        y = x
        for i, k in enumerate(conv_stem.KERNELS):  # each a stride-k convolution of the hybrid ViT's im2col
            p = f"{conv_stem.PREFIX}{i}."
            y = conv(y, w[p + "conv.weight"], k, (0, 0), (0, 0))
            if p + "conv.bias" in w:
                y = y + w[p + "conv.bias"].reshape(1, -1, 1, 1)
            if p + "bn.weight" in w:  # eval BatchNorm: the running statistics
                scale = w[p + "bn.weight"] / np.sqrt(w[p + "bn.running_var"] + np.float32(conv_stem.BN_EPS))
                shift = w[p + "bn.bias"] - w[p + "bn.running_mean"] * scale
                y = ACTIVATIONS["exact"](y * scale.reshape(1, -1, 1, 1) + shift.reshape(1, -1, 1, 1))
        tokens = y.reshape(len(x), s.embed_dim, -1).transpose(0, 2, 1).astype(np.float32)
        prefix = [np.broadcast_to(w[n], (len(x), w[n].shape[1], s.embed_dim)) for n in ("cls_token", "reg_token") if n in w]
        if s.pos_embed_prefix:
            return np.concatenate([*prefix, tokens], axis=1) + w["pos_embed"]
        return np.concatenate([*prefix, tokens + w["pos_embed"]], axis=1)
