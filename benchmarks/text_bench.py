"""Zero-shot rows: CLIP text encoding and the ImageNet zero-shot classifier build, vitzoo against open_clip.

Both rows use one random open_clip ``ViT-B-16`` checkpoint (1-D parameters perturbed, so a
wrong norm or bias shows), written once per run as ``open_clip_model.safetensors``:

* **text encoding** (``text_b16``): 256 prompts (OpenAI's ImageNet templates filled with
  ImageNet class names), tokenized once by open_clip's tokenizer; each side is a worker
  process (``worker`` sub-command below) timing ``encode_text`` on those ids: vitzoo's
  MindSpore model (``create_clip(..., jit=True)``) and open_clip's ``model.encode_text`` in torch
  under ``inference_mode``, same thread count. The parent asks them in turn, round after
  round, alternating the order; the ratio is the median of per-round (open_clip s / vitzoo s).
* **zero-shot classifier build** (``zs_classifier``): ``vitzoo.zero_shot_classifier`` against
  open_clip's ``build_zero_shot_classifier`` (both batch 10 classes, i.e. 800 prompts a
  call), 1,000 ImageNet classes × 80 OpenAI templates, wall time of one build each, in
  fresh processes (tokenization included, model building not). ``--classes N`` builds
  for the first N classes only (``--quick``: 20), which a 2-core machine needs: the full
  build encodes 80,000 prompts per side.

The largest difference between the two sides' embeddings / class weights is reported.

Usage:
    python benchmarks/text_bench.py text --rounds 3
    python benchmarks/text_bench.py classifier --classes 20
    python benchmarks/text_bench.py classifier --only vitzoo      # the full 1,000-class build, vitzoo's side alone
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENV = dict(os.environ, GLOG_v="3", TQDM_DISABLE="1")
MODEL = "ViT-B-16"

_WEIGHTS = """
import sys, torch, open_clip
from safetensors.torch import save_file
torch.manual_seed(0)
model = open_clip.create_model(sys.argv[1], pretrained=None)
with torch.no_grad():  # non-trivial norms and biases
    for p in model.parameters():
        if p.ndim == 1:
            p.add_(torch.randn_like(p) * 0.1)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, sys.argv[2])
"""


def weights(folder: Path) -> Path:
    """The random open_clip checkpoint both sides load (written once per folder)."""
    path = folder / "open_clip_model.safetensors"
    if not path.exists():
        subprocess.run([sys.executable, "-c", _WEIGHTS, MODEL, str(path)], check=True, env=ENV)
    return path


def prompts(count: int) -> list[str]:
    """``count`` prompts: every OpenAI template for the first classes, as a classifier build encodes them."""
    from vitzoo.zero_shot import IMAGENET_CLASSNAMES, OPENAI_IMAGENET_TEMPLATES

    return [t.format(c) for c in IMAGENET_CLASSNAMES for t in OPENAI_IMAGENET_TEMPLATES][:count]


def build(framework: str, path: Path, threads: int):
    """The model of one side, built from ``path``; returns (model, encode ids → NumPy embeddings)."""
    if framework == "vitzoo":
        import mindspore as ms

        ms.device_context.cpu.op_tuning.threads_num(threads)  # before the first operator
        import vitzoo

        model = vitzoo.create_clip(MODEL, pretrained=str(path), jit=True)
        return model, lambda ids: model.encode_text(ids).asnumpy()
    import open_clip
    import torch

    torch.set_num_threads(threads)
    model = open_clip.create_model(MODEL, pretrained=str(path)).eval()

    def encode(ids):
        with torch.inference_mode():
            return model.encode_text(torch.from_numpy(ids)).numpy()

    return model, encode


def worker(args: argparse.Namespace) -> None:
    """One side of the text row: build, one untimed call (compilation), then timed calls on request."""
    import numpy as np

    t0 = time.perf_counter()
    _, encode = build(args.framework, Path(args.weights), args.threads)
    t1 = time.perf_counter()
    ids = np.load(args.ids)
    np.save(args.out, encode(ids))
    t2 = time.perf_counter()
    print(json.dumps({"ready": True, "build_s": t1 - t0, "first_call_s": t2 - t1}), flush=True)
    for line in sys.stdin:
        if not line.strip() or line.strip() == "quit":
            break
        times = []
        for _ in range(int(line)):
            t = time.perf_counter()
            encode(ids)
            times.append(time.perf_counter() - t)
        print(json.dumps({"times": times}), flush=True)


def text_row(folder: Path, rounds: int, threads: int, count: int = 256, before_round=None) -> dict:
    """Alternate the two text workers; prompts/s and the median of per-round ratios."""
    import numpy as np
    import open_clip

    from run import Worker

    path = weights(folder)
    ids_file = folder / "text_ids.npy"
    np.save(ids_file, open_clip.get_tokenizer(MODEL)(prompts(count)).numpy())
    workers = {}
    try:
        for label in ("open_clip", "vitzoo"):  # built one at a time: clean first-call times
            argv = ["worker", "--framework", label, "--weights", str(path), "--ids", str(ids_file),
                    "--threads", str(threads), "--out", str(folder / f"text_{label}.npy")]
            workers[label] = Worker(label, argv, script="text_bench.py")
        seconds: dict[str, list[float]] = {k: [] for k in workers}
        busy = []
        order = list(workers)
        for r in range(rounds):
            if before_round is not None:
                busy.append(before_round())
            for label in order if r % 2 == 0 else order[::-1]:
                seconds[label].append(workers[label].time(1))
    finally:
        for w in workers.values():
            w.close()
    ref = np.load(folder / "text_open_clip.npy")
    diff = float(np.abs(np.load(folder / "text_vitzoo.npy") - ref).max())
    sides = {label: {"prompts_per_s": count / statistics.median(s), "seconds": s, **workers[label].ready} for label, s in seconds.items()}
    ratio = statistics.median(o / v for o, v in zip(seconds["open_clip"], seconds["vitzoo"]))
    return {"model": MODEL, "prompts": count, "threads": threads, "rounds": rounds, "busy_before_rounds": busy, "sides": sides,
            "ratio": ratio, "max_diff": diff, "ref_scale": float(np.abs(ref).max())}


def classifier_one(args: argparse.Namespace) -> None:
    """One side of the classifier row in this process: build the model, then time one classifier build."""
    import numpy as np

    from vitzoo.zero_shot import IMAGENET_CLASSNAMES, OPENAI_IMAGENET_TEMPLATES

    model, _ = build(args.framework, Path(args.weights), args.threads)
    classes = list(IMAGENET_CLASSNAMES[: args.classes])
    start = time.perf_counter()
    if args.framework == "vitzoo":
        import vitzoo

        weights_ = vitzoo.zero_shot_classifier(model, classes, OPENAI_IMAGENET_TEMPLATES, batch_size=10)
    else:
        import open_clip
        import torch
        from open_clip.zero_shot_classifier import build_zero_shot_classifier

        with torch.inference_mode():
            weights_ = build_zero_shot_classifier(model, open_clip.get_tokenizer(MODEL), classes, OPENAI_IMAGENET_TEMPLATES,
                                                  num_classes_per_batch=10, device="cpu", use_tqdm=False).numpy()
    seconds = time.perf_counter() - start
    np.save(args.out, weights_)
    print(json.dumps({"seconds": seconds}))


def classifier_row(folder: Path, classes: int, threads: int, sides: tuple = ("open_clip", "vitzoo")) -> dict:
    """The classifier builds of ``sides``, each in a fresh process, open_clip first (ratio and difference with both)."""
    import numpy as np

    path = weights(folder)
    out: dict = {"model": MODEL, "classes": classes, "templates": 80, "prompts": classes * 80, "threads": threads,
                 "load_before": os.getloadavg()}
    for label in sides:
        cmd = [sys.executable, str(HERE / "text_bench.py"), "classifier-one", "--framework", label, "--weights", str(path),
               "--classes", str(classes), "--threads", str(threads), "--out", str(folder / f"zs_{label}.npy")]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
        out[f"{label}_s"] = json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]
    out["load_after"] = os.getloadavg()
    if len(sides) < 2:
        return out
    out["ratio"] = out["open_clip_s"] / out["vitzoo_s"]
    out["max_diff"] = float(np.abs(np.load(folder / "zs_vitzoo.npy") - np.load(folder / "zs_open_clip.npy")).max())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("text", "classifier", "worker", "classifier-one"):
        p = sub.add_parser(name)
        p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
        if name == "text":
            p.add_argument("--rounds", type=int, default=3)
            p.add_argument("--prompts", type=int, default=256)
        if name in ("classifier", "classifier-one"):
            p.add_argument("--classes", type=int, default=1000)
        if name == "classifier":
            p.add_argument("--only", choices=["vitzoo", "open_clip"], help="time one side only (the full build takes long)")
        if name in ("worker", "classifier-one"):
            p.add_argument("--framework", choices=["vitzoo", "open_clip"], required=True)
            p.add_argument("--weights", required=True)
            p.add_argument("--out", required=True)
        if name == "worker":
            p.add_argument("--ids", required=True)
    args = parser.parse_args()
    if args.cmd == "worker":
        return worker(args)
    if args.cmd == "classifier-one":
        return classifier_one(args)
    sys.path.insert(0, str(HERE))
    with tempfile.TemporaryDirectory(prefix="vitzoo-text-bench-") as tmp:
        if args.cmd == "text":
            res = text_row(Path(tmp), args.rounds, args.threads, args.prompts)
        else:
            res = classifier_row(Path(tmp), args.classes, args.threads, (args.only,) if args.only else ("open_clip", "vitzoo"))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
