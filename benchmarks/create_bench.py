"""Cold and warm ``vitzoo.create(name, pretrained=True)`` → first logits, against timm, ViT-B/16.

Each measurement runs in a fresh Python process, so imports and file reads are
counted as a user sees them:

* ``vitzoo cold``: empty ``VITZOO_CACHE``: read the hub's timm ``model.safetensors``,
  convert, write the canonical cache file, build, first forward;
* ``vitzoo warm``: the canonical cache file exists: read it, build, first forward;
* ``timm``: ``timm.create_model("vit_base_patch16_224", pretrained=True,
  pretrained_cfg_overlay=dict(file=...))`` on the same file, first forward.

No network: random timm weights are laid out as a Hugging Face cache (blobs,
snapshots, refs) for the real entry ``vit_b_16.augreg2_in21k_ft_in1k`` and read
under ``HF_HUB_OFFLINE=1``, which is the path a user with a warm hub cache takes.
"Cold" means vitzoo's cache is empty; the OS page cache is warm for everyone.
Phases: ``import`` (the framework too: torch+timm, or vitzoo+MindSpore, which
``import vitzoo`` alone does not load), ``create``, first ``forward``.

Usage:
    python benchmarks/create_bench.py [--backend mindspore|numpy] [--repeat 3] [--jit]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAME = "vit_b_16.augreg2_in21k_ft_in1k"
TIMM_ARCH = "vit_base_patch16_224"
REPO = f"timm/{TIMM_ARCH}.augreg2_in21k_ft_in1k"
COMMIT = "0" * 40

VITZOO_CHILD = """
import time; t0 = time.perf_counter()
import json, sys, numpy as np
import vitzoo
if sys.argv[2] == "mindspore":
    import mindspore  # the framework's import is part of the import phase, as torch's is for timm
t1 = time.perf_counter()
model = vitzoo.create(sys.argv[1], pretrained=True, backend=sys.argv[2], jit=sys.argv[3] == "1")
t2 = time.perf_counter()
x = np.load(sys.argv[4])
if sys.argv[2] == "mindspore":
    import mindspore as ms
    logits = model(ms.Tensor(x)).asnumpy()
else:
    logits = model(x)
t3 = time.perf_counter()
np.save(sys.argv[5], logits)
print(json.dumps(dict(import_s=t1 - t0, create_s=t2 - t1, forward_s=t3 - t2, total_s=t3 - t0)))
"""

TIMM_CHILD = """
import time; t0 = time.perf_counter()
import json, sys, numpy as np, torch, timm
t1 = time.perf_counter()
model = timm.create_model(sys.argv[1], pretrained=True, pretrained_cfg_overlay=dict(file=sys.argv[2])).eval()
t2 = time.perf_counter()
with torch.no_grad():
    logits = model(torch.from_numpy(np.load(sys.argv[3]))).numpy()
t3 = time.perf_counter()
np.save(sys.argv[4], logits)
print(json.dumps(dict(import_s=t1 - t0, create_s=t2 - t1, forward_s=t3 - t2, total_s=t3 - t0)))
"""


def prepare_hub_cache(root: Path) -> Path:
    """Random timm ViT-B/16 weights as the hub cache holds ``REPO``; returns the snapshot's weights file."""
    import numpy as np
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = timm.create_model(TIMM_ARCH, pretrained=False).eval()
    with torch.no_grad():  # non-trivial norms too, so a mismatch would show in the logits
        for name, p in model.named_parameters():
            if p.ndim == 1 and name.endswith(".weight"):
                p.add_(torch.randn_like(p) * 0.1)
    repo_dir = root / "hub" / f"models--{REPO.replace('/', '--')}"
    tmp = root / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    config = json.dumps({"architecture": TIMM_ARCH, "num_classes": 1000, "pretrained_cfg": {"crop_pct": 0.9}}).encode()
    files = {"model.safetensors": tmp.read_bytes(), "config.json": config}
    for fname, data in files.items():
        blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo_dir / "snapshots" / COMMIT / fname
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(f"../../blobs/{blob.name}")
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(COMMIT)
    tmp.unlink()
    np.save(root / "x.npy", np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32))
    return repo_dir / "snapshots" / COMMIT / "model.safetensors"


def run_child(code: str, args: list[str], env: dict[str, str]) -> dict[str, float]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"child failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_s"] = wall
    return result


def measure(backend: str = "mindspore", repeat: int = 3, jit: bool = False) -> dict:
    """Median seconds per phase for "vitzoo cold", "vitzoo warm" and "timm", and the logit differences.

    Returns ``{"median": {kind: {phase: s}}, "runs": {kind: [...]}, "max_diff": {"cold": d, "warm": d}}``.
    """
    import numpy as np

    root = Path(tempfile.mkdtemp(prefix="vitzoo-create-bench-"))
    try:
        weights_file = prepare_hub_cache(root)
        env = dict(os.environ, HF_HOME=str(root), HF_HUB_OFFLINE="1", GLOG_v="3", TQDM_DISABLE="1")
        env.pop("HF_HUB_CACHE", None)
        results: dict[str, list[dict[str, float]]] = {"vitzoo cold": [], "vitzoo warm": [], "timm": []}
        for i in range(repeat):
            cache = root / f"vitzoo-cache-{i}"
            vz_env = dict(env, VITZOO_CACHE=str(cache))
            vz_args = [NAME, backend, "1" if jit else "0", str(root / "x.npy")]
            results["vitzoo cold"].append(run_child(VITZOO_CHILD, vz_args + [str(root / "vz_cold.npy")], vz_env))
            results["vitzoo warm"].append(run_child(VITZOO_CHILD, vz_args + [str(root / "vz_warm.npy")], vz_env))
            results["timm"].append(run_child(TIMM_CHILD, [TIMM_ARCH, str(weights_file), str(root / "x.npy"), str(root / "timm.npy")], env))
            shutil.rmtree(cache)
        ref = np.load(root / "timm.npy")
        diff_cold = float(np.abs(np.load(root / "vz_cold.npy") - ref).max())
        diff_warm = float(np.abs(np.load(root / "vz_warm.npy") - ref).max())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    keys = ("import_s", "create_s", "forward_s", "total_s", "process_s")
    med = {k: {f: statistics.median(r[f] for r in runs) for f in keys} for k, runs in results.items()}
    return {"median": med, "runs": results, "max_diff": {"cold": diff_cold, "warm": diff_warm}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="mindspore", choices=["mindspore", "numpy"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jit", action="store_true", help="compile the MindSpore forward (graph mode)")
    args = parser.parse_args()

    out = measure(args.backend, args.repeat, args.jit)
    med = out["median"]
    keys = ("import_s", "create_s", "forward_s", "total_s", "process_s")
    print(f"ViT-B/16, 1 image 224 px, backend={args.backend}{' (jit)' if args.jit else ''}, median of {args.repeat} runs, seconds")
    print(f"{'':<12}" + "".join(f"{k[:-2]:>10}" for k in keys))
    for k, row in med.items():
        print(f"{k:<12}" + "".join(f"{row[f]:>10.2f}" for f in keys))
    t = med["timm"]
    for k in ("vitzoo cold", "vitzoo warm"):
        r = med[k]
        print(f"{k} / timm: create {r['create_s'] / t['create_s']:.2f}x, create+forward "
              f"{(r['create_s'] + r['forward_s']) / (t['create_s'] + t['forward_s']):.2f}x, whole process {r['process_s'] / t['process_s']:.2f}x")
    print(f"max |logit diff| vs timm: cold {out['max_diff']['cold']:.2e}, warm {out['max_diff']['warm']:.2e}")


if __name__ == "__main__":
    main()
