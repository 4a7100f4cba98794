"""timm's CaiT on the NumPy backend: talking-heads blocks over the patch tokens, then class attention.

Example:
    >>> import numpy as np, vitzoo
    >>> model = vitzoo.create("cait_xxs24_224", backend="numpy", img_size=32, depth=1, num_classes=3)
    >>> model(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 3)
"""

from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np

from vitzoo import features

from .ops import softmax


class CaitForward:
    """CaiT's forward pass over :class:`~vitzoo.backends.numpy.NumpyViT`'s layers (``NumpyCait`` is the two combined).

    A mixin, so this module needs nothing from the package that builds the model (no import loop).
    """

    spec: Any
    state: dict

    def forward_features(self, x: np.ndarray) -> np.ndarray:
        """Tokens ``[B, 1 + patches, D]`` (class token first) after the final norm."""
        x = self._patch_tokens(x)
        for i in range(self.spec.depth):
            x = self._block(x, f"blocks.{i}.")
        return self._norm(self._class_attend(x), "norm")

    def forward_intermediates(self, x: np.ndarray, indices: Union[int, Sequence[int], None] = None, return_prefix_tokens: bool = False,
                              norm: bool = False, stop_early: bool = False, output_fmt: str = "NCHW", intermediates_only: bool = False,
                              output_dict: bool = False) -> Any:
        """The main blocks' patch tokens (no prefix tokens there, as in timm's ``Cait``); final tokens as :meth:`forward_features`."""
        s = self.spec
        nchw = features.check_output_fmt(output_fmt)
        take, max_index = features.take_indices(s.depth, indices)
        rows, cols = features.check_input(s, np.shape(x))
        x = self._patch_tokens(x)
        spatial = []
        for i in range(max_index + 1 if stop_early else s.depth):
            x = self._block(x, f"blocks.{i}.")
            if i in take:
                y = self._norm(x, "norm") if norm else x
                spatial.append(y.reshape(len(y), rows, cols, -1).transpose(0, 3, 1, 2) if nchw else y)
        final = self._norm(self._class_attend(x), "norm")
        return features.pack_intermediates(final, spatial, [], False, return_prefix_tokens, intermediates_only, output_dict)

    def _patch_tokens(self, x: np.ndarray) -> np.ndarray:
        """Patch tokens plus ``pos_embed``: the parent's embedding with the class token left for later."""
        tokens = self._embed_tokens(x)  # [cls, patches + pos]: pos_embed covers the patches only
        return np.ascontiguousarray(tokens[:, 1:])

    def _block(self, x: np.ndarray, p: str, rope: Any = None) -> np.ndarray:
        w = self.state
        x = x + self._talking_heads(self._norm(x, p + "norm1"), p + "attn.") * w[p + "gamma_1"]
        return x + self._plain_mlp(self._norm(x, p + "norm2"), p + "mlp.") * w[p + "gamma_2"]

    def _talking_heads(self, x: np.ndarray, p: str) -> np.ndarray:
        s, w = self.spec, self.state
        b, n, d = x.shape
        qkv = self._linear(x, p + "qkv").reshape(b, n, 3, s.num_heads, s.head_dim).transpose(2, 0, 3, 1, 4)
        scores = (qkv[0] * np.float32(s.head_dim**-0.5)) @ qkv[1].transpose(0, 1, 3, 2)  # [B, H, N, N]
        mixed = np.einsum("gh,bhnm->bgnm", w[p + "proj_l.weight"], scores) + w[p + "proj_l.bias"][:, None, None]
        attn = np.einsum("gh,bhnm->bgnm", w[p + "proj_w.weight"], softmax(mixed)) + w[p + "proj_w.bias"][:, None, None]
        return self._linear((attn @ qkv[2]).transpose(0, 2, 1, 3).reshape(b, n, d), p + "proj")

    def _class_attend(self, x: np.ndarray) -> np.ndarray:
        s, w = self.spec, self.state
        b, n, d = x.shape
        h, hd = s.num_heads, s.head_dim
        cls = np.broadcast_to(w["cls_token"], (b, 1, d))
        for i in range(s.depth_token_only):
            p = f"blocks_token_only.{i}."
            u = self._norm(np.concatenate([cls, x], axis=1), p + "norm1")
            q = self._linear(u[:, :1], p + "attn.q").reshape(b, 1, h, hd).transpose(0, 2, 1, 3)
            k = self._linear(u, p + "attn.k").reshape(b, n + 1, h, hd).transpose(0, 2, 1, 3)
            v = self._linear(u, p + "attn.v").reshape(b, n + 1, h, hd).transpose(0, 2, 1, 3)
            out = (softmax((q * np.float32(hd**-0.5)) @ k.transpose(0, 1, 3, 2)) @ v).transpose(0, 2, 1, 3).reshape(b, 1, d)
            cls = cls + self._linear(out, p + "attn.proj") * w[p + "gamma_1"]
            cls = cls + self._plain_mlp(self._norm(cls, p + "norm2"), p + "mlp.") * w[p + "gamma_2"]
        return np.concatenate([cls, x], axis=1)
