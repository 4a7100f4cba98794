"""``vitzoo embed`` throughput against a plain timm feature-extraction loop, in one run.

Both sides embed the same folder of JPEG photos end to end (decode, the weights'
eval preprocessing, forward, pooled features out), with the same random weights,
fp32 on CPU, batch 32:

* timm: ``resolve_data_config`` + ``create_transform``, a Python loop that decodes with
  Pillow, stacks batches and runs ``model(x)`` (``num_classes=0``: the pooled features)
  under ``torch.inference_mode``;
* vitzoo: ``vitzoo.embed(folder, model)`` (mindspore.dataset pipeline, compiled graph).
  The first call compiles the graph; rounds after it reuse it (reported separately).

Rounds alternate timm / vitzoo so both see the same machine load; the ratio is the
median of per-round ratios. The embeddings of both sides are compared (max |diff|).

Usage:
    python benchmarks/embed_bench.py                   # ViT-B/16 and DINOv2-B/14 at 224 px, 64 images, 3 rounds
    python benchmarks/embed_bench.py --images 32 --rounds 2 --models vit_base_patch16_224
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("GLOG_v", "3")
MODELS = ("vit_base_patch16_224", "vit_base_patch14_dinov2")


def make_photos(folder: Path, count: int, seed: int = 0) -> None:
    """Smooth random 320×256 colour images saved as JPEG (realistic decode cost, no download)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(count):
        small = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
        Image.fromarray(small).resize((320, 256), Image.BICUBIC).save(folder / f"{i:04d}.jpg", quality=90)


def timm_model(arch: str):
    import timm
    import torch

    torch.manual_seed(0)
    model = timm.create_model(arch, pretrained=False, num_classes=0, img_size=224)
    with torch.no_grad():  # non-trivial norms and biases
        for p in model.parameters():
            if p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


def timm_embed(model, files: list[Path], batch_size: int) -> tuple[np.ndarray, float]:
    import torch
    from PIL import Image
    from timm.data import create_transform, resolve_data_config

    transform = create_transform(**resolve_data_config({"input_size": (3, 224, 224)}, model=model))
    out = []
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(files), batch_size):
            batch = torch.stack([transform(Image.open(f).convert("RGB")) for f in files[i : i + batch_size]])
            out.append(model(batch).numpy())
    return np.concatenate(out), time.perf_counter() - start


def vitzoo_model(timm_net, folder: Path):
    """The same weights through a timm safetensors file, with timm's preprocessing config."""
    import vitzoo
    from safetensors.torch import save_file
    from timm.data import resolve_data_config

    path = folder / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in timm_net.state_dict().items()}, str(path))
    model = vitzoo.create(pretrained=str(path))
    cfg = resolve_data_config({"input_size": (3, 224, 224)}, model=timm_net)
    model.pretrained_cfg = dict(model.pretrained_cfg, pretrained_cfg={
        "input_size": list(cfg["input_size"]), "interpolation": cfg["interpolation"], "crop_pct": cfg["crop_pct"],
        "crop_mode": cfg.get("crop_mode", "center"), "mean": list(cfg["mean"]), "std": list(cfg["std"]),
    })
    return model


def bench(arch: str, photos: Path, files: list[Path], rounds: int, batch_size: int) -> dict:
    import vitzoo

    net = timm_model(arch)
    with tempfile.TemporaryDirectory() as tmp:
        model = vitzoo_model(net, Path(tmp))
    t0 = time.perf_counter()
    vitzoo.embed(photos, model, batch_size=batch_size)  # the first call: compiles the graph
    first_s = time.perf_counter() - t0
    rows = []
    for _ in range(rounds):
        ref, timm_s = timm_embed(net, files, batch_size)
        t0 = time.perf_counter()
        ours = vitzoo.embed(photos, model, batch_size=batch_size)
        ours_s = time.perf_counter() - t0
        rows.append((len(files) / timm_s, len(files) / ours_s))
    diff = float(np.abs(ours["embeddings"] - ref).max())
    return {
        "model": arch,
        "images": len(files),
        "timm_img_s": statistics.median(r[0] for r in rows),
        "vitzoo_img_s": statistics.median(r[1] for r in rows),
        "ratio": statistics.median(r[1] / r[0] for r in rows),
        "vitzoo_first_call_img_s": len(files) / first_s,
        "max_abs_diff": diff,
        "rounds": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    flags = subprocess.run("lscpu | grep -o 'avx[0-9a-z_]*' | sort -u | tr '\\n' ' '", shell=True, capture_output=True, text=True).stdout
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, flags: {flags.strip()}; load {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp)
        make_photos(photos, args.images)
        files = sorted(photos.glob("*.jpg"))
        results = []
        for arch in args.models:
            row = bench(arch, photos, files, args.rounds, args.batch_size)
            results.append(row)
            print(
                f"{arch}: timm {row['timm_img_s']:.2f} img/s, vitzoo embed {row['vitzoo_img_s']:.2f} img/s "
                f"(x{row['ratio']:.2f}; first call with compilation {row['vitzoo_first_call_img_s']:.2f} img/s), "
                f"max |diff| {row['max_abs_diff']:.2g}"
            )
    print(f"load after: {os.getloadavg()}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
