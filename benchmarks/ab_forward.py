"""A/B: the same model's forward pass under two vitzoo checkouts (two interpreters), rounds alternating.

Used to check that a change leaves the normal forward path as fast as before
(e.g. the export-time attention variant and the feature hooks):

    python benchmarks/ab_forward.py --a /work/main/.venv/bin/python --b .venv/bin/python --model vit_b_16 --batch 8

Each side runs in its own process (``--worker``) that builds the model with random
weights and times ``model(x)`` in PyNative mode and with ``jit=True`` (after a warm-up).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def worker(model_name: str, batch: int, repeats: int) -> None:
    import numpy as np
    import mindspore as ms

    import vitzoo

    x = ms.Tensor(np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype(np.float32))
    out = {}
    for jit in (False, True):
        model = vitzoo.create(model_name, jit=jit)
        model(x).asnumpy()  # warm-up (compiles with jit=True)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            model(x).asnumpy()
            times.append(time.perf_counter() - t)
        out["jit" if jit else "pynative"] = min(times)
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="python of checkout A")
    parser.add_argument("--b", required=True, help="python of checkout B")
    parser.add_argument("--model", default="vit_b_16")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.model, args.batch, args.repeats)
    env = dict(os.environ, GLOG_v="3")
    results: dict = {"a": [], "b": []}
    for _ in range(args.rounds):
        for side in ("a", "b"):
            cmd = [getattr(args, side), os.path.abspath(__file__), "--worker", "--model", args.model, "--batch", str(args.batch),
                   "--repeats", str(args.repeats), "--a", "-", "--b", "-"]
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/")  # cwd: import the installed vitzoo
            if done.returncode:
                sys.exit(f"worker {side} failed:\n{done.stderr[-3000:]}")
            results[side].append(json.loads(done.stdout.strip().splitlines()[-1]))
    for mode in ("pynative", "jit"):
        a = [r[mode] for r in results["a"]]
        b = [r[mode] for r in results["b"]]
        ratio = statistics.median(y / x for x, y in zip(a, b))
        print(f"{args.model} batch {args.batch} {mode}: A {min(a) * 1e3:.0f} ms, B {min(b) * 1e3:.0f} ms (best of rounds); B/A median {ratio:.3f}")
    print(f"load: {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
