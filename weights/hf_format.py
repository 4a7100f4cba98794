"""Hugging Face transformers ViT: ``ViTForImageClassification`` and ``ViTModel``.

A source is a directory with ``config.json`` and ``model.safetensors`` (or shards
listed in ``model.safetensors.index.json``, or ``pytorch_model.bin`` when torch is
installed), or a bare HF-named safetensors file. Both the on-disk names that
``save_pretrained`` writes (``vit.encoder.layer.{i}.attention.attention.query``)
and transformers 5's in-memory names (``vit.layers.{i}.attention.q_proj``) are read;
q/k/v are concatenated into the canonical ``qkv``. ``ViTModel``'s pooler (Linear +
tanh on the class token) becomes ``pre_logits.fc``. The writer produces a directory
that ``ViTForImageClassification.from_pretrained`` (or ``ViTModel``) loads.

Example:
    >>> from vitzoo import weights
    >>> ckpt = weights.read("vit-base-patch16-224/")  # doctest: +SKIP
    >>> ckpt.spec.norm_eps, ckpt.class_names[:2]  # doctest: +SKIP
    (1e-12, ['tench, Tinca tinca', 'goldfish, Carassius auratus'])
    >>> weights.write(ckpt, "hf_out", format="hf")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from vitzoo.errors import CheckpointError
from vitzoo.fileio import atomic_dir
from vitzoo.spec import ViTSpec
from vitzoo.weights import safetensors_io
from vitzoo.weights.base import Checkpoint, WeightFormat, as_float32, register_format, require_file
from vitzoo.weights.infer import infer_spec
from vitzoo.weights.timm_format import load_torch_state, torch_file_mentions

ANCHOR = "embeddings.patch_embeddings.projection.weight"
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
_GELU = {"gelu": "exact", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh"}
_TOP = {
    "embeddings.cls_token": "cls_token",
    "embeddings.position_embeddings": "pos_embed",
    "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
    "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
    "layernorm.weight": "norm.weight",
    "layernorm.bias": "norm.bias",
    "pooler.dense.weight": "pre_logits.fc.weight",
    "pooler.dense.bias": "pre_logits.fc.bias",
}
_LAYER = re.compile(r"^(?:encoder\.layer|layers)\.(\d+)\.(.+)\.(weight|bias)$")
# Sub-module of a layer (on-disk name or transformers 5 in-memory name) -> canonical part.
_PARTS = {
    "attention.attention.query": "q", "attention.q_proj": "q",
    "attention.attention.key": "k", "attention.k_proj": "k",
    "attention.attention.value": "v", "attention.v_proj": "v",
    "attention.output.dense": "attn.proj", "attention.o_proj": "attn.proj",
    "layernorm_before": "norm1", "layernorm_after": "norm2",
    "intermediate.dense": "mlp.fc1", "mlp.fc1": "mlp.fc1",
    "output.dense": "mlp.fc2", "mlp.fc2": "mlp.fc2",
}  # fmt: skip
# Writer: canonical part -> the on-disk name save_pretrained uses.
_DISK_PARTS = {
    "norm1": "layernorm_before", "norm2": "layernorm_after", "attn.proj": "attention.output.dense",
    "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense",
}  # fmt: skip


def detect(path: Path) -> bool:
    """A directory (or safetensors file) whose weights carry HF ViT names, and whose config, if any, says ViT."""
    cfg = _read_config(path if path.is_dir() else path.parent)
    if cfg is not None and cfg.get("model_type") not in (None, "vit"):
        return False
    if path.is_dir():
        weights = next((path / n for n in _WEIGHT_FILES if (path / n).is_file()), None)
        if weights is None:
            return False
        if weights.name.endswith(".index.json"):
            return any(_strip(k) == ANCHOR for k in _weight_map(weights))
        if weights.suffix == ".bin":
            return torch_file_mentions(weights, ANCHOR)
        path = weights
    header = safetensors_io.try_read_header(path) if path.is_file() else None
    return header is not None and any(_strip(k) == ANCHOR for k in header)


def read(path: Path, variant: Optional[ViTSpec] = None) -> Checkpoint:
    """Read an HF ViT directory or file; its ``config.json`` decides heads, eps and GELU form."""
    path = require_file(path)
    source = repr(str(path))
    raw, dropped = _load_tensors(path)
    state, more_dropped = _to_canonical(raw, source)
    cfg = _read_config(path if path.is_dir() else path.parent) or {}
    config = {"norm_eps": 1e-12, "gelu": "exact", "global_pool": "token"}  # transformers' ViTConfig defaults
    try:
        config.update(_config_fields(cfg, state, source))
    except (TypeError, ValueError) as exc:  # a config field of the wrong type
        raise CheckpointError(f"{source}: config.json has an invalid field ({exc}).") from None
    spec = infer_spec(state, source, config=config, hint=variant)
    meta: dict[str, Any] = {"source_format": "hf", "source": str(path)}
    if names := _class_names(cfg, spec.num_classes):
        meta["class_names"] = names
    return Checkpoint(state=state, spec=spec, meta=meta, dropped=dropped + more_dropped).validate(source)


def write(ckpt: Checkpoint, path: Path) -> None:
    """Write a directory with ``config.json`` and ``model.safetensors`` (atomically).

    With classes it is a ``ViTForImageClassification`` (``id2label`` from the class
    names); without, a ``ViTModel`` (its pooler from ``pre_logits.fc`` if present).
    """
    ckpt.validate()
    spec = ckpt.spec
    _check_writable(spec)
    classify = spec.num_classes > 0
    prefix = "vit." if classify else ""
    d, state = spec.embed_dim, ckpt.state
    tensors: dict[str, np.ndarray] = {}
    inverse_top = {v: k for k, v in _TOP.items()}
    for name, value in state.items():
        if name in inverse_top:
            tensors[prefix + inverse_top[name]] = value
        elif name.startswith("head."):
            tensors["classifier." + name[len("head.") :]] = value
        else:
            i, part, kind = re.match(r"^blocks\.(\d+)\.(.+)\.(weight|bias)$", name).groups()
            base = f"{prefix}encoder.layer.{i}."
            if part == "attn.qkv":  # row blocks of qkv are contiguous views: no copy
                for j, which in enumerate(("query", "key", "value")):
                    tensors[f"{base}attention.attention.{which}.{kind}"] = value[j * d : (j + 1) * d]
            else:
                tensors[f"{base}{_DISK_PARTS[part]}.{kind}"] = value
    with atomic_dir(path) as tmp:
        (tmp / "config.json").write_text(json.dumps(_hf_config(ckpt), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        safetensors_io.save(tmp / "model.safetensors", tensors, {"format": "pt"})


# Reading -----------------------------------------------------------------------------
def _strip(name: str) -> str:
    return name[len("vit.") :] if name.startswith("vit.") else name


def _read_config(folder: Path) -> Optional[dict[str, Any]]:
    path = folder / "config.json"
    if not path.is_file():  # a FIFO or device named config.json would block the read
        return None
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    return cfg if isinstance(cfg, dict) else None


def _weight_map(index: Path) -> dict[str, str]:
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
        mapping = data["weight_map"]
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        raise CheckpointError(f"{str(index)!r} is not a valid shard index (no weight_map); download it again.") from None
    if not isinstance(mapping, dict):
        raise CheckpointError(f"{str(index)!r} is not a valid shard index (weight_map is not an object).")
    return {str(k): str(v) for k, v in mapping.items()}


def _load_file(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    if safetensors_io.try_read_header(path) is not None:
        return safetensors_io.load_mmap(path)[0], []
    return load_torch_state(path)


def _load_tensors(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """All tensors of an HF directory (single file or shards) or file, memory-mapped where possible."""
    if path.is_file():
        return _load_file(path)
    weights = next((path / n for n in _WEIGHT_FILES if (path / n).is_file()), None)
    if weights is None:
        raise CheckpointError(f"{str(path)!r} holds no model.safetensors or pytorch_model.bin; it is not a Hugging Face model directory.")
    if not weights.name.endswith(".index.json"):
        return _load_file(weights)
    tensors: dict[str, np.ndarray] = {}
    dropped: list[str] = []
    for shard in dict.fromkeys(_weight_map(weights).values()):
        if Path(shard).name != shard or shard in (".", ".."):  # a bare file name: an index never points out of its folder
            raise CheckpointError(f"Shard {shard!r} listed in {str(weights)!r} is not a file name inside the model directory.")
        if not (path / shard).is_file():
            raise CheckpointError(f"Shard {shard!r} listed in {str(weights)!r} is missing; download the model again.")
        part, part_dropped = _load_file(path / shard)
        if twice := sorted(set(part) & set(tensors)):
            raise CheckpointError(f"{str(weights)!r} lists shards that both hold {twice[0]!r}; the model directory is damaged.")
        tensors.update(part)
        dropped += part_dropped
    return tensors, dropped


def _to_canonical(raw: Mapping[str, np.ndarray], source: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """Rename HF tensors to canonical names and fuse q/k/v; return what was dropped too."""
    classify = any(k.startswith("vit.") for k in raw)
    state: dict[str, np.ndarray] = {}
    qkv: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    dropped, unknown = [], []
    origin: dict[str, str] = {}  # canonical (or q/k/v) target -> the HF name that filled it

    def claim(target: str, name: str) -> None:
        if target in origin:  # e.g. both the on-disk and the transformers 5 name, or "vit." and bare names
            raise CheckpointError(f"{source} holds both {origin[target]!r} and {name!r}, which are the same weight; the file is damaged.")
        origin[target] = name

    for name, value in raw.items():
        short = _strip(name)
        if name.startswith("classifier."):
            claim("head." + name[len("classifier.") :], name)
            state["head." + name[len("classifier.") :]] = as_float32(value, name, source)
        elif short.startswith("embeddings.mask_token") or short.startswith("decoder.") or (classify and short.startswith("pooler.")):
            dropped.append(name)  # masked-image-modelling extras; a classifier ignores its pooler
        elif short in _TOP:
            claim(_TOP[short], name)
            state[_TOP[short]] = as_float32(value, name, source)
        elif (m := _LAYER.match(short)) and m.group(2) in _PARTS:
            i, part, kind = m.group(1), _PARTS[m.group(2)], m.group(3)
            claim(f"blocks.{i}.{part}.{kind}", name)
            if part in ("q", "k", "v"):
                qkv.setdefault((i, kind), {})[part] = value
            else:
                state[f"blocks.{i}.{part}.{kind}"] = as_float32(value, name, source)
        else:
            unknown.append(name)
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise CheckpointError(f"{source} has tensors that are not part of a transformers ViT: {shown}.")
    for (i, kind), parts in sorted(qkv.items(), key=lambda item: (len(item[0][0]), item[0])):  # numeric order
        if sorted(parts) != ["k", "q", "v"]:
            raise CheckpointError(f"{source}: layer {i} lacks one of the query/key/value {kind} tensors.")
        q, k, v = (as_float32(parts[p], f"layer {i} {p}", source) for p in ("q", "k", "v"))
        if not (q.ndim == k.ndim == v.ndim >= 1 and q.shape[1:] == k.shape[1:] == v.shape[1:]):
            raise CheckpointError(f"{source}: layer {i} query/key/value {kind} shapes {q.shape}, {k.shape}, {v.shape} do not stack.")
        fused = np.concatenate([q, k, v])
        for p in parts.values():
            safetensors_io.release(p)  # only the fused copy is needed from here on
        state[f"blocks.{i}.attn.qkv.{kind}"] = fused
    return state, dropped


def _config_fields(cfg: Mapping[str, Any], state: Mapping[str, np.ndarray], source: str) -> dict[str, Any]:
    """Spec fields from config.json, after checking it describes these tensors."""
    fields: dict[str, Any] = {}
    if "num_attention_heads" in cfg:
        fields["num_heads"] = int(cfg["num_attention_heads"])
    if "layer_norm_eps" in cfg:
        fields["norm_eps"] = float(cfg["layer_norm_eps"])
    act = cfg.get("hidden_act", "gelu")
    if act not in _GELU:
        raise CheckpointError(f"{source}: hidden_act {act!r} is not supported; vitzoo runs {', '.join(_GELU)}.")
    fields["gelu"] = _GELU[act]
    if "pre_logits.fc.weight" in state and cfg.get("pooler_act", "tanh") != "tanh":
        raise CheckpointError(f"{source}: pooler_act {cfg['pooler_act']!r} is not supported (only tanh).")
    proj = state.get("patch_embed.proj.weight")
    if proj is not None:
        found = {"hidden_size": proj.shape[0], "num_channels": proj.shape[1], "patch_size": proj.shape[2]}
        found["num_hidden_layers"] = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
        wrong = [f"{k}={cfg[k]} (weights: {v})" for k, v in found.items() if k in cfg and cfg[k] != v]
        head_dim = cfg.get("head_dim")
        if head_dim is not None and "num_attention_heads" in cfg and head_dim * cfg["num_attention_heads"] != proj.shape[0]:
            wrong.append(f"head_dim={head_dim}")
        if wrong:
            raise CheckpointError(f"{source}: config.json does not match its weights: {', '.join(wrong)}.")
    return fields


def _class_names(cfg: Mapping[str, Any], num_classes: int) -> Optional[list[str]]:
    id2label = cfg.get("id2label")
    if not isinstance(id2label, dict) or not num_classes:
        return None
    try:
        names = [str(id2label[k]) for k in sorted(id2label, key=int)]
    except (TypeError, ValueError):
        return None
    if len(names) != num_classes or names == [f"LABEL_{i}" for i in range(num_classes)]:
        return None  # transformers' placeholders are not class names
    return names


# Writing -----------------------------------------------------------------------------
def _check_writable(spec: ViTSpec) -> None:
    unsupported = [
        text
        for bad, text in (
            (not spec.class_token or spec.global_pool != "token", "class-token pooling"),
            (spec.reg_tokens > 0, "no register tokens"),
            (spec.fc_norm or spec.pre_norm, "no fc_norm/norm_pre"),
            (spec.layer_scale, "no layer scale"),
            (spec.qk_norm, "no q/k norm"),
            (not spec.patch_bias or not spec.pos_embed_prefix, "a patch bias and a class-token position"),
            (spec.pre_logits_dim > 0 and spec.num_classes > 0, "no pre-logits layer before a classifier"),
            (spec.dist_token or spec.mlp_type != "mlp", "no distillation token or SwiGLU MLP"),
            (spec.gelu == "quick", "an exact or tanh GELU"),
        )
        if bad
    ]
    if unsupported:
        raise CheckpointError(
            f"transformers' ViT needs {', '.join(unsupported)}; these weights cannot be written as a Hugging Face "
            "ViT. Convert them to vitzoo or timm instead."
        )


def _hf_config(ckpt: Checkpoint) -> dict[str, Any]:
    spec = ckpt.spec
    cfg: dict[str, Any] = {
        "architectures": ["ViTForImageClassification" if spec.num_classes else "ViTModel"],
        "model_type": "vit",
        "hidden_size": spec.embed_dim,
        "num_hidden_layers": spec.depth,
        "num_attention_heads": spec.num_heads,
        "intermediate_size": spec.mlp_dim,
        "hidden_act": "gelu" if spec.gelu == "exact" else "gelu_pytorch_tanh",
        "layer_norm_eps": spec.norm_eps,
        "image_size": spec.img_size,
        "patch_size": spec.patch_size,
        "num_channels": spec.in_chans,
        "qkv_bias": spec.qkv_bias,
        "encoder_stride": spec.patch_size,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "initializer_range": 0.02,
        "pooler_act": "tanh",
        "pooler_output_size": spec.pre_logits_dim or spec.embed_dim,
        "dtype": "float32",
    }
    if spec.num_classes:
        names = ckpt.class_names if ckpt.class_names and len(ckpt.class_names) == spec.num_classes else None
        names = names or [f"LABEL_{i}" for i in range(spec.num_classes)]
        cfg["id2label"] = {str(i): n for i, n in enumerate(names)}
        cfg["label2id"] = {n: i for i, n in enumerate(names)}
    return cfg


FORMAT = register_format(
    WeightFormat(
        name="hf",
        description="Hugging Face transformers ViTForImageClassification / ViTModel (directory with config.json)",
        detect=detect,
        read=read,
        write=write,
    )
)
