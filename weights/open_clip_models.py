"""open_clip's model names (``"ViT-B-16"``, ``"ViT-L-14-quickgelu"``, ...) and the specs their configs build.

The configs are open_clip's own ``model_configs/*.json`` for its plain CLIP ViTs (no timm
image tower, no Hugging Face text tower or tokenizer), bundled as
``vitzoo/data/open_clip_models.json`` (MIT licence, see the file's ``_source``). A model
name is what settles the fields a bare checkpoint cannot show: heads, eps, GELU form.

Example:
    >>> spec = clip_spec_from_config(open_clip_model_config("ViT-B-16"))
    >>> spec.vision.num_heads, spec.text.heads, spec.text.gelu, spec.embed_dim
    (12, 8, 'exact', 512)
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, Mapping, Optional

from vitzoo.errors import CheckpointError, SpecError
from vitzoo.spec import ViTSpec
from vitzoo.text_spec import ClipSpec, TextSpec


@functools.lru_cache(maxsize=1)
def _models() -> dict[str, Any]:
    return json.loads(resources.files("vitzoo.data").joinpath("open_clip_models.json").read_text(encoding="utf-8"))["models"]


def open_clip_model_names() -> list[str]:
    """The open_clip model names vitzoo knows the config of."""
    return sorted(_models())


def open_clip_model_config(name: str) -> Optional[dict[str, Any]]:
    """open_clip's model config for ``name`` (``None`` when it is not one of them)."""
    cfg = _models().get(name)
    return json.loads(json.dumps(cfg)) if cfg is not None else None


def register_open_clip_model(name: str, model_cfg: Mapping[str, Any], *, overwrite: bool = False) -> None:
    """Add an open_clip model config under ``name`` (as ``open_clip.add_model_config`` does), e.g. a small test model.

    Example:
        >>> cfg = dict(embed_dim=16, vision_cfg=dict(image_size=32, layers=1, width=32, head_width=16, patch_size=16),
        ...            text_cfg=dict(context_length=8, width=32, heads=2, layers=1))
        >>> register_open_clip_model("ViT-tiny-doc", cfg, overwrite=True)
        >>> open_clip_model_config("ViT-tiny-doc")["embed_dim"]
        16
    """
    from vitzoo.errors import VitzooError

    if name in _models() and not overwrite:
        raise VitzooError(f"open_clip model {name!r} is already known; pass overwrite=True to replace its config.")
    cfg = json.loads(json.dumps(model_cfg))
    clip_spec_from_config(cfg, f"the config given for {name!r}")  # a config vitzoo cannot build is refused now, not later
    _models()[name] = cfg


def clip_spec_from_config(model_cfg: Mapping[str, Any], source: str = "the open_clip config") -> ClipSpec:
    """The :class:`ClipSpec` open_clip builds from a model config (its ``CLIPVisionCfg`` / ``CLIPTextCfg`` defaults fill gaps)."""
    from vitzoo.weights.open_clip_timm import timm_tower_config, tower_hint

    vision = model_cfg.get("vision_cfg") or {}
    text = model_cfg.get("text_cfg") or {}
    gelu = "quick" if model_cfg.get("quick_gelu") else "exact"
    act = text.get("act_kwargs") if isinstance(text.get("act_kwargs"), Mapping) else {}
    norm_kwargs = text.get("norm_kwargs") if isinstance(text.get("norm_kwargs"), Mapping) else {}
    pool = text.get("pool_type", "argmax")
    try:
        width = vision.get("width", 768)
        spec_v = ViTSpec(**tower_hint(model_cfg, source)) if timm_tower_config(model_cfg) else ViTSpec(
            img_size=vision.get("image_size", 224), patch_size=vision.get("patch_size", 16), embed_dim=width,
            depth=vision.get("layers", 12), num_heads=width // vision.get("head_width", 64), mlp_dim=int(width * vision.get("mlp_ratio", 4.0)),
            num_classes=model_cfg["embed_dim"], patch_bias=False, pre_norm=not vision.get("no_ln_pre", False), norm_eps=1e-5, gelu=gelu,
            layer_scale=vision.get("ls_init_value") is not None,
        )
        twidth = text.get("width", 512)
        spec_t = TextSpec(
            vocab_size=text.get("vocab_size", 49408), context_length=text.get("context_length", 77), width=twidth,
            heads=text.get("heads", 8), layers=text.get("layers", 12), mlp_dim=int(twidth * text.get("mlp_ratio", 4.0)),
            norm_eps=norm_kwargs.get("eps", 1e-5), gelu="tanh" if act.get("approximate") == "tanh" else gelu,
            causal=not text.get("no_causal_mask", False), proj_dim=model_cfg["embed_dim"], proj_bias=bool(text.get("proj_bias", False)),
            pool=pool, eos_token_id=text.get("eos_id", 2) if pool == "eos" else -1,
        )
        return ClipSpec(spec_v, spec_t, "siglip" if model_cfg.get("init_logit_bias") is not None else "clip")
    except (KeyError, TypeError, ZeroDivisionError, SpecError) as exc:
        raise CheckpointError(f"{source} does not describe a CLIP model vitzoo can build ({exc}).") from None
