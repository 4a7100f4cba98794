"""``vitzoo predict IMAGE... [--model NAME] [--weights FILE] [--top K] [--json] [--demo]``.

Images may be files, directories (searched recursively) or glob patterns. With
neither ``--model`` nor ``--weights`` the embedded digits demo model is used, so
``vitzoo predict --demo`` works offline on a fresh install.

Example::

    vitzoo predict --demo                          # the bundled digit samples, embedded model
    vitzoo predict cat.jpg --model vit_b_16 --top 3
    vitzoo predict 'photos/*.jpg' --weights runs/flowers/best.safetensors --json
"""

from __future__ import annotations

import argparse
import json
import sys

from vitzoo.cli.options import add_model_source


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="image files, directories or glob patterns")
    add_model_source(parser, "vit_b_16")
    parser.add_argument("--demo", action="store_true", help="predict the bundled sample digit images (embedded model unless --model/--weights)")
    parser.add_argument("--top", type=int, default=5, metavar="K", help="how many classes to show per image")
    parser.add_argument("--json", action="store_true", help="print the predictions as one JSON object on the last line")


def run(args: argparse.Namespace) -> int:
    from vitzoo.errors import VitzooError
    from vitzoo.workflows.tasks import demo_images, predict

    images = list(args.images)
    if args.demo:
        images += demo_images()
    if not images:
        raise VitzooError("Give image files, directories or glob patterns to classify, or --demo for the bundled samples.")
    if args.model is None and args.weights is None and not args.json:
        print("using the embedded demo model (handwritten digits 0-9); pass --model or --weights for others", file=sys.stderr)
    results = predict(images, args.model, weights=args.weights, top_k=args.top)
    for item in results:
        top = item["top"]
        print(f"{item['image']}: {top[0]['label']} ({top[0]['prob']:.1%})")
        for alt in top[1:]:
            print(f"    {alt['label']:<24} {alt['prob']:.1%}")
    if args.json:
        print(json.dumps({"model": args.model or args.weights or "demo", "predictions": results}))
    return 0
