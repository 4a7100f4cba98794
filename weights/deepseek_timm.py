"""timm's DeepSeek-V4 ViT files (``deepseek_vit.py``): their two name layouts, read by content.

timm's ``DeepseekVitClassifier`` holds the encoder under ``encoder.`` (``encoder.blocks.{i}.*``,
``encoder.norm``, ``encoder.aligner.*`` for ``_align``) beside its ``head.*`` (its post-pool norm has
no tensors), and no position table: that, and not the Qwen3 ViT's ``encoder.pos_embed``, marks it.
``DeepseekVitEncoder`` with its aligner (the ``_enc`` models) holds the same names bare, ``aligner.*``
marking them. The layout shows the form; the module's code fixes what no tensor shows but the form
implies (:data:`vitzoo.deepseek_spec.FORM`: rotary positions in every block in the rotate-half layout,
no class token, mean pooling). The head count, eps and RoPE base stay open for the usual sources
(config, the caller, the registered variants). Written back, :func:`weights.qwen_timm.to_timm` adds the
classifier's prefix for both families.

Example:
    >>> import numpy as np
    >>> state = {"encoder.patch_embed.proj.weight": np.zeros((8, 3, 14, 14), np.float32), "head.weight": np.zeros((2, 8), np.float32)}
    >>> canonical, fields = from_timm(state, "f")
    >>> sorted(canonical), fields["deepseek_vit"], fields["fc_norm_affine"]
    (['head.weight', 'patch_embed.proj.weight'], True, False)
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from vitzoo.deepseek_spec import FORM, IMG_SIZE
from vitzoo.errors import CheckpointError
from vitzoo.weights.qwen_timm import PREFIX, strip

_EMBED = "patch_embed.proj.weight"


def is_deepseek(state: Mapping[str, np.ndarray]) -> bool:
    """A classifier's ``encoder.*`` without the Qwen3 ViT's position grid, or bare names with the aligner."""
    classifier = any(k.startswith(PREFIX) for k in state)
    return (classifier and PREFIX + "pos_embed" not in state) or (not classifier and "aligner.fc1.weight" in state)


def from_timm(state: Mapping[str, np.ndarray], source: str, img_size: Any = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(canonical state, spec fields the layout states)``; a state of another model comes back as it is, with no fields.

    ``img_size`` is the caller's default input, if given (else timm's 546: no tensor depends on it)."""
    if not is_deepseek(state):
        return dict(state), {}
    classifier = any(k.startswith(PREFIX) for k in state)
    if classifier:
        stray = [k for k in state if not k.startswith((PREFIX, "head."))]
        if stray:
            raise CheckpointError(f"{source} holds a DeepSeek ViT classifier's encoder.* tensors beside {stray[0]!r}, which no such model "
                                  "has; the file is damaged or mixes two models.")
        state = {strip(k): v for k, v in state.items()}
    embed = state.get(_EMBED)
    if embed is None or embed.ndim != 4 or "cls_token" in state or "pos_embed" in state:
        raise CheckpointError(f"{source} has the DeepSeek ViT's layout (encoder.* without a position table, or aligner.*) but not its "
                              "patch embedding without class token or position table; the file is damaged or not timm's DeepSeek ViT.")
    # gelu: the SwiGLU blocks have none and the aligner's is always exact, so the setting computes nothing
    fields: dict[str, Any] = dict(FORM, merge_size=0, merge_dim=0, gelu="exact", img_size=img_size or IMG_SIZE)
    if "aligner.fc1.weight" in state:
        fields.update(_aligner_fields(state, source, int(embed.shape[0])))
    tokens = not classifier
    fields.update(output_tokens=tokens, fc_norm=not tokens, fc_norm_affine=tokens)
    return dict(state), fields


def _aligner_fields(state: Mapping[str, np.ndarray], source: str, dim: int) -> dict[str, int]:
    """``merge_size`` from ``fc1``'s input width (``k²·D``) and ``merge_dim`` from its output, which ``fc2`` keeps."""
    fc1, fc2 = state["aligner.fc1.weight"], state.get("aligner.fc2.weight")
    wide = int(fc1.shape[1]) if fc1.ndim == 2 else 0
    k = math.isqrt(wide // dim) if wide % dim == 0 else 0
    out = int(fc1.shape[0])
    if fc2 is None or k < 1 or k * k * dim != wide or tuple(fc2.shape) != (out, out):
        shown = None if fc2 is None else tuple(fc2.shape)
        raise CheckpointError(f"{source}: the DeepSeek ViT aligner's aligner.fc1 {tuple(fc1.shape)} and aligner.fc2 {shown} do not fit a "
                              f"width of {dim} (fc1 must be [out, k²·{dim}], fc2 [out, out]); the file is damaged.")
    return dict(merge_size=k, merge_dim=out)
