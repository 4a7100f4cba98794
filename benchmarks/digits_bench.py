"""Wall time of the README's digits training: ``vitzoo train`` against the same recipe as a timm/PyTorch loop.

The recipe is ``scripts/make_demo.py``'s (scikit-learn's digits as a 32-px ImageFolder,
1,437 train / 360 val images; patch 4, depth 4, width 64, 4 heads; AdamW lr 1e-3 wd 0.05
with no decay on 1-D tensors and tokens, batch 64, 10% linear warm-up then cosine per
step, label smoothing 0.1, pad-2 random-crop augmentation). Each epoch trains, evaluates
top-1/top-5 on val and saves the last (weights + optimizer) and best weights, as
``vitzoo train`` does. Both sides run as fresh processes, so imports, graph compilation
and data loading all count::

    python benchmarks/digits_bench.py                  # 60 epochs, as the README's run
    python benchmarks/digits_bench.py --epochs 20 --rounds 2

The timm side is what a PyTorch user writes: torchvision's ``ImageFolder`` and
``DataLoader``, timm's ``VisionTransformer``, ``torch.optim.AdamW``, ``torch.save``.
``--loader-workers`` sets its DataLoader processes (default 0: on 2 cores that was the
faster choice, see benchmarks/README.md). The last stdout line is a JSON summary.
Needs scikit-learn (``pip install scikit-learn``) for the digits.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
ENV = dict(os.environ, GLOG_v="3", TQDM_DISABLE="1")


def vitzoo_args(data: Path, epochs: int, out: Path) -> list[str]:
    """The ``vitzoo train`` command line of scripts/make_demo.py."""
    sys.path.insert(0, str(HERE.parent / "scripts"))
    from make_demo import TRAIN_ARGS

    return [sys.executable, "-m", "vitzoo", "train", str(data), *TRAIN_ARGS, "--epochs", str(epochs), "--output", str(out), "--no-progress"]


def timm_loop(data: Path, epochs: int, out: Path, workers: int) -> None:
    """scripts/make_demo.py's recipe as a plain timm/PyTorch training script."""
    import torch
    from safetensors.torch import save_file
    from timm.models.vision_transformer import VisionTransformer
    from torchvision import datasets, transforms
    from torchvision.transforms import InterpolationMode

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    norm = transforms.Normalize([0.5] * 3, [0.5] * 3)
    base = [transforms.Resize(32, InterpolationMode.BICUBIC), transforms.CenterCrop(32)]
    train_tf = transforms.Compose(base + [transforms.RandomCrop(32, padding=2), transforms.ToTensor(), norm])
    val_tf = transforms.Compose(base + [transforms.ToTensor(), norm])
    train_set, val_set = datasets.ImageFolder(data / "train", train_tf), datasets.ImageFolder(data / "val", val_tf)
    loader_kw = dict(batch_size=64, num_workers=workers, persistent_workers=workers > 0)
    train_loader = torch.utils.data.DataLoader(train_set, shuffle=True, drop_last=True, **loader_kw)
    val_loader = torch.utils.data.DataLoader(val_set, shuffle=False, **loader_kw)

    model = VisionTransformer(img_size=32, patch_size=4, embed_dim=64, depth=4, num_heads=4, mlp_ratio=4.0, num_classes=len(train_set.classes))
    skip = {"cls_token", "pos_embed"}
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and n not in skip]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1 or n in skip]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    steps = len(train_loader)
    total, warmup = steps * epochs, round(0.1 * epochs * steps)
    out.mkdir(parents=True, exist_ok=True)
    best = -1.0
    for epoch in range(epochs):
        model.train()
        losses = []
        for index, (x, y) in enumerate(train_loader):
            step = epoch * steps + index
            lr = 1e-3 * (step + 1) / warmup if step < warmup else 0.5e-3 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        model.eval()
        top1 = top5 = count = 0
        with torch.no_grad():
            for x, y in val_loader:
                top = model(x).topk(5, dim=1).indices
                top1 += int((top[:, 0] == y).sum())
                top5 += int((top == y[:, None]).any(dim=1).sum())
                count += len(y)
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, out / "last.safetensors")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch + 1}, out / "last.pth")
        if top1 / count > best:
            best = top1 / count
            save_file(state, out / "best.safetensors")
        with open(out / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"epoch": epoch + 1, "loss": sum(losses) / len(losses), "val_top1": 100 * top1 / count,
                                "val_top5": 100 * top5 / count}) + "\n")
    print(json.dumps({"best_top1": round(100 * best, 2)}))


def timed(cmd: list[str]) -> float:
    """Seconds for one fresh process running ``cmd`` to finish (it must succeed)."""
    tic = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    seconds = time.perf_counter() - tic
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return seconds


def best_top1(run: Path) -> float:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return max(r["val_top1"] for r in rows)


def measure(epochs: int, rounds: int, workers: int) -> dict:
    """Alternate the two runs ``rounds`` times; median wall seconds and the median of same-round ratios."""
    sys.path.insert(0, str(HERE.parent / "scripts"))
    from make_demo import export_digits

    seconds: dict[str, list[float]] = {"vitzoo": [], "timm": []}
    top1: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="vitzoo-digits-") as tmp:
        data = Path(tmp) / "digits"
        export_digits(data)
        for r in range(rounds):
            for side in ("vitzoo", "timm") if r % 2 == 0 else ("timm", "vitzoo"):
                out = Path(tmp) / f"run_{side}_{r}"
                cmd = (vitzoo_args(data, epochs, out) if side == "vitzoo" else
                       [sys.executable, __file__, "--timm-loop", str(data), "--epochs", str(epochs), "--output", str(out),
                        "--loader-workers", str(workers)])
                seconds[side].append(timed(cmd))
                top1[side] = best_top1(out)
                shutil.rmtree(out)
    ratios = [v / t for v, t in zip(seconds["vitzoo"], seconds["timm"])]
    return {"epochs": epochs, "rounds": rounds, "loader_workers": workers,
            "vitzoo_s": round(statistics.median(seconds["vitzoo"]), 1), "timm_s": round(statistics.median(seconds["timm"]), 1),
            "ratio_vitzoo_to_timm": round(statistics.median(ratios), 3), "best_val_top1": top1,
            "seconds": {k: [round(s, 1) for s in v] for k, v in seconds.items()}}


def main(argv: Optional[list[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=1, help="runs of each side, alternating")
    parser.add_argument("--loader-workers", type=int, default=0, help="DataLoader worker processes on the timm side")
    parser.add_argument("--timm-loop", type=Path, metavar="DATA", help=argparse.SUPPRESS)  # the timm side's own process
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.timm_loop:
        timm_loop(args.timm_loop, args.epochs, args.output, args.loader_workers)
        return {}
    summary = measure(args.epochs, args.rounds, args.loader_workers)
    print(f"vitzoo train {summary['vitzoo_s']:.1f} s, timm loop {summary['timm_s']:.1f} s "
          f"({args.epochs} epochs): {summary['ratio_vitzoo_to_timm']:.2f}x timm's wall time")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
