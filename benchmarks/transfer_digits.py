"""Transfer on scikit-learn's digits: pre-train a small ViT on digits 0-4, fine-tune on 5-9 three ways.

The issue #24 experiment. The digits are scripts/make_demo.py's 32-px ImageFolder (80/20 split drawn
with ``numpy.random.default_rng(0).permutation``); classes 0-4 and 5-9 become two data sets. A ViT
(patch 4, depth 4, width 64, 4 heads) is pre-trained from scratch on 0-4 with make_demo's recipe, then
its checkpoint is fine-tuned on 5-9 with a new head:

``defaults``      ``vitzoo train B --pretrained PRE``: today's defaults (lr 1e-4, light augmentation)
``finetune``      ``... --recipe finetune`` (layer decay 0.65, drop path 0.1, mixup/cutmix, RandAugment, erasing)
``linear-probe``  ``... --linear-probe --lr 1e-2``: the head alone on cached features (a head from zero
                  needs a larger rate than the default 1e-4 to move in a few epochs)

Each run is a fresh process (imports, compilation and data loading count); the held-out top-1 is
``vitzoo eval`` of the run's ``last.safetensors`` on the 5-9 held-out images. About 5-8 minutes on
2 cores. The last stdout line is a JSON summary::

    python benchmarks/transfer_digits.py                 # 30 pre-training epochs, 15 fine-tuning epochs
    python benchmarks/transfer_digits.py --pre-epochs 10 --epochs 5

Needs scikit-learn (``pip install scikit-learn``).
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
from typing import Optional

HERE = Path(__file__).resolve().parent
ENV = dict(os.environ, GLOG_v="3", TQDM_DISABLE="1")
ARCH = ["--img-size", "32", "--patch-size", "4", "--depth", "4", "--embed-dim", "64", "--num-heads", "4"]
WAYS = {"defaults": [], "finetune": ["--recipe", "finetune"], "linear-probe": ["--linear-probe", "--lr", "1e-2"]}


def split_classes(digits: Path, out: Path, classes: list[str]) -> Path:
    """``out/{train,val}/<digit>/`` holding only ``classes`` (copies of the digit folders)."""
    for part in ("train", "val"):
        for name in classes:
            shutil.copytree(digits / part / name, out / part / name)
    return out


def vitzoo(*args: str) -> tuple[str, float]:
    """Run ``python -m vitzoo ARGS`` in a fresh process; its stdout and wall time in seconds."""
    tic = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "vitzoo", *args], stdout=subprocess.PIPE, text=True, env=ENV)
    seconds = time.perf_counter() - tic
    if proc.returncode:
        sys.exit(f"vitzoo {' '.join(args)} failed with exit code {proc.returncode}")
    return proc.stdout, seconds


def heldout_top1(data: Path, weights: Path) -> float:
    out, _ = vitzoo("eval", str(data / "val"), "--weights", str(weights), "--json", "--no-progress")
    return round(json.loads(out.splitlines()[-1])["top1"], 2)


def main(argv: Optional[list[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--pre-epochs", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=15, help="fine-tuning epochs of each way")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(HERE.parent / "scripts"))
    from make_demo import TRAIN_ARGS, export_digits

    work = args.work or Path(tempfile.mkdtemp(prefix="vitzoo-transfer-"))
    shutil.rmtree(work, ignore_errors=True)
    export_digits(work / "digits")
    first = split_classes(work / "digits", work / "digits_0-4", [str(d) for d in range(5)])
    second = split_classes(work / "digits", work / "digits_5-9", [str(d) for d in range(5, 10)])

    _, pre_s = vitzoo("train", str(first), *TRAIN_ARGS, "--epochs", str(args.pre_epochs), "--warmup-epochs", "3",
                      "--output", str(work / "pre"), "--no-progress")
    pre = work / "pre" / "last.safetensors"
    summary: dict = {"pretrain": {"epochs": args.pre_epochs, "heldout_top1_0-4": heldout_top1(first, pre), "seconds": round(pre_s, 1)}}
    for way, flags in WAYS.items():
        out = work / way
        command = ["train", str(second), "--pretrained", str(pre), "--epochs", str(args.epochs), *flags, "--output", str(out), "--no-progress"]
        _, seconds = vitzoo(*command)
        summary[way] = {"heldout_top1_5-9": heldout_top1(second, out / "last.safetensors"), "seconds": round(seconds, 1),
                        "command": "vitzoo " + " ".join(command).replace(str(work) + "/", "")}
        print(f"{way}: {summary[way]}", file=sys.stderr)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
