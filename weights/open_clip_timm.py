"""open_clip checkpoints whose image tower is a timm model (``CustomTextCLIP`` with ``vision_cfg.timm_model_name``).

EVA-CLIP (``EVA02-B-16``: ``eva02_base_patch16_clip_224``), PE-Core (``PE-Core-B-16``:
``vit_pe_core_base_patch16_224``) and SigLIP 2 (``ViT-B-16-SigLIP2``: ``vit_base_patch16_siglip_224``)
are stored this way: the image tower is open_clip's ``TimmModel``, whose ``visual.trunk.*`` is
the timm model's own state (so vitzoo's canonical names, which are timm's, with the names
prefix removed) and whose ``visual.head.proj`` is an optional Linear on the pooled features.

How open_clip builds the tower from ``timm_pool`` / ``timm_proj`` (and so what it computes):

* ``timm_proj`` null/absent: ``timm.create_model(name, num_classes=embed_dim, global_pool=pool)``:
  the trunk's own ``head`` is the projection (``visual.trunk.head.*``);
* ``"none"``: ``num_classes=0``: the pooled features are the embedding;
* ``"linear"``: the trunk without a classifier, then ``head.proj`` (bias when ``proj_bias``):
  read as the tower's ``head`` (a zero bias where there is none), the same function;
* ``"mlp"``: refused (no such head in vitzoo's ViT).

The fields the tensors cannot show (heads, eps, rotary form, ...) are those of the timm
architecture named, registered in vitzoo (:mod:`vitzoo.variants`).

Example:
    >>> vision, config = read_tower(raw, model_cfg, "'open_clip_model.safetensors'")  # doctest: +SKIP
    >>> vision.spec.block, vision.spec.global_pool  # doctest: +SKIP
    ('eva', 'token')
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

from vitzoo.errors import CheckpointError, VitzooError
from vitzoo.weights.base import Checkpoint, as_float32

TRUNK, HEAD = "visual.trunk.", "visual.head."
ANCHOR = TRUNK + "patch_embed.proj.weight"


def timm_tower_config(model_cfg: Mapping[str, Any]) -> bool:
    """Whether an open_clip model config builds its image tower with timm."""
    vision = model_cfg.get("vision_cfg")
    return isinstance(vision, Mapping) and bool(vision.get("timm_model_name"))


def tower_hint(model_cfg: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The image tower's spec fields: the named timm architecture's, with open_clip's size, pooling and projection."""
    from vitzoo.variants import get_spec

    vision = model_cfg["vision_cfg"]
    name = vision["timm_model_name"]
    try:
        spec = get_spec(name)
    except VitzooError:
        raise CheckpointError(f"{source}: its image tower is timm's {name!r}, which vitzoo does not register.") from None
    proj = vision.get("timm_proj")
    pool = vision.get("timm_pool", "avg")
    if proj == "mlp" or pool in ("abs_attn", "rot_attn", ""):
        raise CheckpointError(f"{source}: its open_clip image tower ends in timm_pool {pool!r} / timm_proj {proj!r}, which vitzoo's ViT does not run.")
    hint = spec.to_dict()
    size = vision.get("image_size", hint["img_size"])
    hint.update(img_size=size if isinstance(size, int) else size[0], num_classes=0 if proj == "none" else model_cfg["embed_dim"], global_pool=pool)
    return hint


def read_tower(raw: Mapping[str, np.ndarray], model_cfg: Mapping[str, Any], source: str) -> Checkpoint:
    """The image tower of an open_clip ``TimmModel`` (``raw``: the whole model's tensors, ``module.`` stripped)."""
    from vitzoo.weights.infer import infer_spec

    hint = tower_hint(model_cfg, source)
    state: dict[str, np.ndarray] = {}
    dropped: list[str] = []
    head: dict[str, np.ndarray] = {}
    for name, value in raw.items():
        if name.startswith(TRUNK):
            if value.dtype.kind != "f" and value.dtype.name != "bfloat16":
                dropped.append(name)  # integer buffers are not weights
                continue
            state[name[len(TRUNK) :]] = as_float32(value, name, source)
        elif name.startswith(HEAD):
            head[name[len(HEAD) :]] = as_float32(value, name, source)
        elif name.startswith("visual."):
            raise CheckpointError(f"{source} has image-tower tensors outside open_clip's TimmModel: {name!r}.")
    if head:
        extra = sorted(set(head) - {"proj.weight", "proj.bias"})
        if extra or "proj.weight" not in head or "head.weight" in state:
            raise CheckpointError(f"{source}: its image tower's head ({', '.join(sorted(head))}) is not one projection on the pooled features.")
        state["head.weight"] = head["proj.weight"]  # timm_proj "linear": the same function as a classifier head
        state["head.bias"] = head.get("proj.bias", np.zeros(head["proj.weight"].shape[:1], np.float32))
        hint["num_classes"] = int(head["proj.weight"].shape[0])
    spec = infer_spec(state, source, hint=hint)
    if spec.block == "vit":  # DeiT-III's layer-scale names, as the timm reader maps them
        state = {re.sub(r"^(blocks\.\d+)\.gamma_([12])$", r"\1.ls\2.gamma", k): v for k, v in state.items()}
    meta = {"source_format": "open_clip", "timm_model_name": model_cfg["vision_cfg"]["timm_model_name"]}
    return Checkpoint(state=state, spec=spec, meta=meta, dropped=dropped).validate(source)
