"""AIMv2's native-resolution positions as a Cell: the 2-D sin-cos embedding of each input's patch grid.

Chosen from the spec when a model is built (``spec.sincos_pos``). The table is computed with MindSpore
operators from the grid (static shapes: constants in a graph), mirroring :mod:`vitzoo.sincos`: width terms
first, then height terms, each ``[sin | cos]``.

Example:
    >>> from vitzoo.spec import ViTSpec
    >>> spec = ViTSpec(embed_dim=32, num_heads=2, depth=1, mlp_dim=64, class_token=False, global_pool="avg",
    ...                abs_pos_embed=False, sincos_pos=True)
    >>> tuple(SinCosPositions(spec)(2, 3).shape)
    (6, 32)
"""

from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops

from vitzoo import sincos
from vitzoo.spec import ViTSpec


class SinCosPositions(nn.Cell):
    """``(rows, cols) → [rows·cols, D]``: transformers' ``build_2d_sinusoidal_position_embedding``, halves swapped."""

    def __init__(self, spec: ViTSpec) -> None:
        super().__init__()
        self.omega = Tensor(sincos.frequencies(spec.embed_dim).astype(np.float32))
        self.quarter = spec.embed_dim // 4

    def construct(self, rows: int, cols: int) -> Tensor:
        q = self.quarter
        r = ops.arange(0, rows, dtype=ms.float32).reshape(rows, 1) * self.omega  # [rows, D/4]
        c = ops.arange(0, cols, dtype=ms.float32).reshape(cols, 1) * self.omega  # [cols, D/4]
        a_row = ops.broadcast_to(r.reshape(rows, 1, q), (rows, cols, q)).reshape(rows * cols, q)
        a_col = ops.broadcast_to(c.reshape(1, cols, q), (rows, cols, q)).reshape(rows * cols, q)
        return ops.cat((ops.sin(a_col), ops.cos(a_col), ops.sin(a_row), ops.cos(a_row)), 1)
