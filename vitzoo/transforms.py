"""Eval preprocessing tied to the weights: PIL image → normalised float32 CHW array.

The transform is timm's eval transform (``resolve_data_config`` + ``create_transform``)
re-done with Pillow and NumPy: resize to ``size / crop_pct`` (shorter side, or both
sides in ``"squash"`` mode) with the weights' interpolation, centre crop, scale to
[0, 1], subtract ``mean`` and divide by ``std``. torchvision resizes PIL images
with Pillow too, so the result equals timm's bit for bit.

MindSpore's checkpoints carry the tutorial's recipe (resize 256, centre crop 224,
ImageNet mean/std), i.e. ``crop_pct=0.875`` with bilinear resizing. MindSpore's
own ``vision.Resize`` is OpenCV's unfiltered resize, so its pixels differ slightly
from Pillow's antialiased one; vitzoo uses Pillow everywhere.

Example:
    >>> from PIL import Image
    >>> import vitzoo
    >>> tf = vitzoo.transforms_for("vit_b_16.augreg2_in21k_ft_in1k")
    >>> tf(Image.new("RGB", (640, 480))).shape
    (3, 224, 224)
    >>> tf.resize_size, tf.interpolation
    (248, 'bicubic')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from vitzoo.errors import DataError, VitzooError
from vitzoo.pretrained import preprocessing_for_name
from vitzoo.pretrained.weight_set import IMAGENET_MEAN, IMAGENET_STD  # noqa: F401  (re-exported: vitzoo.transforms.IMAGENET_MEAN)

# timm's ViT defaults, used when weights state nothing (random init, bare files).
DEFAULT_CFG: dict[str, Any] = {
    "interpolation": "bicubic",
    "crop_pct": 0.9,
    "crop_mode": "center",
    "mean": (0.5, 0.5, 0.5),
    "std": (0.5, 0.5, 0.5),
}
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")
CROP_MODES = ("center", "squash", "border")


@dataclass(frozen=True)
class EvalTransform:
    """Resize, centre-crop and normalise one image; call it on a ``PIL.Image`` (or an HWC uint8 array).

    Example:
        >>> from PIL import Image
        >>> tf = EvalTransform(img_size=32, crop_pct=1.0, interpolation="bilinear")
        >>> tf(Image.new("RGB", (50, 40), (255, 255, 255)))[:, 0, 0].tolist()
        [1.0, 1.0, 1.0]
    """

    img_size: int = 224
    interpolation: str = "bicubic"
    crop_pct: float = 0.9
    crop_mode: str = "center"
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    in_chans: int = 3
    img_width: Optional[int] = None  # a non-square input (Sapiens2: 1024 x 768); img_size is then the height

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise VitzooError(f"Unknown interpolation {self.interpolation!r}; use one of {', '.join(INTERPOLATIONS)}.")
        if self.crop_mode not in CROP_MODES:
            raise VitzooError(f"Unknown crop mode {self.crop_mode!r}; use one of {', '.join(CROP_MODES)}.")
        if not 0 < self.crop_pct <= 2:
            raise VitzooError(f"crop_pct must be in (0, 2], got {self.crop_pct!r}.")
        if self.in_chans not in (1, 3):
            raise VitzooError(f"Images can be prepared for 1 or 3 input channels, not {self.in_chans}; feed such a model arrays directly.")
        if len(self.mean) != self.in_chans or len(self.std) != self.in_chans:
            raise VitzooError(f"mean/std need {self.in_chans} values, got {self.mean!r} and {self.std!r}.")

    @property
    def size_hw(self) -> tuple[int, int]:
        """The output's (height, width)."""
        return self.img_size, self.img_width or self.img_size

    @property
    def resize_size(self) -> int:
        """The shorter side (or both sides in ``"squash"`` mode) before cropping; the height's for a non-square input."""
        return math.floor(self.img_size / self.crop_pct)

    def __call__(self, image: Any) -> np.ndarray:
        """The float32 ``[C, H, W]`` array the model expects (``H = W = img_size`` unless ``img_width`` is given)."""
        from PIL import Image

        if isinstance(image, np.ndarray):
            image = Image.fromarray(image)
        if not isinstance(image, Image.Image):
            raise DataError(f"Expected a PIL image or an HWC uint8 array, got {type(image).__name__}.")
        image = image.convert("RGB" if self.in_chans == 3 else "L")
        image = self._resize(image)
        # border: the padding takes the mean's colour (timm's CenterCropOrPad fill), so it normalises to zero
        fill = tuple(round(255 * m) for m in self.mean) if self.crop_mode == "border" else None
        pixels = _center_crop(np.asarray(image), *self.size_hw, fill=fill)
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        # the same float32 operations, in the same order, as ToTensor + Normalize
        x = pixels.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
        mean = np.asarray(self.mean, np.float32)[:, None, None]
        std = np.asarray(self.std, np.float32)[:, None, None]
        return np.ascontiguousarray((x - mean) / std)

    def batch(self, images: Sequence[Any]) -> np.ndarray:
        """Several images as one float32 ``[N, C, H, W]`` array."""
        return np.stack([self(im) for im in images])

    def to_dict(self) -> dict[str, Any]:
        """The timm-style config: ``input_size``, ``interpolation``, ``crop_pct``, ``crop_mode``, ``mean``, ``std``."""
        return {
            "input_size": [self.in_chans, *self.size_hw],
            "interpolation": self.interpolation,
            "crop_pct": self.crop_pct,
            "crop_mode": self.crop_mode,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    def _resize(self, image: Any) -> Any:
        from PIL import Image

        resample = getattr(Image.Resampling, self.interpolation.upper())
        target = self.resize_size
        target_h, target_w = (math.floor(side / self.crop_pct) for side in self.size_hw)
        width, height = image.size
        if self.crop_mode == "squash":
            size = (target_w, target_h)
        elif self.crop_mode == "border":  # timm's ResizeKeepRatio(longest=1): the longer side meets its target, the rest is padded
            ratio = max(height / target_h, width / target_w)
            size = (round(width / ratio), round(height / ratio))
        elif target_h != target_w:  # timm's ResizeKeepRatio: the side that needs the least scaling meets its target
            ratio = min(height / target_h, width / target_w)
            size = (round(width / ratio), round(height / ratio))
        elif width <= height:  # shorter side to target, longer side truncated as torchvision does
            size = (target, int(target * height / width))
        else:
            size = (int(target * width / height), target)
        return image if size == image.size else image.resize(size, resample)


def _center_crop(pixels: np.ndarray, size: int, size_w: int, fill: Optional[tuple] = None) -> np.ndarray:
    """torchvision's centre crop to ``size`` x ``size_w``: pad if too small (zeros, or ``fill`` per channel), offsets rounded half to even."""
    height, width = pixels.shape[:2]
    if size > height or size_w > width:
        pad_h, pad_w = max(size - height, 0), max(size_w - width, 0)
        top, left = pad_h // 2, pad_w // 2
        padded = np.empty((height + pad_h, width + pad_w) + pixels.shape[2:], pixels.dtype)
        padded[...] = 0 if fill is None else np.asarray(fill[: pixels.shape[2]] if pixels.ndim == 3 else fill[0], pixels.dtype)
        padded[top : top + height, left : left + width] = pixels
        pixels = padded
        height, width = pixels.shape[:2]
    top = int(round((height - size) / 2.0))
    left = int(round((width - size_w) / 2.0))
    return pixels[top : top + size, left : left + size_w]


def resolve_cfg(cfg: Optional[Mapping[str, Any]] = None, *, img_size: Optional[int] = None, in_chans: Optional[int] = None,
                img_width: Optional[int] = None) -> dict[str, Any]:
    """A complete preprocessing config: ``cfg``'s values over timm's defaults; the model's size (height, width) wins."""
    cfg = dict(cfg or {})
    if isinstance(cfg.get("pretrained_cfg"), Mapping):  # a checkpoint's meta, as models carry it
        cfg = dict(cfg["pretrained_cfg"])
    out = {**DEFAULT_CFG, **{k: cfg[k] for k in DEFAULT_CFG if cfg.get(k) is not None}}
    chans, height, width = 3, 224, 224
    if cfg.get("input_size"):
        chans, height, width = int(cfg["input_size"][0]), int(cfg["input_size"][-2]), int(cfg["input_size"][-1])
    chans = in_chans if in_chans is not None else chans
    if img_size is not None:
        height, width = img_size, img_width or img_size
    mean, std = tuple(float(v) for v in out["mean"]), tuple(float(v) for v in out["std"])
    if chans != len(mean):  # e.g. grey-scale input for weights adapted to in_chans=1
        mean, std = (float(np.mean(mean)),) * chans, (float(np.mean(std)),) * chans
    out.update(input_size=[chans, height, width], mean=list(mean), std=list(std), crop_pct=float(out["crop_pct"]))
    return out


def transforms_for(obj: Union[str, Mapping[str, Any], Any]) -> EvalTransform:
    """The eval transform for a weight set name, a model, or a preprocessing config.

    * ``"vit_b_16.augreg_in1k"``: that weight set's preprocessing; a bare variant
      (``"vit_b_16"``) uses its default weights' (what ``pretrained=True`` loads),
      or timm's ViT defaults if it has none.
    * a model from :func:`vitzoo.create`: the preprocessing of the weights it was
      built from, at the model's own image size and input channels.
    * a mapping: timm-style keys ``input_size``, ``interpolation``, ``crop_pct``,
      ``crop_mode``, ``mean``, ``std`` (missing ones take timm's ViT defaults).

    Example:
        >>> transforms_for("vit_b_16.ms_in1k").resize_size
        256
        >>> transforms_for({"input_size": (3, 384, 384), "crop_pct": 1.0}).resize_size
        384
    """
    if isinstance(obj, str):
        cfg = resolve_cfg(preprocessing_for_name(obj))
    elif isinstance(obj, Mapping):
        cfg = resolve_cfg(obj)
    elif hasattr(obj, "spec"):
        spec = obj.spec
        cfg = resolve_cfg(getattr(obj, "pretrained_cfg", None), img_size=spec.input_size[0], img_width=spec.input_size[1], in_chans=spec.in_chans)
    else:
        raise VitzooError(f"transforms_for() takes a model name, a vitzoo model or a config mapping, not {type(obj).__name__}.")
    return EvalTransform(
        img_size=cfg["input_size"][-2],
        img_width=cfg["input_size"][-1] if cfg["input_size"][-1] != cfg["input_size"][-2] else None,
        interpolation=cfg["interpolation"],
        crop_pct=cfg["crop_pct"],
        crop_mode=cfg["crop_mode"],
        mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]),
        in_chans=cfg["input_size"][0],
    )
