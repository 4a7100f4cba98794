"""The canonical tensor names and shapes of a spec: the one naming scheme.

Every backend names its parameters this way and every weight format maps to it,
so this module is the single source of truth for what a complete state holds.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from vitzoo.errors import CheckpointError
from vitzoo.spec import ViTSpec

Shape = tuple[int, ...]
# The classifier's tensors: replaced together when the class count changes (DeiT distilled has two heads).
CLASSIFIER_PREFIXES = ("head.", "head_dist.")


def is_classifier(name: str) -> bool:
    """Whether canonical tensor ``name`` belongs to the classifier (``head.*``, ``head_dist.*``)."""
    return name.startswith(CLASSIFIER_PREFIXES)


def expected_shapes(spec: ViTSpec) -> dict[str, Shape]:
    """Canonical name → shape of every tensor a model of ``spec`` holds, in model order.

    Example:
        >>> from vitzoo.spec import ViTSpec
        >>> expected_shapes(ViTSpec(depth=1))["blocks.0.attn.qkv.weight"]
        (2304, 768)
    """
    d, m, hd = spec.embed_dim, spec.mlp_dim, spec.head_dim
    shapes: dict[str, Shape] = {
        "patch_embed.proj.weight": (d, spec.in_chans, spec.patch_size, spec.patch_size),
    }
    if spec.patch_bias:
        shapes["patch_embed.proj.bias"] = (d,)
    if spec.class_token:
        shapes["cls_token"] = (1, 1, d)
    if spec.dist_token:
        shapes["dist_token"] = (1, 1, d)
    if spec.reg_tokens:
        shapes["reg_token"] = (1, spec.reg_tokens, d)
    shapes["pos_embed"] = (1, spec.pos_embed_len, d)
    if spec.pre_norm:
        shapes.update(_norm("norm_pre", d))
    for i in range(spec.depth):
        b = f"blocks.{i}."
        shapes.update(_norm(b + "norm1", d))
        shapes[b + "attn.qkv.weight"] = (3 * d, d)
        if spec.qkv_bias:
            shapes[b + "attn.qkv.bias"] = (3 * d,)
        if spec.qk_norm:
            shapes.update(_norm(b + "attn.q_norm", hd))
            shapes.update(_norm(b + "attn.k_norm", hd))
        shapes[b + "attn.proj.weight"] = (d, d)
        shapes[b + "attn.proj.bias"] = (d,)
        if spec.layer_scale:
            shapes[b + "ls1.gamma"] = (d,)
        shapes.update(_norm(b + "norm2", d))
        shapes.update(_mlp(b + "mlp", d, spec.fc1_dim, m))
        if spec.layer_scale:
            shapes[b + "ls2.gamma"] = (d,)
    shapes.update(_norm("fc_norm" if spec.fc_norm else "norm", d))
    if spec.global_pool == "map":
        shapes.update(_attention_pool("attn_pool", d, m))
    if spec.pre_logits_dim:
        shapes["pre_logits.fc.weight"] = (spec.pre_logits_dim, d)
        shapes["pre_logits.fc.bias"] = (spec.pre_logits_dim,)
    if spec.num_classes:
        shapes["head.weight"] = (spec.num_classes, spec.num_features)
        shapes["head.bias"] = (spec.num_classes,)
        if spec.dist_token:
            shapes["head_dist.weight"] = (spec.num_classes, d)
            shapes["head_dist.bias"] = (spec.num_classes,)
    return shapes


def _mlp(prefix: str, dim: int, fc1_dim: int, hidden: int) -> dict[str, Shape]:
    return {
        prefix + ".fc1.weight": (fc1_dim, dim),
        prefix + ".fc1.bias": (fc1_dim,),
        prefix + ".fc2.weight": (dim, hidden),
        prefix + ".fc2.bias": (dim,),
    }


def _attention_pool(prefix: str, dim: int, hidden: int) -> dict[str, Shape]:
    """timm's ``AttentionPoolLatent`` as ``VisionTransformer`` builds it: one latent query, q/kv biases, no q/k norm."""
    return {
        prefix + ".latent": (1, 1, dim),
        prefix + ".q.weight": (dim, dim),
        prefix + ".q.bias": (dim,),
        prefix + ".kv.weight": (2 * dim, dim),
        prefix + ".kv.bias": (2 * dim,),
        prefix + ".proj.weight": (dim, dim),
        prefix + ".proj.bias": (dim,),
        **_norm(prefix + ".norm", dim),
        **_mlp(prefix + ".mlp", dim, hidden, hidden),
    }


def _norm(prefix: str, dim: int) -> dict[str, Shape]:
    return {prefix + ".weight": (dim,), prefix + ".bias": (dim,)}


def check_state(state: Mapping[str, np.ndarray], spec: ViTSpec, source: str = "the weights") -> None:
    """Raise :class:`CheckpointError` unless ``state`` holds exactly the tensors of ``spec``.

    Missing, unexpected and wrongly shaped tensors are named in the message,
    as are non-float32 tensors (the canonical dtype).
    """
    shapes = expected_shapes(spec)
    missing = [k for k in shapes if k not in state]
    unexpected = [k for k in state if k not in shapes]
    wrong = [
        f"{k} {tuple(state[k].shape)} (expected {shapes[k]})"
        for k in shapes
        if k in state and tuple(state[k].shape) != shapes[k]
    ]
    problems = []
    if missing:
        problems.append("missing " + _few(missing))
    if unexpected:
        problems.append("unexpected " + _few(unexpected))
    if wrong:
        problems.append("wrong shape " + _few(wrong))
    if problems:
        raise CheckpointError(f"{source} do not fit the model: {'; '.join(problems)}.")
    bad_dtype = [k for k in shapes if np.asarray(state[k]).dtype != np.float32]
    if bad_dtype:
        raise CheckpointError(f"{source} hold non-float32 tensors: {_few(bad_dtype)}; convert them to float32 first.")


def _few(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"
