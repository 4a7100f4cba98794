"""open_clip checkpoints: the image tower of a whole CLIP model (both towers in one file).

Read: ``.safetensors`` or a torch pickle (``open_clip_pytorch_model.bin``, or a training
checkpoint whose ``state_dict`` has DDP's ``module.`` prefix), or a hub folder holding
``open_clip_config.json`` beside the weights. The ``visual.*`` tensors map to timm's
CLIP layout (what timm's own open_clip conversion does): ``conv1`` → ``patch_embed.proj``
(no bias), ``class_embedding`` [D] → ``cls_token``, ``positional_embedding`` [N+1, D] →
``pos_embed``, ``ln_pre`` → ``norm_pre``, ``resblocks.{i}`` (``ln_1``, ``attn.in_proj``,
``attn.out_proj``, ``ln_2``, ``mlp.c_fc``, ``mlp.c_proj``, ``ls_1/ls_2``) → ``blocks.{i}``,
``ln_post`` → ``norm``, and ``proj`` [D, E] → ``head.weight`` [E, D] with a zero bias, so
the model's output is open_clip's ``encode_image``. The text tower is dropped (reported).

The weights do not say whether the tower uses QuickGELU (OpenAI's weights) or exact
GELU, nor its head count, eps or pooling: ``open_clip_config.json`` does (with open_clip's
own defaults for what it leaves out: 64-wide heads, eps 1e-5, class-token pooling), else
``--variant`` (e.g. ``clip_b_32_quickgelu``) or the fields given, else the registered CLIP
variants of these sizes when they agree; otherwise the read is refused.

Write: the image tower alone under the same names (``.safetensors``, or torch for
``.pth``/``.bin``), bit for bit what was read; load it with
``model.load_state_dict(sd, strict=False)`` (the text tower keeps its own weights).

Example:
    >>> from vitzoo import weights
    >>> ckpt = weights.read("open_clip_pytorch_model.bin", format="open_clip")  # doctest: +SKIP
    >>> ckpt.spec.pre_norm, ckpt.dropped[:1]  # doctest: +SKIP
    (True, ['positional_embedding'])
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from vitzoo.errors import CheckpointError
from vitzoo.weights.base import Checkpoint, WeightFormat, as_float32, register_format
from vitzoo.weights.infer import Hint, infer_spec
from vitzoo.weights.timm_format import holds_tensor, load_state_file, save_state_file, weights_file

ANCHOR = "visual.conv1.weight"
_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
_TOP = {
    "conv1.weight": "patch_embed.proj.weight",
    "class_embedding": "cls_token",
    "positional_embedding": "pos_embed",
    "ln_pre.weight": "norm_pre.weight",
    "ln_pre.bias": "norm_pre.bias",
    "ln_post.weight": "norm.weight",
    "ln_post.bias": "norm.bias",
    "proj": "head.weight",
}
_BLOCK = re.compile(r"^transformer\.resblocks\.(\d+)\.(.+)$")
_PARTS = {
    "ln_1.weight": "norm1.weight", "ln_1.bias": "norm1.bias",
    "attn.in_proj_weight": "attn.qkv.weight", "attn.in_proj_bias": "attn.qkv.bias",
    "attn.out_proj.weight": "attn.proj.weight", "attn.out_proj.bias": "attn.proj.bias",
    "ln_2.weight": "norm2.weight", "ln_2.bias": "norm2.bias",
    "mlp.c_fc.weight": "mlp.fc1.weight", "mlp.c_fc.bias": "mlp.fc1.bias",
    "mlp.c_proj.weight": "mlp.fc2.weight", "mlp.c_proj.bias": "mlp.fc2.bias",
    "ls_1.gamma": "ls1.gamma", "ls_2.gamma": "ls2.gamma",
}  # fmt: skip


def detect(path: Path) -> bool:
    """A safetensors file, torch pickle or hub folder whose tensors include open_clip's ``visual.conv1.weight``."""
    return holds_tensor(_weights_file(path) or path, ANCHOR, _strip)


def read(path: Path, variant: Hint = None) -> Checkpoint:
    """Read the image tower; ``variant`` settles the GELU form, head count, eps and pooling when no open_clip_config.json does."""
    path = weights_file(path, _weights_file, "open_clip_model.safetensors or open_clip_pytorch_model.bin")
    source = repr(str(path))
    raw, dropped = load_state_file(path)
    state: dict[str, np.ndarray] = {}
    unknown: list[str] = []
    text_tower: list[str] = []
    stripped: dict[str, str] = {}
    for name, value in raw.items():
        short = _strip(name)
        if short in stripped:  # "module.x" beside "x", in either tower: which one is the model is anyone's guess
            raise CheckpointError(f"{source} holds both {stripped[short]!r} and {name!r}, which are the same weight; the file is damaged.")
        stripped[short] = name
        if not short.startswith("visual."):
            text_tower.append(name)  # the text tower and logit scale
            continue
        inner = short[len("visual.") :]
        m = _BLOCK.match(inner)
        target = _TOP.get(inner) or (f"blocks.{m.group(1)}.{_PARTS[m.group(2)]}" if m and m.group(2) in _PARTS else None)
        if target is None:
            unknown.append(name)
            continue
        state[target] = as_float32(value, name, source)
    if not state and not unknown:
        raise CheckpointError(f"{source} holds no open_clip image tower (no visual.* tensors); is it another format?")
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise CheckpointError(f"{source} has image-tower tensors that are not part of an open_clip VisionTransformer: {shown}.")
    _to_timm_shapes(state, source)
    config = _config(path, state, source)
    notes: list[str] = []
    spec = infer_spec(state, source, config=config, hint=variant)
    if text_tower:
        notes.insert(0, f"the text tower ({len(text_tower)} tensors) was dropped: vitzoo keeps the image tower.")
    meta: dict[str, Any] = {"source_format": "open_clip", "source": str(path)}
    return Checkpoint(state=state, spec=spec, meta=meta, dropped=dropped + text_tower, notes=notes).validate(source)


def write(ckpt: Checkpoint, path: Path) -> None:
    """Write the image tower under open_clip's ``visual.*`` names (atomically)."""
    ckpt.validate()
    spec, state = ckpt.spec, ckpt.state
    bias = state.get("head.bias")
    problems = [
        text
        for bad, text in (
            (not spec.class_token or spec.global_pool != "token" or spec.dist_token, "class-token pooling"),
            (not spec.pre_norm or spec.patch_bias, "a LayerNorm before the blocks and no patch bias"),
            (spec.reg_tokens > 0 or not spec.pos_embed_prefix, "no register tokens and a class-token position"),
            (spec.fc_norm or spec.qk_norm or spec.pre_logits_dim > 0 or spec.mlp_type != "mlp", "no fc_norm, q/k norm, pre-logits or SwiGLU"),
            (not spec.qkv_bias, "q/k/v biases"),
            (bias is not None and bool(np.any(bias != 0)), "a projection without bias (this head's bias is not zero)"),
        )
        if bad
    ]
    if problems:
        raise CheckpointError(
            f"open_clip's VisionTransformer needs {', '.join(problems)}; these weights cannot be written as an "
            "open_clip image tower. Convert them to vitzoo or timm instead."
        )
    inverse_top = {v: k for k, v in _TOP.items()}
    inverse_parts = {v: k for k, v in _PARTS.items()}
    tensors: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if name == "head.bias":
            continue
        if name == "head.weight":
            value = np.ascontiguousarray(value.T)
        elif name == "cls_token":
            value = value.reshape(-1)
        elif name == "pos_embed":
            value = value[0]
        if name in inverse_top:
            tensors["visual." + inverse_top[name]] = value
        else:
            i, part = re.match(r"^blocks\.(\d+)\.(.+)$", name).groups()
            tensors[f"visual.transformer.resblocks.{i}.{inverse_parts[part]}"] = value
    save_state_file(path, tensors)


def _strip(name: str) -> str:
    return name[len("module.") :] if name.startswith("module.") else name


def _weights_file(path: Path) -> Optional[Path]:
    """The weights of an open_clip hub folder; ``None`` for anything else."""
    if not path.is_dir():
        return None
    return next((path / n for n in _WEIGHT_FILES if (path / n).is_file()), None)


def _to_timm_shapes(state: dict[str, np.ndarray], source: str) -> None:
    """open_clip's vectors and [in, out] projection as timm's tensors (the head gets timm's zero bias)."""
    for name, ndim, shape in (("cls_token", 1, (1, 1, -1)), ("pos_embed", 2, None), ("head.weight", 2, None)):
        if name not in state:
            continue
        value = state[name]
        if value.ndim != ndim:
            raise CheckpointError(f"{source}: the image tower's {name!r} source tensor has shape {tuple(value.shape)}, expected {ndim} dimensions.")
        if name == "cls_token":
            state[name] = value.reshape(shape)
        elif name == "pos_embed":
            state[name] = value[None]
        else:
            state[name] = np.ascontiguousarray(value.T)
            state["head.bias"] = np.zeros(value.shape[1], np.float32)


def _config(path: Path, state: Mapping[str, np.ndarray], source: str) -> dict[str, Any]:
    """Spec fields from ``open_clip_config.json`` beside the file (none without one: the caller's hint or the registry decides)."""
    model_cfg = _open_clip_config(path.parent / "open_clip_config.json")
    if not model_cfg:
        return {}
    vision = model_cfg.get("vision_cfg") if isinstance(model_cfg.get("vision_cfg"), dict) else {}
    unsupported = [k for k in ("attentional_pool", "final_ln_after_pool", "timm_model_name") if vision.get(k)]
    if vision.get("pool_type", "tok") != "tok":
        unsupported.append(f"pool_type {vision['pool_type']!r}")
    if unsupported:
        raise CheckpointError(f"{source}: open_clip_config.json asks for {', '.join(unsupported)}, which vitzoo's ViT does not run.")
    # what open_clip's CLIPVisionCfg and LayerNorm build when the config leaves a field out
    norm_kwargs = vision.get("norm_kwargs") if isinstance(vision.get("norm_kwargs"), dict) else {}
    config: dict[str, Any] = {"norm_eps": norm_kwargs.get("eps", 1e-5), "global_pool": "token", "gelu": "quick" if model_cfg.get("quick_gelu") else "exact"}
    width = state["patch_embed.proj.weight"].shape[0] if "patch_embed.proj.weight" in state else None
    head_width = vision.get("head_width", 64)
    if not (isinstance(head_width, int) and head_width > 0 and width is not None and width % head_width == 0):
        raise CheckpointError(f"{source}: open_clip_config.json's head_width {head_width!r} does not divide the tower's width {width}.")
    config["num_heads"] = width // head_width
    return config


def _open_clip_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return {}
    model_cfg = cfg.get("model_cfg") if isinstance(cfg, dict) else None
    return model_cfg if isinstance(model_cfg, dict) else {}


FORMAT = register_format(
    WeightFormat(
        name="open_clip",
        description="open_clip CLIP checkpoint, image tower (.safetensors; .pth/.bin with torch installed)",
        detect=detect,
        read=read,
        write=write,
    )
)
