"""Write scripts/timm_top1_imagenet.csv: timm's published ImageNet-1k top-1 of every ViT-derived weight set.

The rows come from ``results/results-imagenet.csv`` of timm's repository (give its path and
the commit it was read at), kept for the weight sets that timm's ViT-derived model files
build (``MODULES`` below, the 13 files of the census in issue #21), so the pretrained
table's ``top1`` field (scripts/make_pretrained_table.py) is a published number, never
a guess. Weight sets without a row there keep ``top1: null``.

Usage:
    python scripts/make_top1_table.py PATH/TO/results-imagenet.csv COMMIT
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import timm

OUT = Path(__file__).resolve().parent / "timm_top1_imagenet.csv"
MODULES = ("vision_transformer", "deit", "eva", "beit", "cait", "naflexvit", "vision_transformer_hybrid", "vision_transformer_relpos",
           "vision_transformer_sam", "xcit", "qwen3_vit", "gemma4_vit", "deepseek_vit")


def vit_weight_sets() -> set[str]:
    """Every pretrained ``arch.tag`` of timm's ViT-derived model files."""
    names = set()
    for module in MODULES:
        for arch in timm.list_models(module=module):
            names.update(timm.list_pretrained(arch + ".*") or [])
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="timm's results/results-imagenet.csv")
    parser.add_argument("commit", help="the commit of timm's repository the file was read at")
    args = parser.parse_args()
    wanted = vit_weight_sets()
    with args.results.open(newline="", encoding="utf-8") as f:
        rows = [(r["model"], r["top1"]) for r in csv.DictReader(f) if r["model"] in wanted]
    header = (f"# ImageNet-1k val top-1 (%) of timm's ViT-derived weight sets, the rows of timm's results/results-imagenet.csv\n"
              f"# (github.com/huggingface/pytorch-image-models, commit {args.commit}) for models built by\n"
              f"# {', '.join(m + '.py' for m in MODULES)}.\n"
              f"# Weight sets missing here have no published top-1 in that file. Written by scripts/make_top1_table.py.\n")
    OUT.write_text(header + "model,top1\n" + "".join(f"{m},{t}\n" for m, t in rows), encoding="utf-8")
    print(f"{len(rows)} weight sets with a published top-1 of {len(wanted)}")


if __name__ == "__main__":
    main()
