"""Random erasing (``--reprob P --remode pixel|const|rand --recount N``): timm's ``RandomErasing`` on NumPy batches.

Applied per image to the normalised batch ``[B, C, H, W]`` (timm appends it after ``Normalize`` in its
training transform), before Mixup/CutMix. Each image is erased with probability ``reprob``: 1 to
``recount`` boxes of 2%–33% of its area (split between them) and aspect ratio 0.3–3.3, filled with
zeros (``const``), one normal colour per channel (``rand``) or per-pixel normal noise (``pixel``).

The choices (whether, how many, box sizes and places) are timm's, call for call, drawn from a
``random.Random`` (timm uses Python's global ``random``, the same generator); the normal fill comes
from ``noise(shape)`` (by default a NumPy generator; timm draws it with ``torch.normal_``). Seeded the
same way, the erased images are timm's bit for bit (tests/train/test_recipes_erasing.py). The trainer
draws each batch from the run's seed, the step and the rank, so a resumed run erases the same boxes.

Example:
    >>> import random, numpy as np
    >>> erase = RandomErasing(1.0, mode="const")
    >>> x = erase(np.ones((2, 3, 16, 16), np.float32), random.Random(0))
    >>> bool((x == 0).any()), x.shape
    (True, (2, 3, 16, 16))
"""

from __future__ import annotations

import math
import random
from typing import Callable, Optional

import numpy as np

from vitzoo.configs import TrainConfig

Noise = Callable[[tuple[int, ...]], np.ndarray]


class RandomErasing:
    """timm's ``RandomErasing`` (same arguments and defaults; ``num_splits`` is not supported)."""

    def __init__(self, probability: float = 0.5, min_area: float = 0.02, max_area: float = 1 / 3, min_aspect: float = 0.3,
                 max_aspect: Optional[float] = None, mode: str = "const", min_count: int = 1, max_count: Optional[int] = None) -> None:
        self.probability, self.min_area, self.max_area = probability, min_area, max_area
        max_aspect = max_aspect or 1 / min_aspect
        self.log_aspect_ratio = (math.log(min_aspect), math.log(max_aspect))
        self.min_count = min_count
        self.max_count = max_count or min_count
        self.mode = mode.lower()

    def _fill(self, shape: tuple[int, int, int], noise: Noise) -> np.ndarray:
        """timm's ``_get_pixels``: per-pixel noise, one noise colour per channel, or zeros."""
        if self.mode == "pixel":
            return np.asarray(noise(shape), np.float32)
        if self.mode == "rand":
            return np.asarray(noise((shape[0], 1, 1)), np.float32)
        return np.zeros((shape[0], 1, 1), np.float32)

    def _erase(self, img: np.ndarray, rng: random.Random, noise: Noise) -> None:
        if rng.random() > self.probability:
            return
        chan, img_h, img_w = img.shape
        area = img_h * img_w
        count = self.min_count if self.min_count == self.max_count else rng.randint(self.min_count, self.max_count)
        for _ in range(count):
            for _attempt in range(10):  # timm: up to 10 tries for a box that fits
                target_area = rng.uniform(self.min_area, self.max_area) * area / count
                aspect_ratio = math.exp(rng.uniform(*self.log_aspect_ratio))
                h = int(round(math.sqrt(target_area * aspect_ratio)))
                w = int(round(math.sqrt(target_area / aspect_ratio)))
                if w < img_w and h < img_h:
                    top = rng.randint(0, img_h - h)
                    left = rng.randint(0, img_w - w)
                    img[:, top : top + h, left : left + w] = self._fill((chan, h, w), noise)
                    break

    def __call__(self, x: np.ndarray, rng: random.Random, noise: Optional[Noise] = None) -> np.ndarray:
        """An erased copy of the batch ``x`` ``[B, C, H, W]`` (or one image ``[C, H, W]``).

        ``noise(shape)``: the standard-normal fill of ``pixel``/``rand`` boxes (default: NumPy's, seeded 0).
        """
        if noise is None:
            noise = normal_noise(np.random.default_rng(0))
        x = np.array(x, dtype=np.float32)  # our own writable copy
        for img in ([x] if x.ndim == 3 else x):
            self._erase(img, rng, noise)
        return x


def make_erasing(cfg: TrainConfig) -> Optional[RandomErasing]:
    """timm train.py's ``RandomErasing(reprob, mode=remode, max_count=recount)``, or ``None`` when ``reprob`` is 0."""
    if not cfg.reprob:
        return None
    return RandomErasing(cfg.reprob, mode=cfg.remode, max_count=cfg.recount)


def normal_noise(gen: np.random.Generator) -> Noise:
    """A ``noise(shape)`` of float32 standard-normal values from ``gen``."""
    return lambda shape: gen.standard_normal(shape, dtype=np.float32)


def batch_draws(seed: int, step: int, rank: int) -> tuple[random.Random, Noise]:
    """The choices and the noise of one batch's erasing: fixed by the run's seed, the batch and the rank (resume-exact)."""
    choices, fill = np.random.SeedSequence([seed, step, rank, 1]).generate_state(2)
    return random.Random(int(choices)), normal_noise(np.random.default_rng(int(fill)))
