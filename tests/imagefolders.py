"""Tiny generated ImageFolder datasets for the training/eval/predict tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

COLORS = {"blue": (30, 60, 230), "green": (40, 210, 60), "red": (230, 40, 40)}


def make_colour_folder(root: Path, per_class: dict[str, int], *, size: int = 32, seed: int = 0) -> Path:
    """``root/<colour>/<i>.png``: a coloured square at a random place on dark noise (class = colour)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, count in per_class.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
            side = int(rng.integers(size // 3, size // 2 + 1))
            y, x = rng.integers(0, size - side + 1, 2)
            pixels[y : y + side, x : x + side] = COLORS[name]
            Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root


def make_train_val(root: Path, train: int = 24, val: int = 8, size: int = 32) -> Path:
    """``root/train`` and ``root/val`` with the three colour classes."""
    make_colour_folder(root / "train", dict.fromkeys(COLORS, train), size=size, seed=0)
    make_colour_folder(root / "val", dict.fromkeys(COLORS, val), size=size, seed=1)
    return root
