"""The original DINOv3 files of facebookresearch/dinov3 (``dinov3_vit{s,b,l,h,7b}16*_pretrain_*.pth``, torch hub).

Their names: ``cls_token``, ``storage_tokens`` (the 4 registers), ``mask_token`` (masked pre-training
only: dropped and reported), ``rope_embed.periods`` (the rotary periods, ``base ** (4 i / head_dim)``
for ``i < head_dim / 4``), ``patch_embed.proj``, and per block ``norm1``, ``attn.qkv`` (with
``attn.qkv.bias_mask`` where the release masks the key bias: 1 on q and v rows, 0 on k), ``attn.proj``,
``ls1.gamma``, ``norm2``, ``mlp.fc1``/``fc2`` (or the SwiGLU ``mlp.w1``, ``w2``, ``w3``:
``w3(silu(w1 x) * w2 x)``), ``ls2.gamma``; then ``norm``. ``local_cls_norm`` (7B and the SAT-493M L:
local crops in pre-training, never used at inference) and ``projectors.*`` (the distillation heads of
EUPE files) are dropped and reported, as timm's conversion does.

The periods settle what the tensors alone cannot: the head width (``4 · len(periods)``, so the head
count) and the rotary base, which is checked against every period. Every release uses LayerNorm eps
1e-5 (``layernormbf16``), exact GELU, coordinates normalised per side ("separate") and class-token
output, so those are stated here, not guessed. vitzoo's names are timm's EVA-block names, so a file
read here, timm's ``vit_*_dinov3`` and transformers' ``DINOv3ViTModel`` are the same model; a
vitzoo → DINOv3 → vitzoo round trip is bit-exact.

Example:
    >>> from vitzoo import weights
    >>> ckpt = weights.read("dinov3_vits16_pretrain_lvd1689m-08c60483.pth")  # doctest: +SKIP
    >>> ckpt.spec.num_heads, ckpt.spec.reg_tokens, ckpt.dropped  # doctest: +SKIP
    (6, 4, ['mask_token', 'rope_embed.periods'])
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

from vitzoo.errors import CheckpointError
from vitzoo.spec import ViTSpec
from vitzoo.weights import safetensors_io
from vitzoo.weights.base import Checkpoint, WeightFormat, as_float32, check_finite, register_format, require_file
from vitzoo.weights.infer import Hint, infer_spec
from vitzoo.weights.timm_format import load_state_file, save_state_file, torch_file_mentions

MARKER = "storage_tokens"  # timm's DINOv3 files say reg_token; DINOv2's originals register_tokens
PERIODS = "rope_embed.periods"
_TOP = {"cls_token": "cls_token", MARKER: "reg_token", "patch_embed.proj.weight": "patch_embed.proj.weight",
        "patch_embed.proj.bias": "patch_embed.proj.bias", "norm.weight": "norm.weight", "norm.bias": "norm.bias"}
_BLOCK = re.compile(r"^blocks\.(\d+)\.(.+)$")
_PARTS = {
    "norm1.weight": "norm1.weight", "norm1.bias": "norm1.bias", "attn.qkv.weight": "attn.qkv.weight",
    "attn.proj.weight": "attn.proj.weight", "attn.proj.bias": "attn.proj.bias", "ls1.gamma": "gamma_1",
    "norm2.weight": "norm2.weight", "norm2.bias": "norm2.bias", "ls2.gamma": "gamma_2",
    "mlp.fc1.weight": "mlp.fc1.weight", "mlp.fc1.bias": "mlp.fc1.bias", "mlp.fc2.weight": "mlp.fc2.weight", "mlp.fc2.bias": "mlp.fc2.bias",
    "mlp.w1.weight": "mlp.fc1_g.weight", "mlp.w1.bias": "mlp.fc1_g.bias", "mlp.w2.weight": "mlp.fc1_x.weight",
    "mlp.w2.bias": "mlp.fc1_x.bias", "mlp.w3.weight": "mlp.fc2.weight", "mlp.w3.bias": "mlp.fc2.bias",
}  # fmt: skip
_DROPPED = re.compile(r"^(mask_token|local_cls_norm\.(weight|bias)|projectors\..+)$")
# what every DINOv3 release states in its hub entry (dinov3/hub/backbones.py), not in its tensors
_RELEASE = {"norm_eps": 1e-5, "gelu": "exact", "global_pool": "token", "rope": "dinov3", "rope_half": True, "rope_grid_offset": 0.0,
            "rope_ref_grid": 0, "rope_grid_xy": False, "dynamic_img_size": True, "block": "eva", "post_norm": False,
            "pool_heads": 0, "pool_include_prefix": False}  # fmt: skip
_RELEASE_SIZE = 224  # the hub entries' img_size: only the default input (no position tensor), so a caller's size wins


def detect(path: Path) -> bool:
    """A safetensors file or torch pickle holding ``storage_tokens`` or ``rope_embed.periods`` beside ``patch_embed.proj.weight``."""
    if not path.is_file():
        return False
    header = safetensors_io.try_read_header(path)
    if header is not None:
        return (MARKER in header or PERIODS in header) and "patch_embed.proj.weight" in header
    return (torch_file_mentions(path, MARKER) or torch_file_mentions(path, PERIODS)) and torch_file_mentions(path, "patch_embed.proj.weight")


def read(path: Path, variant: Hint = None) -> Checkpoint:
    """Read an original DINOv3 backbone file into canonical (timm EVA-block) names."""
    path = require_file(path)
    source = repr(str(path))
    if path.is_dir():
        raise CheckpointError(f"{source} is a folder; pass the DINOv3 .pth file itself.")
    raw, dropped = load_state_file(path)
    state: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}
    biases: dict[str, np.ndarray] = {}
    unknown: list[str] = []
    for name, value in raw.items():
        m = _BLOCK.match(name)
        if _DROPPED.match(name):
            dropped.append(name)
        elif name == PERIODS:
            check_finite({name: np.asarray(value)}, source)  # read as numbers below: a NaN is a damaged file, said so
            continue  # settles the head count and base below, then reported as dropped
        elif name in _TOP:
            state[_TOP[name]] = as_float32(value, name, source)
        elif m and m.group(2) in _PARTS:
            state[f"blocks.{m.group(1)}.{_PARTS[m.group(2)]}"] = as_float32(value, name, source)
        elif m and m.group(2) == "attn.qkv.bias":
            biases[m.group(1)] = as_float32(value, name, source)
            check_finite({name: biases[m.group(1)]}, source)  # the masked k rows are left out below: a NaN there is damage too
        elif m and m.group(2) == "attn.qkv.bias_mask":
            masks[m.group(1)] = np.asarray(value)
            check_finite({name: masks[m.group(1)]}, source)  # NaN: saved before the release set the mask (its init value)
        else:
            unknown.append(name)
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise CheckpointError(f"{source} has tensors that are not part of a DINOv3 backbone: {shown}.")
    k_bias = {_split_bias(state, i, bias, masks.pop(i, None), source) for i, bias in biases.items()}
    if masks:
        raise CheckpointError(f"{source}: block {sorted(masks, key=int)[0]} has a q/k/v bias mask but no q/k/v bias; the file is damaged.")
    if len(k_bias) > 1:
        raise CheckpointError(f"{source}: some blocks mask the key bias and others do not; a DINOv3 backbone masks it in all or none.")
    config = dict(_RELEASE)
    given = variant.to_dict() if isinstance(variant, ViTSpec) else dict(variant or {})
    config["img_size"] = given.get("img_size", _RELEASE_SIZE)
    if PERIODS in raw:
        config.update(_rotary_fields(raw[PERIODS], state, source))
        dropped.append(PERIODS)
    spec = infer_spec(state, source, config=config, hint=variant)
    meta: dict[str, Any] = {"source_format": "dinov3", "source": str(path)}
    return Checkpoint(state=state, spec=spec, meta=meta, dropped=dropped).validate(source)


def _split_bias(state: dict[str, np.ndarray], block: str, bias: np.ndarray, mask: Optional[np.ndarray], source: str) -> bool:
    """Put block ``block``'s q/k/v bias under canonical names; whether it keeps a key bias.

    DINOv3 multiplies the bias by its mask in every forward pass; a mask of ones on q and v and zeros on
    k is timm's EVA attention with ``q_bias`` and ``v_bias`` (the stored k rows never count).
    """
    where = f"{source}: block {block}'s q/k/v bias"
    if bias.ndim != 1 or bias.shape[0] % 3:
        raise CheckpointError(f"{where} has shape {tuple(bias.shape)}, not three equal parts.")
    a = f"blocks.{block}.attn."
    if mask is None:
        state[a + "qkv.bias"] = bias
        return True
    mask = np.asarray(mask, np.float64)
    d = bias.shape[0] // 3
    if mask.shape != bias.shape:
        raise CheckpointError(f"{where} mask has shape {tuple(mask.shape)}, not the bias's {tuple(bias.shape)}.")
    if np.array_equal(mask, np.ones_like(mask)):
        state[a + "qkv.bias"] = bias
        return True
    if not np.array_equal(mask, np.concatenate([np.ones(d), np.zeros(d), np.ones(d)])):
        raise CheckpointError(f"{where} mask is neither all ones nor ones on q and v with zeros on k (the file was saved "
                              "before the mask was set, or is damaged); vitzoo cannot tell which bias the model used.")
    state[a + "q_bias"], state[a + "v_bias"] = bias[:d].copy(), bias[2 * d:].copy()
    return False


def _rotary_fields(periods: Any, state: dict[str, np.ndarray], source: str) -> dict[str, Any]:
    """The head count and rotary base that ``rope_embed.periods`` encodes, checked period by period."""
    p = as_float32(periods, PERIODS, source).astype(np.float64)
    width = state.get("patch_embed.proj.weight")
    if p.ndim != 1 or p.size < 2 or width is None or width.ndim != 4 or width.shape[0] % (4 * p.size):
        raise CheckpointError(f"{source}: {PERIODS} of shape {tuple(p.shape)} does not fit a model of this width.")
    head_dim = 4 * p.size
    if not (p[0] == 1.0 and np.all(np.isfinite(p)) and p[-1] > 1.0):
        raise CheckpointError(f"{source}: {PERIODS} does not start at 1 and grow (min/max-period forms are not DINOv3 releases vitzoo knows).")
    base = float(p[-1] ** (head_dim / (4 * (p.size - 1))))
    if abs(base - round(base)) < 1e-3 * base:
        base = float(round(base))
    expected = base ** (4 * np.arange(p.size) / head_dim)
    if not np.allclose(p, expected, rtol=1e-4, atol=0):
        raise CheckpointError(f"{source}: {PERIODS} are not the powers of one base (min/max-period forms are not DINOv3 releases vitzoo knows).")
    return {"num_heads": width.shape[0] // head_dim, "rope_temperature": base}


def write(ckpt: Checkpoint, path: Path) -> None:
    """Write the original DINOv3 layout (torch for ``.pth``/``.pt``/``.bin``, else safetensors), atomically."""
    ckpt.validate()
    spec, state = ckpt.spec, ckpt.state
    problems = [
        text
        for bad, text in (
            (spec.rope != "dinov3" or spec.abs_pos_embed or not spec.rope_half or spec.rope_grid_offset or spec.rope_ref_grid
             or spec.rope_grid_xy, "DINOv3's rotary positions only"),
            (not spec.class_token or spec.global_pool != "token" or spec.num_classes > 0 or spec.dist_token, "class-token output and no classifier"),
            (not spec.layer_scale or spec.mlp_type == "swiglu" or spec.mlp_norm or spec.attn_norm or not spec.qkv_fused,
             "layer scale, a plain or split-SwiGLU MLP and no inner norms"),
            (spec.fc_norm or spec.qk_norm or spec.pre_norm or not spec.final_norm or not spec.patch_bias, "one final norm and a patch bias"),
        )
        if bad
    ]
    if problems:
        raise CheckpointError(f"a DINOv3 backbone needs {', '.join(problems)}; these weights cannot be written in the DINOv3 layout. "
                              "Convert them to vitzoo, timm or hf instead.")
    split_mlp = spec.mlp_type == "swiglu_split"  # fc2 is w3 there, fc2 otherwise: one inverse per MLP form
    inverse = {v: k for k, v in _PARTS.items() if not k.startswith("mlp.") or k.startswith("mlp.w") == split_mlp}
    top = {v: k for k, v in _TOP.items()}
    tensors: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if not name.startswith("blocks."):
            tensors[top[name]] = value
            continue
        i, part = _BLOCK.match(name).groups()
        if part == "attn.q_bias":  # q and v biases with a masked (zero) key bias, as the release stores them
            v = state[f"blocks.{i}.attn.v_bias"]
            tensors[f"blocks.{i}.attn.qkv.bias"] = np.concatenate([value, np.zeros_like(value), v])
            tensors[f"blocks.{i}.attn.qkv.bias_mask"] = np.concatenate([np.ones_like(value), np.zeros_like(value), np.ones_like(v)])
        elif part != "attn.v_bias":
            tensors[f"blocks.{i}.{inverse.get(part, part)}"] = value
    head_dim = spec.embed_dim // spec.num_heads
    tensors[PERIODS] = (spec.rope_temperature ** (4 * np.arange(head_dim // 4) / head_dim)).astype(np.float32)
    tensors["mask_token"] = np.zeros((1, spec.embed_dim), np.float32)  # masked pre-training only; present so torch hub loads strictly
    save_state_file(path, tensors)


FORMAT = register_format(
    WeightFormat(
        name="dinov3",
        description="facebookresearch/dinov3 backbone (dinov3_vit*16*_pretrain_*.pth; torch or safetensors)",
        detect=detect,
        read=read,
        write=write,
    )
)
