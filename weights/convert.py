"""Checkpoint conversion between formats: read any source, write any writable format.

The work is :func:`vitzoo.weights.read` then :func:`vitzoo.weights.write`; this
module adds provenance (source format, path and sha256 in the metadata), checks a
named variant against the weights, and reports what happened.

Example:
    >>> from vitzoo.weights import convert
    >>> report = convert("vit_base_patch16_224.safetensors", "vit_b_16.safetensors")  # doctest: +SKIP
    >>> report.source_format, report.variant, report.tensors  # doctest: +SKIP
    ('timm', 'vit_b_16', 152)
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Union

from vitzoo.errors import CheckpointError, UnknownNameError
from vitzoo.fileio import sha256_file
from vitzoo.spec import ViTSpec
from vitzoo.variants import get_spec, variant_names
from vitzoo.weights import formats

if TYPE_CHECKING:  # the hashing helper's type, imported where it runs
    from vitzoo.weights import safetensors_io

# Fields that decide tensor shapes and the forward pass, bar the classifier and numerics:
# a checkpoint "is" a variant when these agree (eps and GELU form are reported separately).
_IGNORED_FOR_VARIANT = ("num_classes", "norm_eps", "gelu", "dynamic_img_size", "dynamic_img_pad")
# What readers of these formats assume, because the files cannot record it
# (timm/JAX: eps 1e-6 and exact GELU; MindSpore/MindCV: MindSpore's defaults).
_IMPLIED = {
    "timm": {"norm_eps": 1e-6, "gelu": "exact"},
    "jax": {"norm_eps": 1e-6, "gelu": "exact"},
    "mindspore": {"norm_eps": 1e-7, "gelu": "tanh"},
    "mindcv": {"norm_eps": 1e-7, "gelu": "tanh"},
    "open_clip": {"norm_eps": 1e-5, "gelu": "exact"},  # QuickGELU lives in open_clip_config.json, not the weights
    "dinov2": {"norm_eps": 1e-6, "gelu": "exact"},
}
# Weight files inside a directory, in the order whose hash stands for the directory.
_DIR_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


@dataclass
class ConversionReport:
    """What :func:`convert` did."""

    source: str
    destination: str
    source_format: str
    to_format: str
    spec: ViTSpec
    variant: Optional[str]  # the registered variant the weights match, if any
    tensors: int
    dropped: list[str] = field(default_factory=list)
    source_bytes: int = 0
    bytes: int = 0  # size of what was written
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # e.g. numerics the output format cannot record

    @property
    def gb_per_s(self) -> float:
        """Source gigabytes converted per second."""
        return self.source_bytes / 1e9 / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> list[str]:
        """Human-readable lines, as ``vitzoo-convert`` prints them."""
        s = self.spec
        arch = (
            f"img {s.img_size}, patch {s.patch_size}, dim {s.embed_dim}, depth {s.depth}, heads {s.num_heads}, "
            f"mlp {s.mlp_dim}, {s.num_classes} classes, eps {s.norm_eps:g}, {s.gelu} GELU, {s.global_pool} pooling"
        )
        dropped = "nothing" if not self.dropped else f"{len(self.dropped)} entries: {_few(self.dropped)}"
        return [
            f"Converted {self.source_format} checkpoint {self.source!r} -> {self.destination!r} ({self.to_format})",
            f"  variant: {self.variant or 'no registered variant'} ({arch})",
            f"  tensors: {self.tensors}, {self.bytes / 1e6:.1f} MB written in {self.seconds:.2f} s",
            f"  dropped: {dropped}",
            *(f"  note: {n}" for n in self.notes),
        ]


def convert(
    src: "str | os.PathLike[str]",
    dst: "str | os.PathLike[str]",
    *,
    from_format: str = "auto",
    to_format: str = "vitzoo",
    variant: Union[None, str, ViTSpec, Mapping[str, Any]] = None,
) -> ConversionReport:
    """Convert the checkpoint ``src`` into ``to_format`` at ``dst`` (written atomically).

    Args:
        src: a file, or a directory for Hugging Face models.
        dst: the output file (a directory for ``to_format="hf"``); replaced if it exists.
        from_format: ``"auto"`` (detected by content) or a format name.
        to_format: a writable format name (``vitzoo``, ``timm``, ``hf``, ``jax``, ...).
        variant: a variant name or spec for what the weights cannot show (e.g. the
            head count of a bare timm file); it must match the weights' shapes. A
            mapping of fields (``{"num_heads": 4}``) gives just those.

    Example:
        >>> convert("ViT-B_16.npz", "vit_b_16.safetensors", from_format="jax").variant  # doctest: +SKIP
        'vit_b_16'
    """
    start = time.perf_counter()
    if from_format != "auto" and from_format not in formats.FORMATS:
        raise UnknownNameError(f"Unknown source format {from_format!r}; use auto or one of {', '.join(sorted(formats.FORMATS))}.")
    writable = sorted(n for n, f in formats.FORMATS.items() if f.write is not None)
    if to_format not in writable:
        raise UnknownNameError(f"Cannot write format {to_format!r}; writable formats: {', '.join(writable)}.")
    src_path = Path(src)
    hint = get_spec(variant) if isinstance(variant, str) else variant
    fmt = formats.detect_format(src_path) if from_format == "auto" else from_format
    hashed = _hashed_file(src_path)
    digest = _sha256_meanwhile(hashed) if hashed else None
    ckpt = formats.read(src_path, format=fmt, variant=hint)
    if isinstance(hint, ViTSpec):
        _check_variant(hint, ckpt.spec, variant if isinstance(variant, str) else "the given spec", str(src_path))
    ckpt.meta.update(source_format=fmt, source=str(src_path), source_sha256=digest)
    try:
        formats.write(ckpt, dst, format=to_format)
    except OSError as exc:
        raise CheckpointError(f"Cannot write {str(dst)!r} ({exc.strerror or exc}).") from None
    if digest is not None:
        ckpt.meta["source_sha256"] = digest.resolve()  # also waits for the hashing thread when the format had no use for it
    return ConversionReport(
        source=str(src_path),
        destination=str(dst),
        source_format=fmt,
        to_format=to_format,
        spec=ckpt.spec,
        variant=_variant_name(ckpt.spec, variant if isinstance(variant, str) else None),
        tensors=len(ckpt.state),
        dropped=list(ckpt.dropped),
        source_bytes=_size(src_path),
        bytes=_size(Path(dst)),
        seconds=time.perf_counter() - start,
        notes=list(ckpt.notes) + _lost_numerics(ckpt.spec, to_format),
    )


def _check_variant(hint: ViTSpec, found: ViTSpec, name: str, source: str) -> None:
    keys = ("patch_size", "embed_dim", "depth", "mlp_dim", "in_chans", "class_token", "reg_tokens")
    diff = [f"{k} {getattr(found, k)} (variant: {getattr(hint, k)})" for k in keys if getattr(hint, k) != getattr(found, k)]
    if diff:
        raise CheckpointError(f"{source!r} does not match variant {name}: {', '.join(diff)}; name the right variant or omit it.")


def _variant_name(spec: ViTSpec, asked: Optional[str]) -> Optional[str]:
    """The asked-for variant, or the first registered one with the same architecture."""
    arch = {k: v for k, v in dataclasses.asdict(spec).items() if k not in _IGNORED_FOR_VARIANT}
    candidates = ([asked] if asked else []) + variant_names()
    for name in candidates:
        other = {k: v for k, v in get_spec(name).to_dict().items() if k not in _IGNORED_FOR_VARIANT}
        if other == arch:
            return name.split(".")[0] if name == asked else name
    return None


def _lost_numerics(spec: ViTSpec, to_format: str) -> list[str]:
    if spec.naflex and to_format == "timm":  # the grid's resampling is no tensor either, and the reader refuses to guess it
        return ["a timm NaFlexVit file cannot record its GELU form, eps or position-grid resampling; read it back with its "
                "architecture's name (vitzoo.create(NAME, pretrained=FILE), --variant NAME) or timm's config.json beside it."]
    implied = _IMPLIED.get(to_format, {})
    lost = [f"{k} {getattr(spec, k)!r}" for k, v in implied.items() if getattr(spec, k) != v]
    if not lost:
        return []
    assumed = ", ".join(f"{k} {v!r}" for k, v in implied.items())
    return [f"the {to_format} format cannot record {', '.join(lost)}; its readers assume {assumed}, so logits will differ slightly."]


def _sha256_meanwhile(path: Path) -> "safetensors_io.Deferred":
    """The sha256 of ``path``, hashed on another thread while the conversion reads and writes.

    hashlib releases the GIL on large blocks, so on two cores the hash (~0.7 s per GB)
    no longer adds to the conversion time.
    """
    from vitzoo.weights import safetensors_io

    box: dict = {}

    def work() -> None:
        try:
            box["digest"] = sha256_file(path)
        except OSError as exc:
            box["error"] = exc

    thread = threading.Thread(target=work, name="vitzoo-sha256", daemon=True)
    thread.start()

    def resolve() -> str:
        thread.join()
        if "error" in box:
            raise CheckpointError(f"Cannot read {str(path)!r} ({box['error'].strerror or box['error']}).")
        return box["digest"]

    return safetensors_io.Deferred(64, resolve)


def _hashed_file(path: Path) -> Optional[Path]:
    """The file whose sha256 identifies the source: itself, or a directory's weight file."""
    if path.is_file():
        return path
    return next((path / n for n in _DIR_WEIGHTS if (path / n).is_file()), None)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _few(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"
