"""Fuzz every vitzoo checkpoint reader: damaged files must load correctly or raise VitzooError.

The long run (the figures in the README's "Reliability" section)::

    .venv/bin/python scripts/fuzz_readers.py --inputs 10000 --json fuzz-summary.json

For each reader (canonical safetensors, timm .safetensors/.pth/.bin, an HF directory,
MindSpore official and MindCV .ckpt, JAX .npz) it mutates a small valid seed
``--inputs`` times (see ``scripts/fuzz_cases.py``) and reads every case twice, with
``vitzoo.weights.read(path)`` (detection by content) and with the reader's explicit
format. Reads run in worker processes, so a hang (``--timeout`` seconds) or a crash
(a segfault kills only the worker) is recorded and the run goes on. Workers run under
``RLIMIT_DATA`` (what they use after start-up plus 1 GiB), so a reader that
allocates a size a file merely claims fails loudly instead of swapping.

An outcome is one of: ``ok`` (loaded, float32, finite, fits its spec), ``error``
(VitzooError naming the file, one line) — the two allowed ones — or a failure:
``other`` (another exception type), ``bad-message`` (a VitzooError that does not name
the file or spans lines), ``bad-ok`` (loaded something it must refuse: NaN/Inf, a
duplicate name, a shard outside the model directory), ``alloc`` (an allocation driven
by a claimed size hit the limit), ``timeout``, ``crash``. Failing cases are saved under
``--out`` and can be replayed in-process with ``--replay DIR``.

Case ``i`` of reader ``R`` is reproducible: its mutation is drawn from
``random.Random(f"{seed}:{R}:{i}")``. The process exits 1 if any failure was found.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import signal
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

ALLOWED = ("ok", "error")
FAILURES = ("other", "bad-message", "bad-ok", "alloc", "timeout", "crash")
DATA_HEADROOM = 1 << 30


# The worker: one read, classified ----------------------------------------------------------
def classify(path: Path, fmt: Optional[str], must_fail: Optional[str]) -> dict[str, Any]:
    """Read ``path`` (auto-detected when ``fmt`` is None) and say how it went."""
    import numpy as np

    from fuzz_base import HINT
    from vitzoo import weights
    from vitzoo.errors import VitzooError

    start = time.perf_counter()
    out: dict[str, Any] = {}
    try:
        ckpt = weights.read(path, variant=HINT) if fmt is None else weights.read(path, format=fmt, variant=HINT)
        ckpt.validate()
        bad = [k for k, v in ckpt.state.items() if v.dtype != np.float32 or not np.isfinite(v).all()]
        if bad:
            out = {"kind": "bad-ok", "message": f"non-float32 or non-finite tensors were returned: {bad[:3]}"}
        elif must_fail:
            out = {"kind": "bad-ok", "message": must_fail}
        else:
            out = {"kind": "ok"}
    except VitzooError as exc:
        message = str(exc)
        if _allocation_failure(exc):
            out = {"kind": "alloc", "type": type(exc).__name__, "message": message}
        elif str(path) not in message or "\n" in message:
            out = {"kind": "bad-message", "type": type(exc).__name__, "message": message}
        else:
            out = {"kind": "error", "type": type(exc).__name__, "message": message}
    except BaseException as exc:  # noqa: BLE001 - any other type is the finding
        if isinstance(exc, KeyboardInterrupt):
            raise
        kind = "alloc" if _allocation_failure(exc) else "other"
        out = {"kind": kind, "type": type(exc).__name__, "message": str(exc)[:500],
               "where": "".join(traceback.format_tb(exc.__traceback__)[-3:])[-1500:]}
    out["seconds"] = time.perf_counter() - start
    return out


def _allocation_failure(exc: BaseException) -> bool:
    """Whether ``exc`` or anything it replaced was an out-of-memory error (the worker's limit was hit)."""
    seen: Optional[BaseException] = exc
    for _ in range(10):
        if seen is None:
            return False
        text = str(seen)
        if isinstance(seen, MemoryError) or "allocate memory" in text or "too large to read into memory" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def worker_main() -> None:
    """Serve read requests (one JSON line each) on stdin; answer on the original stdout."""
    import resource

    answer = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything a library prints goes to stderr, not into the protocol
    import numpy  # noqa: F401
    import torch  # noqa: F401  (imported up front: its start-up memory is not a reader's)

    import vitzoo.weights  # noqa: F401

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    used = _vm_data()
    if used:
        resource.setrlimit(resource.RLIMIT_DATA, (used + DATA_HEADROOM, resource.getrlimit(resource.RLIMIT_DATA)[1]))
    answer.write(json.dumps({"ready": os.getpid()}) + "\n")
    answer.flush()
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("selftest") == "crash":  # proves the pool survives a segfault
            os.kill(os.getpid(), signal.SIGSEGV)
        if request.get("selftest") == "hang":  # ... and a read that never returns
            time.sleep(3600)
        path = Path(request["path"])
        result = {mode: classify(path, None if mode == "auto" else request["format"], request.get("must_fail"))
                  for mode in ("explicit", "auto")}
        answer.write(json.dumps(result) + "\n")
        answer.flush()


def _vm_data() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# The pool: workers that may hang or die ------------------------------------------------------
class Worker:
    def __init__(self, timeout: float) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", GLOG_v="3")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env, start_new_session=True,
        )
        self.timeout = timeout
        line = self._readline(max(120.0, timeout))
        if not line or "ready" not in json.loads(line):
            self.kill()
            raise RuntimeError("a fuzz worker failed to start")

    def _readline(self, timeout: float) -> Optional[bytes]:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline() if ready else None

    def read(self, path: Path, fmt: str, must_fail: Optional[str], selftest: Optional[str] = None) -> tuple[str, dict[str, Any]]:
        """``("done", result)``, ``("timeout", {})`` or ``("crash", {"returncode": -signal})``."""
        request = {"path": str(path), "format": fmt, "must_fail": must_fail, "selftest": selftest}
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            return "crash", {"returncode": self.proc.wait()}
        line = self._readline(self.timeout)
        if line is None:
            self.kill()
            return "timeout", {}
        if not line:
            return "crash", {"returncode": self.proc.wait()}
        return "done", json.loads(line)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, 9)  # the worker's own session: nothing else is touched
        except ProcessLookupError:
            pass
        self.proc.wait()


class Runner:
    """Reads cases in a worker, restarting it after a hang or a crash."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.worker: Optional[Worker] = None

    def read(self, path: Path, fmt: str, must_fail: Optional[str] = None, selftest: Optional[str] = None) -> dict[str, dict[str, Any]]:
        """``{"explicit": outcome, "auto": outcome}`` for one case path."""
        if self.worker is None:
            self.worker = Worker(self.timeout)
        status, result = self.worker.read(path, fmt, must_fail, selftest)
        if status == "done":
            return result
        self.worker.kill()  # hung or dead: the next case gets a fresh worker
        self.worker = None
        outcome = {"kind": status, "seconds": self.timeout if status == "timeout" else 0.0, **result}
        return {"explicit": outcome, "auto": dict(outcome)}

    def close(self) -> None:
        if self.worker is not None:
            self.worker.proc.stdin.close()
            self.worker.kill()
            self.worker = None


# The long run --------------------------------------------------------------------------------
def run(readers: Iterable[str], inputs: int, seed: int, timeout: float, out: Path,
        progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Fuzz ``readers`` with ``inputs`` cases each; return the summary (also the failures saved under ``out``)."""
    import fuzz_cases as fc

    started = time.time()
    scratch = Path(tempfile.mkdtemp(prefix="vitzoo-fuzz-"))
    seeds = fc.make_seeds(scratch / "seeds")
    runner = Runner(timeout)
    summary: dict[str, Any] = {"command": " ".join(sys.argv), "seed": seed, "inputs_per_reader": inputs, "readers": {}}
    try:
        for name in readers:
            reader, stats = fc.READERS[name], _Stats()
            for i in range(inputs):
                case = fc.mutate(reader, seeds[name], fc.RandomDraw(random.Random(f"{seed}:{name}:{i}")), seeds)
                root = scratch / f"{name}-{i}"
                root.mkdir()
                try:
                    path = case.write(root)
                    result = runner.read(path, reader.format, case.must_fail)
                    if stats.add(i, case.label, result):
                        _save(case, root, out / "failures" / f"{name}-{i}", result)
                finally:
                    shutil.rmtree(root, ignore_errors=True)
                if (i + 1) % 1000 == 0:
                    progress(f"  {name}: {i + 1}/{inputs} ({stats.brief()})")
            summary["readers"][name] = stats.as_dict()
            progress(_line(name, summary["readers"][name]))
    finally:
        runner.close()
        shutil.rmtree(scratch, ignore_errors=True)
    summary["seconds"] = round(time.time() - started, 1)
    summary["failures"] = sum(r["failures"] for r in summary["readers"].values())
    return summary


class _Stats:
    def __init__(self) -> None:
        self.inputs = 0
        self.counts = {"explicit": Counter(), "auto": Counter()}
        self.slowest: dict[str, Any] = {"seconds": 0.0}
        self.found: dict[str, dict[str, Any]] = {}  # one example per distinct failure

    def add(self, index: int, label: str, result: dict[str, dict[str, Any]]) -> bool:
        self.inputs += 1
        failed = False
        for mode, outcome in result.items():
            self.counts[mode][outcome["kind"]] += 1
            if outcome["seconds"] > self.slowest["seconds"]:
                self.slowest = {"seconds": round(outcome["seconds"], 4), "case": index, "mode": mode, "mutation": label}
            if outcome["kind"] in FAILURES:
                failed = True
                key = _signature(outcome)
                if key in self.found:
                    self.found[key]["count"] += 1
                elif len(self.found) < 100:
                    self.found[key] = {"count": 1, "case": index, "mode": mode, "mutation": label,
                                       **{k: v for k, v in outcome.items() if k != "seconds"}}
        return failed

    def brief(self) -> str:
        c = self.counts["explicit"]
        return f"ok {c['ok']}, VitzooError {c['error']}, failures {sum(c[k] for k in FAILURES)}"

    def as_dict(self) -> dict[str, Any]:
        def table(c: Counter) -> dict[str, int]:
            return {"ok": c["ok"], "VitzooError": c["error"], "other exception": c["other"], "timeout": c["timeout"],
                    "crash": c["crash"], "bad message": c["bad-message"], "wrongly accepted": c["bad-ok"], "allocation": c["alloc"]}
        failures = sum(c[k] for c in self.counts.values() for k in FAILURES)
        return {"inputs": self.inputs, "explicit": table(self.counts["explicit"]), "auto": table(self.counts["auto"]),
                "failures": failures, "slowest": self.slowest, "found": list(self.found.values())}


def _signature(outcome: dict[str, Any]) -> str:
    """What makes two failures the same bug: their kind, exception type and message, numbers and paths blanked."""
    import re

    text = re.sub(r"'[^']*'|\d+", "_", str(outcome.get("message", "")))[:120]
    return f"{outcome['kind']}|{outcome.get('type')}|{text}"


def _line(name: str, r: dict[str, Any]) -> str:
    e, a, s = r["explicit"], r["auto"], r["slowest"]
    fmt = lambda t: f"ok {t['ok']:5d}  VitzooError {t['VitzooError']:5d}  other {t['other exception']}  timeout {t['timeout']}  crash {t['crash']}"  # noqa: E731
    return (f"{name:17s} inputs {r['inputs']:6d} | explicit: {fmt(e)} | auto: {fmt(a)} | failures {r['failures']} | "
            f"slowest {s['seconds'] * 1000:.1f} ms ({s.get('mutation', '-')})")


def _save(case: Any, root: Path, dest: Path, result: dict[str, Any]) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(root, dest, symlinks=True, ignore=lambda d, names: [n for n in names if not (Path(d) / n).is_file() and not (Path(d) / n).is_dir()])
    (dest / "case.json").write_text(json.dumps({"reader": case.reader, "mutation": case.label, "must_fail": case.must_fail, "result": result}, indent=2, default=str))


def replay(case_dir: Path) -> None:
    """Re-read a saved failing case: the verdict of a fresh worker (memory limit included), then in-process tracebacks."""
    import fuzz_cases as fc
    from fuzz_base import HINT

    from vitzoo import weights

    info = json.loads((case_dir / "case.json").read_text())
    path = next(p for p in case_dir.iterdir() if p.name.startswith("case") and p.name != "case.json")
    fmt = fc.READERS[info["reader"]].format
    print(f"{info['reader']}: {info['mutation']}")
    runner = Runner()
    try:
        for mode, outcome in runner.read(path, fmt, info.get("must_fail")).items():
            print(f"  worker, {mode}: {outcome['kind']} {outcome.get('type') or ''} {outcome.get('message', '')[:300]}")
    finally:
        runner.close()
    for name in (fmt, None):
        try:
            weights.read(path, variant=HINT) if name is None else weights.read(path, format=name, variant=HINT)
            print(f"  in-process, {name or 'auto'}: loaded")
        except Exception:  # noqa: BLE001 - shown, not handled
            print(f"  in-process, {name or 'auto'}:\n" + traceback.format_exc())


def main(argv: Optional[list[str]] = None) -> int:
    import fuzz_cases as fc

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=10_000, help="cases per reader (default 10000)")
    parser.add_argument("--readers", default=",".join(fc.READERS), help=f"comma-separated subset of {', '.join(fc.READERS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a case counts as a hang")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "vitzoo-fuzz",
                        help="where failing cases are saved (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="write the summary here as JSON")
    parser.add_argument("--replay", type=Path, metavar="DIR", help="re-read one saved failing case, with tracebacks")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main()
        return 0
    if args.replay:
        replay(args.replay)
        return 0
    readers = [r for r in args.readers.split(",") if r]
    unknown = [r for r in readers if r not in fc.READERS]
    if unknown:
        parser.error(f"unknown readers {unknown}; choose from {', '.join(fc.READERS)}")
    summary = run(readers, args.inputs, args.seed, args.timeout, args.out)
    print(f"{sum(r['inputs'] for r in summary['readers'].values())} inputs in {summary['seconds']} s, {summary['failures']} failing reads")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
