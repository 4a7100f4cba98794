"""Every checkpoint format, registered in one explicit order, and the functions that pick one by content.

Each source format is one module with its detector, reader, writer and name map; importing it registers it
(:func:`vitzoo.weights.base.register_format`). :func:`read` and :func:`write` are what :mod:`vitzoo.weights` exports.
"""

from __future__ import annotations

import os
from pathlib import Path

from vitzoo.errors import CheckpointError, VitzooError

from . import vitzoo_format
from . import mindspore_format  # noqa: F401  (registers the format)
from . import mindcv_format  # noqa: F401  (registers mindcv and vitzoo_ckpt)
from . import hf_format, jax_format, timm_format  # noqa: F401  (register hf, jax, timm)
from . import hf_clip, hf_dinov3, hf_dinov2, hf_vit  # noqa: F401  (register the hf format's families, DINOv3 before DINOv2)
from . import hf_aimv2, hf_beit  # noqa: F401  (transformers AIMv2, BEiT and data2vec-vision)
from . import dinov2_format, dinov3_format, open_clip_format  # noqa: F401  (register dinov2, dinov3, open_clip)
from .base import FORMATS, Checkpoint, get_format
from vitzoo.weights.infer import Hint

# Detection order: the most specific layouts first.
_DETECT_ORDER = ["vitzoo", "mindspore", "mindcv", "vitzoo_ckpt", "hf", "jax", "open_clip", "dinov3", "dinov2", "timm"]  # DINOv3 originals hold a mask_token too


def detect_format(path: "str | os.PathLike[str]") -> str:
    """The name of the format of ``path`` (a file or a directory), decided by content.

    Raises :class:`CheckpointError` for a missing or unrecognised file.
    """
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"Weight file {str(p)!r} does not exist.")
    if not (p.is_file() or p.is_dir()):  # a FIFO or device would block the first read
        raise CheckpointError(f"{str(p)!r} is not a regular file or directory; pass a checkpoint file.")
    for name in _DETECT_ORDER + [n for n in FORMATS if n not in _DETECT_ORDER]:
        try:
            found = FORMATS[name].detect(p)
        except VitzooError:
            raise
        except Exception:  # noqa: BLE001 - a detector that trips over a damaged file has not recognised it
            found = False
        if found:
            return name
    raise CheckpointError(
        f"{str(p)!r} is not a ViT checkpoint vitzoo can read; supported formats: {', '.join(sorted(FORMATS))}."
    )


def read(path: "str | os.PathLike[str]", format: str = "auto", variant: Hint = None) -> Checkpoint:
    """Read any supported checkpoint into canonical names, with its spec inferred.

    ``variant`` supplies what the tensors cannot show (e.g. the head count of a
    timm file). The result is validated against its spec.
    """
    name = detect_format(path) if format == "auto" else get_format(format).name
    return FORMATS[name].read(Path(path), variant)


def write(ckpt: Checkpoint, path: "str | os.PathLike[str]", format: str = "vitzoo") -> None:
    """Write ``ckpt`` in ``format`` (atomically)."""
    fmt = get_format(format)
    if fmt.write is None:
        raise CheckpointError(f"Format {format!r} can be read but not written.")
    fmt.write(ckpt, Path(path))


def load_file(path: "str | os.PathLike[str]") -> Checkpoint:
    """Read a canonical vitzoo safetensors file."""
    return vitzoo_format.read(path)


def save_file(ckpt: Checkpoint, path: "str | os.PathLike[str]") -> None:
    """Write a canonical vitzoo safetensors file."""
    vitzoo_format.write(ckpt, path)
