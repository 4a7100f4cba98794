"""What a training run needs to continue exactly where it stopped, and stopping cleanly on a signal.

The whole resumable state is one file, ``last.optim.safetensors``, written atomically:
the model weights (``model/NAME``), the optimizer's moments and step counts, the
mixed-precision loss-scaler state (``amp/NAME``) and, in its metadata, the position
(epochs done, steps done in the current epoch, the losses of those steps, skipped
non-finite steps) and the run's settings. ``last.safetensors`` (canonical weights for
``eval``/``predict``) is written after it, so a kill between the two still leaves a
whole state to resume from.

The data order and augmentation of an epoch are drawn from ``(seed, epoch)``
alone and the model has no dropout, so this position is the whole random state: a
resumed run replays the interrupted epoch's data pipeline up to the saved step
(decoding only, no training) and then continues bit for bit. Mixup/CutMix, random erasing and the
EMA resume exactly too (drawn per step; EMA tensors saved as ``ema/NAME``), as do RandAugment (drawn per
image from the epoch's seed and the image's place) and LoRA's adapters (``lora/NAME``, beside the unmerged
weights; ``last.safetensors`` holds the merged ones). One exception: the
``--drop-path`` masks come from MindSpore's in-graph random streams, which restart on resume, so a
resumed run with drop path is a valid continuation but not the uninterrupted run bit for bit.

Example:
    >>> with StopSignals() as stop:   # doctest: +SKIP
    ...     for batch in data:
    ...         train(batch)
    ...         if stop.signum: save(); break
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any, Optional

import mindspore as ms
import numpy as np
from mindspore import ops

from vitzoo.errors import VitzooError

LAST, OPTIM = "last.safetensors", "last.optim.safetensors"
MODEL, AMP = "model/", "amp/"
SIGNAL_NAMES = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}


class StopSignals:
    """While active, SIGTERM and SIGINT set ``signum`` instead of ending the process.

    The training loop checks ``signum`` after each step, saves and stops. A second
    SIGINT (an impatient Ctrl+C) raises ``KeyboardInterrupt`` at once. Outside the
    main thread (where Python cannot install handlers) it does nothing.
    """

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNAL_NAMES:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def rearm(self) -> None:
        """Install the handlers again: each MindSpore graph call installs its own SIGINT handler.

        That handler turns SIGINT into SIGTERM, so a Ctrl+C that lands inside a graph
        call stops the run like SIGTERM (exit 143); between calls it is SIGINT (130).
        """
        if self._previous:
            for sig in SIGNAL_NAMES:
                signal.signal(sig, self._handle)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = self.signum or signum

    @property
    def name(self) -> str:
        return SIGNAL_NAMES.get(self.signum or 0, f"signal {self.signum}")


def state_digest(state: dict[str, np.ndarray]) -> str:
    """sha256 over names and bytes of a state: ties saved tensors to the position recorded with them."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(state[name]).tobytes())
    return digest.hexdigest()


def optimizer_state(optimizer: Any, model: Any) -> dict[str, ms.Parameter]:
    """The optimizer's own tensors (moments, step count), without the model's parameters."""
    own = {id(p) for p in model.get_parameters()}
    return {name: p for name, p in optimizer.parameters_and_names() if id(p) not in own}


def scaler_state(scaler: Any) -> dict[str, ms.Parameter]:
    """The dynamic loss scaler's scale and its count of steps since the last change (empty without AMP)."""
    return {} if scaler is None else {"scale_value": scaler.scale_value, "counter": scaler.counter}


def save_run_state(out: Path, model: Any, state: dict[str, np.ndarray], optimizer: Any, scaler: Any, position: dict[str, Any],
                   extra: Optional[dict[str, np.ndarray]] = None, canonical: Optional[dict[str, np.ndarray]] = None) -> None:
    """Write the canonical ``last.safetensors``, then the resumable state (one atomic file).

    ``extra``: more tensors of the run's state under their own prefix (the EMA's ``ema/NAME``); on resume
    they come back among the optimizer tensors, for their owner to take out before :func:`restore_optimizer`.
    ``canonical``: the weights for ``last.safetensors`` when they differ from the trained ``state`` (LoRA's
    merged weights; the state file keeps the unmerged ones beside the adapters).

    In this order a kill at any point leaves a state file that resumes on its own (it holds
    the weights too) beside a ``last.safetensors`` with the run's spec and class names.
    """
    from vitzoo.weights import Checkpoint, safetensors_io, save_file

    tensors: dict[str, np.ndarray] = {k: p.asnumpy() for k, p in optimizer_state(optimizer, model).items()}
    tensors.update({MODEL + k: v for k, v in state.items()})
    tensors.update({AMP + k: p.asnumpy() for k, p in scaler_state(scaler).items()})
    tensors.update(extra or {})
    meta = {**position, "weights_digest": state_digest(state)}
    save_file(Checkpoint(state=state if canonical is None else canonical, spec=model.spec, meta=dict(model.pretrained_cfg)), out / LAST)
    safetensors_io.save(out / OPTIM, tensors, {"vitzoo_train": json.dumps(meta)})


def load_run_state(out: Path, backend: Any, classes: list[str]) -> tuple[Any, dict[str, np.ndarray], dict[str, Any]]:
    """The model and optimizer tensors of the saved state, and its position (``epoch``, ``step``, ...)."""
    from vitzoo.errors import DataError
    from vitzoo.weights import load_file, safetensors_io

    ckpt = load_file(out / LAST)  # spec, class names, preprocessing (never change during a run)
    tensors, metadata = safetensors_io.load(out / OPTIM)
    try:
        saved = json.loads(metadata["vitzoo_train"])
    except (KeyError, ValueError):
        raise VitzooError(f"{str(out / OPTIM)!r} is not a vitzoo optimizer-state file; start a new run.") from None
    weights = {k[len(MODEL):]: tensors.pop(k) for k in [k for k in tensors if k.startswith(MODEL)]}
    if not weights:  # written before the state file held the weights: they must match last.safetensors
        weights = ckpt.state
    if saved.get("weights_digest") != state_digest(weights):
        raise VitzooError(f"{str(out / LAST)!r} and {str(out / OPTIM)!r} are from different epochs (a save was interrupted); start a new run.")
    if list(ckpt.class_names or []) != list(classes):
        raise DataError(f"The class folders of the data differ from those of the run in {str(out)!r}; resume with the same data.")
    model = backend.build(ckpt.spec, weights)
    model.pretrained_cfg = dict(ckpt.meta)
    saved.setdefault("step", 0)
    return model, tensors, saved


def restore_optimizer(optimizer: Any, model: Any, scaler: Any, tensors: dict[str, np.ndarray], out: Path) -> None:
    """Put the saved optimizer (and loss-scaler) tensors back into the live ones."""
    own = optimizer_state(optimizer, model)
    amp = {k[len(AMP):]: v for k, v in tensors.items() if k.startswith(AMP)}
    plain = {k: v for k, v in tensors.items() if not k.startswith(AMP)}
    if set(own) != set(plain):
        raise VitzooError(f"The optimizer state in {str(out / OPTIM)!r} does not fit this optimizer; resume with the same --optimizer.")
    for name, param in own.items():
        ops.assign(param, ms.Tensor(plain[name]).astype(param.dtype))
    for name, param in scaler_state(scaler).items():
        if name in amp:
            ops.assign(param, ms.Tensor(amp[name]).astype(param.dtype))
