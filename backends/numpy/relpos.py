"""timm's relative-position ViT and residual post-norm blocks on the NumPy backend.

Example:
    >>> import numpy as np, vitzoo
    >>> model = vitzoo.create("vit_srelpos_small_patch16_224", backend="numpy", img_size=32, depth=1, num_classes=3)
    >>> model(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 3)
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from vitzoo import rel_pos_mlp

from .ops import softmax


class RelPosForward:
    """The relpos blocks over :class:`~vitzoo.backends.numpy.NumpyViT`'s layers (``NumpyRelPos`` is the two combined).

    The bias every block adds to its scores travels where rotary tables would (``rope``): the shared
    MLP's, computed once per forward pass, or ``None`` and each block computes its own.
    """

    spec: Any
    state: dict

    def _positions(self, x: np.ndarray) -> Optional[np.ndarray]:
        s = self.spec
        if not s.rel_pos_shared:
            return None
        return rel_pos_mlp.bias(self.state, "shared_rel_pos.", s.grid_size, s.rel_pos_type, s.num_prefix_tokens)

    def _block(self, x: np.ndarray, p: str, rope: Any = None) -> np.ndarray:
        s, w = self.spec, self.state
        bias = rope
        if s.rel_pos_type != "none" and not s.rel_pos_shared:
            bias = rel_pos_mlp.bias(w, p + "attn.rel_pos.", s.grid_size, s.rel_pos_type, s.num_prefix_tokens)
        if s.res_post_norm:  # timm's ResPostBlock: the norms after the branches
            x = x + self._norm(self._relpos_attention(x, p + "attn.", bias), p + "norm1")
            return x + self._norm(self._mlp(x, p + "mlp."), p + "norm2")
        y = self._relpos_attention(self._norm(x, p + "norm1"), p + "attn.", bias)
        x = x + (y * w[p + "ls1.gamma"] if s.layer_scale else y)
        y = self._mlp(self._norm(x, p + "norm2"), p + "mlp.")
        return x + (y * w[p + "ls2.gamma"] if s.layer_scale else y)

    def _relpos_attention(self, x: np.ndarray, p: str, bias: Optional[np.ndarray]) -> np.ndarray:
        s = self.spec
        b, n, d = x.shape
        qkv = self._linear(x, p + "qkv").reshape(b, n, 3, s.num_heads, s.head_dim).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if s.qk_norm:
            q, k = self._norm(q, p + "q_norm"), self._norm(k, p + "k_norm")
        scores = (q * np.float32(s.head_dim**-0.5)) @ k.transpose(0, 1, 3, 2)
        if bias is not None:
            scores = scores + bias
        return self._linear((softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(b, n, d), p + "proj")
