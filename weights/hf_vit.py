"""transformers ViT and DeiT: ``ViTForImageClassification``, ``ViTModel``, ``DeiTForImageClassificationWithTeacher``, ``DeiTModel``.

``ViTModel``'s pooler (Linear + tanh on the class token) becomes ``pre_logits.fc``.
DeiT's ``distillation_token`` becomes ``dist_token`` and its two classifiers ``head``
and ``head_dist`` (vitzoo averages them, as transformers does at inference).
``DeiTForImageClassification`` classifies from the class token alone, which the spec
cannot express: its classifier is dropped and the report says so. ``DeiTModel``'s
pooler is dropped too (vitzoo pools a distilled model as the mean of both tokens).
The writer gives ViT for plain specs and DeiT for distilled ones.

Example:
    >>> from vitzoo import weights
    >>> ckpt = weights.read("deit-base-distilled-patch16-224/")  # doctest: +SKIP
    >>> ckpt.spec.dist_token, ckpt.state["head_dist.weight"].shape  # doctest: +SKIP
    (True, (1000, 768))
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

from vitzoo.weights.base import Checkpoint
from vitzoo.weights.hf_format import (
    HFFamily, Mapped, Renamer, class_labels, encoder_config, register_family, split_rows, unwritable,
)  # fmt: skip

_VIT_TOP = {
    "embeddings.cls_token": "cls_token",
    "embeddings.distillation_token": "dist_token",
    "embeddings.position_embeddings": "pos_embed",
    "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
    "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
    "layernorm.weight": "norm.weight",
    "layernorm.bias": "norm.bias",
    "pooler.dense.weight": "pre_logits.fc.weight",
    "pooler.dense.bias": "pre_logits.fc.bias",
}
_VIT_HEADS = {"classifier": "head", "cls_classifier": "head", "distillation_classifier": "head_dist"}
_LAYER = re.compile(r"^(?:encoder\.layer|layers)\.(\d+)\.(.+)\.(weight|bias)$")
# Sub-module of a layer (on-disk name or transformers 5 in-memory name) -> canonical part.
_VIT_PARTS = {
    "attention.attention.query": "q", "attention.q_proj": "q",
    "attention.attention.key": "k", "attention.k_proj": "k",
    "attention.attention.value": "v", "attention.v_proj": "v",
    "attention.output.dense": "attn.proj", "attention.o_proj": "attn.proj",
    "layernorm_before": "norm1", "layernorm_after": "norm2",
    "intermediate.dense": "mlp.fc1", "mlp.fc1": "mlp.fc1",
    "output.dense": "mlp.fc2", "mlp.fc2": "mlp.fc2",
}  # fmt: skip
# Writer: canonical part -> the on-disk name save_pretrained uses.
_VIT_DISK_PARTS = {
    "norm1": "layernorm_before", "norm2": "layernorm_after", "attn.proj": "attention.output.dense",
    "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense",
}  # fmt: skip


def _vit_strip(name: str) -> str:
    for prefix in ("vit.", "deit."):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _vit_to_canonical(raw: Mapping[str, np.ndarray], cfg: Mapping[str, Any], source: str) -> Mapped:
    """ViT/DeiT names to canonical ones; a classifier's pooler and masked-image-modelling extras are dropped."""
    classify = any(k.startswith(("vit.", "deit.")) for k in raw)
    distilled = any(_vit_strip(k) == "embeddings.distillation_token" for k in raw)
    teacher = any(k.startswith("distillation_classifier.") for k in raw)
    out = Renamer(source)
    notes: list[str] = []
    for name, value in raw.items():
        short = _vit_strip(name)
        head, _, kind = name.rpartition(".")
        if head in _VIT_HEADS and kind in ("weight", "bias"):
            if head == "classifier" and distilled:  # DeiTForImageClassification: one head on the class token only
                out.dropped.append(name)
                continue
            out.put(f"{_VIT_HEADS[head]}.{kind}", name, value)
        elif short.startswith("embeddings.mask_token") or short.startswith("decoder.") or (classify and short.startswith("pooler.")):
            out.dropped.append(name)  # masked-image-modelling extras; a classifier ignores its pooler
        elif distilled and short.startswith("pooler."):
            out.dropped.append(name)  # DeiTModel: vitzoo pools a distilled model as the mean of both tokens
        elif short in _VIT_TOP:
            out.put(_VIT_TOP[short], name, value)
        elif (m := _LAYER.match(short)) and m.group(2) in _VIT_PARTS:
            i, part, kind = m.group(1), _VIT_PARTS[m.group(2)], m.group(3)
            out.put_block(i, part, kind, name, value)
        else:
            out.unknown.append(name)
    if distilled and any(k.startswith("classifier.") for k in raw) and not teacher:
        notes.append(
            "DeiTForImageClassification classifies from the class token alone, which vitzoo's distilled DeiT "
            "(the mean of two heads) cannot express: its classifier was dropped and the model gives pooled features."
        )
    return Mapped(out.finish("ViT or DeiT"), out.dropped, notes, {"global_pool": "token"})


def _vit_from_canonical(ckpt: Checkpoint) -> "tuple[dict[str, np.ndarray], dict[str, Any]]":
    spec = ckpt.spec
    deit = getattr(spec, "dist_token", False)
    what = "DeiT" if deit else "ViT"
    unwritable(
        [
            (not spec.class_token or spec.global_pool != "token", "class-token pooling"),
            (spec.reg_tokens > 0, "no register tokens"),
            (spec.fc_norm or spec.pre_norm, "no fc_norm/norm_pre"),
            (spec.layer_scale, "no layer scale"),
            (spec.qk_norm, "no q/k norm"),
            (getattr(spec, "mlp_type", "mlp") != "mlp", "a GELU MLP"),
            (not spec.patch_bias or not spec.pos_embed_prefix, "a patch bias and a class-token position"),
            (spec.pre_logits_dim > 0 and (spec.num_classes > 0 or deit), "no pre-logits layer before a classifier"),
        ],
        what,
    )
    classify = spec.num_classes > 0
    prefix = ("deit." if deit else "vit.") if classify else ""
    heads = {"head": "cls_classifier" if deit else "classifier", "head_dist": "distillation_classifier"}
    inverse_top = {v: k for k, v in _VIT_TOP.items()}
    tensors: dict[str, np.ndarray] = {}
    for name, value in ckpt.state.items():
        module, _, kind = name.rpartition(".")
        if name in inverse_top:
            tensors[prefix + inverse_top[name]] = value
        elif module in heads:
            tensors[f"{heads[module]}.{kind}"] = value
        else:
            i, part, kind = re.match(r"^blocks\.(\d+)\.(.+)\.(weight|bias)$", name).groups()
            base = f"{prefix}encoder.layer.{i}."
            if part == "attn.qkv":  # row blocks of qkv are contiguous views: no copy
                for which, rows in zip(("query", "key", "value"), split_rows(value, 3)):
                    tensors[f"{base}attention.attention.{which}.{kind}"] = rows
            else:
                tensors[f"{base}{_VIT_DISK_PARTS[part]}.{kind}"] = value
    cfg: dict[str, Any] = {
        "architectures": [("DeiTForImageClassificationWithTeacher" if deit else "ViTForImageClassification") if classify
                          else ("DeiTModel" if deit else "ViTModel")],
        "model_type": "deit" if deit else "vit",
        **encoder_config(spec),
        "qkv_bias": spec.qkv_bias,
        "encoder_stride": spec.patch_size,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "initializer_range": 0.02,
        "pooler_act": "tanh",
        "pooler_output_size": spec.pre_logits_dim or spec.embed_dim,
    }
    if classify:
        cfg.update(class_labels(ckpt))
    return tensors, cfg


VIT = register_family(
    HFFamily(
        name="vit",
        model_types=("vit", "deit"),
        marker="embeddings.patch_embeddings.projection.weight",
        defaults={"num_heads": 12, "norm_eps": 1e-12, "gelu": "exact"},  # transformers' ViTConfig/DeiTConfig
        to_canonical=_vit_to_canonical,
        owns=lambda spec: True,
        from_canonical=_vit_from_canonical,
        fallback=True,
    )
)
