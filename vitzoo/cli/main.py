"""``vitzoo`` command line: one sub-command per module in ``vitzoo.cli``."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from vitzoo.errors import VitzooError

# sub-command -> (module in vitzoo.cli, one-line help). Modules are imported only when used.
COMMANDS = {
    "list": ("list_cmd", "list model variants, or pretrained weight sets with --pretrained"),
    "info": ("info_cmd", "show a variant's spec or a weight set's source and preprocessing"),
    "download": ("download_cmd", "fetch and cache pretrained weights for offline use"),
    "predict": ("predict_cmd", "classify images and print the top-K classes"),
    "eval": ("eval_cmd", "evaluate top-1/top-5 accuracy on an ImageFolder directory"),
    "train": ("train_cmd", "train or fine-tune on DATA_DIR/train and DATA_DIR/val"),
    "embed": ("embed_cmd", "write image embeddings (and per-block features), or text embeddings with --text, to a safetensors file"),
    "zero-shot": ("zero_shot_cmd", "classify images by text labels with a whole CLIP or SigLIP model"),
    "export": ("export_cmd", "write a model as MindIR or ONNX for deployment"),
    "cache": ("cache_cmd", "list, verify or clear the cached weight sets ($VITZOO_CACHE)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vitzoo", description="Vision Transformers on MindSpore, with weights from timm, Hugging Face, JAX and MindSpore.")
    from vitzoo.version import __version__

    parser.add_argument("--version", action="version", version=f"vitzoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(f"vitzoo.cli.{module_name}")
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # e.g. to print the command that resumes a run
    module = importlib.import_module(f"vitzoo.cli.{COMMANDS[args.command][0]}")
    try:
        return int(module.run(args) or 0)
    except VitzooError as exc:
        print(f"vitzoo {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
