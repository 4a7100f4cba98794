"""``vitzoo eval DATA_DIR [--model NAME | --weights FILE]``: top-1/top-5 accuracy on an ImageFolder.

Example::

    vitzoo eval imagenet/val --model vit_b_16          # synset folders n01440764/ ... map to ImageNet-1k
    vitzoo eval digits/val --weights runs/digits/best.safetensors --json
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir", metavar="DATA_DIR", help="folder with one sub-folder of images per class")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", help="model name with pretrained weights, e.g. vit_b_16 or vit_b_16.augreg_in1k")
    source.add_argument("--weights", metavar="FILE", help="a checkpoint file (any supported format)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="data-loading threads")
    parser.add_argument("--skip-bad", action="store_true", help="skip unreadable images (listed in the report) instead of stopping")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object on the last line")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from vitzoo.errors import VitzooError
    from vitzoo.tasks import evaluate

    if args.model is None and args.weights is None:
        raise VitzooError("Name the model to evaluate: --model NAME (pretrained weights) or --weights FILE.")
    result = evaluate(
        args.data_dir, args.model, weights=args.weights, batch_size=args.batch_size,
        skip_bad=args.skip_bad, progress=not args.no_progress, workers=args.workers,
    )
    print(
        f"top-1 {result['top1']:.2f}%  top-5 {result['top5']:.2f}%  on {result['images']} images "
        f"({result['classes']} classes), {result['img_per_s']:.1f} img/s"
    )
    for path in result["skipped"]:
        print(f"skipped unreadable image: {path}")
    if result["skipped"]:
        print(f"skipped {len(result['skipped'])} unreadable images")
    if args.json:
        print(json.dumps(result))
    return 0
