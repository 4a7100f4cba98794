"""Data-parallel training on MindSpore's own launcher, ``msrun``.

``vitzoo train DATA --devices N`` (``vitzoo.train(..., devices=N)``) starts N workers with
``msrun --worker_num=N --local_worker_num=N --join=True``. Each worker initialises the
collective backend (``mccl`` on CPU), sets ``DATA_PARALLEL`` with gradient averaging,
builds the same seeded model, reads its interleaved shard of every global batch, and
all-reduces gradients; rank 0 evaluates and writes the outputs. ``--batch-size`` is
the global batch, so the run matches a single-process one with that batch.

The launcher watches the job: a worker that dies or fails ends the whole job within
seconds (msrun alone waits half a minute for its scheduler), with one error naming
the rank and its log; SIGTERM/SIGINT reach every worker, which stop at the same step
after rank 0 saved. ``--nodes M --node-rank R --master-addr HOST`` runs ``--devices``
workers on each of M machines through msrun's ``--worker_num``, ``--local_worker_num``,
``--node_rank``, ``--master_addr``; a node that never joins ends the others after
``--join-timeout`` seconds.

``msrun`` can also be called by hand on the ``vitzoo`` script: a ``vitzoo train`` that
finds itself in an msrun worker (``MS_ROLE=MS_WORKER``) joins the group the same way::

    msrun --worker_num=2 --local_worker_num=2 --master_port=8118 --join=True \\
          --log_dir=runs/logs $(which vitzoo) train DATA --output runs/dp
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

from vitzoo.errors import BackendError
from vitzoo.fileio import atomic_path, ensure_folder
from vitzoo.configs import TrainConfig

RESULT = "train_result.json"
JOIN_GRACE_S = 10.0  # beyond --join-timeout: a worker's start-up (importing MindSpore) before it starts to wait
_FAILED = re.compile(r"Worker process (\d+) exit with exception\. Error code: (-?\d+)")
_ANNOUNCE = re.compile(r"vitzoo worker: rank (\d+) of \d+, pid (\d+)")
_WORKER = """\
# Written by vitzoo: one msrun worker of a data-parallel `vitzoo train` run.
import sys
from vitzoo.backends.mindspore.train.distributed import worker_main

sys.exit(worker_main(sys.argv[1]))
"""


def launch(cfg: TrainConfig) -> Any:
    """Run ``cfg`` on ``cfg.devices`` msrun workers (on each of ``cfg.nodes`` machines) and return rank 0's :class:`TrainResult`.

    The launcher watches the job: when any worker dies or fails, every other worker
    and msrun's scheduler are stopped within seconds and one :class:`BackendError`
    names the rank, its exit status or error, and its log. SIGTERM/SIGINT sent to the
    launcher are passed to the workers, which finish their step together, save, and stop.

    Example:
        >>> launch(TrainConfig("digits", devices=2, epochs=1))  # doctest: +SKIP
    """
    from .trainer import TrainResult, check_output, open_folders

    open_folders(cfg.data_dir)  # fail here, with one clear message, rather than in N workers
    out = Path(cfg.output)
    if cfg.node_rank == 0:
        check_output(out, cfg.resume)
    msrun = shutil.which("msrun", path=os.path.dirname(sys.executable)) or shutil.which("msrun")
    if msrun is None:
        raise BackendError("msrun (MindSpore's launcher) is not on PATH; install MindSpore in this environment.")
    run_dir = out / "msrun" if cfg.nodes == 1 else out / "msrun" / f"node_{cfg.node_rank}"
    ensure_folder(run_dir / RESULT)
    (run_dir / RESULT).unlink(missing_ok=True)
    for old in run_dir.glob("worker_*.log"):
        old.unlink()
    config = run_dir / "config.json"
    with atomic_path(config) as tmp:
        tmp.write_text(json.dumps(cfg.to_dict(), indent=1))
    script = run_dir / "worker.py"
    with atomic_path(script) as tmp:
        tmp.write_text(_WORKER)
    total = cfg.devices * cfg.nodes
    port = cfg.master_port if cfg.nodes > 1 else free_port()
    cmd = [msrun, f"--worker_num={total}", f"--local_worker_num={cfg.devices}", f"--master_addr={cfg.master_addr}", f"--master_port={port}",
           "--join=True", f"--cluster_time_out={cfg.join_timeout}", f"--log_dir={run_dir}"]
    if cfg.nodes > 1:
        cmd.append(f"--node_rank={cfg.node_rank}")
    cmd += [str(script), str(config)]
    env = dict(os.environ)
    # msrun starts workers with the `python` on PATH: make it this interpreter.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    job = _Job(cmd, env, run_dir)
    failure = job.wait(expected=cfg.devices, join_deadline=cfg.join_timeout + JOIN_GRACE_S)
    result = run_dir / RESULT
    # On one host acting as several nodes, each msrun also starts a scheduler; only node 0's can bind the port.
    lost_scheduler = cfg.node_rank != 0 and job.scheduler_failed
    if failure is not None or (job.returncode != 0 and not lost_scheduler) or (cfg.node_rank == 0 and not result.exists()):
        raise BackendError(_failure_message(cfg, run_dir, failure, job))
    _echo_rank0(run_dir)
    if cfg.node_rank != 0:
        return TrainResult(output=str(out), best_top1=float("nan"), best_epoch=0, rank=cfg.node_rank * cfg.devices)
    record = json.loads(result.read_text())
    if "interrupted" in record:
        from vitzoo.errors import TrainingInterrupted

        raise TrainingInterrupted(record["interrupted"], signum=job.signum or record["signum"], output=str(out))
    return TrainResult(**record)


class _Job:
    """An msrun job, watched: a failed worker ends the whole job; SIGTERM/SIGINT reach every worker."""

    GRACE_S = 3.0  # after a worker fails, msrun's own clean-up gets this long before the rest is killed

    def __init__(self, cmd: list[str], env: dict[str, str], run_dir: Path) -> None:
        self.run_dir = run_dir
        self.lines: list[str] = []
        self.failed: list[tuple[int, int]] = []  # (pid, exit status) as msrun reported them
        self.signum: Optional[int] = None
        self.scheduler_failed = False
        self.returncode: Optional[int] = None
        self.seconds_to_end: Optional[float] = None  # from the first failure to the end of the job
        self._failed_at: Optional[float] = None
        # a session of its own: a terminal's Ctrl+C reaches only this launcher, which then stops the workers in step
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            self.scheduler_failed = self.scheduler_failed or "Scheduler process" in line and "exit with exception" in line
            found = _FAILED.search(line)
            if found:
                self.failed.append((int(found.group(1)), int(found.group(2))))
                self._failed_at = self._failed_at or time.monotonic()

    def wait(self, expected: int, join_deadline: float) -> Optional[tuple[int, int]]:
        """Wait for the job; return the first failed worker's (pid, status), or ``None``.

        ``expected`` local workers must announce themselves (they do once every node
        has joined) within ``join_deadline`` seconds, or the job is ended: msrun's own
        workers keep retrying the scheduler for a minute or more after its timeout.
        """
        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, self._forward) for sig in (signal.SIGTERM, signal.SIGINT)}
        started, joined, checked = time.monotonic(), False, 0.0
        try:
            while self.proc.poll() is None:
                now = time.monotonic()
                if self._failed_at is not None and now - self._failed_at > self.GRACE_S:
                    self._kill_all()
                    break
                if not joined and now - checked > 1.0:
                    checked = now
                    joined = len(worker_pids(self.run_dir)) >= expected
                    if not joined and now - started > join_deadline:
                        self._failed_at = self._failed_at or now
                        self._kill_all()
                        break
                time.sleep(0.1)
            self.returncode = self.proc.wait()
            self._reader.join(timeout=5)
            if self._failed_at is not None:
                self.seconds_to_end = time.monotonic() - self._failed_at
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.failed[0] if self.failed else None

    def _forward(self, signum: int, frame: Any) -> None:
        self.signum = self.signum or signum
        for pid in worker_pids(self.run_dir).values():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)

    def _kill_all(self) -> None:
        for pid in {*worker_pids(self.run_dir).values(), *_children(self.proc.pid)}:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)  # msrun starts each worker in a session (group) of its own
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # msrun and its scheduler


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (msrun's workers and scheduler), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def worker_pids(run_dir: Path) -> dict[int, int]:
    """rank -> pid of the workers that announced themselves in ``run_dir``'s logs."""
    pids = {}
    for log in run_dir.glob("worker_*.log"):
        with contextlib.suppress(OSError):
            found = _ANNOUNCE.search(log.read_text(errors="replace")[:20000])
            if found:
                pids[int(found.group(1))] = int(found.group(2))
    return pids


def _failure_message(cfg: TrainConfig, run_dir: Path, failure: Optional[tuple[int, int]], job: _Job) -> str:
    total = cfg.devices * cfg.nodes
    where = f"{total} msrun workers" + (f" on {cfg.nodes} nodes (this is node {cfg.node_rank})" if cfg.nodes > 1 else "")
    ranks = {pid: rank for rank, pid in worker_pids(run_dir).items()}
    if failure is not None and failure[0] in ranks:
        pid, status = failure
        rank = ranks[pid]
        log = run_dir / f"worker_{rank}.log"  # msrun names the logs by global rank
        error = _last_error(log)
        if status < 0:
            what = f"was killed by {signal.Signals(-status).name}"
        else:
            what = f"failed: {error.rstrip('.')}" if error else f"exited with status {status}"
        return (f"Data-parallel training on {where} stopped: rank {rank} (pid {pid}) {what}; the other workers were stopped. "
                f"See {log}; continue the run with --resume.")
    if len(ranks) < cfg.devices:  # a worker announces itself once the whole cluster is built
        return (f"Data-parallel training on {where} could not start: not every worker joined within --join-timeout "
                f"{cfg.join_timeout} s ({_worker_error(run_dir)}); start each node with the same --nodes, --master-addr and "
                f"--master-port, and check that node 0 is reachable (logs in {run_dir}).")
    return f"Data-parallel training on {where} failed ({_worker_error(run_dir)}); see {run_dir}/worker_*.log."


def _last_error(log: Path) -> Optional[str]:
    with contextlib.suppress(OSError):
        lines = [ln.rsplit("\r", 1)[-1].strip() for ln in log.read_text(errors="replace").splitlines()]
        errors = [ln for ln in lines if re.match(r"^[\w.]+(Error|Exception|Interrupt)\b", ln)]
        if errors:
            return errors[-1][:300]
    return None


def in_msrun_worker() -> bool:
    """Whether msrun started this process (as a worker, or as its scheduler, which runs the script too)."""
    return os.environ.get("MS_ROLE") in ("MS_WORKER", "MS_SCHED") and int(os.environ.get("MS_WORKER_NUM", "1")) > 1


def run_worker(cfg: TrainConfig) -> Any:
    """Join the msrun group (data parallel, averaged gradients) and train this rank's shard."""
    import mindspore as ms
    from mindspore.communication import get_group_size, get_rank, init

    from .trainer import run_training

    init()
    rank, size = get_rank(), get_group_size()
    print(f"vitzoo worker: rank {rank} of {size}, pid {os.getpid()}", file=sys.stderr, flush=True)
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True, device_num=size)
    if cfg.batch_size % size:
        raise BackendError(f"batch_size {cfg.batch_size} (the global batch) must be divisible by the {size} msrun workers.")
    return run_training(cfg, rank=rank, world_size=size)


def worker_main(config_path: str) -> int:
    """The body of one ``--devices`` worker: train on this rank's shard; rank 0 records the result."""
    from vitzoo.errors import TrainingInterrupted

    cfg = TrainConfig(**json.loads(Path(config_path).read_text()))
    try:
        result = run_worker(cfg)
        record = {k: v for k, v in result.to_dict().items() if k not in ("last", "best")}
    except TrainingInterrupted as exc:  # every rank stopped at the same step and rank 0 saved: a clean exit
        from mindspore.communication import get_rank

        result, record = None, {"interrupted": str(exc), "signum": exc.signum}
        if get_rank() != 0:
            return 0
    if result is None or result.rank == 0:
        with atomic_path(Path(config_path).parent / RESULT) as tmp:
            tmp.write_text(json.dumps(record))
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
