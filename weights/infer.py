"""Infer a spec from canonical tensors, with hints for what tensors cannot show.

Shapes fix the sizes (patch, width, depth, MLP, tokens, head). They cannot fix
the head count, LayerNorm eps, GELU form or pooling: those come from the
source's own config, then a ``hint`` spec (``--variant``), then the registered
variant with the same sizes, then the format's defaults.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, Optional

import numpy as np

from vitzoo.errors import CheckpointError, SpecError
from vitzoo.spec import ViTSpec
from vitzoo.variants import get_spec, list_models

_UNSEEN = ("num_heads", "norm_eps", "gelu", "global_pool")


def infer_spec(
    state: Mapping[str, np.ndarray],
    source: str,
    *,
    config: Optional[Mapping[str, Any]] = None,
    hint: Optional[ViTSpec] = None,
    defaults: Optional[Mapping[str, Any]] = None,
) -> ViTSpec:
    """The spec of a canonical state.

    ``config`` holds fields the source states outright (they win over everything
    but the tensors); ``hint`` supplies fields the tensors leave open;
    ``defaults`` are the format's own conventions (e.g. eps 1e-7 for MindSpore).
    """
    try:
        proj = state["patch_embed.proj.weight"]
        pos = state["pos_embed"]
    except KeyError as exc:
        raise CheckpointError(f"{source} has no {exc.args[0]!r} tensor; it does not look like a ViT checkpoint.") from None
    if proj.ndim != 4 or proj.shape[2] != proj.shape[3] or pos.ndim != 3:
        raise CheckpointError(f"{source}: patch embedding {tuple(proj.shape)} or position embedding {tuple(pos.shape)} has an unexpected shape.")
    embed_dim, in_chans, patch, _ = (int(v) for v in proj.shape)
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d{1,6})\.", k))}
    depth = 1 + max(blocks, default=-1)
    if depth == 0:
        raise CheckpointError(f"{source} has no transformer blocks.")
    if len(blocks) != depth:  # checked before a spec of `depth` blocks is built (a damaged name may say 999999)
        gap = next(i for i in range(depth) if i not in blocks)
        raise CheckpointError(f"{source} has tensors of block {depth - 1} but none of block {gap}; the file is incomplete or damaged.")
    fc1 = state.get("blocks.0.mlp.fc1.weight")
    if fc1 is None:
        raise CheckpointError(f"{source} has no 'blocks.0.mlp.fc1.weight' tensor.")
    for name, ndim in (("blocks.0.mlp.fc1.weight", 2), ("reg_token", 3), ("pre_logits.fc.weight", 2), ("head.weight", 2)):
        if name in state and state[name].ndim != ndim:  # read below for sizes; a wrong rank is a damaged file
            raise CheckpointError(f"{source}: tensor {name!r} has shape {tuple(state[name].shape)}, expected {ndim} dimensions.")
    class_token = "cls_token" in state
    dist_token = "dist_token" in state
    reg_tokens = int(state["reg_token"].shape[1]) if "reg_token" in state else 0
    fc2 = state.get("blocks.0.mlp.fc2.weight")
    # a packed SwiGLU fc1 is twice as wide as fc2's input; mlp_dim is always fc2's input width
    swiglu = fc2 is not None and fc2.ndim == 2 and fc1.shape[0] == 2 * fc2.shape[1]
    fields: dict[str, Any] = dict(
        patch_size=patch,
        in_chans=in_chans,
        embed_dim=embed_dim,
        depth=depth,
        mlp_dim=int(fc2.shape[1]) if swiglu else int(fc1.shape[0]),
        mlp_type="swiglu" if swiglu else "mlp",
        patch_bias="patch_embed.proj.bias" in state,
        qkv_bias="blocks.0.attn.qkv.bias" in state,
        qk_norm="blocks.0.attn.q_norm.weight" in state,
        class_token=class_token,
        dist_token=dist_token,
        reg_tokens=reg_tokens,
        fc_norm="fc_norm.weight" in state,
        pre_norm="norm_pre.weight" in state,
        layer_scale="blocks.0.ls1.gamma" in state,
        pre_logits_dim=int(state["pre_logits.fc.weight"].shape[0]) if "pre_logits.fc.weight" in state else 0,
        num_classes=int(state["head.weight"].shape[0]) if "head.weight" in state else 0,
    )
    prefix = int(class_token) + int(dist_token) + reg_tokens
    pos_len = int(pos.shape[1])
    config = dict(config or {})
    prefix_in_pos = config.get("pos_embed_prefix")
    if prefix_in_pos is None:  # a square grid tells whether the prefix tokens are included
        prefix_in_pos = not _is_square(pos_len) or (prefix > 0 and _is_square(pos_len - prefix))
    grid_len = pos_len - prefix if prefix_in_pos else pos_len
    if not _is_square(grid_len):
        raise CheckpointError(f"{source}: position embedding length {pos_len} is not a square patch grid.")
    fields["pos_embed_prefix"] = bool(prefix_in_pos) if prefix else True
    fields["img_size"] = math.isqrt(grid_len) * patch

    sized = {k: v for k, v in fields.items() if k not in ("num_classes",)}
    resolved: dict[str, Any] = {}
    for name in _UNSEEN:
        if name in config:
            resolved[name] = config[name]
        elif hint is not None:
            resolved[name] = getattr(hint, name)
        elif (match := _registered_match(sized)) is not None and name in ("num_heads",):
            resolved[name] = getattr(match, name)
        elif defaults and name in defaults:
            resolved[name] = defaults[name]
    if "num_heads" not in resolved:
        resolved["num_heads"] = max(1, embed_dim // 64)  # the ViT family's head width
    if "global_pool" not in resolved:
        resolved["global_pool"] = "map" if "attn_pool.latent" in state else "token" if class_token and not fields["fc_norm"] else "avg"
    extra = {k: v for k, v in config.items() if k not in fields and k not in resolved}
    try:
        return ViTSpec(**{**fields, **resolved, **extra})
    except TypeError as exc:
        raise CheckpointError(f"{source}: cannot build a spec ({exc}).") from None
    except SpecError as exc:  # e.g. a config's head count that does not divide the width
        raise CheckpointError(f"{source} does not describe a valid ViT: {str(exc).rstrip('.')}.") from None


def _is_square(n: int) -> bool:
    return n > 0 and math.isqrt(n) ** 2 == n


def _registered_match(sized: Mapping[str, Any]) -> Optional[ViTSpec]:
    keys = ("patch_size", "embed_dim", "depth", "mlp_dim")
    for name in list_models(include_aliases=False):
        spec = get_spec(name)
        if all(getattr(spec, k) == sized[k] for k in keys):
            return spec
    return None
