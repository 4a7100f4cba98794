"""The DeepSeek-V4 ViT aligner's token unshuffle on NumPy arrays (the MindSpore twin: :class:`AlignerUnshuffle`).

timm's ``DeepseekVitAligner`` pads the patch grid with zero rows and columns on the bottom/right up to
multiples of ``k``, then concatenates each ``k × k`` block channel-major: ``(C, kh, kw)``, the order
of ``F.unfold`` in DeepSeek's own code (the Qwen3 ViT's merger concatenates ``(kh, kw, C)``).

Example:
    >>> import numpy as np
    >>> unshuffle_padded(np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2), 3).shape
    (1, 1, 18)
"""

from __future__ import annotations

import numpy as np


def unshuffle_padded(x: np.ndarray, k: int) -> np.ndarray:
    """``[B, H, W, C]`` → ``[B, ⌈H/k⌉·⌈W/k⌉, C·k²]``, zero-padded bottom/right, channel-major within each block."""
    b, h, w, c = x.shape
    x = np.pad(x, ((0, 0), (0, -h % k), (0, -w % k), (0, 0)))
    rows, cols = x.shape[1] // k, x.shape[2] // k
    return x.reshape(b, rows, k, cols, k, c).transpose(0, 1, 3, 5, 2, 4).reshape(b, rows * cols, c * k * k)
