"""timm's DeepSeek-V4 ViT on the NumPy backend: token and post-pool RMSNorms, the zero-padded channel-major aligner.

The twin of :mod:`vitzoo.backends.mindspore.model.deepseek`; the aligner's unshuffle is
:func:`vitzoo.deepseek.unshuffle_padded`.

Example:
    >>> import numpy as np, vitzoo
    >>> model = vitzoo.create("deepseek_vit_412m_align", backend="numpy", depth=1, embed_dim=64, num_heads=4, mlp_dim=176,
    ...                       merge_dim=32, num_classes=3)
    >>> model(np.zeros((1, 3, 56, 28), np.float32)).shape
    (1, 3)
"""

from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np

from vitzoo import deepseek, features

from .ops import ACTIVATIONS


class DeepseekForward:
    """The DeepSeek ViT's forward pass over :class:`~vitzoo.backends.numpy.NumpyViT`'s layers (``NumpyDeepseekViT`` combines them).

    A mixin, so this module needs nothing from the package that builds the model (no import loop).
    """

    spec: Any
    state: dict

    def _final_norm(self, x: np.ndarray) -> np.ndarray:
        return self._norm(x, "norm")  # the token norm stays even though the pooled features are normed again

    def forward_features(self, x: np.ndarray) -> np.ndarray:
        """The normed patch tokens ``[B, rows·cols, D]``, or with the aligner its tokens."""
        rows, cols = features.check_input(self.spec, np.shape(x))
        rope = self._positions(x)
        x = self._embed_tokens(x)
        for i in range(self.spec.depth):
            x = self._block(x, f"blocks.{i}.", rope)
        return self._align(self._final_norm(x), rows, cols)

    def forward_intermediates(self, x: np.ndarray, indices: Union[int, Sequence[int], None] = None, return_prefix_tokens: bool = False,
                              norm: bool = False, stop_early: bool = False, output_fmt: str = "NCHW", intermediates_only: bool = False,
                              output_dict: bool = False) -> Any:
        """The blocks' patch tokens (through the token norm with ``norm``); final as :meth:`forward_features`."""
        s = self.spec
        nchw = features.check_output_fmt(output_fmt)
        take, max_index = features.take_indices(s.depth, indices)
        rows, cols = features.check_input(s, np.shape(x))
        rope = self._positions(x)
        x = self._embed_tokens(x)
        spatial = []
        for i in range(max_index + 1 if stop_early else s.depth):
            x = self._block(x, f"blocks.{i}.", rope)
            if i in take:
                y = self._final_norm(x) if norm else x
                spatial.append(y.reshape(len(y), rows, cols, -1).transpose(0, 3, 1, 2) if nchw else y)
        final = self._align(self._final_norm(x), rows, cols)
        return features.pack_intermediates(final, spatial, [], False, return_prefix_tokens, intermediates_only, output_dict)

    def forward_head(self, x: np.ndarray, pre_logits: bool = False) -> np.ndarray:
        """Mean pool, an RMSNorm without weight, the head; ``_enc`` models (``output_tokens``) return the tokens."""
        s = self.spec
        if s.output_tokens:
            return x
        x = x.mean(axis=1)
        x = x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + np.float32(s.norm_eps))
        return self._classify(x, pre_logits)

    def _align(self, x: np.ndarray, rows: int, cols: int) -> np.ndarray:
        """timm's ``DeepseekVitAligner`` (exact GELU), or the tokens as they are without it."""
        k = self.spec.merge_size
        if not k:
            return x
        x = deepseek.unshuffle_padded(x.reshape(len(x), rows, cols, -1), k)
        return self._linear(ACTIVATIONS["exact"](self._linear(x, "aligner.fc1")), "aligner.fc2")
