"""transformers AIMv2 (``Aimv2VisionModel``, model_type ``aimv2_vision_model``; the image tower of an ``Aimv2Model``).

The layout: ``embeddings.patch_embed`` (a conv), ``embeddings.rms_norm`` on the patch embeddings and a learned
``embeddings.position_embedding`` (``[patches, D]``, no class token); per layer ``attention.{q,k,v}_proj`` and
``out_proj`` (biases only with ``qkv_bias``), ``rms_norm1``/``rms_norm2`` and the SwiGLU ``ffn.gate_proj``/
``up_proj``/``down_proj`` (biases only with ``mlp_bias``); a final ``rms_norm``. vitzoo's names are timm's
``aimv2_*`` ones (``patch_embed.norm``, ``mlp.fc1_g``/``fc1_x``), so the same weights from timm or from here are
the same canonical state. With ``use_head`` (transformers' default) ``pooler_output`` is the attention pooling
head (``head.cls_token``, ``head.k_proj``/``v_proj``, ``head.output_proj``), canonical ``query_pool.*`` and
``global_pool="query"``; without it transformers gives no ``pooler_output`` and vitzoo pools as timm does,
the tokens' mean. ``is_native`` models (``apple/aimv2-*-native``) have no learned positions: a 2-D sin-cos
embedding of each input's patch grid (:mod:`vitzoo.sincos`, ``ViTSpec.sincos_pos``) at any image size.

A whole ``Aimv2Model`` folder (``vision_model.*``, a text tower, projections) gives its image tower; the rest
is dropped and reported.

Example:
    >>> from vitzoo import weights
    >>> ckpt = weights.read("aimv2-large-patch14-224/")  # doctest: +SKIP
    >>> ckpt.spec.norm_type, ckpt.spec.global_pool  # doctest: +SKIP
    ('rms', 'query')
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

from vitzoo.errors import CheckpointError
from vitzoo.spec import ViTSpec
from vitzoo.weights.base import Checkpoint, as_float32
from vitzoo.weights.hf_format import HFFamily, Mapped, Renamer, register_family, split_rows, unwritable

_TOP = {
    "embeddings.patch_embed.weight": "patch_embed.proj.weight",
    "embeddings.patch_embed.bias": "patch_embed.proj.bias",
    "embeddings.rms_norm.weight": "patch_embed.norm.weight",
    "rms_norm.weight": "norm.weight",
    "head.cls_token": "query_pool.query",
    "head.k_proj.weight": "query_pool.k.weight",
    "head.k_proj.bias": "query_pool.k.bias",
    "head.v_proj.weight": "query_pool.v.weight",
    "head.v_proj.bias": "query_pool.v.bias",
    "head.output_proj.weight": "query_pool.proj.weight",
    "head.output_proj.bias": "query_pool.proj.bias",
}
_POS = "embeddings.position_embedding.weight"
_LAYER = re.compile(r"^encoder\.layers\.(\d{1,6})\.(.+)\.(weight|bias)$")
_PARTS = {
    "attention.q_proj": "q", "attention.k_proj": "k", "attention.v_proj": "v", "attention.out_proj": "attn.proj",
    "rms_norm1": "norm1", "rms_norm2": "norm2",
    "ffn.gate_proj": "mlp.fc1_g", "ffn.up_proj": "mlp.fc1_x", "ffn.down_proj": "mlp.fc2",
}  # fmt: skip
_WHOLE = ("text_model.", "visual_projection.", "text_projection.", "logit_scale")  # an Aimv2Model's parts beside the image tower


def to_canonical(raw: Mapping[str, np.ndarray], cfg: Mapping[str, Any], source: str) -> Mapped:
    """AIMv2 names to canonical (timm) ones, q/k/v fused; the config's switches are checked against the tensors."""
    out = Renamer(source)
    whole = any(n.startswith("vision_model.") for n in raw)
    for name, value in raw.items():
        short = name[len("vision_model.") :] if whole and name.startswith("vision_model.") else name
        if whole and short.startswith(_WHOLE):
            out.dropped.append(name)
        elif short == _POS:
            pos = as_float32(value, name, source)
            if pos.ndim != 2:
                raise CheckpointError(f"{source}: {name} has shape {tuple(pos.shape)}, expected [patches, hidden_size].")
            out.put("pos_embed", name, pos[None])
        elif short in _TOP:
            out.put(_TOP[short], name, value)
        elif (m := _LAYER.match(short)) and m.group(2) in _PARTS:
            out.put_block(m.group(1), _PARTS[m.group(2)], m.group(3), name, value)
        else:
            out.unknown.append(name)
    state = out.finish("Aimv2VisionModel")
    _check_switches(state, cfg, source)
    native = cfg.get("is_native", False)
    eps = cfg.get("rms_norm_eps", 1e-5)
    size = cfg.get("image_size", 224)
    if not isinstance(size, int) or isinstance(size, bool):
        raise CheckpointError(f"{source}: config.json's image_size {size!r} is not one integer; vitzoo runs AIMv2 on square images.")
    proj = state.get("patch_embed.proj.weight")  # the conv's own patch size (a config.json that disagrees is refused later)
    patch = int(proj.shape[-1]) if proj is not None and proj.ndim == 4 else cfg.get("patch_size", 14)
    if not isinstance(patch, int) or isinstance(patch, bool) or patch <= 0 or size < patch:
        raise CheckpointError(f"{source}: config.json's image_size {size!r} and patch_size {patch!r} give no patch grid.")
    pos = state.get("pos_embed")
    if pos is not None and pos.shape[1] != (size // patch) ** 2:
        raise CheckpointError(f"{source}: config.json's image_size {size} gives {(size // patch) ** 2} patches, but position_embedding "
                              f"has {pos.shape[1]} rows; the folder is damaged.")
    if cfg.get("hidden_act", "silu") != "silu":
        raise CheckpointError(f"{source}: config.json's hidden_act {cfg['hidden_act']!r} is not supported; AIMv2's SwiGLU uses silu.")
    config: dict[str, Any] = {"global_pool": "query" if "query_pool.query" in state else "avg", "img_size": size, "block": "eva",
                              "rope": "none", "pool_heads": 0, "pool_include_prefix": False, "norm_eps": eps}
    if native:  # sin-cos positions computed for each input's grid: transformers takes any image size
        config.update(sincos_pos=True, dynamic_img_size=True)
    return Mapped(state, out.dropped, [], config)


def _check_switches(state: Mapping[str, np.ndarray], cfg: Mapping[str, Any], source: str) -> None:
    """use_head, qkv_bias and mlp_bias must describe the tensors: a disagreement is a damaged folder, not a guess."""
    checks = (  # (field, transformers' default, whether the tensors show it, what that is)
        ("use_head", True, "query_pool.query" in state, "an attention pooling head (head.*)"),
        ("qkv_bias", False, "blocks.0.attn.qkv.bias" in state, "attention biases"),
        ("mlp_bias", False, "blocks.0.mlp.fc2.bias" in state, "ffn biases"),
        ("is_native", False, "pos_embed" not in state, "no learned position_embedding (a native-resolution model's sin-cos positions)"),
    )
    for key, default, found, what in checks:
        said = cfg.get(key, default)
        if not isinstance(said, bool):
            raise CheckpointError(f"{source}: config.json's {key} {said!r} is not true or false.")
        if said != found:
            shows = what if found or key != "is_native" else "a learned position_embedding"
            raise CheckpointError(f"{source}: config.json says {key}={str(said).lower()} but the weights "
                                  f"{'have' if found or key == 'is_native' else 'lack'} {shows}; the folder is damaged.")
    if ("blocks.0.attn.qkv.bias" in state) != ("blocks.0.attn.proj.bias" in state):
        raise CheckpointError(f"{source}: the attention's out_proj {'lacks' if 'blocks.0.attn.qkv.bias' in state else 'has'} a bias "
                              "while q/k/v do the opposite; AIMv2 gives all four one (qkv_bias) or none.")


def owns(spec: ViTSpec) -> bool:
    return spec.global_pool == "query" or (spec.norm_type == "rms" and spec.patch_norm and spec.mlp_type == "swiglu_split")


def from_canonical(ckpt: Checkpoint) -> "tuple[dict[str, np.ndarray], dict[str, Any]]":
    """Tensors and config.json of an ``Aimv2VisionModel`` (the names ``save_pretrained`` writes)."""
    spec, state = ckpt.spec, ckpt.state
    unwritable(
        [
            (spec.num_classes > 0 or spec.pre_logits_dim, "no classifier (Aimv2VisionModel is a backbone)"),
            (spec.num_prefix_tokens, "no class or register tokens"),
            (spec.global_pool not in ("avg", "query"), "the attention pooling head or the tokens' mean"),
            (not (spec.abs_pos_embed or spec.sincos_pos) or spec.rope != "none" or spec.rel_pos_bias != "none",
             "a learned or native sin-cos position embedding only"),
            (spec.norm_type != "rms" or not spec.patch_norm or not spec.patch_bias or spec.pre_norm or spec.fc_norm or not spec.final_norm,
             "RMSNorms on the patch embeddings, in the blocks and at the end"),
            (spec.mlp_type != "swiglu_split" or spec.mlp_norm, "a SwiGLU MLP"),
            (not spec.qkv_fused or not spec.k_bias or spec.proj_bias != spec.qkv_bias or spec.qk_norm or spec.attn_norm
             or spec.layer_scale, "q/k/v/out projections that all have a bias or none, and no layer scale"),
        ],
        "Aimv2VisionModel",
    )
    inverse_top = {v: k for k, v in _TOP.items()}
    inverse_parts = {v: k for k, v in _PARTS.items()}
    tensors: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if name == "pos_embed":
            tensors[_POS] = value[0]
        elif name in inverse_top:
            tensors[inverse_top[name]] = value
        else:
            i, part, kind = re.match(r"^blocks\.(\d+)\.(.+)\.(weight|bias)$", name).groups()
            base = f"encoder.layers.{i}."
            if part == "attn.qkv":
                for which, rows in zip("qkv", split_rows(value, 3)):
                    tensors[f"{base}attention.{which}_proj.{kind}"] = rows
            else:
                tensors[f"{base}{inverse_parts[part]}.{kind}"] = value
    cfg: dict[str, Any] = {
        "architectures": ["Aimv2VisionModel"],
        "model_type": "aimv2_vision_model",
        "hidden_size": spec.embed_dim,
        "num_hidden_layers": spec.depth,
        "num_attention_heads": spec.num_heads,
        "intermediate_size": spec.mlp_dim,
        "hidden_act": "silu",
        "rms_norm_eps": spec.norm_eps,
        "image_size": spec.img_size,
        "patch_size": spec.patch_size,
        "num_channels": spec.in_chans,
        "qkv_bias": spec.qkv_bias,
        "mlp_bias": spec.mlp_bias,
        "use_head": spec.global_pool == "query",
        "is_native": spec.sincos_pos,
        "attention_dropout": 0.0,
    }
    return tensors, cfg


FAMILY = register_family(
    HFFamily(
        name="aimv2",
        model_types=("aimv2_vision_model", "aimv2"),
        marker="embeddings.rms_norm.weight",  # the norm on the patch embeddings: no other transformers layout has it
        defaults={"num_heads": 8, "norm_eps": 1e-5, "gelu": "exact"},  # transformers' Aimv2VisionConfig (no GELU in the model)
        to_canonical=to_canonical,
        owns=owns,
        from_canonical=from_canonical,
    )
)
