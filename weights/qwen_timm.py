"""timm's Qwen3 ViT files (``qwen3_vit.py``): their two name layouts, read by content and written back.

timm's ``Qwen3VitClassifier`` holds the tower under ``encoder.`` (``encoder.pos_embed``,
``encoder.blocks.{i}.*``, ``encoder.merger.*`` for ``_merge``) beside its ``head.*`` (its post-pool
norm has no tensors); ``Qwen3VitEncoder`` (the ``_enc`` models) holds the same names without the
prefix and always its projector ``merger.*``. vitzoo's canonical names are the encoder's. The
layout shows the model's form; the module's code fixes what no tensor shows but the form implies:
rotary positions in every block (``rope="cat"``, rotate-half, integer coordinates), no class token,
mean pooling, a grid resampled per input (bilinear, aligned corners). The head count, eps, GELU form and RoPE base stay open
for the usual sources (config, the caller, the registered variants).

Example:
    >>> import numpy as np
    >>> state = {"encoder.pos_embed": np.zeros((1, 16, 8), np.float32), "head.weight": np.zeros((2, 8), np.float32)}
    >>> canonical, fields = from_timm(state, "f")
    >>> sorted(canonical), fields["pos_embed_grid"], fields["fc_norm_affine"]
    (['head.weight', 'pos_embed'], 4, False)
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from vitzoo.errors import CheckpointError
from vitzoo.qwen_spec import GRID_RESAMPLING
from vitzoo.spec import ViTSpec

PREFIX = "encoder."
_FORM = dict(block="eva", rope="cat", rope_half=True, rope_ref_grid=0, rope_grid_offset=0.0, rope_grid_xy=False, class_token=False,
             global_pool="avg", dynamic_img_size=True, dynamic_img_pad=False, naflex=False, **GRID_RESAMPLING)


def strip(name: str) -> str:
    """A classifier's tower name as the encoder's (for detection by header)."""
    return name[len(PREFIX):] if name.startswith(PREFIX) else name


def from_timm(state: Mapping[str, np.ndarray], source: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(canonical state, spec fields the layout states)``; a non-Qwen state comes back as it is, with no fields."""
    classifier = any(k.startswith(PREFIX) for k in state)
    if not classifier and "merger.fc1.weight" not in state:
        return dict(state), {}
    if classifier:
        stray = [k for k in state if not k.startswith((PREFIX, "head."))]
        if stray:
            raise CheckpointError(f"{source} holds a Qwen3 ViT classifier's encoder.* tensors beside {stray[0]!r}, which no such model has; "
                                  "the file is damaged or mixes two models.")
        state = {strip(k): v for k, v in state.items()}
    pos = state.get("pos_embed")
    if pos is None or pos.ndim != 3 or "cls_token" in state or not _square(int(pos.shape[1])):
        shape = None if pos is None else tuple(pos.shape)
        raise CheckpointError(f"{source} has the Qwen3 ViT's layout (encoder.* or merger.*) but its pos_embed {shape} is not one square "
                              "grid of patch positions; the file is damaged or not timm's Qwen3 ViT.")
    fields: dict[str, Any] = dict(_FORM, pos_embed_grid=math.isqrt(int(pos.shape[1])), merge_size=0, merge_dim=0)
    if "merger.fc1.weight" in state:
        fields.update(_merger_fields(state, source, int(pos.shape[2])))
    tokens = not classifier
    fields.update(output_tokens=tokens, fc_norm=not tokens, final_norm=not tokens, fc_norm_affine=tokens)
    return dict(state), fields


def _merger_fields(state: Mapping[str, np.ndarray], source: str, dim: int) -> dict[str, int]:
    """``merge_size`` from ``fc1``'s width (``k²·D``) and ``merge_dim`` from ``fc2``'s output."""
    fc1, fc2 = state["merger.fc1.weight"], state.get("merger.fc2.weight")
    k = math.isqrt(int(fc1.shape[0]) // dim) if fc1.ndim == 2 and int(fc1.shape[0]) % dim == 0 else 0
    if fc2 is None or fc2.ndim != 2 or k < 1 or k * k * dim != fc1.shape[0] or tuple(fc1.shape) != (fc1.shape[0], fc1.shape[0]):
        shown = None if fc2 is None else tuple(fc2.shape)
        raise CheckpointError(f"{source}: the Qwen3 ViT projector's merger.fc1 {tuple(fc1.shape)} and merger.fc2 {shown} do not fit a "
                              f"width of {dim} (fc1 must be [k²·{dim}, k²·{dim}], fc2 [out, k²·{dim}]); the file is damaged.")
    return dict(merge_size=k, merge_dim=int(fc2.shape[0]))


def to_timm(spec: ViTSpec, state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """timm's names for a canonical state: the classifier's ``encoder.`` prefix unless the model is an ``_enc`` one.

    timm's DeepSeek ViT classifier (``deepseek_vit``) wraps its encoder the same way."""
    if not (spec.qwen_vit or spec.deepseek_vit) or spec.output_tokens:
        return dict(state)
    return {(k if k.startswith("head.") else PREFIX + k): v for k, v in state.items()}


def _square(n: int) -> bool:
    return n > 0 and math.isqrt(n) ** 2 == n
