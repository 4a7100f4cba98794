"""Converter speed and memory: GB/s and peak RSS per conversion, on a ViT-L/16-sized checkpoint.

Each conversion runs in a fresh subprocess, so its peak resident set size
(``ru_maxrss``) is its own; the baseline is the same subprocess after its imports.
Sources are written first (random float32 weights in every format); they are
then in the page cache, so the timings are warm-cache conversion speed, not disk speed.

Usage:
    .venv/bin/python benchmarks/convert_bench.py                # ViT-L/16, ~1.2 GB
    .venv/bin/python benchmarks/convert_bench.py --variant vit_b_16 --pth
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_CHILD = """
import json, resource, sys, time
from vitzoo.weights import convert
if sys.argv[1].endswith(".pth"):
    import torch  # its own import (~0.5 GB) belongs to the baseline, not to the conversion
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
report = convert(sys.argv[1], sys.argv[2], to_format=sys.argv[3])
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"seconds": seconds, "peak_kb": peak, "hwm_kb": hwm, "base_kb": base, "tensors": report.tensors}))
"""
# Sources are made in a child too: ru_maxrss survives fork+exec, so this process must stay small.
_MAKE = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from convert_bench import make_source
make_source(sys.argv[1], Path(sys.argv[2]))
"""


def make_source(variant: str, folder: Path) -> Path:
    """A timm-layout safetensors file of ``variant`` with random float32 weights."""
    from vitzoo.canonical import expected_shapes
    from vitzoo.variants import get_spec
    from vitzoo.weights import safetensors_io

    rng = np.random.default_rng(0)
    state = {k: rng.standard_normal(shape, dtype=np.float32) * 0.02 for k, shape in expected_shapes(get_spec(variant)).items()}
    path = folder / "timm.safetensors"
    safetensors_io.save(path, state, {"format": "pt"})
    return path


def child(code: str, *argv: object) -> str:
    proc = subprocess.run([sys.executable, "-c", code, *map(str, argv)], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"child {argv} failed:\n{proc.stderr}")
    return proc.stdout


def measure(src: Path, dst: Path, to_format: str) -> dict:
    os.sync()  # flush the sources' dirty pages first: time the converter, not the disk's backlog
    return json.loads(child(_CHILD, src, dst, to_format).strip().splitlines()[-1])


def size_of(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench(variant: str = "vit_l_16", pth: bool = False, workdir: "Path | None" = None, only_timm: bool = False) -> tuple[int, list[dict]]:
    """Convert a ``variant``-sized checkpoint between formats; returns (timm file bytes, one dict per conversion).

    ``only_timm=True`` measures just timm safetensors → vitzoo (the conversion behind ``create(pretrained=True)``).
    """
    rows = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        d = Path(tmp)
        child(_MAKE, variant, d, Path(__file__).parent)
        timm_src = d / "timm.safetensors"
        cases = [(timm_src, "vitzoo")]
        if not only_timm:
            for fmt, name in (("vitzoo", "vitzoo.safetensors"), ("hf", "hf"), ("jax", "jax.npz")):
                child(_CHILD, timm_src, d / name, fmt)
            cases += [(d / "hf", "vitzoo"), (d / "jax.npz", "vitzoo"), (d / "vitzoo.safetensors", "timm"),
                      (d / "vitzoo.safetensors", "hf"), (d / "vitzoo.safetensors", "jax")]
        if pth:
            child(_CHILD, timm_src, d / "timm.pth", "timm")
            cases.append((d / "timm.pth", "vitzoo"))
        for src, fmt in cases:
            dst = d / f"out_{src.name}_{fmt}"
            r = measure(src, dst, fmt)
            size = size_of(src)
            rows.append(dict(r, source=src.name, to=fmt, bytes=size, gb_per_s=size / 1e9 / r["seconds"],
                             peak_over_size=r["peak_kb"] * 1024 / size))
            shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
        return size_of(timm_src), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="vit_l_16", help="variant whose shapes the checkpoint has (default vit_l_16)")
    parser.add_argument("--pth", action="store_true", help="also convert a torch .pth (needs torch)")
    parser.add_argument("--workdir", type=Path, help="where to write the files (default: a temporary directory)")
    args = parser.parse_args()

    t = time.perf_counter()
    size, rows = bench(args.variant, args.pth, args.workdir)
    print(f"{args.variant}: {time.perf_counter() - t:.1f} s in all; checkpoint {size / 1e9:.3f} GB")
    print(f"{'source':<22} {'to':<7} {'GB':>6} {'s':>6} {'GB/s':>6} {'peak RSS MB':>12} {'x size':>7} {'VmHWM MB':>9} {'base MB':>8}")
    for r in rows:
        print(f"{r['source']:<22} {r['to']:<7} {r['bytes'] / 1e9:6.3f} {r['seconds']:6.2f} {r['gb_per_s']:6.2f} "
              f"{r['peak_kb'] / 1024:12.0f} {r['peak_over_size']:7.2f} {r['hwm_kb'] / 1024:9.0f} {r['base_kb'] / 1024:8.0f}")


if __name__ == "__main__":
    main()
