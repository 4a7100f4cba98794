"""``vitzoo cache list | verify | clear [PATTERN]``: the converted weight sets in ``$VITZOO_CACHE``.

``list`` shows each cached weight set with its size and source; ``verify`` re-hashes
every file against the sha256 recorded when it was converted and exits 1 if any is
damaged (naming it); ``clear`` removes the weight sets matching PATTERN (all without one).

Example::

    vitzoo cache list
    vitzoo cache verify "vit_b_16.*"
    vitzoo cache clear vit_b_16.augreg2_in21k_ft_in1k
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("list", "verify", "clear"), help="list, verify (re-hash) or clear cached weight sets")
    parser.add_argument("pattern", nargs="?", metavar="PATTERN", help="weight-set name or fnmatch pattern (default: all)")


def run(args: argparse.Namespace) -> int:
    from vitzoo.hub import cache

    where = cache.weights_dir()
    if args.action == "list":
        found = cache.entries(args.pattern)
        for entry in found:
            print(f"{entry.name}  {cache.human_size(entry.size)}  {entry.source}")
        print(f"{len(found)} weight set(s), {cache.human_size(sum(e.size for e in found))} in {where}")
        return 0
    if args.action == "verify":
        verdicts = cache.verify(args.pattern)
        damaged = [v for v in verdicts if v.problem is not None]
        for v in verdicts:
            print(f"{v.entry.name}: " + ("ok" if v.problem is None else f"DAMAGED: {v.problem} ({v.entry.path})"))
        print(f"{len(verdicts) - len(damaged)} of {len(verdicts)} intact" + ("; remove the damaged ones with `vitzoo cache clear NAME`" if damaged else ""))
        return 1 if damaged else 0
    removed = cache.clear(args.pattern)
    for entry in removed:
        print(f"removed {entry.name} ({cache.human_size(entry.size)})")
    print(f"removed {len(removed)} weight set(s) from {where}")
    return 0
