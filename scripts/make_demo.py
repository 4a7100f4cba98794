"""Rebuild the embedded demo model: a small ViT trained by ``vitzoo train`` on scikit-learn's digits.

One command (about 10-20 minutes on 2 CPU cores)::

    python scripts/make_demo.py                # writes vitzoo/data/demo_digits.safetensors + vitzoo/data/demo/*.png

Steps: export the 1797 8×8 digits as a 32×32 ImageFolder (``WORK/digits/{train,val}/<digit>/``;
80/20 split drawn with ``numpy.random.default_rng(0).permutation``, bilinear upscaling,
pixel value = ink × 255/16), train with ``vitzoo train`` (patch 4, depth 4, width 64,
4 heads, 60 epochs, AdamW lr 1e-3 wd 0.05, batch 64, 10% warm-up, label smoothing 0.1,
pad-2 + random-crop augmentation), check the held-out top-1 with ``vitzoo eval``,
then copy the final weights and the first held-out image of each digit into the package.
Needs scikit-learn (``pip install scikit-learn``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "vitzoo" / "data"
SIZE = 32
TRAIN_ARGS = [
    "--img-size", "32", "--patch-size", "4", "--depth", "4", "--embed-dim", "64", "--num-heads", "4",
    "--batch-size", "64", "--lr", "1e-3", "--weight-decay", "0.05", "--warmup-epochs", "6",
    "--label-smoothing", "0.1", "--optimizer", "adamw", "--augment", "light", "--seed", "0",
]


def export_digits(root: Path) -> dict[str, list[Path]]:
    """Write the digits as ``root/{train,val}/<digit>/<index>.png``; return the val files per digit."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.images))
    n_train = int(0.8 * len(order))
    val_files: dict[str, list[Path]] = {}
    for split, indices in (("train", order[:n_train]), ("val", order[n_train:])):
        for i in indices:
            label = str(int(digits.target[i]))
            pixels = np.round(digits.images[i] * (255.0 / 16.0)).astype(np.uint8)
            image = Image.fromarray(pixels, mode="L").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
            path = root / split / label / f"{int(i):04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path)
            if split == "val":
                val_files.setdefault(label, []).append(path)
    return val_files


def vitzoo_cli(*args: str) -> str:
    """Run ``python -m vitzoo ARGS`` (this interpreter), echoing its progress; return its stdout."""
    proc = subprocess.run([sys.executable, "-m", "vitzoo", *args], stdout=subprocess.PIPE, text=True)
    if proc.returncode:
        sys.exit(f"vitzoo {' '.join(args)} failed with exit code {proc.returncode}")
    return proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--no-install", action="store_true", help="train and evaluate only; leave vitzoo/data alone")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="vitzoo-demo-"))
    data_dir, run_dir = work / "digits", work / "run"
    shutil.rmtree(data_dir, ignore_errors=True)
    shutil.rmtree(run_dir, ignore_errors=True)
    val_files = export_digits(data_dir)
    print(f"exported digits to {data_dir}", file=sys.stderr)

    start = time.perf_counter()
    vitzoo_cli("train", str(data_dir), *TRAIN_ARGS, "--epochs", str(args.epochs), "--output", str(run_dir), "--no-progress")
    minutes = (time.perf_counter() - start) / 60
    weights = run_dir / "last.safetensors"
    result = json.loads(vitzoo_cli("eval", str(data_dir / "val"), "--weights", str(weights), "--json", "--no-progress").splitlines()[-1])
    summary = {"heldout_top1": round(result["top1"], 2), "heldout_images": result["images"], "epochs": args.epochs, "train_minutes": round(minutes, 1)}
    print(json.dumps(summary))

    if not args.no_install:
        from vitzoo.weights import load_file, save_file

        ckpt = load_file(weights)
        ckpt.meta["source"] = f"scikit-learn digits, scripts/make_demo.py ({args.epochs} epochs, held-out top-1 {summary['heldout_top1']}%)"
        save_file(ckpt, DATA / "demo_digits.safetensors")
        samples = DATA / "demo"
        shutil.rmtree(samples, ignore_errors=True)
        samples.mkdir(parents=True)
        for label, files in sorted(val_files.items()):
            shutil.copyfile(sorted(files)[0], samples / f"{label}.png")
        print(f"installed {DATA / 'demo_digits.safetensors'} and {len(val_files)} samples in {samples}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
