"""Infer a spec from canonical tensors, with hints for what tensors cannot show.

Shapes fix the sizes (patch, width, depth, MLP, tokens, head) and the family
parts: a distillation token, an attention-pool head (``attn_pool.*``), a packed
SwiGLU MLP (``fc1`` twice as wide as ``fc2``'s input). They cannot fix the head
count, LayerNorm eps, GELU form or token/average pooling: those come from the
source's own config, then a ``hint`` spec (``--variant``), then the registered
variants with the same architecture (where they all agree), then the format's defaults.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, Optional

import numpy as np

from vitzoo.errors import CheckpointError, SpecError
from vitzoo.spec import ViTSpec
from vitzoo.variants import get_spec, variant_names

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
    fc1, fc2 = state.get("blocks.0.mlp.fc1.weight"), state.get("blocks.0.mlp.fc2.weight")
    if fc1 is None or fc2 is None:
        raise CheckpointError(f"{source} has no 'blocks.0.mlp.fc1.weight' or 'blocks.0.mlp.fc2.weight' tensor.")
    for name, ndim in (("blocks.0.mlp.fc1.weight", 2), ("blocks.0.mlp.fc2.weight", 2), ("reg_token", 3), ("pre_logits.fc.weight", 2), ("head.weight", 2)):
        if name in state and state[name].ndim != ndim:  # read below for sizes; a wrong rank is a damaged file
            raise CheckpointError(f"{source}: tensor {name!r} has shape {tuple(state[name].shape)}, expected {ndim} dimensions.")
    class_token = "cls_token" in state
    dist_token = "dist_token" in state
    reg_tokens = int(state["reg_token"].shape[1]) if "reg_token" in state else 0
    mlp_dim = int(fc2.shape[1])  # fc2's input width, for both MLP types
    if int(fc1.shape[0]) not in (mlp_dim, 2 * mlp_dim):
        raise CheckpointError(f"{source}: MLP fc1 {tuple(fc1.shape)} and fc2 {tuple(fc2.shape)} do not fit together.")
    fields: dict[str, Any] = dict(
        patch_size=patch,
        in_chans=in_chans,
        embed_dim=embed_dim,
        depth=depth,
        mlp_dim=mlp_dim,
        mlp_type="swiglu" if int(fc1.shape[0]) == 2 * mlp_dim else "mlp",
        dist_token=dist_token,
        patch_bias="patch_embed.proj.bias" in state,
        qkv_bias="blocks.0.attn.qkv.bias" in state,
        qk_norm="blocks.0.attn.q_norm.weight" in state,
        class_token=class_token,
        reg_tokens=reg_tokens,
        fc_norm="fc_norm.weight" in state,
        pre_norm="norm_pre.weight" in state,
        layer_scale="blocks.0.ls1.gamma" in state,
        pre_logits_dim=int(state["pre_logits.fc.weight"].shape[0]) if "pre_logits.fc.weight" in state else 0,
        num_classes=int(state["head.weight"].shape[0]) if "head.weight" in state else 0,
    )
    if "attn_pool.latent" in state:
        fields["global_pool"] = "map"  # the tensors show the attention pool; nothing else decides
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
    grid = math.isqrt(grid_len)
    fields["img_size"] = grid * patch
    for size in (config.get("img_size"), hint.img_size if hint is not None else None):
        if _is_int(size) and size // patch == grid:  # e.g. 384 px over a 27-patch grid of 14: the tensors cannot tell
            fields["img_size"] = size
            break

    sized = {k: v for k, v in fields.items() if k not in ("num_classes",)}
    registered = [get_spec(name) for name in variant_names()]
    matches = _agreeing(registered, sized, _MATCH_KEYS)
    same_size = _agreeing(registered, sized, _SIZE_KEYS)
    resolved: dict[str, Any] = {}
    for name in _UNSEEN:
        if name in fields:
            continue
        if name in config:
            resolved[name] = config[name]
        elif hint is not None:
            resolved[name] = getattr(hint, name)
        elif name == "num_heads" and same_size:
            resolved[name] = getattr(same_size[0], name)
        elif name in ("norm_eps", "gelu") and len({getattr(m, name) for m in matches}) == 1:
            resolved[name] = getattr(matches[0], name)  # e.g. every CLIP tower of these sizes uses eps 1e-5
        elif defaults and name in defaults:
            resolved[name] = defaults[name]
    if "num_heads" not in resolved:
        resolved["num_heads"] = max(1, embed_dim // 64)  # the ViT family's head width
    if "global_pool" not in resolved and "global_pool" not in fields:
        resolved["global_pool"] = "token" if class_token and not fields["fc_norm"] else "avg"
    extra = {k: v for k, v in config.items() if k not in fields and k not in resolved}
    try:
        return ViTSpec(**{**fields, **resolved, **extra})
    except TypeError as exc:
        raise CheckpointError(f"{source}: cannot build a spec ({exc}).") from None
    except SpecError as exc:  # e.g. a config's head count that does not divide the width
        raise CheckpointError(f"{source} does not describe a valid ViT: {str(exc).rstrip('.')}.") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_square(n: int) -> bool:
    return n > 0 and math.isqrt(n) ** 2 == n


# A registered variant of the same sizes lends its head count; one of the same
# architecture lends eps and GELU form when all such variants agree on them.
_SIZE_KEYS = ("patch_size", "embed_dim", "depth", "mlp_dim")
_MATCH_KEYS = _SIZE_KEYS + ("mlp_type", "dist_token", "class_token", "reg_tokens", "pre_norm", "layer_scale", "patch_bias")


def _agreeing(specs: list[ViTSpec], sized: Mapping[str, Any], keys: tuple[str, ...]) -> list[ViTSpec]:
    """The specs that agree with the tensors on ``keys``, in registration order."""
    return [spec for spec in specs if all(getattr(spec, k) == sized[k] for k in keys)]
