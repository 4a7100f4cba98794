"""``vitzoo.export``: a model as a MindIR or ONNX file for deployment (the format follows the suffix).

Example:
    >>> import vitzoo
    >>> vitzoo.export("vit_b_16", "vit_b_16.onnx")                        # doctest: +SKIP
    {'path': 'vit_b_16.onnx', 'format': 'onnx', 'input_shape': [1, 3, 224, 224], 'max_abs_diff': 3.1e-06, ...}
    >>> vitzoo.export(weights="runs/digits/best.safetensors", output="digits.mindir", batch_size=8)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Union

from vitzoo.errors import VitzooError
from vitzoo.fileio import ensure_folder

PathLike = Union[str, "os.PathLike[str]"]


def export(
    model: Any = None,
    output: Optional[PathLike] = None,
    *,
    weights: Optional[PathLike] = None,
    batch_size: int = 1,
    img_size: Optional[int] = None,
    verify: bool = True,
    naflex: bool = False,
) -> dict[str, Any]:
    """Write ``model`` to ``output`` (``*.mindir`` or ``*.onnx``) for float32 NCHW input ``[batch_size, C, img_size, img_size]``.

    Args:
        model: a model name (its pretrained weights), a model from :func:`vitzoo.create`,
            or ``None`` with ``weights=`` a checkpoint file.
        output: the file to write; replaced atomically, never left half-written.
        batch_size: the fixed batch size of the exported graph.
        img_size: the input side (default: the model's); the position embedding is
            resampled once, as ``create(..., img_size=)`` does.
        verify: run the written file (MindIR through MindSpore, ONNX through
            onnxruntime if installed) and compare with the model: ``max_abs_diff``.
        naflex: ask for a graph over NaFlex batches: refused (a NaFlex model exports its NCHW path,
            at a fixed ``img_size``; its NaFlex batches run in MindSpore or NumPy).

    Returns a summary: ``path``, ``format``, ``input_shape``, ``output_shape``, ``max_abs_diff``, ``files``.
    """
    from vitzoo.workflows.tasks import load_model

    if output is None:
        raise VitzooError("Name the file to export to: output='model.onnx' or 'model.mindir'.")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise VitzooError(f"batch_size must be a positive integer, got {batch_size!r}.")
    from vitzoo.backends.mindspore.deploy.export import export_format, export_model

    if naflex:
        raise VitzooError(
            "NaFlex batches cannot be exported: each image's position grid is resampled to a size read from its patch coordinates "
            "at run time, which a fixed ONNX or MindIR graph cannot compute; export the NCHW model at a fixed --img-size instead."
        )
    export_format(Path(output))  # a bad suffix or an unusable location fails before any model is loaded
    ensure_folder(output)
    net = load_model(model, weights)
    if img_size is not None and img_size != net.spec.img_size:
        net = _resized(net, img_size)
    return export_model(net, Path(output), batch_size=batch_size, verify=verify)


def _resized(model: Any, img_size: int) -> Any:
    """The same model for ``img_size`` inputs (position embedding resampled as timm does)."""
    from vitzoo.adapt import adapt_checkpoint
    from vitzoo.api import build_from_checkpoint
    from vitzoo.backends import get_backend
    from vitzoo.errors import CheckpointError
    from vitzoo.weights import Checkpoint

    if not isinstance(img_size, int) or isinstance(img_size, bool) or img_size < 1:
        raise VitzooError(f"img_size must be a positive integer, got {img_size!r}.")
    ckpt = Checkpoint(state=get_backend("mindspore").state_dict(model), spec=model.spec, meta=dict(model.pretrained_cfg or {}))
    try:
        return build_from_checkpoint(adapt_checkpoint(ckpt, img_size=img_size))
    except CheckpointError as exc:
        raise VitzooError(f"Cannot export at img_size {img_size}: {exc}") from None


def export_text(clip: Any = None, output: Optional[PathLike] = None, *, weights: Optional[PathLike] = None, name: Optional[str] = None,
                batch_size: int = 1, verify: bool = True) -> dict[str, Any]:
    """Write the text tower of a whole CLIP / SigLIP model (``*.mindir`` / ``*.onnx``): int32 ids ``[batch_size, context]`` → embeddings.

    ``clip`` is a MindSpore model from :func:`vitzoo.create_clip`, or ``None`` with ``weights=``
    (and ``name=`` where the file needs an open_clip name). Tokenize with ``clip.tokenize`` (or the
    same tokenizer) and feed the ids as int32.

    Example:
        >>> vitzoo.workflows.exporting.export_text(weights="clip-vit-base-patch16/", output="text.onnx")  # doctest: +SKIP
        {'path': 'text.onnx', 'format': 'onnx', 'input_shape': [1, 77], 'input_dtype': 'int32', ...}
    """
    if output is None:
        raise VitzooError("Name the file to export to: output='text.onnx' or 'text.mindir'.")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise VitzooError(f"batch_size must be a positive integer, got {batch_size!r}.")
    from vitzoo.backends.mindspore.deploy.export import export_format
    from vitzoo.backends.mindspore.deploy.text_export import export_text as write_text_tower

    export_format(Path(output))
    ensure_folder(output)
    if clip is None:
        if weights is None:
            raise VitzooError("export_text needs a model from vitzoo.create_clip, or weights=<a whole CLIP/SigLIP file or folder>.")
        from vitzoo.clip_api import create_clip

        clip = create_clip(name, pretrained=weights)
    if not hasattr(getattr(clip, "text", None), "construct"):
        raise VitzooError("export_text exports MindSpore CLIP models; build it with vitzoo.create_clip(..., backend='mindspore').")
    return write_text_tower(clip, Path(output), batch_size=batch_size, verify=verify)
