"""Sharing models: ``vitzoo.save_pretrained`` writes a folder timm or transformers loads, ``vitzoo.push_to_hub`` uploads it.

* ``layout="timm"``: ``model.safetensors`` (timm's names) and timm's ``config.json``: the
  ``architecture`` (the timm name of the registered variant the model is, else
  ``vit_base_patch16_224`` with ``model_args`` that rebuild its sizes and options),
  ``num_classes``, ``label_names`` and the eval ``pretrained_cfg``.
  ``timm.create_model("local-dir:FOLDER", pretrained=True)`` or ``"hf-hub:REPO"`` loads it.
* ``layout="transformers"``: ``config.json`` + ``model.safetensors`` of the transformers class
  that fits (``ViTForImageClassification`` / ``ViTModel``, DeiT, ``Dinov2Model`` ...), with
  ``id2label`` and a ``preprocessor_config.json`` (``ViTImageProcessor``'s squash, or
  ``BitImageProcessor``'s resize and centre crop when the eval transform crops).
  ``AutoModelForImageClassification.from_pretrained(FOLDER)`` loads it.

Both get a model card (README.md with the hub's metadata header). The folder appears whole or not at all.

Example:
    >>> vitzoo.save_pretrained(model, "vit-digits", layout="timm", metrics={"top1": 98.2})  # doctest: +SKIP
    >>> vitzoo.push_to_hub(model, "me/vit-digits", layout="transformers")  # doctest: +SKIP
    'https://huggingface.co/me/vit-digits/commit/...'
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from vitzoo.errors import CheckpointError, VitzooError

LAYOUTS = ("timm", "transformers")
_GELU_ACT = {"exact": "gelu", "tanh": "gelu_tanh", "quick": "quick_gelu"}
_PIL = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}
_TIMM_CFG_KEYS = ("input_size", "interpolation", "crop_pct", "crop_mode", "mean", "std")


def save_pretrained(
    model: Any,
    folder: "str | os.PathLike[str]",
    *,
    layout: str = "timm",
    license: Optional[str] = None,
    datasets: Optional[Sequence[str]] = None,
    tags: Optional[Sequence[str]] = None,
    metrics: Optional[Mapping[str, Any]] = None,
    repo_id: Optional[str] = None,
) -> Path:
    """Write ``model`` (a vitzoo model, or a checkpoint file such as a run's ``best.safetensors``) as a hub folder.

    ``license``, ``datasets``, ``tags`` and ``metrics`` (a training run's results) go into the model
    card's header; ``repo_id`` names the model in the card's snippets. Returns the folder.

    Example:
        >>> vitzoo.save_pretrained(vitzoo.create("vit_ti_16", num_classes=10), "out", layout="transformers")  # doctest: +SKIP
        PosixPath('out')
    """
    from vitzoo.fileio import atomic_dir

    from .model_card import model_card

    if layout not in LAYOUTS:
        raise VitzooError(f"Unknown layout {layout!r} for save_pretrained; use one of {', '.join(LAYOUTS)}.")
    ckpt = _checkpoint(model)
    pre = _preprocessing(ckpt)
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        if layout == "timm":
            _write_timm(ckpt, pre, tmp)
        else:
            _write_transformers(ckpt, pre, tmp)
        card = model_card(ckpt, layout, repo_id=repo_id, license=license, datasets=datasets, tags=tags, metrics=metrics)
        (tmp / "README.md").write_text(card, encoding="utf-8")
    return folder


def push_to_hub(
    model: Any,
    repo_id: str,
    *,
    layout: str = "timm",
    token: Optional[str] = None,
    private: Optional[bool] = None,
    revision: Optional[str] = None,
    commit_message: Optional[str] = None,
    **card: Any,
) -> str:
    """Save ``model`` with :func:`save_pretrained` and upload the folder to the hub repo ``repo_id`` (created if needed).

    ``token`` defaults to huggingface_hub's (``HF_TOKEN`` or ``hf auth login``); ``card`` takes
    :func:`save_pretrained`'s ``license``, ``datasets``, ``tags``, ``metrics``. Returns the commit's URL.

    Example:
        >>> vitzoo.push_to_hub("runs/digits/best.safetensors", "me/vit-digits", private=True)  # doctest: +SKIP
    """
    from huggingface_hub import HfApi

    from .download import is_offline
    from .hf import hub_errors, hub_kwargs

    what = f"hub repo {repo_id!r}"
    if is_offline():
        raise VitzooError(f"Cannot upload to {what}: vitzoo is offline (HF_HUB_OFFLINE/VITZOO_OFFLINE); unset it to upload.")
    with tempfile.TemporaryDirectory(prefix="vitzoo-push-") as tmp:
        folder = save_pretrained(model, Path(tmp) / "repo", layout=layout, repo_id=repo_id, **card)
        api = HfApi(endpoint=hub_kwargs().get("endpoint"), token=token)
        with hub_errors(what, fix_offline="unset HF_HUB_OFFLINE to upload", action="upload to"):
            api.create_repo(repo_id, private=private, exist_ok=True)
            info = api.upload_folder(repo_id=repo_id, folder_path=folder, revision=revision,
                                     commit_message=commit_message or f"Upload a vitzoo model ({layout} layout)")
    return str(info.commit_url)


# What to write -------------------------------------------------------------------------------
def _checkpoint(model: Any) -> Any:
    """A canonical checkpoint of a model (its weights and what it carries) or of a weights file."""
    from vitzoo import weights
    from vitzoo.weights import Checkpoint

    if isinstance(model, (str, os.PathLike)):
        return weights.read(model)
    from vitzoo.api import _backend_of
    from vitzoo.backends import get_backend

    if not hasattr(model, "spec"):
        raise VitzooError(f"save_pretrained takes a vitzoo model or a checkpoint file, not a {type(model).__name__}.")
    state = get_backend(_backend_of(model)).state_dict(model)
    return Checkpoint(state=state, spec=model.spec, meta=dict(getattr(model, "pretrained_cfg", {}) or {})).validate()


def _preprocessing(ckpt: Any) -> dict[str, Any]:
    from vitzoo.transforms import resolve_cfg

    return resolve_cfg(ckpt.meta, img_size=ckpt.spec.input_size[0], img_width=ckpt.spec.input_size[1], in_chans=ckpt.spec.in_chans)


def _write_timm(ckpt: Any, pre: Mapping[str, Any], folder: Path) -> None:
    from vitzoo.weights import timm_format

    architecture, model_args = timm_architecture(ckpt.spec, ckpt.meta.get("name"))
    spec = ckpt.spec
    cfg: dict[str, Any] = {"architecture": architecture, "num_classes": spec.num_classes, "num_features": spec.embed_dim,
                           "global_pool": spec.global_pool, "model_args": model_args,
                           "pretrained_cfg": {**{k: pre[k] for k in _TIMM_CFG_KEYS}, "num_classes": spec.num_classes}}
    if ckpt.class_names and len(ckpt.class_names) == spec.num_classes:
        cfg["label_names"] = list(ckpt.class_names)
    timm_format.write(ckpt, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")


def _write_transformers(ckpt: Any, pre: Mapping[str, Any], folder: Path) -> None:
    from vitzoo.weights import hf_format

    hf_format.write_files(ckpt, folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(image_processor_config(pre), indent=2) + "\n", encoding="utf-8")


def image_processor_config(pre: Mapping[str, Any]) -> dict[str, Any]:
    """transformers' ``preprocessor_config.json`` for a vitzoo/timm eval preprocessing config.

    A squash (or ``crop_pct`` 1) is ``ViTImageProcessor``'s resize to the input size; a centre crop is
    ``BitImageProcessor``'s resize of the shorter side to ``floor(size / crop_pct)`` (timm's rule), then the crop.

    Example:
        >>> image_processor_config({"input_size": [3, 224, 224], "interpolation": "bicubic", "crop_pct": 0.9,
        ...                         "crop_mode": "center", "mean": [0.5] * 3, "std": [0.5] * 3})["size"]
        {'shortest_edge': 248}
    """
    height, width = int(pre["input_size"][-2]), int(pre["input_size"][-1])
    common = {"do_resize": True, "resample": _PIL.get(pre.get("interpolation", "bicubic"), 3), "do_rescale": True,
              "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": list(pre["mean"]), "image_std": list(pre["std"])}
    if pre.get("crop_mode") == "squash" or float(pre.get("crop_pct", 1.0)) >= 1.0:
        return {"image_processor_type": "ViTImageProcessor", "size": {"height": height, "width": width}, **common}
    edge = math.floor(height / float(pre["crop_pct"]))
    return {"image_processor_type": "BitImageProcessor", "size": {"shortest_edge": edge}, "do_center_crop": True,
            "crop_size": {"height": height, "width": width}, "do_convert_rgb": True, **common}


def timm_architecture(spec: Any, name: Optional[str] = None) -> tuple[str, dict[str, Any]]:
    """timm's ``architecture`` and ``model_args`` that build ``spec``.

    A registered variant with this architecture (the head and image size aside) gives its timm name;
    otherwise a plain ViT is described to ``vit_base_patch16_224`` by all of timm's VisionTransformer
    arguments, and a spec those cannot express is one :class:`CheckpointError`.
    """
    from vitzoo.variants import aliases_of, get_spec, split_name, variant_names

    candidates = list(variant_names())
    if isinstance(name, str) and not name.startswith("hf-hub:"):
        try:
            first = split_name(name)[0]
            candidates.insert(0, first)
        except VitzooError:
            pass
    for variant in candidates:
        base = get_spec(variant)
        if (base.patch_size, base.embed_dim, base.depth, base.block) != (spec.patch_size, spec.embed_dim, spec.depth, spec.block):
            continue  # cheap test first: most variants differ in size
        try:
            same = base.replace(num_classes=spec.num_classes, img_size=spec.img_size, dynamic_img_size=spec.dynamic_img_size)
        except VitzooError:  # e.g. an image size this variant's options refuse
            continue
        timm_names = [a for a in aliases_of(variant) if "_patch" in a or a.startswith(("vit_", "deit", "eva", "vit"))]
        if base.block == "xcit":  # XCiT's variants are registered under timm's own names
            timm_names.append(variant)
        if same == spec and timm_names:
            args: dict[str, Any] = {}
            if spec.img_size != base.img_size:
                args["img_size"] = spec.img_size
            if spec.dynamic_img_size != base.dynamic_img_size:
                args["dynamic_img_size"] = spec.dynamic_img_size
            return timm_names[0], args
    if spec.naflex:
        return _naflex_architecture(spec)
    return "vit_base_patch16_224", _vision_transformer_args(spec)


# NaFlexVit keyword arguments timm's naflexvit.py takes for the sizes (its NaFlexVitCfg fields; img_size, in_chans apart)
_NAFLEX_SIZES = ("embed_dim", "depth", "num_heads", "mlp_dim", "patch_size", "pos_embed_grid", "img_size", "in_chans", "num_classes")


def _naflex_architecture(spec: Any) -> tuple[str, dict[str, Any]]:
    """A registered NaFlex architecture of the same form (sizes aside) and the NaFlexVit arguments of these sizes."""
    from vitzoo.variants import aliases_of, get_spec, variant_names

    for variant in variant_names():
        base = get_spec(variant)
        names = [a for a in aliases_of(variant) if a.startswith("naflexvit_")]
        if not base.naflex or not names:
            continue
        try:
            same = base.replace(**{k: getattr(spec, k) for k in _NAFLEX_SIZES})
        except VitzooError:
            continue
        if same == spec:
            args: dict[str, Any] = {k: getattr(spec, k) for k in ("embed_dim", "depth", "num_heads", "patch_size", "in_chans", "img_size")}
            args.update(mlp_ratio=spec.mlp_dim / spec.embed_dim, pos_embed_grid_size=[spec.pos_grid, spec.pos_grid])
            return names[0], args
    raise CheckpointError("No registered NaFlex architecture has this model's form (pooling, tokens, position grid); save it with "
                          "layout='transformers' (SigLIP 2 NaFlex) or as a vitzoo checkpoint instead.")


def _vision_transformer_args(spec: Any) -> dict[str, Any]:
    """timm ``VisionTransformer`` keyword arguments that rebuild ``spec`` exactly, or a refusal naming what they cannot say."""
    plain = type(spec)()
    ratio = spec.mlp_dim / spec.embed_dim
    problems = [
        text for bad, text in (
            (spec.block != "vit" or spec.rope != "none", "the plain ViT block (no EVA block, no rotary positions)"),
            (spec.dist_token, "no distillation token"),
            (spec.mlp_type != "mlp" or int(spec.embed_dim * ratio) != spec.mlp_dim, "a GELU MLP whose width is a ratio of the width"),
            (spec.pre_logits_dim > 0, "no pre-logits layer"),
            (spec.global_pool not in ("token", "avg"), "token or average pooling"),
            (spec.norm_eps not in (1e-6, 1e-5), "LayerNorm eps 1e-6 or 1e-5"),
            (spec.patch_bias == spec.pre_norm, "a patch bias exactly when there is no pre-norm"),
            (not spec.final_norm and not spec.fc_norm, "a final norm"),
            (not spec.abs_pos_embed or not spec.qkv_fused or not spec.k_bias or spec.attn_norm or spec.mlp_norm, "timm's plain attention"),
        ) if bad
    ]
    if problems:
        raise CheckpointError(
            f"timm's VisionTransformer arguments cannot describe this model (it needs {', '.join(problems)}) and no registered "
            "variant has its architecture; save it with layout='transformers' or as a vitzoo checkpoint instead."
        )
    args: dict[str, Any] = dict(
        img_size=spec.img_size, patch_size=spec.patch_size, in_chans=spec.in_chans, embed_dim=spec.embed_dim, depth=spec.depth,
        num_heads=spec.num_heads, mlp_ratio=ratio, qkv_bias=spec.qkv_bias, qk_norm=spec.qk_norm, class_token=spec.class_token,
        global_pool=spec.global_pool, reg_tokens=spec.reg_tokens, no_embed_class=not spec.pos_embed_prefix, pre_norm=spec.pre_norm,
        fc_norm=spec.fc_norm, init_values=1e-5 if spec.layer_scale else None, act_layer=_GELU_ACT[spec.gelu],
        dynamic_img_size=spec.dynamic_img_size,
    )
    if spec.norm_eps == 1e-5:
        args["norm_layer"] = "layernorm"  # timm's LayerNorm by name: torch's default eps, 1e-5
    if spec.dynamic_img_size == plain.dynamic_img_size:
        args.pop("dynamic_img_size")
    return args
