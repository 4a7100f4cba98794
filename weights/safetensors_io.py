"""safetensors reading and writing with vitzoo's guarantees: clear errors, atomic writes."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from vitzoo.errors import CheckpointError
from vitzoo.fileio import atomic_path

_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit


def try_read_header(path: Path) -> Optional[dict[str, Any]]:
    """The parsed JSON header of a safetensors file, or ``None`` if it is not one."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(8)
            if len(raw) != 8:
                return None
            (size,) = struct.unpack("<Q", raw)
            if size < 2 or size > _MAX_HEADER or size + 8 > os.fstat(fh.fileno()).st_size:
                return None
            header = json.loads(fh.read(size))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return header if isinstance(header, dict) else None


def is_safetensors(path: Path) -> bool:
    return path.is_file() and try_read_header(path) is not None


def load(path: "str | os.PathLike[str]") -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """All tensors of a safetensors file and its metadata; any defect is a :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Weight file {str(path)!r} does not exist.")
    if try_read_header(path) is None:
        raise CheckpointError(f"{str(path)!r} is not a safetensors file (its header is missing or corrupt).")
    try:
        with safe_open(str(path), framework="numpy") as fh:
            metadata = dict(fh.metadata() or {})
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{str(path)!r} is a corrupt safetensors file ({_first_line(exc)}).") from None
    return tensors, metadata


def save(path: "str | os.PathLike[str]", tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> None:
    """Write tensors atomically: a temporary file in the same directory, renamed into place."""
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(arrays, str(tmp), metadata=dict(metadata))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
