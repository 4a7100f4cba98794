"""Text towers of whole CLIP-style checkpoints → canonical text tensors (:mod:`vitzoo.text_spec`) and a :class:`TextSpec`.

open_clip (``CLIP`` top-level names, or ``CustomTextCLIP``'s ``text.*``):
``token_embedding.weight`` → ``token_embed.weight``, ``positional_embedding`` [L, W] →
``pos_embed`` [1, L, W], ``transformer.resblocks.{i}.*`` → ``blocks.{i}.*`` (the image
tower's block names), ``ln_final`` → ``norm``, ``text_projection`` [W, E] → ``head.weight``
[E, W] (a ``text_projection`` Linear keeps its layout and bias).

transformers (``CLIPModel``, ``SiglipModel``): ``text_model.embeddings.token_embedding`` /
``position_embedding``, ``text_model.encoder.layers.{i}`` (q/k/v fused), ``final_layer_norm``
→ ``norm``, and CLIP's ``text_projection`` or SigLIP's ``text_model.head`` → ``head``.

Sizes come from the tensors; heads, eps, GELU form, mask and pooling from the config
(``open_clip_config.json``, the bundled configs of open_clip's model names, or
``config.json``'s ``text_config`` with transformers' class defaults for what it leaves out).
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Optional

import numpy as np

from vitzoo.errors import CheckpointError, SpecError
from vitzoo.text_spec import TextSpec
from vitzoo.weights.base import as_float32
from vitzoo.weights.hf_format import GELU, Renamer

_OC_BLOCK = re.compile(r"^transformer\.resblocks\.(\d+)\.(.+)$")
_OC_PARTS = {
    "ln_1.weight": "norm1.weight", "ln_1.bias": "norm1.bias",
    "attn.in_proj_weight": "attn.qkv.weight", "attn.in_proj_bias": "attn.qkv.bias",
    "attn.out_proj.weight": "attn.proj.weight", "attn.out_proj.bias": "attn.proj.bias",
    "ln_2.weight": "norm2.weight", "ln_2.bias": "norm2.bias",
    "mlp.c_fc.weight": "mlp.fc1.weight", "mlp.c_fc.bias": "mlp.fc1.bias",
    "mlp.c_proj.weight": "mlp.fc2.weight", "mlp.c_proj.bias": "mlp.fc2.bias",
}  # fmt: skip
_OC_TOP = {
    "token_embedding.weight": "token_embed.weight", "positional_embedding": "pos_embed",
    "ln_final.weight": "norm.weight", "ln_final.bias": "norm.bias",
    "text_projection": "head.weight", "text_projection.weight": "head.weight", "text_projection.bias": "head.bias",
}  # fmt: skip
_HF_LAYER = re.compile(r"^text_model\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$")
_HF_PARTS = {
    "self_attn.q_proj": "q", "self_attn.k_proj": "k", "self_attn.v_proj": "v", "self_attn.out_proj": "attn.proj",
    "layer_norm1": "norm1", "layer_norm2": "norm2", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2",
}  # fmt: skip
_HF_TOP = {
    "text_model.embeddings.token_embedding.weight": "token_embed.weight",
    "text_model.embeddings.position_embedding.weight": "pos_embed",
    "text_model.final_layer_norm.weight": "norm.weight", "text_model.final_layer_norm.bias": "norm.bias",
    "text_projection.weight": "head.weight",  # CLIP
    "text_model.head.weight": "head.weight", "text_model.head.bias": "head.bias",  # SigLIP
}  # fmt: skip


def is_text_tensor(name: str) -> bool:
    """Whether an open_clip tensor name (``module.`` stripped) belongs to the text tower or the logit scale/bias."""
    return not name.startswith("visual.")


def open_clip_text_state(raw: Mapping[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    """The canonical text tower of an open_clip state (``CLIP`` or ``CustomTextCLIP`` names)."""
    state: dict[str, np.ndarray] = {}
    unknown: list[str] = []
    for name, value in raw.items():
        if name.startswith("visual.") or name in ("logit_scale", "logit_bias", "attn_mask", "text.attn_mask"):
            continue
        inner = name[len("text.") :] if name.startswith("text.") else name
        m = _OC_BLOCK.match(inner)
        target = _OC_TOP.get(inner) or (f"blocks.{m.group(1)}.{_OC_PARTS[m.group(2)]}" if m and m.group(2) in _OC_PARTS else None)
        if target is None:
            unknown.append(name)
        elif target in state:
            raise CheckpointError(f"{source} holds two copies of the text tower's {target!r} (with and without 'text.'); the file is damaged.")
        else:
            state[target] = as_float32(value, name, source)
            if inner == "text_projection":  # a parameter used as x @ P, P [W, E]: a Linear's weight is Pᵀ
                state[target] = np.ascontiguousarray(state[target].T) if state[target].ndim == 2 else state[target]
    if unknown:
        shown = ", ".join(unknown[:4]) + (f" and {len(unknown) - 4} more" if len(unknown) > 4 else "")
        raise CheckpointError(f"{source} has text-tower tensors that vitzoo's text transformer does not run: {shown}.")
    if "token_embed.weight" not in state:
        raise CheckpointError(f"{source} holds no text tower (no token_embedding); it is an image tower alone, so vitzoo.create() reads it, not create_clip().")
    if "pos_embed" in state:
        state["pos_embed"] = state["pos_embed"][None]
    return state


def open_clip_text_spec(state: Mapping[str, np.ndarray], model_cfg: Mapping[str, Any], source: str) -> TextSpec:
    """The text spec of an open_clip model config (``model_cfg`` of open_clip_config.json or a model-config file)."""
    text = model_cfg.get("text_cfg") if isinstance(model_cfg.get("text_cfg"), Mapping) else {}
    unsupported = [k for k in ("hf_model_name", "embed_cls", "final_ln_after_pool", "ls_init_value", "qk_norm", "scaled_cosine_attn", "scale_heads",
                               "scale_attn_inner", "scale_attn", "scale_fc") if text.get(k)]
    if text.get("proj_type", "linear") not in ("linear", "none", None):
        unsupported.append(f"proj_type {text['proj_type']!r}")
    pool = text.get("pool_type", "argmax")
    if pool not in ("argmax", "eos", "last"):
        unsupported.append(f"pool_type {pool!r}")
    if unsupported:
        raise CheckpointError(f"{source}: the open_clip text config asks for {', '.join(unsupported)}, which vitzoo's text transformer does not run.")
    norm_kwargs = text.get("norm_kwargs") if isinstance(text.get("norm_kwargs"), Mapping) else {}
    fields = {
        "heads": text.get("heads", 8),  # open_clip's CLIPTextCfg defaults
        "norm_eps": norm_kwargs.get("eps", 1e-5),
        "gelu": "quick" if model_cfg.get("quick_gelu") else "tanh" if _act(text).get("approximate") == "tanh" else "exact",
        "causal": not text.get("no_causal_mask", False),
        "pool": pool,
        "eos_token_id": text.get("eos_id", 2) if pool == "eos" else -1,
    }
    return text_spec_from(state, fields, source)


def _act(text_cfg: Mapping[str, Any]) -> Mapping[str, Any]:
    """open_clip's ``act_kwargs`` (SigLIP's text towers: ``{"approximate": "tanh"}``)."""
    act = text_cfg.get("act_kwargs")
    return act if isinstance(act, Mapping) else {}


def hf_text_state(raw: Mapping[str, np.ndarray], source: str, what: str) -> dict[str, np.ndarray]:
    """The canonical text tower of a transformers ``CLIPModel`` / ``SiglipModel`` state."""
    out = Renamer(source)
    for name, value in raw.items():
        if name in _HF_TOP:
            out.put(_HF_TOP[name], name, value)
        elif (m := _HF_LAYER.match(name)) and m.group(2) in _HF_PARTS:
            out.put_block(m.group(1), _HF_PARTS[m.group(2)], m.group(3), name, value)
        elif name.startswith(("text_model.", "text_projection")) and not name.endswith("position_ids"):
            out.unknown.append(name)
    state = out.finish(what)
    if "token_embed.weight" not in state:
        raise CheckpointError(f"{source} holds no text tower (no text_model.* tensors); it is an image tower alone, so vitzoo.create() reads it, not create_clip().")
    if "pos_embed" in state:
        state["pos_embed"] = state["pos_embed"][None]
    return state


def hf_text_spec(state: Mapping[str, np.ndarray], text_cfg: Mapping[str, Any], family: str, source: str, legacy_eos: bool = True) -> TextSpec:
    """The text spec of a transformers ``text_config`` (``family`` ``"clip"`` or ``"siglip"``; its class defaults fill gaps).

    ``legacy_eos``: CLIP's rule for old configs (``eos_token_id`` 2 pools at the largest id); MetaCLIP 2
    always pools at the first ``eos_token_id`` (2 is XLM-R's end token there).
    """
    defaults = {"clip": (8, 1e-5, "quick_gelu"), "siglip": (12, 1e-6, "gelu_pytorch_tanh")}[family]
    act = text_cfg.get("hidden_act", defaults[2])
    if act not in GELU:
        raise CheckpointError(f"{source}: the text tower's hidden_act {act!r} is not supported (only {', '.join(GELU)}).")
    fields: dict[str, Any] = {"heads": text_cfg.get("num_attention_heads", defaults[0]), "norm_eps": text_cfg.get("layer_norm_eps", defaults[1]),
                              "gelu": GELU[act]}
    if family == "siglip":
        fields.update(causal=False, pool="last")
    else:
        eos = text_cfg.get("eos_token_id", 49407)
        # transformers' CLIPTextTransformer: eos_token_id 2 (configs before PR #24773) means the largest id, else its first occurrence
        legacy = legacy_eos and eos == 2
        fields.update(causal=True, pool="argmax" if legacy else "eos", eos_token_id=-1 if legacy else eos)
    return text_spec_from(state, fields, source)


def text_spec_from(state: Mapping[str, np.ndarray], fields: Mapping[str, Any], source: str) -> TextSpec:
    """Sizes from the tensors plus the stated ``fields``; a damaged state or an impossible field is one error."""
    try:
        vocab, width = state["token_embed.weight"].shape
        layers = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
        head = state.get("head.weight")
        spec = TextSpec(
            vocab_size=int(vocab), context_length=int(state["pos_embed"].shape[1]), width=int(width), layers=layers,
            mlp_dim=int(state["blocks.0.mlp.fc1.weight"].shape[0]), proj_dim=0 if head is None else int(head.shape[0]),
            proj_bias="head.bias" in state, **fields,
        )
    except (KeyError, ValueError, IndexError) as exc:
        raise CheckpointError(f"{source}: the text tower is incomplete or misshapen ({exc}).") from None
    except (SpecError, TypeError) as exc:
        raise CheckpointError(f"{source}: the text tower's config does not describe a valid text transformer ({exc}).") from None
    return spec


def logit_params(raw: Mapping[str, np.ndarray], prefix: str, source: str, need_bias: bool) -> dict[str, np.ndarray]:
    """``logit_scale`` (and ``logit_bias``) as float32 scalars; a missing one is an error."""
    out: dict[str, np.ndarray] = {}
    for name in ("logit_scale", "logit_bias") if need_bias else ("logit_scale",):
        value: Optional[Any] = raw.get(prefix + name, raw.get(name))
        if value is None:
            raise CheckpointError(f"{source} has no {name}; it is not a whole {'SigLIP' if need_bias else 'CLIP'} model.")
        array = as_float32(value, name, source)
        if array.size != 1:
            raise CheckpointError(f"{source}: {name} has shape {tuple(array.shape)}, expected a single value.")
        out[name] = array.reshape(())
    return out
