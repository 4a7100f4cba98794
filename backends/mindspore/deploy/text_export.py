"""Write the text tower of a whole CLIP / SigLIP model as MindIR or ONNX: int32 ids ``[batch, context]`` → embeddings.

As for the image tower (:mod:`.portable`), the exported graph is a copy rebuilt from the
tower's own weights in operators both formats carry: q/k/v split by slices (no
``Unstack``), MindSpore's ``LayerNorm`` primitive (no custom kernels), the exact GELU without
``Erf``. The model being used is not changed.

Example:
    >>> clip = vitzoo.create_clip("ViT-S-32")                                    # doctest: +SKIP
    >>> export_text(clip, Path("text.onnx"), batch_size=4)["max_abs_diff"] < 1e-4  # doctest: +SKIP
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from mindspore import Tensor, ops

from vitzoo.text_spec import TextSpec

from .. import kernels
from ..model.text import TextAttention, TextBlock, TextTransformer
from .export import ONNX_LIMIT_BYTES, ExportError, _remove, _write, export_format, run_exported
from .portable import PortableMlp


class PortableTextAttention(TextAttention):
    """The text tower's attention with q/k/v taken by slices (ONNX has no ``Unstack``)."""

    def construct(self, x: Tensor, mask: Tensor) -> Tensor:
        n, length, width = x.shape
        qkv = self.qkv(x).reshape(n, length, 3, self.heads, self.head_dim).transpose(2, 0, 3, 1, 4)
        attn = ops.softmax(self.scores(qkv[0] * self.scale, qkv[1]) + mask, -1)
        return self.proj(self.mix(attn, qkv[2]).transpose(0, 2, 1, 3).reshape(n, length, width))


class PortableTextBlock(TextBlock):
    attention_cls = PortableTextAttention
    mlp_cls = PortableMlp  # the exact GELU without Erf; reads spec.gelu only


class PortableTextTransformer(TextTransformer):
    block_cls = PortableTextBlock


def portable_text_copy(tower: TextTransformer) -> TextTransformer:
    """A copy of ``tower`` (same weights, same function) in operators MindIR and ONNX both carry."""
    spec: TextSpec = tower.spec
    state = {p.name: p.asnumpy() for p in tower.get_parameters()}
    prefix = next((n[: -len("token_embed.weight")] for n in state if n.endswith("token_embed.weight")), "")
    state = {n[len(prefix) :]: v for n, v in state.items()}
    with kernels.primitive_ops():  # plain LayerNorm / BiasAdd: a custom kernel's .so does not travel with the file
        return PortableTextTransformer(spec, state)


def export_text(clip: Any, path: Path, *, batch_size: int = 1, verify: bool = True, seed: int = 0) -> dict:
    """Export ``clip``'s text tower for ids ``[batch_size, context_length]`` (int32) to ``path``; returns a summary.

    With ``verify`` the written file is run on random ids and compared with ``clip.encode_text``
    (an :class:`~.export.ExportError` above 1e-4 of the output scale; nothing is kept then).
    """
    path = Path(path)
    fmt = export_format(path)
    tower = clip.text
    spec = tower.spec
    shape = (batch_size, spec.context_length)
    net = portable_text_copy(tower)
    if fmt == "ONNX" and sum(int(np.prod(p.shape)) * 4 for p in net.get_parameters()) > ONNX_LIMIT_BYTES:
        raise ExportError("The text tower has over 2 GiB of float32 weights, ONNX's file limit; export it as .mindir instead.")
    written = _write(net, Tensor(np.zeros(shape, np.int32)), path, fmt)
    summary: dict = {"path": str(path), "format": fmt.lower(), "input_shape": list(shape), "input_dtype": "int32",
                     "files": [str(p) for p in written]}
    if verify:
        ids = np.random.default_rng(seed).integers(0, spec.vocab_size, shape).astype(np.int32)
        expected = clip.encode_text(ids).asnumpy()
        got = run_exported(path, ids)
        summary["max_abs_diff"] = None if got is None else float(np.abs(got - expected).max()) if got.shape == expected.shape else float("inf")
        summary["output_shape"] = list(expected.shape)
        diff = summary["max_abs_diff"]
        if diff is not None and not diff <= 1e-4 * max(1.0, float(np.abs(expected).max())):
            for p in written:
                _remove(p)
            raise ExportError(f"The exported {fmt} text tower gives outputs {diff:.3g} away from the model's; nothing was kept at {str(path)!r}.")
    return summary
