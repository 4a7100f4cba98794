"""``vitzoo list [PATTERN] [--pretrained]``."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'vit_b*'")
    parser.add_argument("--pretrained", action="store_true", help="list weight sets (variant.tag) instead of variants")
    parser.add_argument("--no-aliases", action="store_true", help="hide timm's long names")


def run(args: argparse.Namespace) -> int:
    if args.pretrained:
        from vitzoo.pretrained import list_pretrained

        names = list_pretrained(args.pattern)
    else:
        from vitzoo.variants import list_models

        names = list_models(args.pattern, include_aliases=not args.no_aliases)
    for name in names:
        print(name)
    return 0
