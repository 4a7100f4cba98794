"""``vitzoo eval DATA_DIR [--model NAME | --weights FILE]``: top-1/top-5 accuracy on an ImageFolder.

Example::

    vitzoo eval imagenet/val --model vit_b_16          # synset folders n01440764/ ... map to ImageNet-1k
    vitzoo eval digits/val --weights runs/digits/best.safetensors --json
"""

from __future__ import annotations

import argparse
import json

from vitzoo.cli.options import add_image_reading, add_model_source, require_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir", metavar="DATA_DIR", help="folder with one sub-folder of images per class")
    add_model_source(parser, "vit_b_16 or vit_b_16.augreg_in1k")
    parser.add_argument("--batch-size", type=int, default=64)
    add_image_reading(parser)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object on the last line")


def run(args: argparse.Namespace) -> int:
    from vitzoo.workflows.tasks import evaluate

    require_model(args, "to evaluate")
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
