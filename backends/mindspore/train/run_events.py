"""What a training run reports while its steps run: divergence, interruption, skipped images, replica drift.

The trainer's loop calls these; each turns one event into the run's message (or exception), so the
loop itself stays about steps.

Example:
    >>> barrier(1)  # one process: nothing to wait for
"""

from __future__ import annotations

import math
import signal
import sys
from pathlib import Path
from typing import Any

import mindspore as ms
import numpy as np
from mindspore import ops

from vitzoo.configs import TrainConfig
from vitzoo.errors import TrainError, TrainingInterrupted

from .run_state import StopSignals


def diverged(cfg: TrainConfig, epoch: int, index: int, steps: int, loss: float, grads_ok: bool, count: int, lr: float, out: Path, rank: int) -> None:
    """A step whose loss or gradients were not finite (and was not applied): tolerate it, or stop the run."""
    what = f"loss {loss}" if not math.isfinite(loss) else "non-finite gradients"
    where = f"epoch {epoch + 1}, step {index + 1} of {steps}"
    if count > cfg.skip_nonfinite:
        clip = f"--clip-grad {cfg.clip_grad:g} lower" if cfg.clip_grad else "--clip-grad 1.0"
        allowed = f" ({cfg.skip_nonfinite} allowed by --skip-nonfinite)" if cfg.skip_nonfinite else ""
        raise TrainError(
            f"Training diverged at {where}: {what}{allowed}; the last good checkpoint in {str(out)!r} is unchanged. "
            f"Try a lower --lr (this step used {lr:.3g}), {clip}, or --skip-nonfinite K to pass over a few such steps."
        )
    if rank == 0:
        print(f"warning: skipped {where}: {what} ({count} of {cfg.skip_nonfinite} allowed by --skip-nonfinite)", file=sys.stderr)


def interrupted(stop: StopSignals, epoch: int, done: int, steps: int, out: Path) -> TrainingInterrupted:
    name = stop.name if stop.signum else "SIGTERM"  # a rank that did not get the signal stops with the rank that did
    where = f"after epoch {epoch}" if done == 0 else f"at epoch {epoch + 1}, step {done} of {steps}"
    return TrainingInterrupted(
        f"stopped by {name} {where}; the run is saved in {str(out)!r}, continue it with --resume",
        signum=stop.signum or signal.SIGTERM, output=str(out),
    )


def barrier(world_size: int) -> None:
    if world_size > 1:
        ops.AllReduce()(ms.Tensor(np.ones(1, np.float32))).asnumpy()


def note_skipped(seen: dict[str, None], paths: list[str], rank: int) -> None:
    """Add newly skipped images to ``seen`` and say so once each (rank 0 only)."""
    new = [p for p in dict.fromkeys(paths) if p not in seen]
    seen.update(dict.fromkeys(new))
    if new and rank == 0:
        print(f"skipped {len(new)} unreadable image(s) ({len(seen)} so far): {', '.join(new[:3])}{' ...' if len(new) > 3 else ''}", file=sys.stderr)


def replica_diff(model: Any, world_size: int) -> float:
    """Largest difference between the ranks' per-tensor parameter sums (0.0 when the replicas are identical)."""
    sums = ms.Tensor(np.array([p.asnumpy().astype(np.float64).sum() for p in model.get_parameters()], np.float32))
    gathered = ops.AllGather()(sums).asnumpy().reshape(world_size, -1)
    return float(np.abs(gathered - gathered[0]).max())
