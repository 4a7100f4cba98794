"""What every weight format shares: the in-memory checkpoint and the format registry.

A format is one module in ``vitzoo.weights`` that registers a :class:`WeightFormat`:
``detect`` looks at content (never the file name), ``read`` returns a canonical
:class:`Checkpoint`, ``write`` turns one back into the format's own layout.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from vitzoo.canonical import check_state
from vitzoo.errors import CheckpointError, UnknownNameError
from vitzoo.spec import ViTSpec

@dataclass
class Checkpoint:
    """Canonical weights in memory: float32 arrays under canonical names, and their spec.

    ``meta`` is provenance and extras that travel with the weights:
    ``source_format``, ``source``, ``source_sha256``, ``class_names`` (list of str),
    ``pretrained_cfg`` (preprocessing), ``name`` (``variant.tag``).
    ``dropped`` names source tensors that are not model weights (optimizer state, a
    text tower, ...); ``notes`` are sentences a conversion report shows (e.g. an
    assumption the source file could not settle).
    """

    state: dict[str, np.ndarray]
    spec: ViTSpec
    meta: dict[str, Any] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def validate(self, source: str = "the weights") -> "Checkpoint":
        """Raise :class:`CheckpointError` unless ``state`` is exactly what ``spec`` needs, and finite."""
        if self.spec.depth > len(self.state):  # a spec read from a damaged header may claim 10**20 blocks
            raise CheckpointError(f"{source} do not fit the model: its spec has {self.spec.depth} blocks but only {len(self.state)} tensors are present.")
        check_state(self.state, self.spec, source)
        check_finite(self.state, source)
        return self

    def replace(self, **changes: Any) -> "Checkpoint":
        return dataclasses.replace(self, **changes)

    @property
    def class_names(self) -> Optional[list[str]]:
        return self.meta.get("class_names")


Detector = Callable[[Path], bool]
Reader = Callable[..., Checkpoint]
Writer = Callable[[Checkpoint, Path], None]


@dataclass(frozen=True)
class WeightFormat:
    """One checkpoint layout: how to recognise, read and write it."""

    name: str
    description: str
    detect: Detector
    read: Reader  # read(path, variant: ViTSpec | None = None) -> Checkpoint
    write: Optional[Writer] = None  # write(checkpoint, path); None: read-only format


FORMATS: dict[str, WeightFormat] = {}


def register_format(fmt: WeightFormat) -> WeightFormat:
    FORMATS[fmt.name] = fmt
    return fmt


def get_format(name: str) -> WeightFormat:
    if name not in FORMATS:
        raise UnknownNameError(f"Unknown weight format {name!r}; known formats: {', '.join(sorted(FORMATS))}.")
    return FORMATS[name]


def as_float32(array: Any, name: str, source: str) -> np.ndarray:
    """A float32 ndarray of a floating tensor; other dtypes are a :class:`CheckpointError`."""
    arr = np.asarray(array)
    if arr.dtype == np.float32:
        return arr
    if arr.dtype.kind != "f" and arr.dtype.name not in ("bfloat16",):
        raise CheckpointError(f"{source}: tensor {name!r} has dtype {arr.dtype}, expected a floating-point tensor.")
    return arr.astype(np.float32)


def check_finite(state: "dict[str, np.ndarray]", source: str = "the weights") -> None:
    """Raise :class:`CheckpointError` naming the first tensor that holds NaN or +/-Inf.

    Such weights are a corrupt file or a diverged run: every reader and writer
    refuses them, so they never reach a model (or the cache) to produce NaN logits.

    Example:
        >>> check_finite({"w": np.array([1.0, np.nan], np.float32)}, "'x.safetensors'")
        Traceback (most recent call last):
        vitzoo.errors.CheckpointError: 'x.safetensors': tensor 'w' holds NaN or infinite values; the file is corrupt or the run that wrote it diverged.
    """
    for name, value in state.items():
        arr = np.asarray(value)
        # min and max propagate NaN and show +/-Inf: two fast passes, no temporary array
        if arr.size and arr.dtype.kind == "f" and not (np.isfinite(arr.min()) and np.isfinite(arr.max())):
            raise CheckpointError(
                f"{source}: tensor {name!r} holds NaN or infinite values; the file is corrupt or the run that wrote it diverged."
            )


def require_file(path: "str | os.PathLike[str]") -> Path:
    """``path`` as a :class:`Path` if it is a regular file or a directory (never a FIFO or device, which could block)."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"Weight file {str(p)!r} does not exist.")
    if not (p.is_file() or p.is_dir()):
        raise CheckpointError(f"{str(p)!r} is not a regular file or directory; pass a checkpoint file.")
    return p
