"""Options that several commands share, so each reads and behaves the same everywhere.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_model_source(parser, "vit_b_16")
    >>> parser.parse_args(["--weights", "best.safetensors"]).weights
    'best.safetensors'
"""

from __future__ import annotations

import argparse


def add_model_source(parser: argparse.ArgumentParser, example: str) -> None:
    """``--model NAME`` (pretrained weights) or ``--weights FILE``, not both."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", help=f"model name with pretrained weights, e.g. {example}")
    source.add_argument("--weights", metavar="FILE", help="a checkpoint file (any supported format)")


def require_model(args: argparse.Namespace, what: str) -> None:
    """One clear error when neither ``--model`` nor ``--weights`` was given; ``what`` is the command's verb phrase."""
    from vitzoo.errors import VitzooError

    if args.model is None and args.weights is None:
        raise VitzooError(f"Name the model {what}: --model NAME (pretrained weights) or --weights FILE.")


def add_image_reading(parser: argparse.ArgumentParser) -> None:
    """``--workers``, ``--skip-bad`` and ``--no-progress`` for commands that read a folder of images."""
    parser.add_argument("--workers", type=int, default=2, help="image decoding and preprocessing threads")
    parser.add_argument("--skip-bad", action="store_true", help="skip unreadable images (listed in the report) instead of stopping")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
