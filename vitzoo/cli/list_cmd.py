"""``vitzoo list [PATTERN] [--pretrained | --clip]``.

The names go to stdout, one per line (so they pipe into other commands); the
count line goes to stderr, e.g. ``114 weight sets for 60 variants (timm 93, hf 11, ...)``.
"""

from __future__ import annotations

import argparse
import collections
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'vit_b*'")
    parser.add_argument("--pretrained", action="store_true", help="list weight sets (variant.tag) instead of variants")
    parser.add_argument("--clip", action="store_true", help="list whole CLIP-style weight tags (open_clip's MODEL.tag) for create_clip / zero-shot")
    parser.add_argument("--no-aliases", action="store_true", help="hide timm's long names")


def run(args: argparse.Namespace) -> int:
    if args.clip:
        from vitzoo.pretrained.clip_tags import list_pretrained_clip, split_clip_name

        names = list_pretrained_clip(args.pattern)
        count = f"{len(names)} CLIP weight tags for {len({split_clip_name(n)[0] for n in names})} open_clip models"
    elif args.pretrained:
        from vitzoo.pretrained import get_weight_set, list_pretrained

        names = list_pretrained(args.pattern)
        sets = [get_weight_set(n) for n in names]
        formats = collections.Counter(ws.source_format for ws in sets)
        breakdown = ", ".join(f"{fmt} {count}" for fmt, count in formats.most_common())
        variants = len({ws.variant for ws in sets})
        count = f"{len(names)} weight sets for {variants} variants" + (f" ({breakdown})" if breakdown else "")
    else:
        from vitzoo.variants import list_models

        names = list_models(args.pattern, include_aliases=not args.no_aliases)
        count = f"{len(names)} {'names' if not args.no_aliases else 'variants'}"
    for name in names:
        print(name)
    print(count, file=sys.stderr)
    return 0
