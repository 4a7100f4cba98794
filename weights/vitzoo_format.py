"""The canonical format: a safetensors file with canonical names and a self-describing header.

Metadata keys (all strings, as safetensors requires):
``format`` = ``"vitzoo"``, ``format_version``, ``vitzoo_version``, ``spec`` (JSON of
the full :class:`~vitzoo.spec.ViTSpec`), and provenance: ``name``, ``source_format``,
``source``, ``source_sha256``, ``class_names`` (JSON list), ``pretrained_cfg`` (JSON).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vitzoo.errors import CheckpointError, SpecError
from vitzoo.spec import ViTSpec
from vitzoo.weights import safetensors_io
from vitzoo.weights.base import Checkpoint, WeightFormat, register_format
from vitzoo.weights.infer import Hint

FORMAT_VERSION = "1"
_JSON_KEYS = ("spec", "class_names", "pretrained_cfg")
_JSON_TYPES = {"spec": dict, "class_names": list, "pretrained_cfg": dict}
_JSON_WHAT = {"spec": "a JSON object", "class_names": "a JSON list of names", "pretrained_cfg": "a JSON object"}
_STRING_KEYS = ("name", "source_format", "source", "source_sha256")


def detect(path: Path) -> bool:
    if not path.is_file():
        return False
    header = safetensors_io.try_read_header(path)
    meta = header.get("__metadata__") if header is not None else None
    return isinstance(meta, dict) and meta.get("format") == "vitzoo"


def read(path: "str | os.PathLike[str]", variant: Hint = None) -> Checkpoint:
    """Read a canonical checkpoint; ``variant`` is ignored (the file states its own spec)."""
    path = Path(path)
    # read-only views into a memory map, like the timm and HF readers: a backend copies each
    # tensor once into its own parameters (a private copy here would double the work on create)
    tensors, metadata = safetensors_io.load_mmap(path)
    if metadata.get("format") != "vitzoo" or "spec" not in metadata:
        raise CheckpointError(f"{str(path)!r} is a safetensors file but not a vitzoo checkpoint (no vitzoo spec in its metadata).")
    meta: dict[str, Any] = {}
    for key, value in metadata.items():
        if key in _JSON_KEYS:
            try:
                meta[key] = json.loads(value)
            except (ValueError, RecursionError):
                raise CheckpointError(f"{str(path)!r}: metadata entry {key!r} is not valid JSON.") from None
            if not isinstance(meta[key], _JSON_TYPES[key]) or (
                key == "class_names" and not all(isinstance(n, str) for n in meta[key])
            ):
                raise CheckpointError(f"{str(path)!r}: metadata entry {key!r} is not {_JSON_WHAT[key]}; the file is corrupt.")
        elif key not in ("format", "format_version", "vitzoo_version"):
            meta[key] = value
    try:
        spec = ViTSpec.from_dict(meta.pop("spec"))
    except SpecError as exc:
        raise CheckpointError(f"{str(path)!r}: its spec is invalid ({exc})") from None
    return Checkpoint(state=tensors, spec=spec, meta=meta).validate(repr(str(path)))


def write(ckpt: Checkpoint, path: "str | os.PathLike[str]") -> None:
    """Write ``ckpt`` as a canonical checkpoint (atomically: a temp file renamed into place)."""
    from vitzoo.version import __version__

    ckpt.validate()
    metadata = {
        "format": "vitzoo",
        "format_version": FORMAT_VERSION,
        "vitzoo_version": __version__,
        "spec": ckpt.spec.to_json(),
    }
    for key in _STRING_KEYS:
        value = ckpt.meta.get(key)
        if value is not None:  # a Deferred (e.g. a digest still being computed) is filled in by save
            metadata[key] = value if isinstance(value, safetensors_io.Deferred) else str(value)
    for key in _JSON_KEYS[1:]:
        if ckpt.meta.get(key) is not None:
            metadata[key] = json.dumps(ckpt.meta[key])
    safetensors_io.save(path, ckpt.state, metadata)


FORMAT = register_format(
    WeightFormat(
        name="vitzoo",
        description="vitzoo canonical safetensors (canonical names, spec and provenance in the header)",
        detect=detect,
        read=read,
        write=write,
    )
)
