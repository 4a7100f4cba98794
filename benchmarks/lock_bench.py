"""What the execution lock costs: a model call with it against the same call without it, one thread.

vitzoo serialises model execution with one process-wide re-entrant lock
(``backends/mindspore/runtime.py``), because MindSpore 2.10 is not safe to drive
from several threads at once. With one caller the lock is never contended, so its
cost is one acquire and release per Python-level call. This measures it three ways,
alternating the two sides round after round:

* the bare ``RLock`` acquire/release pair;
* ``model(x)`` with the lock against the same call with the lock swapped for a no-op
  context, PyNative and ``jit=True``, ViT-Ti/16 at batch 1 (the smallest call, where a
  fixed cost shows most).

Run: ``python -m benchmarks.lock_bench [--rounds 7] [--calls 50]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import timeit


def _cpu() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()

    import contextlib

    import mindspore as ms
    import numpy as np

    import vitzoo
    from vitzoo.backends.mindspore import runtime
    from vitzoo.backends.mindspore.runtime import EXECUTION_LOCK

    def pair() -> None:
        with EXECUTION_LOCK:
            pass

    lock_ns = min(timeit.repeat(pair, number=100_000, repeat=5)) / 100_000 * 1e9
    x = ms.Tensor(np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32))
    rows = []
    for jit in (False, True):
        model = vitzoo.create("vit_ti_16", jit=jit)
        for _ in range(3):  # compile and warm up
            model(x).asnumpy()
        with_lock, without = [], []
        for _ in range(args.rounds):
            for lock, out in ((EXECUTION_LOCK, with_lock), (contextlib.nullcontext(), without)):
                runtime.EXECUTION_LOCK = lock  # `serialized` looks the lock up at each call
                start = time.perf_counter()
                for _ in range(args.calls):
                    model(x).asnumpy()
                out.append((time.perf_counter() - start) / args.calls * 1e3)
        runtime.EXECUTION_LOCK = EXECUTION_LOCK
        rows.append((("jit=True" if jit else "PyNative"), statistics.median(with_lock), statistics.median(without)))
    print(f"CPU: {_cpu()}; MindSpore {ms.__version__}; {args.rounds} rounds x {args.calls} calls, ViT-Ti/16 batch 1, 224 px\n")
    print(f"Bare RLock acquire+release: {lock_ns:.0f} ns\n")
    print("| mode | model(x), locked | same call, no lock | cost |")
    print("|---|---|---|---|")
    for mode, a, b in rows:
        print(f"| {mode} | {a:.2f} ms | {b:.2f} ms | {100 * (a - b) / b:+.1f}% |")


if __name__ == "__main__":
    main()
