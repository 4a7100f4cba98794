"""RandAugment (``vitzoo train --aa rand-m9-mstd0.5-inc1``): timm's config grammar and its Pillow ops.

A config string is ``rand`` followed by dash-separated sections, in any order, as timm's
``rand_augment_transform`` reads them:

``m<int>``     magnitude on the 0-10 scale (default 10)
``n<int>``     ops applied per image (default 2), chosen with replacement
``p<float>``   probability of applying each chosen op (default 0.5)
``mstd<f>``    per-op Gaussian noise on the magnitude (above 100: uniform in [0, m])
``mmax<int>``  upper clip of the noisy magnitude (default 10)
``inc<0|1>``   the "increasing" op set, whose severity grows with the magnitude for every op

Each op turns the magnitude into its argument the way timm's ``LEVEL_TO_ARG`` does and calls the
same Pillow function with it, and the random draws happen in timm's order on the same kinds of
generator (op choice: NumPy's legacy ``choice``; apply?, magnitude noise, sign, interpolation:
Python's ``random``), so seeded alike the augmented images are timm's bit for bit
(tests/train/test_recipes_randaugment.py). The trainer gives every image its own generators,
drawn from the run's seed, the epoch and the image's place in the epoch, so a resumed run
augments exactly as the uninterrupted one.

Example:
    >>> cfg = parse_config("rand-m9-mstd0.5-inc1")
    >>> cfg.magnitude, cfg.num_ops, cfg.magnitude_std, cfg.ops[4]
    (9, 2, 0.5, 'PosterizeIncreasing')
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from vitzoo.errors import VitzooError

LEVEL_DENOM = 10.0  # the "M" scale: magnitude 10 is each op's strongest setting
DEFAULT_FILL = (128, 128, 128)

# timm's two RandAugment op sets (``_RAND_TRANSFORMS`` / ``_RAND_INCREASING_TRANSFORMS``), in its order:
# the order matters, the op choice indexes into it.
RAND_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color", "Contrast",
            "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")
RAND_INCREASING_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing", "SolarizeAdd",
                       "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing", "ShearX", "ShearY",
                       "TranslateXRel", "TranslateYRel")


@dataclass(frozen=True)
class RandAugmentConfig:
    """A parsed ``--aa`` string: the op set, ops per image, per-op probability and the magnitude settings."""

    ops: tuple[str, ...]
    num_ops: int = 2
    magnitude: float = LEVEL_DENOM
    prob: float = 0.5
    magnitude_std: float = 0.0
    magnitude_max: Optional[int] = None
    increasing: bool = False
    text: str = field(default="", compare=False)


def parse_config(text: str) -> RandAugmentConfig:
    """Read a timm RandAugment string (``rand-m9-mstd0.5-inc1``, ``rand-m7-n3-mstd0.5``, ``rand-m9-p0.8``).

    Raises :class:`VitzooError` for anything else (AutoAugment/AugMix policies, ``t`` op-set names,
    unknown or malformed sections).

    Example:
        >>> parse_config("rand-m7-n3-mstd0.5").num_ops
        3
    """
    parts = str(text).split("-")
    if parts[0] != "rand":
        raise VitzooError(f"--aa {text!r} is not supported: vitzoo has timm's RandAugment only, e.g. 'rand-m9-mstd0.5-inc1' (sections m, n, p, mstd, mmax, inc).")
    values: dict[str, Any] = {}
    for section in parts[1:]:
        match = re.fullmatch(r"(mstd|mmax|inc|m|n|p)(\d[\d.]*)", section)
        if match is None:
            raise VitzooError(f"--aa {text!r}: cannot read the section {section!r}; RandAugment takes m<int>, n<int>, p<float>, mstd<float>, mmax<int>, inc<0|1> (e.g. 'rand-m9-mstd0.5-inc1').")
        key, raw = match.groups()
        try:
            value: Any = float(raw) if key in ("p", "mstd") else int(raw)
        except ValueError:
            raise VitzooError(f"--aa {text!r}: {section!r} needs {'a number' if key in ('p', 'mstd') else 'an integer'} after {key!r}.") from None
        if key in ("mstd", "mmax"):
            values.setdefault(key, value)  # timm: hparams.setdefault, the first one wins
        else:
            values[key] = value
    mstd = values.get("mstd", 0.0)
    if mstd > 100:  # timm: uniform sampling in [0, m]
        mstd = float("inf")
    prob = values.get("p", 0.5)
    if not 0.0 <= prob <= 1.0:
        raise VitzooError(f"--aa {text!r}: p is a probability and must be in [0, 1], got {prob}.")
    increasing = bool(values.get("inc", 0))
    return RandAugmentConfig(ops=RAND_INCREASING_OPS if increasing else RAND_OPS, num_ops=values.get("n", 2),
                             magnitude=values.get("m", LEVEL_DENOM), prob=prob, magnitude_std=mstd,
                             magnitude_max=values.get("mmax"), increasing=increasing, text=str(text))


# Magnitude -> op argument (timm's LEVEL_TO_ARG); ``rng`` draws the random sign where timm does.
def _negate(value: float, rng: random.Random) -> float:
    return -value if rng.random() > 0.5 else value


def _level_args(name: str, m: float, rng: random.Random, translate_pct: float) -> tuple[Any, ...]:
    level = m / LEVEL_DENOM
    if name in ("AutoContrast", "Equalize", "Invert"):
        return ()
    if name == "Rotate":
        return (_negate(level * 30.0, rng),)
    if name == "Posterize":
        return (int(level * 4),)
    if name == "PosterizeIncreasing":
        return (4 - int(level * 4),)
    if name == "Solarize":
        return (min(256, int(level * 256)),)
    if name == "SolarizeIncreasing":
        return (256 - min(256, int(level * 256)),)
    if name == "SolarizeAdd":
        return (min(128, int(level * 110)),)
    if name in ("Color", "Contrast", "Brightness", "Sharpness"):
        return (level * 1.8 + 0.1,)
    if name.endswith("Increasing"):  # ColorIncreasing, ContrastIncreasing, ... : 1 ± 0.9·level, at least 0.1
        return (max(0.1, 1.0 + _negate(level * 0.9, rng)),)
    if name in ("ShearX", "ShearY"):
        return (_negate(level * 0.3, rng),)
    if name in ("TranslateXRel", "TranslateYRel"):
        return (_negate(level * translate_pct, rng),)
    raise VitzooError(f"Unknown RandAugment op {name!r}; use one of {', '.join(RAND_OPS + RAND_INCREASING_OPS[4:11])}.")


def _solarize_add(img: Any, add: int, thresh: int = 128) -> Any:
    lut = [min(255, i + add) if i < thresh else i for i in range(256)]
    return img.point(lut * len(img.getbands())) if img.mode in ("L", "RGB") else img


def _apply(name: str, img: Any, args: tuple[Any, ...], fill: tuple[int, ...], resample: Any) -> Any:
    """One op on a PIL image, with the Pillow calls timm makes."""
    from PIL import Image, ImageEnhance, ImageOps

    base = name.replace("Increasing", "")
    if base == "AutoContrast":
        return ImageOps.autocontrast(img)
    if base == "Equalize":
        return ImageOps.equalize(img)
    if base == "Invert":
        return ImageOps.invert(img)
    if base == "Posterize":
        if args[0] < 1:  # Pillow >= 10 refuses 0 bits (timm's Posterize at m < 2.5 then fails); older Pillow kept none: black
            return img.point([0] * 256 * len(img.getbands()))
        return img if args[0] >= 8 else ImageOps.posterize(img, args[0])
    if base == "Solarize":
        return ImageOps.solarize(img, args[0])
    if base == "SolarizeAdd":
        return _solarize_add(img, args[0])
    enhancers = {"Color": ImageEnhance.Color, "Contrast": ImageEnhance.Contrast, "Brightness": ImageEnhance.Brightness,
                 "Sharpness": ImageEnhance.Sharpness}
    if base in enhancers:
        return enhancers[base](img).enhance(args[0])
    if base == "Rotate":
        return img.rotate(args[0], resample=resample, fillcolor=fill)
    v = args[0]
    matrix = {"ShearX": (1, v, 0, 0, 1, 0), "ShearY": (1, 0, 0, v, 1, 0),
              "TranslateXRel": (1, 0, v * img.size[0], 0, 1, 0), "TranslateYRel": (1, 0, 0, 0, 1, v * img.size[1])}[base]
    return img.transform(img.size, Image.AFFINE, matrix, resample=resample, fillcolor=fill)


_GEOMETRIC = ("Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")


class AugmentOp:
    """One RandAugment op (timm's ``AugmentOp``): with probability ``prob``, the op at a (noisy) magnitude.

    ``interpolation``: a PIL resampling filter for the geometric ops, or ``None`` for timm's default of
    a random choice of bilinear and bicubic per call.
    """

    def __init__(self, name: str, prob: float = 0.5, magnitude: float = LEVEL_DENOM, *, magnitude_std: float = 0.0,
                 magnitude_max: Optional[int] = None, fill: Sequence[int] = DEFAULT_FILL, interpolation: Any = None,
                 translate_pct: float = 0.45) -> None:
        _level_args(name, 0.0, random.Random(0), translate_pct)  # an unknown name fails here, not mid-epoch
        self.name, self.prob, self.magnitude = name, prob, magnitude
        self.magnitude_std, self.magnitude_max = magnitude_std, magnitude_max
        self.fill, self.interpolation, self.translate_pct = tuple(int(v) for v in fill), interpolation, translate_pct

    def __call__(self, img: Any, rng: random.Random) -> Any:
        from PIL import Image

        if self.prob < 1.0 and rng.random() > self.prob:
            return img
        m = self.magnitude
        if self.magnitude_std == float("inf"):
            m = rng.uniform(0, m)
        elif self.magnitude_std > 0:
            m = rng.gauss(m, self.magnitude_std)
        m = max(0.0, min(m, self.magnitude_max or LEVEL_DENOM))
        args = _level_args(self.name, m, rng, self.translate_pct)
        resample = None
        if self.name in _GEOMETRIC:  # drawn after the sign, as timm's _check_args_tf does
            resample = self.interpolation if self.interpolation is not None else rng.choice((Image.BILINEAR, Image.BICUBIC))
        return _apply(self.name, img, args, self.fill, resample)

    def __repr__(self) -> str:
        return f"AugmentOp({self.name}, p={self.prob}, m={self.magnitude}, mstd={self.magnitude_std})"


class RandAugment:
    """``num_ops`` ops drawn with replacement from the config's set, applied in turn to a PIL image.

    Example:
        >>> from PIL import Image
        >>> ra = RandAugment(parse_config("rand-m9-mstd0.5-inc1"), img_size=32)
        >>> ra(Image.new("RGB", (32, 32)), np.random.RandomState(0), random.Random(0)).size
        (32, 32)
    """

    def __init__(self, cfg: RandAugmentConfig, img_size: int, mean: Sequence[float] = (0.5, 0.5, 0.5), interpolation: Any = None) -> None:
        # timm's transforms_factory hparams: fill = the mean colour as 0-255 ints; (translate_const =
        # int(0.45 * img_size) only matters to the absolute TranslateX/Y ops, which RandAugment's sets do not use)
        fill = tuple(min(255, round(255 * v)) for v in mean)
        self.cfg, self.img_size = cfg, img_size
        self.ops = [AugmentOp(name, cfg.prob, cfg.magnitude, magnitude_std=cfg.magnitude_std, magnitude_max=cfg.magnitude_max,
                              fill=fill, interpolation=interpolation) for name in cfg.ops]

    def __call__(self, img: Any, choice: np.random.RandomState, rng: random.Random) -> Any:
        for index in choice.choice(len(self.ops), self.cfg.num_ops, replace=True):
            img = self.ops[int(index)](img, rng)
        return img

    def on_array(self, seed: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """A ``mindspore.dataset`` map function ``(HWC uint8 image, key) -> image``, its draws fixed by ``(seed, key)``."""
        from PIL import Image

        def augment(image: np.ndarray, key: np.ndarray) -> np.ndarray:
            choice, draws = image_draws(seed, int(key))
            return np.asarray(self(Image.fromarray(np.asarray(image, np.uint8)), choice, draws), dtype=np.uint8)

        return augment


def image_draws(seed: int, key: int) -> tuple[np.random.RandomState, random.Random]:
    """The two generators of one image's RandAugment: fixed by the epoch's data seed and the image's place."""
    a, b = np.random.SeedSequence([seed, key, 2]).generate_state(2)
    return np.random.RandomState(int(a)), random.Random(int(b))


def pil_interpolation(name: Optional[str]) -> Any:
    """The PIL filter of an interpolation name (``bicubic``, ``bilinear``, ``nearest``), ``None`` for ``random``."""
    from PIL import Image

    if name is None or name == "random":
        return None
    return {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}.get(str(name).lower(), Image.BICUBIC)
