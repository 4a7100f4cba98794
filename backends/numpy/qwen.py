"""timm's Qwen3 ViT on the NumPy backend: the learned grid resampled with aligned corners, the projector, the plain head norm.

The grid is resampled by NaFlex's code (:func:`vitzoo.naflex.position_grid_numpy`, with the spec's
``pos_interp='bilinear'``, ``pos_antialias=False``, ``pos_align_corners=True``).

Example:
    >>> import numpy as np, vitzoo
    >>> model = vitzoo.create("qwen3_vit_88m_merge", backend="numpy", img_size=64, depth=1, num_classes=3)
    >>> model(np.zeros((1, 3, 64, 32), np.float32)).shape
    (1, 3)
"""

from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np

from vitzoo import features, naflex, qwen

from .ops import ACTIVATIONS


class QwenForward:
    """The Qwen3 ViT's forward pass over :class:`~vitzoo.backends.numpy.NumpyViT`'s layers (``NumpyQwen3ViT`` combines them).

    A mixin, so this module needs nothing from the package that builds the model (no import loop).
    """

    spec: Any
    state: dict

    def _pos_embed(self, rows: int, cols: int) -> np.ndarray:
        return naflex.position_grid_numpy(self.spec, self.state, rows, cols)[None]  # [1, rows·cols, D]

    def forward_features(self, x: np.ndarray) -> np.ndarray:
        """The patch tokens ``[B, rows·cols, D]`` (no final norm), or with the projector its tokens."""
        rows, cols = features.check_input(self.spec, np.shape(x))
        rope = self._positions(x)
        x = self._embed_tokens(x)
        for i in range(self.spec.depth):
            x = self._block(x, f"blocks.{i}.", rope)
        return self._merge(x, rows, cols)

    def forward_intermediates(self, x: np.ndarray, indices: Union[int, Sequence[int], None] = None, return_prefix_tokens: bool = False,
                              norm: bool = False, stop_early: bool = False, output_fmt: str = "NCHW", intermediates_only: bool = False,
                              output_dict: bool = False) -> Any:
        """The blocks' patch tokens (``norm`` changes nothing: there is no final norm, as timm's); final as :meth:`forward_features`."""
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
                spatial.append(x.reshape(len(x), rows, cols, -1).transpose(0, 3, 1, 2) if nchw else x)
        return features.pack_intermediates(self._merge(x, rows, cols), spatial, [], False, return_prefix_tokens, intermediates_only, output_dict)

    def forward_head(self, x: np.ndarray, pre_logits: bool = False) -> np.ndarray:
        """Mean pool, a LayerNorm without weight and bias, the head; ``_enc`` models (``output_tokens``) return the tokens."""
        s = self.spec
        if s.output_tokens:
            return x
        x = x.mean(axis=1)
        centred = x - x.mean(axis=-1, keepdims=True)
        x = centred / np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + np.float32(s.norm_eps))
        return self._classify(x, pre_logits)

    def _merge(self, x: np.ndarray, rows: int, cols: int) -> np.ndarray:
        """timm's ``Qwen3VitPatchMerger`` (exact GELU), or the tokens as they are without it."""
        k = self.spec.merge_size
        if not k:
            return x
        x = qwen.unshuffle(self._norm(x, "merger.norm").reshape(len(x), rows, cols, -1), k)
        h = self._linear(x, "merger.fc1")
        return self._linear(ACTIVATIONS["exact"](h), "merger.fc2")  # the projector's GELU is exact, whatever the blocks use
