"""The Qwen3 ViT's own arithmetic (timm's ``qwen3_vit.py``), framework-agnostic, in NumPy.

What differs from the other families and is computed here for every backend:

- the learned ``pos_embed_grid × pos_embed_grid`` position grid is resampled to each input's
  patch grid as timm's ``resample_pos_embed_grid`` does: ``F.interpolate(mode='bilinear',
  align_corners=True)``, no antialias (:data:`vitzoo.qwen_spec.GRID_RESAMPLING`, the spec's ``pos_*`` fields). The
  matrices are NaFlex's (:func:`vitzoo.naflex.resample_pair`), one implementation for both;
- the projector ("merger") concatenates each ``k × k`` block of patch tokens in row-major
  order into one token of ``k²·D`` channels (a pixel unshuffle), blocks in row-major order.

Example:
    >>> import numpy as np
    >>> unshuffle(np.arange(16.0).reshape(1, 4, 4, 1), 2)[0, :, :].tolist()[0]
    [0.0, 1.0, 4.0, 5.0]
    >>> from vitzoo.naflex import interp_matrix  # the grid's matrices: NaFlex's, bilinear with aligned corners
    >>> interp_matrix(3, 5, "bilinear", False, True)[:, 0].round(2).tolist()
    [1.0, 0.5, 0.0, 0.0, 0.0]
"""

from __future__ import annotations

import numpy as np


def unshuffle(x: np.ndarray, k: int) -> np.ndarray:
    """``[B, H, W, C]`` → ``[B, H·W / k², k²·C]``: each ``k × k`` block's tokens concatenated (timm's ``merge``)."""
    b, h, w, c = x.shape
    return x.reshape(b, h // k, k, w // k, k, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, (h // k) * (w // k), k * k * c)
