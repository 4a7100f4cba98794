"""transformers DINOv2: ``Dinov2Model`` and ``Dinov2WithRegistersModel`` (SwiGLU giant included).

The layout is ViT's with per-layer ``layer_scale{1,2}.lambda1`` (canonical
``ls1/ls2.gamma``), ``norm1/norm2`` and ``mlp.fc1/fc2``, or, with ``use_swiglu_ffn``,
``mlp.weights_in`` (packed: SiLU of the first half times the second half, timm's
``SwiGLUPacked`` ``fc1``) and ``mlp.weights_out``. ``embeddings.mask_token`` serves
masked pre-training only and is dropped (and reported).

With registers, transformers adds ``position_embeddings[0]`` to the class token while
the registers get no position; timm's layout (vitzoo's) keeps no position for either,
so the reader folds that row into ``cls_token`` and the writer writes it back as zeros:
the model computes the same values, and a vitzoo → HF → vitzoo round trip is bit-exact.

Example:
    >>> from vitzoo import weights
    >>> ckpt = weights.read("dinov2-small/")  # doctest: +SKIP
    >>> ckpt.spec.layer_scale, ckpt.spec.num_classes  # doctest: +SKIP
    (True, 0)
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

from vitzoo.errors import CheckpointError
from vitzoo.spec import ViTSpec
from vitzoo.weights.base import Checkpoint, as_float32
from vitzoo.weights.dinov2_format import fold_class_position
from vitzoo.weights.hf_format import HFFamily, Mapped, Renamer, encoder_config, register_family, split_rows, unwritable

_TOP = {
    "embeddings.cls_token": "cls_token",
    "embeddings.register_tokens": "reg_token",
    "embeddings.position_embeddings": "pos_embed",
    "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
    "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
    "layernorm.weight": "norm.weight",
    "layernorm.bias": "norm.bias",
}
_LAYER = re.compile(r"^encoder\.layer\.(\d+)\.(.+)\.(weight|bias|lambda1)$")
# On-disk names (save_pretrained) and transformers 5's in-memory ones (a bare state_dict saved as is).
_PARTS = {
    "attention.attention.query": "q", "attention.attention.key": "k", "attention.attention.value": "v",
    "attention.q_proj": "q", "attention.k_proj": "k", "attention.v_proj": "v",
    "attention.output.dense": "attn.proj", "attention.o_proj": "attn.proj", "norm1": "norm1", "norm2": "norm2",
    "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2", "mlp.weights_in": "mlp.fc1", "mlp.weights_out": "mlp.fc2",
    "mlp.down_proj": "mlp.fc2", "mlp.gate_proj": "gate", "mlp.up_proj": "up",
}  # fmt: skip
_SCALES = {"layer_scale1": "ls1", "layer_scale2": "ls2"}


def to_canonical(raw: Mapping[str, np.ndarray], cfg: Mapping[str, Any], source: str) -> Mapped:
    """Dinov2 names to canonical ones (registers: the class token's position row folded into it)."""
    out = Renamer(source)
    swiglu = False
    halves: dict[tuple[str, str], dict[str, np.ndarray]] = {}  # in-memory SwiGLU: gate (SiLU) and up halves of fc1
    for name, value in raw.items():
        if name == "embeddings.mask_token":
            out.dropped.append(name)
        elif name in _TOP:
            out.put(_TOP[name], name, value)
        elif (m := _LAYER.match(name)) and m.group(3) == "lambda1" and m.group(2) in _SCALES:
            out.put(f"blocks.{m.group(1)}.{_SCALES[m.group(2)]}.gamma", name, value)
        elif m and m.group(3) != "lambda1" and m.group(2) in _PARTS:
            i, part, kind = m.group(1), _PARTS[m.group(2)], m.group(3)
            swiglu = swiglu or m.group(2).startswith(("mlp.weights_", "mlp.gate", "mlp.up", "mlp.down"))
            if part in ("gate", "up"):
                out.claim(f"blocks.{i}.mlp.{part}.{kind}", name)
                halves.setdefault((i, kind), {})[part] = as_float32(value, name, source)
            else:
                out.put_block(i, part, kind, name, value)
        else:
            out.unknown.append(name)
    state = out.finish("DINOv2")
    for (i, kind), parts in halves.items():
        gate, up = parts.get("gate"), parts.get("up")
        if gate is None or up is None or gate.shape != up.shape:
            raise CheckpointError(f"{source}: layer {i} lacks a matching SwiGLU gate_proj/up_proj {kind} pair.")
        out.claim(f"blocks.{i}.mlp.fc1.{kind}", f"layer {i} gate_proj/up_proj")
        state[f"blocks.{i}.mlp.fc1.{kind}"] = np.concatenate([gate, up])
    config: dict[str, Any] = {"global_pool": "token", "mlp_type": "swiglu" if swiglu else "mlp"}
    if "reg_token" in state:
        fold_class_position(state, source)
        config["pos_embed_prefix"] = False
    return Mapped(state, out.dropped, [], config)


def owns(spec: ViTSpec) -> bool:
    return spec.block == "vit" and spec.layer_scale and not spec.pre_norm and spec.global_pool == "token"


def from_canonical(ckpt: Checkpoint) -> "tuple[dict[str, np.ndarray], dict[str, Any]]":
    """Tensors and config.json of a ``Dinov2Model`` (or ``Dinov2WithRegistersModel``)."""
    spec, state = ckpt.spec, ckpt.state
    registers = spec.reg_tokens > 0
    swiglu = getattr(spec, "mlp_type", "mlp") == "swiglu"
    unwritable(
        [
            (spec.num_classes > 0, "no classifier (Dinov2ForImageClassification's head reads the class and mean patch tokens)"),
            (not spec.class_token or getattr(spec, "dist_token", False), "one class token"),
            (spec.pos_embed_prefix == registers, "a class-token position (and none for registers)"),
            (spec.fc_norm or spec.qk_norm or not spec.patch_bias or spec.pre_logits_dim > 0, "no fc_norm, q/k norm or pre-logits and a patch bias"),
            (not spec.qkv_bias, "q/k/v biases"),
        ],
        "DINOv2",
    )
    ratio = _mlp_ratio(spec.embed_dim, spec.mlp_dim, swiglu)
    inverse_top = {v: k for k, v in _TOP.items()}
    mlp_names = {"mlp.fc1": "mlp.weights_in", "mlp.fc2": "mlp.weights_out"} if swiglu else {}
    tensors: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if name in inverse_top:
            tensors[inverse_top[name]] = value
            continue
        i, part, kind = re.match(r"^blocks\.(\d+)\.(.+)\.(weight|bias|gamma)$", name).groups()
        base = f"encoder.layer.{i}."
        if kind == "gamma":
            tensors[f"{base}layer_scale{part[-1]}.lambda1"] = value
        elif part == "attn.qkv":
            for which, rows in zip(("query", "key", "value"), split_rows(value, 3)):
                tensors[f"{base}attention.attention.{which}.{kind}"] = rows
        elif part == "attn.proj":
            tensors[f"{base}attention.output.dense.{kind}"] = value
        else:
            tensors[f"{base}{mlp_names.get(part, part)}.{kind}"] = value
    d = spec.embed_dim
    if registers:  # transformers adds position row 0 to the class token: zeros keep vitzoo's values
        tensors["embeddings.position_embeddings"] = np.concatenate([np.zeros((1, 1, d), np.float32), state["pos_embed"]], axis=1)
        tensors["embeddings.mask_token"] = np.zeros((1, d), np.float32)  # masked pre-training only; present so nothing loads uninitialised
    cfg: dict[str, Any] = {
        "architectures": ["Dinov2WithRegistersModel" if registers else "Dinov2Model"],
        "model_type": "dinov2_with_registers" if registers else "dinov2",
        **encoder_config(spec),
        "mlp_ratio": ratio,
        "use_swiglu_ffn": swiglu,
        "qkv_bias": True,
        "layerscale_value": 1.0,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "drop_path_rate": 0.0,
        "initializer_range": 0.02,
    }
    if registers:
        cfg["num_register_tokens"] = spec.reg_tokens
    else:
        cfg["use_mask_token"] = False
    return tensors, cfg


def _mlp_ratio(dim: int, mlp_dim: int, swiglu: bool) -> int:
    """The whole-number ``mlp_ratio`` (all transformers 5 accepts) from which it derives ``mlp_dim`` hidden units."""
    for ratio in range(1, 65):
        hidden = int(dim * ratio)
        if swiglu:  # transformers rounds 2/3 of the hidden width up to a multiple of 8
            hidden = (int(hidden * 2 / 3) + 7) // 8 * 8
        if hidden == mlp_dim:
            return ratio
    raise CheckpointError(
        f"transformers' DINOv2 cannot build an MLP of {mlp_dim} hidden units at width {dim} (its mlp_ratio is a whole number); "
        "these weights cannot be written as a Hugging Face DINOv2. Convert them to vitzoo or timm instead."
    )


FAMILY = register_family(
    HFFamily(
        name="dinov2",
        model_types=("dinov2", "dinov2_with_registers"),
        marker="layer_scale1.lambda1",
        defaults={"num_heads": 12, "norm_eps": 1e-6, "gelu": "exact"},  # transformers' Dinov2Config
        to_canonical=to_canonical,
        owns=owns,
        from_canonical=from_canonical,
    )
)
