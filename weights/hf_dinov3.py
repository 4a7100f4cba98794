"""transformers DINOv3 (``DINOv3ViTModel``, model_type ``dinov3_vit``): Meta's DINOv3 backbones as published on the hub.

The layout: ``embeddings.patch_embeddings`` (a bare conv), class and register tokens, no position
embedding (DINOv3's rotary form, canonical ``rope="dinov3"``: patch centres in [-1, 1], period base
``rope_theta``, rotate-half), and per layer ``attention.{q,k,v,o}_proj``, ``layer_scale{1,2}.lambda1``,
``norm1``/``norm2`` and ``mlp.up_proj``/``down_proj`` (with ``use_gated_mlp``, also ``gate_proj``:
``down(silu(gate(x)) · up(x))``, timm's split SwiGLU). vitzoo's names are timm's EVA-block names
(``attn.qkv`` with ``q_bias``/``v_bias`` when k has no bias, ``gamma_1``/``gamma_2``,
``mlp.fc1_g``/``fc1_x``), so a file read here and one from timm's ``vit_*_dinov3`` are the same model.
``embeddings.mask_token`` serves masked pre-training only and is dropped (and reported).

Both the on-disk names (``layer.{i}.…``) and transformers 5's in-memory ones (``model.layer.{i}.…``) are read.

Example:
    >>> from vitzoo import weights
    >>> ckpt = weights.read("dinov3-vits16-pretrain-lvd1689m/")  # doctest: +SKIP
    >>> ckpt.spec.rope, ckpt.spec.reg_tokens  # doctest: +SKIP
    ('dinov3', 4)
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

from vitzoo.errors import CheckpointError
from vitzoo.spec import ViTSpec
from vitzoo.weights.base import Checkpoint, as_float32
from vitzoo.weights.hf_format import HFFamily, Mapped, Renamer, encoder_config, fuse_qkv, register_family, split_rows, unwritable

_TOP = {
    "embeddings.cls_token": "cls_token",
    "embeddings.register_tokens": "reg_token",
    "embeddings.patch_embeddings.weight": "patch_embed.proj.weight",
    "embeddings.patch_embeddings.bias": "patch_embed.proj.bias",
    "norm.weight": "norm.weight",
    "norm.bias": "norm.bias",
}
_LAYER = re.compile(r"^(?:model\.)?layer\.(\d+)\.(.+)\.(weight|bias|lambda1)$")
_PARTS = {"attention.o_proj": "attn.proj", "norm1": "norm1", "norm2": "norm2", "mlp.down_proj": "mlp.fc2"}
_SCALES = {"layer_scale1": "gamma_1", "layer_scale2": "gamma_2"}


def to_canonical(raw: Mapping[str, np.ndarray], cfg: Mapping[str, Any], source: str) -> Mapped:
    """DINOv3ViT names to canonical ones; q/k/v fused, k's missing bias left out as timm's EVA block does."""
    out = Renamer(source)
    gated = any(".mlp.gate_proj." in n for n in raw)
    mlp = {"mlp.gate_proj": "mlp.fc1_g", "mlp.up_proj": "mlp.fc1_x"} if gated else {"mlp.up_proj": "mlp.fc1"}
    qkv: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for name, value in raw.items():
        if name == "embeddings.mask_token":
            out.dropped.append(name)
        elif name == "embeddings.register_tokens" and value.shape[1:2] == (0,):
            out.dropped.append(name)  # transformers keeps an empty tensor when there are no registers
        elif name in _TOP:
            out.put(_TOP[name], name, value)
        elif (m := _LAYER.match(name)) is None:
            out.unknown.append(name)
        elif m.group(3) == "lambda1" and m.group(2) in _SCALES:
            out.put(f"blocks.{m.group(1)}.{_SCALES[m.group(2)]}", name, value)
        elif (proj := re.fullmatch(r"attention\.([qkv])_proj", m.group(2))) and m.group(3) != "lambda1":
            out.claim(f"blocks.{m.group(1)}.{proj.group(1)}.{m.group(3)}", name)
            qkv.setdefault((m.group(1), m.group(3)), {})[proj.group(1)] = value
        elif m.group(3) != "lambda1" and (part := _PARTS.get(m.group(2)) or mlp.get(m.group(2))):
            out.put(f"blocks.{m.group(1)}.{part}.{m.group(3)}", name, value)
        else:
            out.unknown.append(name)
    state = out.finish("DINOv3ViTModel")
    for (i, kind), parts in qkv.items():
        a = f"blocks.{i}.attn."
        if kind == "weight" or "k" in parts:  # all three present: one fused tensor
            state[a + f"qkv.{kind}"] = fuse_qkv(parts, f"layer {i}", kind, source)
        elif sorted(parts) == ["q", "v"]:  # key_bias=False (DINOv3's default): q and v biases apart
            state[a + "q_bias"] = as_float32(parts["q"], f"layer {i} q_proj.bias", source)
            state[a + "v_bias"] = as_float32(parts["v"], f"layer {i} v_proj.bias", source)
        else:
            raise CheckpointError(f"{source}: layer {i} has a {'/'.join(sorted(parts))} projection bias only; DINOv3 gives q and v one, or all three.")
    theta = cfg.get("rope_theta", 100.0)
    if not isinstance(theta, (int, float)) or isinstance(theta, bool) or not theta > 0:
        raise CheckpointError(f"{source}: config.json's rope_theta {theta!r} is not a positive number.")
    config: dict[str, Any] = {
        "global_pool": "token", "rope": "dinov3", "rope_half": True, "rope_temperature": float(theta), "rope_grid_offset": 0.0,
        "rope_ref_grid": 0, "rope_grid_xy": False, "dynamic_img_size": True,  # transformers' DINOv3 takes any image size
        "block": "eva", "post_norm": False, "pool_heads": 0, "pool_include_prefix": False,
    }
    if isinstance(cfg.get("image_size"), int):
        config["img_size"] = cfg["image_size"]
    return Mapped(state, out.dropped, [], config)


def owns(spec: ViTSpec) -> bool:
    return spec.rope == "dinov3"


def from_canonical(ckpt: Checkpoint) -> "tuple[dict[str, np.ndarray], dict[str, Any]]":
    """Tensors and config.json of a ``DINOv3ViTModel`` (the on-disk names ``save_pretrained`` writes)."""
    spec, state = ckpt.spec, ckpt.state
    gated = spec.mlp_type == "swiglu_split"
    unwritable(
        [
            (spec.num_classes > 0, "no classifier (DINOv3ViTModel is a backbone)"),
            (not spec.class_token or spec.global_pool != "token", "a class token, pooled as the output"),
            (spec.abs_pos_embed or spec.rope_grid_offset or spec.rope_ref_grid or spec.rope_grid_xy or not spec.rope_half,
             "DINOv3's rotary positions only"),
            (not spec.layer_scale or spec.mlp_type == "swiglu" or spec.mlp_norm or spec.attn_norm or not spec.qkv_fused,
             "layer scale, a plain or split-SwiGLU MLP and no inner norms"),
            (spec.fc_norm or spec.qk_norm or spec.pre_norm or not spec.final_norm, "one final norm"),
        ],
        "DINOv3ViTModel",
    )
    inverse_top = {v: k for k, v in _TOP.items()}
    mlp = {"mlp.fc1_g": "mlp.gate_proj", "mlp.fc1_x": "mlp.up_proj"} if gated else {"mlp.fc1": "mlp.up_proj"}
    parts = {"attn.proj": "attention.o_proj", "mlp.fc2": "mlp.down_proj", **mlp}
    tensors: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if name in inverse_top:
            tensors[inverse_top[name]] = value
            continue
        i, rest = re.match(r"^blocks\.(\d+)\.(.+)$", name).groups()
        base = f"layer.{i}."
        if rest in ("gamma_1", "gamma_2"):
            tensors[f"{base}layer_scale{rest[-1]}.lambda1"] = value
        elif rest in ("attn.q_bias", "attn.v_bias"):
            tensors[f"{base}attention.{rest[5]}_proj.bias"] = value
        elif rest.startswith("attn.qkv."):
            kind = rest.rsplit(".", 1)[1]
            for which, rows in zip("qkv", split_rows(value, 3)):
                tensors[f"{base}attention.{which}_proj.{kind}"] = rows
        else:
            part, kind = rest.rsplit(".", 1)
            tensors[f"{base}{parts.get(part, part)}.{kind}"] = value
    d = spec.embed_dim
    tensors["embeddings.mask_token"] = np.zeros((1, 1, d), np.float32)  # masked pre-training only
    if spec.reg_tokens == 0:
        tensors["embeddings.register_tokens"] = np.zeros((1, 0, d), np.float32)
    cfg: dict[str, Any] = {
        "architectures": ["DINOv3ViTModel"],
        "model_type": "dinov3_vit",
        **encoder_config(spec),
        "hidden_act": "silu" if gated else encoder_config(spec)["hidden_act"],
        "rope_theta": spec.rope_temperature,
        "query_bias": spec.qkv_bias, "key_bias": spec.qkv_bias and spec.k_bias, "value_bias": spec.qkv_bias,
        "proj_bias": True, "mlp_bias": True, "layerscale_value": 1.0, "use_gated_mlp": gated,
        "num_register_tokens": spec.reg_tokens, "drop_path_rate": 0.0, "attention_dropout": 0.0,
        "pos_embed_shift": None, "pos_embed_jitter": None, "pos_embed_rescale": 2.0,
    }
    return tensors, cfg


FAMILY = register_family(
    HFFamily(
        name="dinov3",
        model_types=("dinov3_vit",),
        marker="embeddings.patch_embeddings.weight",  # a bare conv: DINOv2 and ViT have patch_embeddings.projection
        defaults={"num_heads": 12, "norm_eps": 1e-5, "gelu": "exact"},  # transformers' DINOv3ViTConfig
        to_canonical=to_canonical,
        owns=owns,
        from_canonical=from_canonical,
    )
)
