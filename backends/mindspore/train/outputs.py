"""What a training run writes beside its state: canonical checkpoints, ``metrics.jsonl`` and ``curves.png``.

Each file is written atomically (a crash leaves the previous version), so a run can be read while it goes on.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "metrics.jsonl"
    >>> write_metrics(path, [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}])
    >>> read_metrics(path, upto_epoch=1)
    [{'epoch': 1, 'loss': 0.5}]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vitzoo.fileio import atomic_path


def save_checkpoint(model: Any, state: dict[str, np.ndarray], path: Path) -> None:
    from vitzoo.weights import Checkpoint, save_file

    save_file(Checkpoint(state=state, spec=model.spec, meta=dict(model.pretrained_cfg)), path)


def read_metrics(path: Path, upto_epoch: int) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["epoch"] <= upto_epoch]


def write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))


# How this invocation was started, not what the run is: left out so a resumed run keeps its config.json.
_INVOCATION_KEYS = ("resume", "stop_epoch", "progress")


def write_config(path: Path, config: dict[str, Any]) -> None:
    """The run's settings (every TrainConfig field, the recipe's included) as ``config.json``.

    A resume with the same settings leaves the file untouched (no write, so a full disk cannot cost it).
    """
    text = json.dumps({k: v for k, v in config.items() if k not in _INVOCATION_KEYS}, indent=2, sort_keys=True) + "\n"
    if path.is_file() and path.read_text() == text:
        return
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def can_plot() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot(path: Path, rows: list[dict[str, Any]]) -> None:
    """Loss and validation accuracy per epoch; skipped without matplotlib (the ``plot`` extra)."""
    if not can_plot():
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    epochs = [r["epoch"] for r in rows]
    fig, left = plt.subplots(figsize=(6, 3.5))
    left.plot(epochs, [r["loss"] for r in rows], color="tab:blue", label="train loss")
    left.set_xlabel("epoch")
    left.set_ylabel("train loss", color="tab:blue")
    right = left.twinx()
    right.plot(epochs, [r["val_top1"] for r in rows], color="tab:orange", label="val top-1")
    right.plot(epochs, [r["val_top5"] for r in rows], color="tab:orange", linestyle=":", label="val top-5")
    right.set_ylabel("val accuracy (%)", color="tab:orange")
    left.xaxis.get_major_locator().set_params(integer=True)
    fig.legend(loc="center right", bbox_to_anchor=(0.85, 0.5), fontsize="small")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
