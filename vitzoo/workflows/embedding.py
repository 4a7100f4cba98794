"""``vitzoo.embed``: image embeddings for many files, written to one safetensors file.

The file holds ``embeddings`` ``[N, D]`` float32 (and ``layers.<i>`` ``[N, D]`` for
per-block features); its metadata holds the image names relative to ``root`` (in
row order), what the embedding is, the preprocessing, and the model's spec and
provenance. :func:`load_embeddings` reads it back.

Example:
    >>> out = vitzoo.embed("photos/", "dinov2_b_14", output="photos.safetensors", normalize=True)  # doctest: +SKIP
    >>> emb = load_embeddings("photos.safetensors")                                              # doctest: +SKIP
    >>> emb["files"][:2], emb["embeddings"].shape                                                  # doctest: +SKIP
    (['beach/1.jpg', 'beach/2.jpg'], (120, 768))
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Optional, Sequence, Union

import numpy as np

from vitzoo.errors import DataError, VitzooError
from vitzoo.fileio import ensure_folder

PathLike = Union[str, "os.PathLike[str]"]
FORMAT = "vitzoo-embeddings/1"
# provenance keys worth carrying (class names and preprocessing have their own place or none)
_PROVENANCE_SKIP = ("class_names",)


def embed(
    images: Union[PathLike, Sequence[PathLike]],
    model: Any = None,
    *,
    weights: Optional[PathLike] = None,
    output: Optional[PathLike] = None,
    batch_size: int = 32,
    normalize: bool = False,
    pool: Optional[str] = None,
    layers: Union[int, Sequence[int], None] = None,
    skip_bad: bool = False,
    progress: bool = False,
    workers: int = 2,
) -> dict[str, Any]:
    """Embed image files (paths, directories searched recursively, glob patterns) with one model.

    Args:
        model: a model name (pretrained weights), a model from :func:`vitzoo.create`,
            or ``None`` with ``weights=`` a checkpoint file.
        output: a ``.safetensors`` file to write (atomically); ``None`` writes nothing.
        normalize: L2-normalise every row (cosine similarity becomes a dot product).
        pool: ``None`` for the family's own image embedding (CLIP: the projected
            embedding; DINOv2: class token after the norm; SigLIP: the MAP output;
            classifiers: pooled features before the head), or ``"cls"``/``"avg"``/``"map"``.
        layers: also per-block features: an int ``n`` = the last ``n`` blocks, a list =
            those block indices (timm's ``indices``), each through the final norm, then pooled.
        skip_bad: leave out unreadable images (listed in ``skipped``) instead of stopping.

    Returns ``embeddings``, ``layers`` (block index → array), ``files`` (names
    relative to ``root``, one per row), ``root``, ``skipped``, ``img_per_s``, ``output``.
    """
    from vitzoo.workflows.tasks import expand_images, load_model

    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise DataError(f"Batch size must be a positive integer, got {batch_size!r}.")
    if output is not None and not os.fspath(output).endswith(".safetensors"):
        raise VitzooError(f"Embeddings are written as safetensors; name the output {os.fspath(output)!r} *.safetensors.")
    if output is not None:
        ensure_folder(output)  # an unusable location fails before the model loads and the images are read
    files = expand_images([images] if isinstance(images, (str, os.PathLike)) else list(images))
    net = load_model(model, weights)
    from vitzoo.backends.mindspore.deploy.embed import describe_embedding, embed_files

    result = embed_files(
        net, files, batch_size=batch_size, pool=pool, layers=layers, normalize=normalize,
        skip_bad=skip_bad, progress=progress, workers=workers,
    )
    root = common_root(files)
    names = [_relative(files[i], root) for i in result["kept"]]
    out = {
        "embeddings": result["embeddings"],
        "layers": result["layers"],
        "files": names,
        "root": root,
        "skipped": [_relative(p, root) for p in result["skipped"]],
        "images": len(names),
        "img_per_s": result["img_per_s"],
        "seconds": result["seconds"],
        "embedding": describe_embedding(net, pool),
        "output": None,
    }
    if output is not None:
        meta = _metadata(net, model, weights, out, normalize=normalize, pool=pool)
        write_embeddings(output, out["embeddings"], out["layers"], meta)
        out["output"] = os.fspath(output)
    return out


def common_root(files: Sequence[str]) -> str:
    """The deepest folder holding every file (names in the output are relative to it)."""
    folders = [os.path.dirname(os.path.abspath(f)) for f in files]
    return os.path.commonpath(folders) if folders else os.getcwd()


def _relative(path: str, root: str) -> str:
    return os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")


def write_embeddings(path: PathLike, embeddings: np.ndarray, layers: dict, metadata: dict[str, str]) -> None:
    """Write the tensors and string metadata to ``path`` through a temporary file (never half-written)."""
    from safetensors.numpy import save_file

    from vitzoo.fileio import atomic_path

    tensors = {"embeddings": np.ascontiguousarray(embeddings, np.float32)}
    tensors.update({f"layers.{i}": np.ascontiguousarray(arr, np.float32) for i, arr in layers.items()})
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_embeddings(path: PathLike) -> dict[str, Any]:
    """Read a file written by :func:`embed`: ``embeddings``, ``layers``, ``files``, and the metadata.

    Example:
        >>> load_embeddings("/no/such.safetensors")
        Traceback (most recent call last):
        ...
        vitzoo.errors.DataError: Embeddings file '/no/such.safetensors' does not exist.
    """
    from safetensors import safe_open

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"Embeddings file {path!r} does not exist.")
    try:
        with safe_open(path, framework="numpy") as fh:
            meta = dict(fh.metadata() or {})
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types for bad headers
        raise DataError(f"Cannot read embeddings file {path!r} ({exc}).") from None
    if meta.get("format") != FORMAT or "embeddings" not in tensors:
        raise DataError(f"{path!r} is not an embeddings file written by vitzoo embed.")
    return {
        "embeddings": tensors["embeddings"],
        "layers": {int(k.split(".", 1)[1]): v for k, v in tensors.items() if k.startswith("layers.")},
        "files": json.loads(meta["files"]),
        "metadata": meta,
    }


def _metadata(net: Any, model: Any, weights: Optional[PathLike], out: dict, *, normalize: bool, pool: Optional[str]) -> dict[str, str]:
    from vitzoo.transforms import transforms_for

    cfg = dict(getattr(net, "pretrained_cfg", {}) or {})
    provenance = {k: v for k, v in cfg.items() if k not in _PROVENANCE_SKIP}
    source = os.fspath(weights) if weights is not None else (model if isinstance(model, str) else cfg.get("source", "a model object"))
    preprocessing = dataclasses.asdict(transforms_for(net))
    return {
        "format": FORMAT,
        "files": json.dumps(out["files"]),
        "root": out["root"],
        "skipped": json.dumps(out["skipped"]),
        "model": str(source),
        "embedding": out["embedding"],
        "pool": pool or "default",
        "normalize": json.dumps(bool(normalize)),
        "layers": json.dumps(sorted(out["layers"])),
        "preprocessing": json.dumps(preprocessing),
        "spec": net.spec.to_json(),
        "provenance": json.dumps(provenance, default=str),
    }
