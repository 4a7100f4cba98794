"""Write a MindSpore ViT as MindIR or ONNX (``mindspore.export``), atomically, and check what was written.

The graph exported is :func:`~.portable.portable_copy` of the model: the same
weights and function, in operators both formats carry. The input is float32 NCHW
of a fixed shape ``[batch_size, C, H, W]``; the output is what ``model(x)`` returns
(logits, or the pooled/projected embedding of a model without classes).

ONNX files of the plain ViT block family are written by :mod:`.onnx_graph` instead, when the
``onnx`` package is installed: the operators onnxruntime and OpenVINO fuse, and a batch
dimension of any size (checked at ``batch_size`` and at another size).

MindSpore writes a model over 1 GiB of parameters as a graph file plus a
``<name>_variables/`` folder beside it; both are moved into place. ONNX files are
limited to 2 GiB by protobuf.

Example:
    >>> model = vitzoo.create("vit_ti_16", img_size=32, depth=1, num_classes=3)          # doctest: +SKIP
    >>> export_model(model, Path("tiny.onnx"), batch_size=2)["max_abs_diff"] < 1e-4     # doctest: +SKIP
    True
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional

import mindspore as ms
import numpy as np
from mindspore import nn

from vitzoo.errors import VitzooError, reason
from vitzoo.fileio import atomic_path, ensure_folder

from . import onnx_graph
from .portable import portable_copy

FORMATS = {".mindir": "MINDIR", ".onnx": "ONNX"}
ONNX_LIMIT_BYTES = 2 * 1024**3  # protobuf's message limit; MindSpore refuses bigger ONNX exports


class ExportError(VitzooError):
    """A model that cannot be written in the asked format, or a written file that does not reproduce the model."""


def export_format(path: Path) -> str:
    """``"MINDIR"`` or ``"ONNX"`` from the file suffix."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ExportError(f"Cannot tell the export format of {str(path)!r}; name the output *.mindir or *.onnx.")
    return fmt


def export_model(model: Any, path: Path, *, batch_size: int = 1, verify: bool = True, seed: int = 0) -> dict:
    """Export ``model`` for input ``[batch_size, C, H, W]`` (the spec's ``input_size``) to ``path``; returns a summary.

    With ``verify`` the written file is run (MindIR: ``mindspore.load`` + ``nn.GraphCell``;
    ONNX: onnxruntime, when installed) on a random input and compared with ``model``:
    ``max_abs_diff`` in the summary, and an :class:`ExportError` above 1e-4 × the output scale.
    """
    path = Path(path)
    fmt = export_format(path)
    spec = model.spec
    shape = (batch_size, spec.in_chans, *spec.input_size)  # (H, W): Sapiens2's default input is 1024 × 768
    if fmt == "ONNX":
        from .. import backend

        state = backend.state_dict(model)
        size = sum(int(v.size) * 4 for v in state.values())
        if size > ONNX_LIMIT_BYTES:
            raise ExportError(
                f"The model has {size / 1024**3:.1f} GiB of float32 weights, over ONNX's 2 GiB file limit; export it as .mindir instead."
            )
    direct = fmt == "ONNX" and onnx_graph.supports(spec) and onnx_graph.available()
    if direct:
        written = _write_onnx_graph(onnx_graph.build_graph(spec, state), path)
    else:
        written = _write(portable_copy(model), ms.Tensor(np.zeros(shape, np.float32)), path, fmt)
    summary: dict = {"path": str(path), "format": fmt.lower(), "input_shape": list(shape), "files": [str(p) for p in written],
                     "writer": "vitzoo" if direct else "mindspore", "any_batch_size": direct}
    if verify:
        batches = (batch_size, batch_size + 1) if direct else (batch_size,)  # a symbolic batch: prove it takes another size
        diffs = []
        for i, b in enumerate(batches):
            x = np.random.default_rng(seed + i).standard_normal((b, *shape[1:]), dtype=np.float32)
            expected = model(ms.Tensor(x)).asnumpy()
            got = run_exported(path, x)
            if got is None:
                summary["max_abs_diff"] = None  # onnxruntime is not installed
                return summary
            diff = float(np.abs(got - expected).max()) if got.shape == expected.shape else float("inf")
            diffs.append(diff)
            summary["output_shape"] = list(expected.shape) if i == 0 else summary["output_shape"]
            if not diff <= 1e-4 * max(1.0, float(np.abs(expected).max())):
                for p in written:
                    _remove(p)
                raise ExportError(f"The exported {fmt} file gives outputs {diff:.3g} away from the model's at batch size {b}; "
                                  f"nothing was kept at {str(path)!r}.")
        summary["max_abs_diff"] = max(diffs)
    return summary


def _write_onnx_graph(model_proto: Any, path: Path) -> list[Path]:
    """``model_proto`` serialised to ``path`` atomically (a partial file never appears under the name)."""
    ensure_folder(path)
    try:
        data = model_proto.SerializeToString()
    except ValueError as exc:  # protobuf's own size limit
        raise ExportError(f"The ONNX graph could not be serialised ({reason(exc)}); export it as .mindir instead.") from None
    with atomic_path(path, size=len(data)) as tmp:
        tmp.write_bytes(data)
    return [path]


def run_exported(path: Path, x: np.ndarray) -> Optional[np.ndarray]:
    """Run an exported file on ``x``: MindIR through ``nn.GraphCell``, ONNX through onnxruntime (None if absent)."""
    if export_format(Path(path)) == "MINDIR":
        graph = nn.GraphCell(ms.load(str(path)))
        return graph(ms.Tensor(x)).asnumpy()
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _write(net: Any, example: ms.Tensor, path: Path, fmt: str) -> list[Path]:
    """Export into a private folder beside ``path``, then move the result into place.

    MindSpore makes the files it writes read-only and chmods their folder to 0700;
    a private folder keeps that away from the user's directory.
    """
    ensure_folder(path)
    stem = path.name[: -len(path.suffix)]
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".export", dir=path.parent))
    try:
        try:
            ms.export(net, example, file_name=str(work / stem), file_format=fmt)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise ExportError(f"MindSpore could not export the model to {fmt} ({reason(exc)}).") from None
        single = work / (stem + path.suffix.lower())
        if single.exists():
            _publish(single, path)
            return [path]
        graph, variables = work / f"{stem}_graph.mindir", work / f"{stem}_variables"
        if not (graph.exists() and variables.is_dir()):
            raise ExportError(f"MindSpore wrote no {fmt} file for {str(path)!r}.")
        # split MindIR: the graph names its weight files relative to its own folder as "<stem>_variables/data_N"
        target_vars = path.parent / variables.name
        for item in variables.iterdir():
            item.chmod(0o644)
        variables.chmod(0o755)
        if target_vars.exists():
            shutil.rmtree(target_vars)
        os.replace(variables, target_vars)
        _publish(graph, path)
        return [path, target_vars]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _publish(src: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        mode = tmp.stat().st_mode
        src.chmod(0o600)
        os.replace(src, tmp)
        tmp.chmod(mode & 0o777)  # the umask's mode, not MindSpore's read-only 0400


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
