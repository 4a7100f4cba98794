"""Whole CLIP-style checkpoints, both towers: open_clip files and transformers ``CLIPModel`` / ``SiglipModel`` / ``MetaClip2Model`` folders.

open_clip files with a timm image tower (EVA-CLIP, PE-Core, SigLIP 2) go through :mod:`.open_clip_timm`;
tokenizers named by Hugging Face (SigLIP 2's Gemma, MetaCLIP 2's XLM-R / mT5) are the ``tokenizer.json``
saved beside the weights (:mod:`vitzoo.hf_tokenizer`).

The image tower is read by the image-tower readers (:mod:`.open_clip_format`, :mod:`.hf_clip`),
the text tower by :mod:`.clip_text`, and both land in one canonical state: ``visual.*``,
``text.*``, ``logit_scale`` and (SigLIP) ``logit_bias``.

What the tensors cannot show comes from, in order: the config beside the weights
(``open_clip_config.json``, ``config.json``), then the open_clip model name given
(``"ViT-B-16"``: open_clip's own config for it), else the read is refused.

Example:
    >>> ckpt = read_clip("open_clip_model.safetensors", "ViT-B-16")  # doctest: +SKIP
    >>> ckpt.spec.text.context_length, ckpt.tokenizer["kind"]  # doctest: +SKIP
    (77, 'open_clip')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from vitzoo.errors import CheckpointError, SpecError
from vitzoo.text_spec import ClipSpec, TextSpec
from vitzoo.weights import clip_text, hf_format, open_clip_format, open_clip_timm
from vitzoo.weights.base import Checkpoint, check_finite, require_file
from vitzoo.weights.open_clip_models import clip_spec_from_config, open_clip_model_config
from vitzoo.weights.timm_format import holds_tensor, load_state_file

# MetaCLIP 2: CLIP's architecture, a multilingual tokenizer; SigLIP 2 NaFlex (Siglip2Model): SigLIP's text tower, a NaFlex image tower
_HF_TYPES = {"clip": "clip", "siglip": "siglip", "metaclip_2": "clip", "siglip2": "siglip"}
OPENAI_MEAN, OPENAI_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
_PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


@dataclass
class ClipCheckpoint:
    """A whole model in memory: canonical arrays of both towers, their specs, and how to tokenize.

    ``tokenizer`` is ``{"kind": "open_clip", "context_length": L}`` or
    ``{"kind": "files", "folder": path, "context_length": L}`` (the tokenizer files saved with the model).
    """

    spec: ClipSpec
    state: dict[str, np.ndarray]
    tokenizer: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def read_clip(path: "str | Path", name: Optional[str] = None) -> ClipCheckpoint:
    """Read both towers of a whole CLIP / SigLIP checkpoint; ``name`` (an open_clip or image-tower name) settles what no config does."""
    path = require_file(path)
    cfg = hf_format._read_config(path if path.is_dir() else path.parent) if path.is_dir() else None
    if cfg is not None and cfg.get("model_type") in _HF_TYPES:
        return _read_hf(path, cfg, name)
    if open_clip_format.detect(path) or holds_tensor(open_clip_format._weights_file(path) or path, open_clip_timm.ANCHOR, open_clip_format._strip):
        return _read_open_clip(path, name)
    raise CheckpointError(f"{str(path)!r} is not a whole CLIP model: create_clip reads open_clip checkpoints and transformers CLIPModel / SiglipModel / MetaClip2Model folders.")


def _read_open_clip(path: Path, name: Optional[str]) -> ClipCheckpoint:
    weights = open_clip_format._weights_file(path) or path
    source = repr(str(weights))
    model_cfg = open_clip_format._open_clip_config(weights.parent / "open_clip_config.json")
    named = open_clip_model_config(name) if name else None
    hint: Any = None
    if not model_cfg and named is not None:
        model_cfg = named
        if not open_clip_timm.timm_tower_config(named):
            hint = clip_spec_from_config(named, f"open_clip's config of {name!r}").vision
    elif name and named is None:
        from vitzoo.variants import get_spec

        hint = get_spec(name)  # an image-tower name: the text tower still needs open_clip_config.json
    if not model_cfg:
        raise CheckpointError(
            f"{source} does not say its text tower's heads, eps or GELU form (no open_clip_config.json beside it); "
            "give the open_clip model name, e.g. create_clip('ViT-B-16', pretrained=...)."
        )
    text_cfg = model_cfg.get("text_cfg") or {}
    raw, _ = load_state_file(weights)
    raw = {open_clip_format._strip(k): v for k, v in raw.items()}
    if open_clip_timm.timm_tower_config(model_cfg):  # EVA-CLIP, PE-Core, SigLIP 2: open_clip's TimmModel
        vision = open_clip_timm.read_tower(raw, model_cfg, source)
    elif open_clip_timm.ANCHOR in raw:
        raise CheckpointError(f"{source}: its image tower is a timm model (visual.trunk.*), but its config names no timm_model_name.")
    else:
        vision = open_clip_format.read(weights, variant=hint)
    text_state = clip_text.open_clip_text_state(raw, source)
    text_spec = clip_text.open_clip_text_spec(text_state, model_cfg, source)
    extra = clip_text.logit_params(raw, "", source, need_bias="logit_bias" in raw)
    family = "siglip" if "logit_bias" in raw else "clip"
    spec = _clip_spec(vision.spec, text_spec, family, source)
    meta = {"source_format": "open_clip", "source": str(weights), "pretrained_cfg": open_clip_preprocessing(spec.vision.img_size, weights.parent)}
    return _finish(spec, vision, text_state, extra, _open_clip_tokenizer(text_cfg, weights.parent, text_spec.context_length, source), meta, source)


def _open_clip_tokenizer(text_cfg: dict[str, Any], folder: Path, context_length: int, source: str) -> dict[str, Any]:
    """OpenAI's BPE, or (``hf_tokenizer_name``: SigLIP 2's Gemma) the ``tokenizer.json`` saved beside the weights, cleaned as open_clip's HFTokenizer."""
    if not text_cfg.get("hf_tokenizer_name"):
        return {"kind": "open_clip", "context_length": context_length}
    kwargs = text_cfg.get("tokenizer_kwargs") if isinstance(text_cfg.get("tokenizer_kwargs"), dict) else {}
    clean = kwargs.get("clean", "whitespace")  # HFTokenizer's default
    if set(kwargs) - {"clean"} or clean not in ("whitespace", "lower", "canonicalize") or text_cfg.get("tokenizer_mode"):
        raise CheckpointError(f"{source}: its open_clip tokenizer settings {kwargs!r} are not ones vitzoo runs (clean: whitespace, lower or canonicalize).")
    return {"kind": "json", "folder": str(folder), "context_length": context_length, "clean": clean}


def _read_hf(path: Path, cfg: dict[str, Any], name: Optional[str]) -> ClipCheckpoint:
    source = repr(str(path))
    family = _HF_TYPES[cfg["model_type"]]
    vision = hf_format.read(path)
    raw, _ = hf_format._load_tensors(path)
    text_state = clip_text.hf_text_state(raw, source, f"{family.upper() if family == 'clip' else 'SigLIP'} text tower")
    text_cfg = cfg.get("text_config") if isinstance(cfg.get("text_config"), dict) else {}
    text_spec = clip_text.hf_text_spec(text_state, text_cfg, family, source, legacy_eos=cfg["model_type"] == "clip")
    extra = clip_text.logit_params(raw, "", source, need_bias=family == "siglip")
    spec = _clip_spec(vision.spec, text_spec, family, source)
    own = family == "siglip" or cfg["model_type"] == "metaclip_2"  # the folder's tokenizer files, not OpenAI's BPE
    tokenizer = {"kind": "files" if own else "open_clip", "folder": str(path), "context_length": text_spec.context_length}
    meta = {"source_format": "hf", "source": str(path), "model_type": cfg["model_type"], "pretrained_cfg": _hf_preprocessing(family, spec.vision.img_size, path)}
    return _finish(spec, vision, text_state, extra, tokenizer, meta, source)


def _clip_spec(vision: Any, text: TextSpec, family: str, source: str) -> ClipSpec:
    try:
        return ClipSpec(vision, text, family)
    except SpecError as exc:
        raise CheckpointError(f"{source}: {exc}") from None


def _finish(spec: ClipSpec, vision: Checkpoint, text_state: dict, extra: dict, tokenizer: dict, meta: dict, source: str) -> ClipCheckpoint:
    from vitzoo.text_spec import check_text_state

    check_text_state(text_state, spec.text, source)
    state = {"visual." + k: v for k, v in vision.state.items()}
    state.update({"text." + k: v for k, v in text_state.items()})
    state.update(extra)
    check_finite(state, source)
    return ClipCheckpoint(spec=spec, state=state, tokenizer=tokenizer, meta=meta, notes=[n for n in vision.notes if "text tower" not in n])


def open_clip_preprocessing(img_size: int, folder: Optional[Path] = None) -> dict[str, Any]:
    """open_clip's eval transform (shorter side to the size, bicubic, centre crop, OpenAI mean/std), or its config's ``preprocess_cfg``."""
    out = {"input_size": [3, img_size, img_size], "interpolation": "bicubic", "crop_pct": 1.0, "crop_mode": "center",
           "mean": list(OPENAI_MEAN), "std": list(OPENAI_STD)}
    cfg = _json(folder / "open_clip_config.json").get("preprocess_cfg") if folder is not None else None
    if isinstance(cfg, dict):
        out.update({k: list(cfg[k]) for k in ("mean", "std") if isinstance(cfg.get(k), (list, tuple))})
        if cfg.get("interpolation") in ("bicubic", "bilinear"):
            out["interpolation"] = cfg["interpolation"]
        if cfg.get("resize_mode") == "squash":
            out["crop_mode"] = "squash"
    return out


def _hf_preprocessing(family: str, img_size: int, folder: Path) -> dict[str, Any]:
    """CLIPImageProcessor (shorter side, bicubic, centre crop) or SiglipImageProcessor (squash, bicubic, mean/std 0.5), as its file says.

    vitzoo resizes with Pillow, as transformers' ``*ImageProcessorPil`` do; the torchvision
    processors (transformers 5's default) resize tensors, off by a few 1e-3 per pixel.
    """
    if family == "clip":
        out = open_clip_preprocessing(img_size)
    else:
        out = {"input_size": [3, img_size, img_size], "interpolation": "bicubic", "crop_pct": 1.0, "crop_mode": "squash",
               "mean": [0.5] * 3, "std": [0.5] * 3}
    cfg = _json(folder / "preprocessor_config.json")
    out.update({k: list(cfg["image_" + k]) for k in ("mean", "std") if isinstance(cfg.get("image_" + k), (list, tuple))})
    if cfg.get("resample") in _PIL_RESAMPLE:
        out["interpolation"] = _PIL_RESAMPLE[cfg["resample"]]
    return out


def _json(path: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
