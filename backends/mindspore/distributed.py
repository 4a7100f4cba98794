"""Data-parallel training on MindSpore's own launcher, ``msrun``.

``vitzoo train DATA --devices N`` (``vitzoo.train(..., devices=N)``) starts N workers with
``msrun --worker_num=N --local_worker_num=N --join=True``. Each worker initialises the
collective backend (``mccl`` on CPU), sets ``DATA_PARALLEL`` with gradient averaging,
builds the same seeded model, reads its interleaved shard of every global batch, and
all-reduces gradients; rank 0 evaluates and writes the outputs. ``--batch-size`` is
the global batch, so the run matches a single-process one with that batch.

``msrun`` can also be called by hand on the ``vitzoo`` script: a ``vitzoo train`` that
finds itself in an msrun worker (``MS_ROLE=MS_WORKER``) joins the group the same way::

    msrun --worker_num=2 --local_worker_num=2 --master_port=8118 --join=True \\
          --log_dir=runs/logs $(which vitzoo) train DATA --output runs/dp
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from vitzoo.errors import BackendError
from vitzoo.fileio import atomic_path
from vitzoo.tasks import TrainConfig

RESULT = "train_result.json"
_WORKER = """\
# Written by vitzoo: one msrun worker of a data-parallel `vitzoo train` run.
import sys
from vitzoo.backends.mindspore.distributed import worker_main

sys.exit(worker_main(sys.argv[1]))
"""


def launch(cfg: TrainConfig) -> Any:
    """Run ``cfg`` on ``cfg.devices`` msrun workers and return rank 0's :class:`TrainResult`.

    Example:
        >>> launch(TrainConfig("digits", devices=2, epochs=1))  # doctest: +SKIP
    """
    from .training import TrainResult, open_folders, check_output

    open_folders(cfg.data_dir)  # fail here, with one clear message, rather than in N workers
    out = Path(cfg.output)
    check_output(out, cfg.resume)
    msrun = shutil.which("msrun", path=os.path.dirname(sys.executable)) or shutil.which("msrun")
    if msrun is None:
        raise BackendError("msrun (MindSpore's launcher) is not on PATH; install MindSpore in this environment.")
    run_dir = out / "msrun"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / RESULT).unlink(missing_ok=True)
    config = run_dir / "config.json"
    with atomic_path(config) as tmp:
        tmp.write_text(json.dumps(cfg.to_dict(), indent=1))
    script = run_dir / "worker.py"
    with atomic_path(script) as tmp:
        tmp.write_text(_WORKER)
    n = cfg.devices
    cmd = [msrun, f"--worker_num={n}", f"--local_worker_num={n}", f"--master_port={free_port()}", "--join=True", f"--log_dir={run_dir}", str(script), str(config)]
    env = dict(os.environ)
    # msrun starts workers with the `python` on PATH: make it this interpreter.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result = run_dir / RESULT
    if proc.returncode != 0 or not result.exists():
        raise BackendError(f"Data-parallel training on {n} msrun workers failed ({_worker_error(run_dir)}); see {run_dir}/worker_*.log.")
    _echo_rank0(run_dir)
    return TrainResult(**json.loads(result.read_text()))


def in_msrun_worker() -> bool:
    """Whether msrun started this process (as a worker, or as its scheduler, which runs the script too)."""
    return os.environ.get("MS_ROLE") in ("MS_WORKER", "MS_SCHED") and int(os.environ.get("MS_WORKER_NUM", "1")) > 1


def run_worker(cfg: TrainConfig) -> Any:
    """Join the msrun group (data parallel, averaged gradients) and train this rank's shard."""
    import mindspore as ms
    from mindspore.communication import get_group_size, get_rank, init

    from .training import run_training

    init()
    rank, size = get_rank(), get_group_size()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True, device_num=size)
    if cfg.batch_size % size:
        raise BackendError(f"batch_size {cfg.batch_size} (the global batch) must be divisible by the {size} msrun workers.")
    return run_training(cfg, rank=rank, world_size=size)


def worker_main(config_path: str) -> int:
    """The body of one ``--devices`` worker: train on this rank's shard; rank 0 records the result."""
    cfg = TrainConfig(**json.loads(Path(config_path).read_text()))
    result = run_worker(cfg)
    if result.rank == 0:
        with atomic_path(Path(config_path).parent / RESULT) as tmp:
            tmp.write_text(json.dumps({k: v for k, v in result.to_dict().items() if k not in ("last", "best")}))
    return 0


def free_port() -> int:
    """A TCP port that is free right now (for msrun's scheduler)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _echo_rank0(run_dir: Path) -> None:
    """Show rank 0's per-epoch summary lines (progress bars stay in the log)."""
    log = run_dir / "worker_0.log"
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            line = line.rsplit("\r", 1)[-1]
            if line.startswith(("epoch ", "training ", "warning: ")):
                print(line, file=sys.stderr)


def _worker_error(run_dir: Path) -> str:
    """The last error line any worker logged, e.g. ``vitzoo.errors.DataError: ...``."""
    for log in sorted(run_dir.glob("worker_*.log")):
        lines = [ln.rsplit("\r", 1)[-1] for ln in log.read_text(errors="replace").splitlines()]
        errors = [ln for ln in lines if "Error:" in ln or "Error " in ln[:40]]
        if errors:
            return f"{log.name}: {errors[-1].strip()[:300]}"
    return "no worker reported an error"
