"""``vitzoo-convert SRC -o OUT [--from FMT] [--to FMT] [--variant NAME] [--num-heads N ...] [--force]``.

Converts a ViT checkpoint between timm, Hugging Face, MindSpore, MindCV, JAX and
vitzoo's canonical safetensors. Prints what it did; on bad input it prints one
line, exits 1 and leaves nothing at OUT.

Example:
    $ vitzoo-convert vit_base_patch16_224.safetensors -o vit_b_16.safetensors
    $ vitzoo-convert google-vit-base/ -o vit.npz --to jax --force
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NoReturn, Optional, Sequence

from vitzoo.errors import VitzooError

PROG = "vitzoo-convert"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (exit 2), like every other error here."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see {PROG} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Convert a ViT checkpoint between timm, Hugging Face, open_clip, DINOv2, MindSpore, MindCV, JAX and vitzoo formats.",
    )
    parser.add_argument("src", metavar="SRC", help="checkpoint file, or a Hugging Face model directory")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output file (a directory for --to hf)")
    parser.add_argument("--from", dest="from_format", default="auto", metavar="FMT",
                        help="source format: auto (detect by content), timm, hf, open_clip, dinov2, mindspore, mindcv, jax, vitzoo")
    parser.add_argument("--to", dest="to_format", default="vitzoo", metavar="FMT",
                        help="output format: vitzoo (canonical safetensors, default), timm, hf, open_clip, dinov2, mindspore, jax, ...")
    parser.add_argument("--variant", metavar="NAME", help="variant for what the weights cannot show, e.g. vit_b_16")
    given = parser.add_argument_group("what the tensors cannot show (when no config, metadata or --variant says it)")
    given.add_argument("--num-heads", type=int, metavar="N", help="attention heads per block")
    given.add_argument("--norm-eps", type=float, metavar="EPS", help="LayerNorm epsilon, e.g. 1e-6")
    given.add_argument("--gelu", choices=("exact", "tanh", "quick"), help="GELU form (quick: OpenAI CLIP's QuickGELU)")
    given.add_argument("--global-pool", choices=("token", "avg", "map"), help="pooling before the head")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``vitzoo-convert`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (VitzooError, OSError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__  # always one line
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def run(args: argparse.Namespace) -> int:
    from vitzoo.variants import get_spec
    from vitzoo.weights import convert

    out = Path(args.output)
    if (out.exists() or out.is_symlink()) and not args.force:
        raise VitzooError(f"{str(out)!r} already exists; pass --force to replace it.")
    given = {k: v for k, v in (("num_heads", args.num_heads), ("norm_eps", args.norm_eps), ("gelu", args.gelu), ("global_pool", args.global_pool)) if v is not None}
    variant: Any = args.variant
    if given:
        variant = get_spec(args.variant, **given) if args.variant else given
    report = convert(args.src, out, from_format=args.from_format, to_format=args.to_format, variant=variant)
    print("\n".join(report.summary()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
