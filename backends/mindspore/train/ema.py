"""Model EMA (``--model-ema``, ``--model-ema-decay``, ``--model-ema-warmup``): timm's ``ModelEmaV3`` for MindSpore.

After every optimizer update ``n`` (counted from 1 over the whole run, as timm's ``num_updates``) each
EMA tensor moves toward the model's: ``ema.lerp_(model, 1 - decay(n))`` with timm's ``get_decay``:
``0`` for the first update (the EMA starts as a copy), then ``decay``, or with warm-up
``max(min(1 - (1 + k) ** -2/3, decay), 0)`` for ``k = n - 1``. All parameters are averaged (frozen ones too),
in float32, by one compiled graph.

The trainer evaluates the EMA weights each epoch beside the raw ones (by swapping them into the model
and back, bit for bit), writes them as ``ema.safetensors`` (and ``best_ema.safetensors``), and keeps the
EMA tensors in the resumable state (``ema/NAME``), so ``--resume`` continues them bit-identically.

Example:
    >>> ModelEma.decay_at(1, 0.9998, warmup=False), ModelEma.decay_at(2, 0.9998, warmup=False)
    (0.0, 0.9998)
    >>> round(ModelEma.decay_at(11, 0.9998, warmup=True), 4)
    0.7936
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from vitzoo.configs import TrainConfig

EMA = "ema/"  # prefix of the EMA tensors in the resumable state file
EMA_FILE, BEST_EMA_FILE = "ema.safetensors", "best_ema.safetensors"


class _Lerp(nn.Cell):
    """``ema += weight * (model - ema)`` for every tensor, in one graph (torch's ``lerp`` for weight < 0.5)."""

    def __init__(self, shadow: ms.ParameterTuple, params: ms.ParameterTuple) -> None:
        super().__init__()
        self.shadow, self.params = shadow, params

    def construct(self, weight: ms.Tensor) -> ms.Tensor:
        for e, p in zip(self.shadow, self.params):
            p32 = ops.cast(p, ms.float32)
            # torch.lerp: start + w·(end − start) for w < 0.5, end − (end − start)·(1 − w) otherwise (exact at w = 1)
            new = ops.select(weight < 0.5, e + weight * (p32 - e), p32 - (p32 - e) * (1.0 - weight))
            ops.assign(e, new)
        return weight


class ModelEma:
    """The EMA copy of a model's parameters (canonical names), updated as timm's ``ModelEmaV3``."""

    def __init__(self, model: Any, decay: float = 0.9998, warmup: bool = False) -> None:
        self.decay, self.warmup = float(decay), bool(warmup)
        self.params = list(model.get_parameters())
        self.names = [p.name for p in self.params]
        shadow = [ms.Parameter(ms.Tensor(p.asnumpy().astype(np.float32)), name=EMA + p.name, requires_grad=False) for p in self.params]
        self.shadow = ms.ParameterTuple(shadow)
        self._update = ms.jit(_Lerp(self.shadow, ms.ParameterTuple(self.params)).construct)

    @staticmethod
    def decay_at(step: int, decay: float, warmup: bool, warmup_gamma: float = 1.0, warmup_power: float = 2 / 3) -> float:
        """timm's ``ModelEmaV3.get_decay(step)`` (``update_after_step=0``, ``min_decay=0``)."""
        step = max(0, step - 1)
        if step <= 0:
            return 0.0
        if warmup:
            return max(min(1 - (1 + step / warmup_gamma) ** -warmup_power, decay), 0.0)
        return decay

    def update(self, step: int) -> None:
        """Fold the model's current weights in, for the ``step``-th optimizer update (1-based)."""
        self._update(ms.Tensor(1.0 - self.decay_at(step, self.decay, self.warmup), ms.float32))

    def state(self) -> dict[str, np.ndarray]:
        """The EMA tensors by canonical name."""
        return {name: e.asnumpy() for name, e in zip(self.names, self.shadow)}

    def load(self, state: dict[str, np.ndarray]) -> None:
        """Put saved EMA tensors back (from :meth:`state`)."""
        from vitzoo.errors import VitzooError

        if set(state) != set(self.names):
            raise VitzooError("The saved EMA weights do not fit this model; resume with the same model and --model-ema.")
        for name, e in zip(self.names, self.shadow):
            ops.assign(e, ms.Tensor(state[name]))

    @contextlib.contextmanager
    def swapped_in(self) -> Iterator[None]:
        """Within the block the model holds the EMA weights; its own come back bit for bit afterwards."""
        own = [p.asnumpy().copy() for p in self.params]
        for p, e in zip(self.params, self.shadow):
            ops.assign(p, ops.cast(e, p.dtype))
        try:
            yield
        finally:
            for p, value in zip(self.params, own):
                ops.assign(p, ms.Tensor(value))


def make_ema(model: Any, cfg: TrainConfig, saved: Optional[dict[str, np.ndarray]]) -> Optional[ModelEma]:
    """The run's EMA (``None`` without ``--model-ema``), with the saved ``ema/`` tensors popped from ``saved`` on resume."""
    ema_tensors = {k[len(EMA):]: saved.pop(k) for k in [k for k in (saved or {}) if k.startswith(EMA)]} if saved is not None else {}
    if not cfg.model_ema:
        return None
    ema = ModelEma(model, cfg.model_ema_decay, cfg.model_ema_warmup)
    if saved is not None:
        if not ema_tensors:
            from vitzoo.errors import TrainError

            raise TrainError("This run was started without --model-ema, so it has no EMA to continue; resume it without --model-ema, or start a new run.")
        ema.load(ema_tensors)
    return ema
