"""The original DINOv2 files of facebookresearch/dinov2 (``dinov2_vit{s,b,l,g}14[_reg4]_pretrain.pth``).

Their names are timm-like: ``cls_token``, ``pos_embed`` [1, 1+N, D] (the class token's
position included), ``patch_embed.proj``, ``blocks.{i}.norm1|attn.qkv|attn.proj|ls1.gamma|
norm2|mlp.fc1|mlp.fc2|ls2.gamma``, ``norm``; the giant model's SwiGLU MLP is ``mlp.w12``
(packed, SiLU of the first half times the second: timm's ``fc1``) and ``mlp.w3``
(``fc2``); training checkpoints may nest blocks in chunks (``blocks.{chunk}.{i}``).
What marks them is ``mask_token`` (masked pre-training only: dropped and reported);
``register_tokens`` become ``reg_token``. As in timm's conversion, the class token's
position row is folded into ``cls_token`` for register models (timm gives neither class
nor registers a position); the writer puts a zero row back, so the model computes the
same values and a vitzoo → DINOv2 → vitzoo round trip is bit-exact.

Every DINOv2 model uses exact GELU, LayerNorm eps 1e-6 and 64-wide heads.

Example:
    >>> from vitzoo import weights
    >>> ckpt = weights.read("dinov2_vits14_pretrain.pth")  # doctest: +SKIP
    >>> ckpt.spec.img_size, ckpt.dropped  # doctest: +SKIP
    (518, ['mask_token'])
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

from vitzoo.errors import CheckpointError
from vitzoo.weights import safetensors_io
from vitzoo.weights.base import Checkpoint, WeightFormat, as_float32, register_format, require_file
from vitzoo.weights.infer import Hint, infer_spec
from vitzoo.weights.timm_format import load_state_file, save_state_file, torch_file_mentions

MARKER = "mask_token"
_TOP = {"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias", "norm.weight", "norm.bias"}
_BLOCK = re.compile(r"^blocks\.(?:\d+\.)?(\d+)\.(.+)$")  # plain, or chunked: blocks.{chunk}.{i}
_PARTS = {
    "norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
    "ls1.gamma", "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias",
    "ls2.gamma",
}  # fmt: skip
_SWIGLU = {"mlp.w12.weight": "mlp.fc1.weight", "mlp.w12.bias": "mlp.fc1.bias", "mlp.w3.weight": "mlp.fc2.weight", "mlp.w3.bias": "mlp.fc2.bias"}


def detect(path: Path) -> bool:
    """A safetensors file or torch pickle holding both ``mask_token`` and ``patch_embed.proj.weight``."""
    if not path.is_file():
        return False
    header = safetensors_io.try_read_header(path)
    if header is not None:
        return MARKER in header and "patch_embed.proj.weight" in header
    return torch_file_mentions(path, MARKER) and torch_file_mentions(path, "patch_embed.proj.weight")


def read(path: Path, variant: Hint = None) -> Checkpoint:
    """Read a DINOv2 backbone file into timm's layout."""
    path = require_file(path)
    source = repr(str(path))
    if path.is_dir():
        raise CheckpointError(f"{source} is a folder; pass the DINOv2 .pth file itself.")
    raw, dropped = load_state_file(path)
    state: dict[str, np.ndarray] = {}
    origin: dict[str, str] = {}
    unknown: list[str] = []
    for name, value in raw.items():
        m = _BLOCK.match(name)
        if name == MARKER:
            dropped.append(name)
            continue
        if name == "register_tokens":
            target: Optional[str] = "reg_token"
        elif name in _TOP:
            target = name
        elif m and (m.group(2) in _PARTS or m.group(2) in _SWIGLU):
            target = f"blocks.{m.group(1)}.{_SWIGLU.get(m.group(2), m.group(2))}"
        else:
            target = None
        if target is None:
            unknown.append(name)
            continue
        if target in origin:  # e.g. a block both plain and inside a chunk
            raise CheckpointError(f"{source} holds both {origin[target]!r} and {name!r}, which are the same weight; the file is damaged.")
        origin[target] = name
        state[target] = as_float32(value, name, source)
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise CheckpointError(f"{source} has tensors that are not part of a DINOv2 backbone: {shown}.")
    config: dict[str, Any] = {"norm_eps": 1e-6, "gelu": "exact", "global_pool": "token"}
    if "reg_token" in state:
        fold_class_position(state, source)
        config["pos_embed_prefix"] = False
    spec = infer_spec(state, source, config=config, hint=variant)
    meta: dict[str, Any] = {"source_format": "dinov2", "source": str(path)}
    return Checkpoint(state=state, spec=spec, meta=meta, dropped=dropped).validate(source)


def write(ckpt: Checkpoint, path: Path) -> None:
    """Write the DINOv2 layout (torch for ``.pth``/``.pt``/``.bin``, else safetensors), atomically."""
    ckpt.validate()
    spec, state = ckpt.spec, ckpt.state
    registers = spec.reg_tokens > 0
    problems = [
        text
        for bad, text in (
            (not spec.layer_scale or not spec.class_token or spec.global_pool != "token" or spec.dist_token, "layer scale and class-token pooling"),
            (spec.pos_embed_prefix == registers, "a class-token position (and none for registers)"),
            (spec.num_classes > 0 or spec.pre_norm or spec.fc_norm or spec.qk_norm or spec.pre_logits_dim > 0, "no classifier, norm_pre, fc_norm, q/k norm or pre-logits"),
            (not spec.patch_bias or not spec.qkv_bias, "a patch bias and q/k/v biases"),
        )
        if bad
    ]
    if problems:
        raise CheckpointError(
            f"a DINOv2 backbone needs {', '.join(problems)}; these weights cannot be written in the DINOv2 layout. "
            "Convert them to vitzoo or timm instead."
        )
    swiglu = {v: k for k, v in _SWIGLU.items()} if spec.mlp_type == "swiglu" else {}
    d = spec.embed_dim
    tensors: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if name == "reg_token":
            tensors["register_tokens"] = value
        elif name == "pos_embed" and registers:  # DINOv2 adds row 0 to the class token: zeros keep vitzoo's values
            tensors[name] = np.concatenate([np.zeros((1, 1, d), np.float32), value], axis=1)
        elif name in _TOP:
            tensors[name] = value
        else:
            i, part = re.match(r"^blocks\.(\d+)\.(.+)$", name).groups()
            tensors[f"blocks.{i}.{swiglu.get(part, part)}"] = value
    tensors[MARKER] = np.zeros((1, d), np.float32)  # masked pre-training only; present so the hub model loads strictly
    save_state_file(path, tensors)


def fold_class_position(state: dict[str, np.ndarray], source: str) -> None:
    """Add position row 0 to the class token and drop it from ``pos_embed`` (DINOv2 with registers → timm)."""
    pos, cls = state.get("pos_embed"), state.get("cls_token")
    if pos is None or cls is None or pos.ndim != 3 or pos.shape[0] != 1 or pos.shape[1] < 2 or cls.shape != (1, 1, pos.shape[2]):
        shapes = [None if t is None else tuple(t.shape) for t in (cls, pos)]
        raise CheckpointError(f"{source}: class token {shapes[0]} and position embedding {shapes[1]} do not fit together.")
    state["cls_token"] = cls + pos[:, :1]
    state["pos_embed"] = np.ascontiguousarray(pos[:, 1:])


FORMAT = register_format(
    WeightFormat(
        name="dinov2",
        description="facebookresearch/dinov2 backbone (dinov2_vit*14*_pretrain.pth; torch or safetensors)",
        detect=detect,
        read=read,
        write=write,
    )
)
