"""Training throughput: vitzoo's compiled MindSpore train step vs the equivalent timm/PyTorch loop.

Same model (the demo ViT by default: 32 px, patch 4, depth 4, width 64, 4 heads,
10 classes), same batch, AdamW with the same parameter groups, label smoothing 0.1,
synthetic data; both measured in the same run, interleaved, median of the rounds::

    python benchmarks/train_bench.py                       # demo model, batch 64
    python benchmarks/train_bench.py --img-size 224 --patch-size 16 --depth 12 --embed-dim 192 --num-heads 3 --batch-size 16
    python benchmarks/train_bench.py --data /tmp/digits    # also time whole epochs with vitzoo's data pipeline
    python benchmarks/train_bench.py --drop-path 0.1 --mixup 0.8   # the fine-tuning recipe's step on both sides

``--drop-path R`` gives both models timm's linearly increasing stochastic depth (vitzoo's
``set_drop_path``, timm's ``drop_path_rate``); ``--mixup A`` mixes every batch on the host
before the step (vitzoo's ``Mixup`` on NumPy, timm's ``Mixup`` on torch tensors, both with
label smoothing 0.1 folded into soft targets and a soft-target cross-entropy), so the mix's
cost is in both sides' rates.

Prints one line per framework and a JSON summary last: median img/s, the median of the
same-round ratios (the sides alternate round by round), and the fastest round of each (the
least disturbed one on a shared machine). ``--primitives`` adds the MindSpore step built
without vitzoo's fused kernels (``VITZOO_KERNELS=0``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Callable, Optional

import numpy as np

os.environ.setdefault("GLOG_v", "3")


def mindspore_step(args: argparse.Namespace, kernels: bool = True) -> Callable[[], None]:
    import mindspore as ms

    from vitzoo.backends.mindspore.train.step import build_optimizer, make_train_step
    from vitzoo.backends import get_backend
    from vitzoo.init import init_state
    from vitzoo.spec import ViTSpec
    from vitzoo.backends.mindspore.model.drop_path import set_drop_path
    from vitzoo.backends.mindspore.train.mixup import make_mixup
    from vitzoo.configs import TrainConfig

    spec = _spec(args, ViTSpec)
    saved = os.environ.get("VITZOO_KERNELS")
    os.environ["VITZOO_KERNELS"] = "1" if kernels else "0"  # read when the layers are built
    try:
        model = get_backend("mindspore").build(spec, init_state(spec))
    finally:
        os.environ.pop("VITZOO_KERNELS") if saved is None else os.environ.update(VITZOO_KERNELS=saved)
    if args.drop_path:
        set_drop_path(model, args.drop_path)
    model.set_train(True)
    cfg = TrainConfig("", batch_size=args.batch_size, lr=1e-3, weight_decay=0.05, drop_path=args.drop_path, mixup=args.mixup)
    step, _ = make_train_step(model, build_optimizer(model, cfg), cfg)
    go = ms.Tensor(0.0, ms.float32)  # no stop request
    rng = np.random.default_rng(0)
    images = rng.standard_normal((args.batch_size, 3, spec.img_size, spec.img_size), dtype=np.float32)
    labels = rng.integers(0, spec.num_classes, args.batch_size).astype(np.int32)
    x, y = ms.Tensor(images), ms.Tensor(labels)
    mix, mix_rng = make_mixup(cfg, spec.num_classes), np.random.RandomState(0)

    def run() -> None:
        if mix is None:
            step(x, y, go)[0].asnumpy()  # asnumpy waits for the step to finish
        else:
            mixed, targets = mix(images, labels, mix_rng)
            step(ms.Tensor(mixed), ms.Tensor(targets), go)[0].asnumpy()

    return run


def timm_step(args: argparse.Namespace) -> Callable[[], None]:
    import torch
    from timm.models.vision_transformer import VisionTransformer

    torch.set_num_threads(os.cpu_count() or 1)
    model = VisionTransformer(
        img_size=args.img_size, patch_size=args.patch_size, embed_dim=args.embed_dim, depth=args.depth,
        num_heads=args.num_heads, mlp_ratio=4.0, num_classes=args.num_classes, drop_path_rate=args.drop_path,
    )
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and n not in ("cls_token", "pos_embed")]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim > 1 and n not in ("cls_token", "pos_embed"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, 3, args.img_size, args.img_size, generator=gen)
    y = torch.randint(0, args.num_classes, (args.batch_size,), generator=gen)
    mix = None
    if args.mixup:
        from timm.data import Mixup
        from timm.loss import SoftTargetCrossEntropy

        mix, loss_fn = Mixup(mixup_alpha=args.mixup, label_smoothing=0.1, num_classes=args.num_classes), SoftTargetCrossEntropy()

    def run() -> None:
        opt.zero_grad(set_to_none=True)
        images, targets = mix(x.clone(), y) if mix is not None else (x, y)  # timm mixes in place
        loss_fn(model(images), targets).backward()
        opt.step()

    return run


def images_per_second(fn: Callable[[], None], steps: int, batch: int) -> float:
    tic = time.perf_counter()
    for _ in range(steps):
        fn()
    return steps * batch / (time.perf_counter() - tic)


def epoch_rate(args: argparse.Namespace) -> float:
    """Whole-epoch img/s of ``vitzoo train`` on ``--data`` (data pipeline + steps, no eval), second epoch."""
    import mindspore as ms

    from vitzoo.backends.mindspore.train import data as D
    from vitzoo.backends.mindspore.train.step import build_optimizer, make_train_step
    from vitzoo.backends.mindspore.train.trainer import build_model, open_folders
    from vitzoo.configs import TrainConfig

    cfg = TrainConfig(args.data, img_size=args.img_size, patch_size=args.patch_size, depth=args.depth, embed_dim=args.embed_dim,
                      num_heads=args.num_heads, batch_size=args.batch_size)
    train, _ = open_folders(args.data)
    model = build_model(cfg, len(train.classes))
    model.set_train(True)
    step, _ = make_train_step(model, build_optimizer(model, cfg), cfg)
    go = ms.Tensor(0.0, ms.float32)
    rate = 0.0
    for epoch in range(2):
        pipe = D.train_dataset(train, img_size=args.img_size, mean=[0.5] * 3, std=[0.5] * 3, augment="light", batch_size=args.batch_size, seed=epoch)
        tic, count = time.perf_counter(), 0
        for images, labels in pipe:
            step(ms.Tensor(images), ms.Tensor(labels), go)[0].asnumpy()
            count += len(labels)
        rate = count / (time.perf_counter() - tic)
    return rate


def _spec(args: argparse.Namespace, cls: type) -> object:
    return cls(img_size=args.img_size, patch_size=args.patch_size, depth=args.depth, embed_dim=args.embed_dim,
               num_heads=args.num_heads, mlp_dim=4 * args.embed_dim, num_classes=args.num_classes)


def main(argv: Optional[list] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--img-size", type=int, default=32)
    parser.add_argument("--patch-size", type=int, default=4)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--embed-dim", type=int, default=64)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--drop-path", type=float, default=0.0, help="stochastic depth of the last block, both sides")
    parser.add_argument("--mixup", type=float, default=0.0, help="mixup alpha, both sides (soft targets, smoothing 0.1)")
    parser.add_argument("--data", help="an ImageFolder with train/ and val/: also time whole epochs")
    parser.add_argument("--primitives", action="store_true", help="also time the MindSpore step without vitzoo's kernels")
    args = parser.parse_args(argv)

    runners = {"mindspore": mindspore_step(args), "timm": timm_step(args)}
    if args.primitives:
        runners["mindspore_primitives"] = mindspore_step(args, kernels=False)
    for fn in runners.values():  # compile / warm up
        for _ in range(3):
            fn()
    rates: dict[str, list[float]] = {name: [] for name in runners}
    order = list(runners)
    for r in range(args.rounds):  # interleaved, so all sides see the same machine load
        for name in order if r % 2 == 0 else order[::-1]:
            rates[name].append(images_per_second(runners[name], args.steps, args.batch_size))
    summary: dict[str, object] = {name: round(statistics.median(r), 1) for name, r in rates.items()}
    # median of same-round ratios: robust to load that changes between rounds
    summary["ratio_mindspore_to_timm"] = round(statistics.median(m / t for m, t in zip(rates["mindspore"], rates["timm"])), 3)
    if args.primitives:
        summary["ratio_primitives_to_timm"] = round(
            statistics.median(m / t for m, t in zip(rates["mindspore_primitives"], rates["timm"])), 3)
    # On a shared machine the fastest round is the least disturbed one: report it too.
    summary["best_round"] = {name: round(max(r), 1) for name, r in rates.items()}
    summary["best_round_ratio"] = round(max(rates["mindspore"]) / max(rates["timm"]), 3)
    for name in runners:
        print(f"{name:10s} {summary[name]:8.1f} img/s   rounds: {', '.join(f'{r:.0f}' for r in rates[name])}")
    if args.data:
        summary["mindspore_epoch_with_data"] = round(epoch_rate(args), 1)
        print(f"vitzoo train epoch (data pipeline + steps): {summary['mindspore_epoch_with_data']:.1f} img/s")
    summary.update(drop_path=args.drop_path, mixup=args.mixup)
    summary.update(batch_size=args.batch_size, model=f"img{args.img_size}/p{args.patch_size}/d{args.depth}/w{args.embed_dim}/h{args.num_heads}")
    summary["rounds"] = {name: [round(v, 2) for v in r] for name, r in rates.items()}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
