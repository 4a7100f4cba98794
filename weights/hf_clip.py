"""transformers CLIP and SigLIP image towers.

CLIP: ``CLIPVisionModel``, ``CLIPVisionModelWithProjection`` and the image half of
``CLIPModel``. ``class_embedding`` [D] becomes ``cls_token``, ``pre_layrnorm`` (sic)
``norm_pre``, ``post_layernorm`` ``norm`` and ``visual_projection`` (no bias) the
``head`` with a zero bias, as timm does; the text tower is dropped (and reported).

SigLIP: ``SiglipVisionModel``, the image half of ``SiglipModel``, and SigLIP 2 NaFlex
(``Siglip2VisionModel``, the image half of ``Siglip2Model``): its patch embedding is a Linear
over channel-last patches, read as the equivalent convolution, and its ``num_patches`` position
table is a NaFlex grid (``naflex=True``) resized to every image's ``spatial_shapes`` as transformers
does it: ``F.interpolate(mode="bilinear", antialias=True, align_corners=False)``, timm's
``naflexvit_*_siglip`` setting too, so the same weights give the same embeddings in both.
No class token; the attention-pool head (``head.probe``, ``head.attention`` as one
``in_proj``, ``head.layernorm``, ``head.mlp``) becomes timm's ``attn_pool.*`` (the
``in_proj`` rows split into ``q`` and ``kv``).

Both towers share the encoder layer names (``self_attn.q_proj``, ``layer_norm1``, ...).
The GELU form is the config's ``hidden_act`` (CLIP: ``quick_gelu``; SigLIP:
``gelu_pytorch_tanh``), so the model matches transformers' outputs.

Example:
    >>> from vitzoo import weights
    >>> ckpt = weights.read("clip-vit-base-patch16/")  # doctest: +SKIP
    >>> ckpt.spec.gelu, ckpt.dropped[:1]  # doctest: +SKIP
    ('quick', ['logit_scale'])
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

from vitzoo.errors import CheckpointError
from vitzoo.spec import ViTSpec
from vitzoo.weights.base import Checkpoint
from vitzoo.weights.hf_format import (
    HFFamily, Mapped, Renamer, encoder_config, register_family, split_rows, unwritable,
)  # fmt: skip

_LAYER = re.compile(r"^encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$")
_PARTS = {
    "self_attn.q_proj": "q", "self_attn.k_proj": "k", "self_attn.v_proj": "v", "self_attn.out_proj": "attn.proj",
    "layer_norm1": "norm1", "layer_norm2": "norm2", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2",
}  # fmt: skip
_DISK_PARTS = {v: k for k, v in _PARTS.items() if v not in ("q", "k", "v")}
_CLIP_TOP = {
    "embeddings.class_embedding": "cls_token",
    "embeddings.patch_embedding.weight": "patch_embed.proj.weight",
    "embeddings.position_embedding.weight": "pos_embed",
    "pre_layrnorm.weight": "norm_pre.weight",
    "pre_layrnorm.bias": "norm_pre.bias",
    "post_layernorm.weight": "norm.weight",
    "post_layernorm.bias": "norm.bias",
    "visual_projection.weight": "head.weight",  # a top-level name, never under vision_model.
}
_SIGLIP_TOP = {
    "embeddings.patch_embedding.weight": "patch_embed.proj.weight",
    "embeddings.patch_embedding.bias": "patch_embed.proj.bias",
    "embeddings.position_embedding.weight": "pos_embed",
    "post_layernorm.weight": "norm.weight",
    "post_layernorm.bias": "norm.bias",
    "head.probe": "attn_pool.latent",
    "head.attention.in_proj_weight": "attn_pool.in_proj.weight",  # split into q and kv below
    "head.attention.in_proj_bias": "attn_pool.in_proj.bias",
    "head.attention.out_proj.weight": "attn_pool.proj.weight",
    "head.attention.out_proj.bias": "attn_pool.proj.bias",
    "head.layernorm.weight": "attn_pool.norm.weight",
    "head.layernorm.bias": "attn_pool.norm.bias",
    "head.mlp.fc1.weight": "attn_pool.mlp.fc1.weight",
    "head.mlp.fc1.bias": "attn_pool.mlp.fc1.bias",
    "head.mlp.fc2.weight": "attn_pool.mlp.fc2.weight",
    "head.mlp.fc2.bias": "attn_pool.mlp.fc2.bias",
}
# Not image-tower weights: the text tower and the contrastive logit scale/bias.
_OTHER_TOWER = ("text_model.", "text_projection.", "logit_scale", "logit_bias")


def _rename(raw: Mapping[str, np.ndarray], top: Mapping[str, str], source: str, what: str) -> Renamer:
    out = Renamer(source)
    for name, value in raw.items():
        short = name[len("vision_model.") :] if name.startswith("vision_model.") else name
        if name.startswith(_OTHER_TOWER) or short == "embeddings.position_ids":  # position_ids: an index buffer
            out.dropped.append(name)
        elif short in top:
            out.put(top[short], name, value)
        elif (m := _LAYER.match(short)) and m.group(2) in _PARTS:
            i, part, kind = m.group(1), _PARTS[m.group(2)], m.group(3)
            out.put_block(i, part, kind, name, value)
        else:
            out.unknown.append(name)
    out.finish(what)
    return out


def _reshaped(state: dict[str, np.ndarray], name: str, ndim: int, shape: "tuple[int, ...]", source: str) -> None:
    """Give ``state[name]`` (of rank ``ndim`` in the source) the canonical ``shape``."""
    if name not in state:
        return
    value = state[name]
    if value.ndim != ndim:
        raise CheckpointError(f"{source}: tensor {name!r} has shape {tuple(value.shape)}, expected {ndim} dimensions.")
    state[name] = value.reshape(shape)


def _note_dropped_tower(dropped: "list[str]") -> "list[str]":
    if any(n.startswith("text_model.") for n in dropped):
        return [f"the text tower ({sum(n.startswith('text_model.') for n in dropped)} tensors) was dropped: vitzoo keeps the image tower."]
    return []


# CLIP ------------------------------------------------------------------------------------
def clip_to_canonical(raw: Mapping[str, np.ndarray], cfg: Mapping[str, Any], source: str) -> Mapped:
    out = _rename(raw, _CLIP_TOP, source, "CLIP image tower")
    state = out.state
    _reshaped(state, "cls_token", 1, (1, 1, -1), source)
    _reshaped(state, "pos_embed", 2, (1, *state["pos_embed"].shape) if "pos_embed" in state else (), source)
    if "head.weight" in state:  # timm's CLIP head: the projection with a zero bias
        state["head.bias"] = np.zeros(state["head.weight"].shape[:1], np.float32)
    return Mapped(state, out.dropped, _note_dropped_tower(out.dropped), {"global_pool": "token"})


def clip_owns(spec: ViTSpec) -> bool:
    return spec.pre_norm


def clip_from_canonical(ckpt: Checkpoint) -> "tuple[dict[str, np.ndarray], dict[str, Any]]":
    """``CLIPVisionModelWithProjection`` (the head is the projection) or, without a head, ``CLIPVisionModel``."""
    spec, state = ckpt.spec, ckpt.state
    bias = state.get("head.bias")
    unwritable(
        [
            (not spec.class_token or spec.global_pool != "token" or getattr(spec, "dist_token", False), "class-token pooling"),
            (spec.reg_tokens > 0 or not spec.pos_embed_prefix, "no register tokens and a class-token position"),
            (spec.fc_norm or spec.layer_scale or spec.qk_norm or spec.pre_logits_dim > 0, "no fc_norm, layer scale, q/k norm or pre-logits"),
            (getattr(spec, "mlp_type", "mlp") != "mlp", "a GELU MLP"),
            (spec.patch_bias or not spec.qkv_bias, "no patch bias and q/k/v biases"),
            (bias is not None and bool(np.any(bias != 0)), "a projection without bias (this head's bias is not zero)"),
        ],
        "CLIP image tower",
    )
    project = spec.num_classes > 0
    prefix = "vision_model." if project else ""
    inverse_top = {v: k for k, v in _CLIP_TOP.items()}
    tensors: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if name == "cls_token":
            tensors[prefix + "embeddings.class_embedding"] = value.reshape(-1)
        elif name == "pos_embed":
            tensors[prefix + "embeddings.position_embedding.weight"] = value[0]
        elif name == "head.weight":
            tensors["visual_projection.weight"] = value
        elif name in inverse_top:
            tensors[prefix + inverse_top[name]] = value
        elif name != "head.bias":
            _put_layer(tensors, prefix, name, value)
    cfg = {
        "architectures": ["CLIPVisionModelWithProjection" if project else "CLIPVisionModel"],
        "model_type": "clip_vision_model",
        **encoder_config(spec),
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "initializer_factor": 1.0,
    }
    if project:
        cfg["projection_dim"] = spec.num_classes
    return tensors, cfg


def _put_layer(tensors: dict[str, np.ndarray], prefix: str, name: str, value: np.ndarray) -> None:
    i, part, kind = re.match(r"^blocks\.(\d+)\.(.+)\.(weight|bias)$", name).groups()
    base = f"{prefix}encoder.layers.{i}."
    if part == "attn.qkv":  # row blocks of qkv are contiguous views: no copy
        for which, rows in zip("qkv", split_rows(value, 3)):
            tensors[f"{base}self_attn.{which}_proj.{kind}"] = rows
    else:
        tensors[f"{base}{_DISK_PARTS[part]}.{kind}"] = value


# SigLIP ----------------------------------------------------------------------------------
def siglip_to_canonical(raw: Mapping[str, np.ndarray], cfg: Mapping[str, Any], source: str) -> Mapped:
    out = _rename(raw, _SIGLIP_TOP, source, "SigLIP image tower")
    state = out.state
    notes = _note_dropped_tower(out.dropped)
    proj = state.get("patch_embed.proj.weight")
    naflex: dict[str, Any] = {}
    if proj is not None and proj.ndim == 2:  # SigLIP 2 NaFlex: a Linear over (p, p, C)-flattened patches, a resized grid
        state["patch_embed.proj.weight"] = _linear_to_conv(proj, cfg, source)
        naflex = _naflex_grid(state.get("pos_embed"), source)
    _reshaped(state, "pos_embed", 2, (1, *state["pos_embed"].shape) if "pos_embed" in state else (), source)
    for kind in ("weight", "bias"):
        fused = state.pop(f"attn_pool.in_proj.{kind}", None)
        if fused is not None:
            if fused.ndim < 1 or fused.shape[0] % 3:
                raise CheckpointError(f"{source}: the attention-pool in_proj_{kind} has shape {tuple(fused.shape)}, not three stacked projections.")
            q_rows = fused.shape[0] // 3
            state[f"attn_pool.q.{kind}"], state[f"attn_pool.kv.{kind}"] = fused[:q_rows], fused[q_rows:]
    pool = "map" if "attn_pool.latent" in state else "avg"
    if pool == "avg":
        notes.append("this SigLIP tower has no attention-pool head (vision_use_head false): vitzoo pools it by averaging the patch tokens.")
    return Mapped(state, out.dropped, notes, {"global_pool": pool, **naflex})


# transformers' Siglip2VisionEmbeddings.resize_positional_embeddings: bilinear, antialiased, half-pixel centres
_SIGLIP2_GRID = {"naflex": True, "pos_interp": "bilinear", "pos_antialias": True, "pos_align_corners": False, "pos_ar_preserving": False}


def _naflex_grid(table: Any, source: str) -> dict[str, Any]:
    """The NaFlex fields of a Siglip2 position table ``[num_patches, D]`` (a square grid)."""
    n = int(table.shape[0]) if table is not None and table.ndim == 2 else 0
    side = int(round(n**0.5))
    if n == 0 or side * side != n:
        raise CheckpointError(f"{source}: the SigLIP 2 position table {None if table is None else tuple(table.shape)} is not a square grid [G·G, D].")
    return {**_SIGLIP2_GRID, "pos_embed_grid": side}


def _linear_to_conv(weight: np.ndarray, cfg: Mapping[str, Any], source: str) -> np.ndarray:
    patch, chans = cfg.get("patch_size"), cfg.get("num_channels", 3)
    if not (isinstance(patch, int) and isinstance(chans, int) and patch > 0 and chans > 0 and weight.shape[1] == patch * patch * chans):
        raise CheckpointError(f"{source}: the patch embedding {tuple(weight.shape)} does not fit patch_size {patch!r} and num_channels {chans!r}.")
    return np.ascontiguousarray(weight.reshape(weight.shape[0], patch, patch, chans).transpose(0, 3, 1, 2))


def siglip_owns(spec: ViTSpec) -> bool:
    return spec.global_pool == "map"


def siglip_from_canonical(ckpt: Checkpoint) -> "tuple[dict[str, np.ndarray], dict[str, Any]]":
    """A ``SiglipVisionModel`` (``Siglip2VisionModel`` for a NaFlex spec): the MAP head's ``q`` and ``kv`` rows rejoin into one ``in_proj``."""
    spec, state = ckpt.spec, ckpt.state
    if spec.naflex:
        unwritable([(spec.pos_factorized or any(getattr(spec, k) != v for k, v in _SIGLIP2_GRID.items()),
                     "a single position table resized bilinearly with antialias (no aspect-preserving or factorized grid)"),
                    (spec.pool_heads not in (0, spec.num_heads) or spec.pool_include_prefix, "a MAP head with the blocks' head count")],
                   "Siglip2VisionModel")
    pool_mlp = state.get("attn_pool.mlp.fc1.weight")
    unwritable(
        [
            (spec.class_token or spec.reg_tokens > 0 or getattr(spec, "dist_token", False), "no class or register tokens"),
            (spec.pre_norm or spec.fc_norm or spec.layer_scale or spec.qk_norm or spec.pre_logits_dim > 0, "no norm_pre, fc_norm, layer scale, q/k norm or pre-logits"),
            (getattr(spec, "mlp_type", "mlp") != "mlp", "a GELU MLP"),
            (not spec.patch_bias or not spec.qkv_bias, "a patch bias and q/k/v biases"),
            (spec.num_classes > 0, "no classifier"),
            (pool_mlp is not None and pool_mlp.shape[0] != spec.mlp_dim, "the attention pool's MLP as wide as the blocks'"),
        ],
        "SigLIP image tower",
    )
    inverse_top = {v: k for k, v in _SIGLIP_TOP.items()}
    tensors: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if name == "pos_embed":
            tensors["embeddings.position_embedding.weight"] = value[0]
        elif name == "patch_embed.proj.weight" and spec.naflex:  # Siglip2's Linear over (p, p, C)-flattened patches
            tensors["embeddings.patch_embedding.weight"] = np.ascontiguousarray(value.transpose(0, 2, 3, 1).reshape(value.shape[0], -1))
        elif name in inverse_top:
            tensors[inverse_top[name]] = value
        elif name.startswith(("attn_pool.q.", "attn_pool.kv.")):
            kind = name.rpartition(".")[2]
            if name.startswith("attn_pool.q."):
                tensors[f"head.attention.in_proj_{kind}"] = np.concatenate([value, state[f"attn_pool.kv.{kind}"]])
        else:
            _put_layer(tensors, "", name, value)
    cfg = {
        "architectures": ["SiglipVisionModel"],
        "model_type": "siglip_vision_model",
        **encoder_config(spec),
        "attention_dropout": 0.0,
        "vision_use_head": True,
    }
    if spec.naflex:
        del cfg["image_size"]  # Siglip2VisionConfig has none: num_patches is the grid, images come as patches
        cfg.update(architectures=["Siglip2VisionModel"], model_type="siglip2_vision_model", num_patches=spec.pos_grid**2)
    return tensors, cfg


CLIP = register_family(
    HFFamily(
        name="clip",
        model_types=("clip", "clip_vision_model", "metaclip_2", "metaclip_2_vision_model"),  # MetaCLIP 2: CLIP's layout and names
        marker="embeddings.class_embedding",
        defaults={"num_heads": 12, "norm_eps": 1e-5, "gelu": "quick"},  # transformers' CLIPVisionConfig
        to_canonical=clip_to_canonical,
        owns=clip_owns,
        from_canonical=clip_from_canonical,
    )
)
SIGLIP = register_family(
    HFFamily(
        name="siglip",
        model_types=("siglip", "siglip_vision_model", "siglip2", "siglip2_vision_model"),
        marker="head.probe",
        defaults={"num_heads": 12, "norm_eps": 1e-6, "gelu": "tanh"},  # transformers' SiglipVisionConfig
        to_canonical=siglip_to_canonical,
        owns=siglip_owns,
        from_canonical=siglip_from_canonical,
    )
)
