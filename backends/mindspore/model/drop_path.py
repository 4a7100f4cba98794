"""Stochastic depth (``--drop-path``): timm's ``DropPath`` on the two residual branches of every block.

A training option, not part of the architecture: :class:`DropPath` has no parameters, so a model with
drop path saves and loads exactly the same checkpoint as one without. Every :class:`~.layers.Block`
holds ``drop_path1``/``drop_path2`` cells at rate 0 (identity); :func:`set_drop_path` gives them timm's
linearly increasing rates before the training step is compiled (CaiT, XCiT: one rate for every main block, as timm's
``Cait`` and ``Xcit``; XCiT's blocks have a third branch, ``drop_path3``).

Per sample, a branch is kept with probability ``keep = 1 - rate`` and then scaled by ``1 / keep``
(timm's ``drop_path(..., scale_by_keep=True)``); in eval mode (``set_train(False)``) it is the identity.
The keep mask comes from MindSpore's seeded ``uniform`` inside the compiled graph, one random stream per
cell (seeded from the run's seed, the rank and the cell's position), so the fused C++ kernels of the
branches are untouched: the mask multiplies their output.

Example:
    >>> drop_path_rates(0.1, 3)
    [0.0, 0.05000000074505806, 0.10000000149011612]
    >>> import numpy as np, mindspore as ms
    >>> cell = DropPath(0.5, seed=1)
    >>> x = ms.Tensor(np.ones((2, 3), np.float32))
    >>> cell.set_train(False)(x).asnumpy().tolist()  # eval: the identity
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mindspore import Tensor, nn, ops

from vitzoo.errors import TrainError

_SEED_SPAN = 1_000  # seeds of one rank's cells: seed * span * ranks ... ; 2 cells per block, < 500 blocks


def drop_path_rates(rate: float, depth: int) -> list[float]:
    """timm's per-block rates: ``[x.item() for x in torch.linspace(0, rate, depth)]``, the same float32 numbers.

    torch's float32 ``linspace`` takes ``step = float32(rate) / (depth - 1)`` and computes
    ``i * step`` for the first half, ``rate - (depth - 1 - i) * step`` for the rest, each as one fused
    multiply-add (rounded once): a float64 product of the float32 values, rounded to float32, is that.
    Checked against torch for many rates and depths in tests/train/test_recipes_drop_path.py.
    """
    if depth == 1:
        return [0.0]
    end = np.float32(rate)
    step = np.float64(end / np.float32(depth - 1))
    half = depth // 2
    out = [i * step if i < half else np.float64(end) - (depth - 1 - i) * step for i in range(depth)]
    return [float(np.float32(v)) for v in out]


class DropPath(nn.Cell):
    """Drop the whole branch of a sample with probability ``rate`` in training, scale the kept ones by ``1/(1-rate)``."""

    def __init__(self, rate: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        self.rate = float(rate)
        self.keep = 1.0 - self.rate
        self.seed = int(seed)  # a graph constant: each cell keeps its own random stream

    def construct(self, x: Tensor) -> Tensor:
        if self.rate == 0.0 or not self.training:  # constants in a compiled graph: no op at all
            return x
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        u = ops.uniform(shape, Tensor(0.0, x.dtype), Tensor(1.0, x.dtype), seed=self.seed)
        # bernoulli(keep) / keep, as timm's random_tensor.div_(keep_prob): kept samples are x * (1/keep) exactly
        mask = ops.cast(u < self.keep, x.dtype) / self.keep
        return x * mask

    def extend_repr(self) -> str:
        return f"rate={self.rate}"


def set_drop_path(model: Any, rate: float, seed: int = 0, rank: int = 0) -> list[float]:
    """Give block ``i`` of ``model`` (both branches) timm's rate ``drop_path_rates(rate, depth)[i]``; returns the rates.

    Call it before the training step is compiled (the rates are graph constants). ``seed`` and ``rank``
    choose the random streams: the same run draws the same masks, and data-parallel ranks draw different
    ones for their different samples (as timm's per-rank seeding does). ``rate=0`` restores the identity.

    Example:
        >>> from vitzoo.spec import ViTSpec
        >>> from vitzoo.init import init_state
        >>> from vitzoo.backends.mindspore.model.vit import VisionTransformer
        >>> spec = ViTSpec(img_size=16, patch_size=8, embed_dim=16, depth=2, num_heads=2, mlp_dim=32)
        >>> set_drop_path(VisionTransformer(spec, init_state(spec)), 0.2)
        [0.0, 0.20000000298023224]
    """
    if not 0.0 <= rate < 1.0:
        raise TrainError(f"--drop-path must be in [0, 1), got {rate!r}.")
    blocks = list(model.blocks)
    # timm's Cait gives every main block the same rate (its class-attention blocks none): the model says so
    uniform = getattr(model, "drop_path_schedule", "linear") == "uniform"
    rates = [float(np.float32(rate))] * len(blocks) if uniform else drop_path_rates(rate, len(blocks))
    base = (int(seed) * 7919 + int(rank) * 104_729) * _SEED_SPAN % (2**31 - _SEED_SPAN)
    for i, (block, r) in enumerate(zip(blocks, rates)):
        block.drop_path1 = DropPath(r, seed=base + 2 * i + 1)  # seed 0 would mean "random" in MindSpore
        block.drop_path2 = DropPath(r, seed=base + 2 * i + 2)
        if hasattr(block, "drop_path3"):  # XCiT's local patch interaction branch (seeds past every block's two)
            block.drop_path3 = DropPath(r, seed=base + 2 * len(blocks) + i + 1)
    return rates
