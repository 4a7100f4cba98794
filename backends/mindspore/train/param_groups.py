"""Optimizer parameter groups: weight decay only where timm applies it, and layer-wise LR decay (``--layer-decay``).

timm's rules, on vitzoo's canonical (= timm) parameter names:

* no weight decay on 1-D tensors (biases, norms, layer scales) and on the tokens and position embedding
  (``VisionTransformer.no_weight_decay()``: ``pos_embed``, ``cls_token``, ``reg_token``, ``dist_token``;
  BEiT's ``relative_position_bias_table`` of every block; CaiT's ``Cait.no_weight_decay()`` is a subset; XCiT's
  ``pos_embed.*``, its Fourier projection);
* layer ids from ``VisionTransformer.group_matcher()`` as ``timm.models.group_parameters`` orders them:
  the stem (``cls_token``, ``reg_token``, ``dist_token``, ``pos_embed``, ``patch_embed.*``, ``norm_pre.*``)
  is layer 0, ``blocks.{i}.*`` layer ``i + 1``, the final ``norm.*`` shares the last block's layer, and
  everything else (``head``, ``fc_norm``, ``attn_pool``, ...) is one more layer after it;
* ``timm.optim.param_groups_layer_decay``: group ``layer_{id}_{decay|no_decay}`` with
  ``lr_scale = layer_decay ** (num_layers - 1 - id)``; the schedule's learning rate is multiplied by it.

Example:
    >>> layer_ids(["cls_token", "patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "blocks.1.norm1.weight",
    ...            "norm.weight", "head.weight"])
    {'cls_token': 0, 'patch_embed.proj.weight': 0, 'blocks.0.attn.qkv.weight': 1, 'blocks.1.norm1.weight': 2, 'norm.weight': 2, 'head.weight': 3}
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Optional

NO_WEIGHT_DECAY = frozenset({"pos_embed", "cls_token", "reg_token", "dist_token", "rope.freqs"})  # rope.freqs: RoPE-Mixed (timm's Eva lists it)
XCIT_POSITIONS = "pos_embed."  # XCiT's Fourier projection: timm's Xcit.no_weight_decay lists 'pos_embed.*'
REL_POS_TABLE = "relative_position_bias_table"  # BEiT's per-block tables: timm's Beit.no_weight_decay lists each
_MATCH_PREV_GROUP = 99999.0  # timm's MATCH_PREV_GROUP: the final norm joins the last block's layer
# timm's VisionTransformer.group_matcher (DeiT's distilled model adds dist_token to the stem), in its order.
_MATCHER = (
    (re.compile(r"^cls_token|reg_token|pos_embed|patch_embed|norm_pre|dist_token"), (0.0,), ()),
    (re.compile(r"^blocks\.(\d+)"), (1.0,), ()),
    (re.compile(r"^norm"), (1.0,), (_MATCH_PREV_GROUP,)),
)


def _ordinal(name: str) -> tuple[float, ...]:
    for pattern, prefix, suffix in _MATCHER:
        found = pattern.match(name)
        if found:
            return prefix + tuple(float(g) for g in found.groups() if g is not None) + suffix
    return (float("inf"),)  # unmatched (head, fc_norm, attn_pool): after everything else


def layer_ids(names: Iterable[str], head_joins_last: bool = False) -> dict[str, int]:
    """Each parameter name's layer, numbered as ``timm.models._manipulate.group_with_matcher(..., reverse=True)``.

    ``head_joins_last``: timm's Qwen3 ViT and DeepSeek ViT matchers put the projector (``merger.*``, ``aligner.*``) and the
    head in the last block's layer.
    """
    names = list(names)
    ordinals = {name: _ordinal(name) for name in names}
    if head_joins_last:
        ordinals.update({n: (_MATCH_PREV_GROUP,) for n in names if n.startswith(("merger.", "aligner.", "head."))})
    # timm's Cait.group_matcher: class-attention block i shares the layer of main block depth - depth_token_only + i
    blocks = {int(m.group(1)) for n in names if (m := re.match(r"blocks\.(\d+)\.", n))}
    token_only = {n: int(m.group(1)) for n in names if (m := re.match(r"blocks_token_only\.(\d+)\.", n))}
    offset = len(blocks) - len(set(token_only.values()))
    ordinals.update({n: (1.0, float(offset + i)) for n, i in token_only.items()})
    # timm's Xcit.group_matcher: its class-attention blocks are a third group after the blocks, the final norm joins their last
    cls_attn = {n: int(m.group(1)) for n in names if (m := re.match(r"cls_attn_blocks\.(\d+)\.", n))}
    if cls_attn:
        ordinals.update({n: (2.0, float(i)) for n, i in cls_attn.items()})
        ordinals.update({n: (2.0, _MATCH_PREV_GROUP) for n in names if n.startswith("norm")})
    lid, ids_of = -1, {}
    for key in sorted(set(ordinals.values())):
        if lid < 0 or key[-1] != _MATCH_PREV_GROUP:
            lid += 1
        ids_of[key] = lid
    return {name: ids_of[ordinals[name]] for name in names}


def param_groups(model: Any, weight_decay: float, layer_decay: Optional[float] = None) -> list[dict[str, Any]]:
    """The trainable parameters of ``model`` in groups ``{"name", "params", "weight_decay", "lr_scale"}``.

    Without ``layer_decay``: timm's ``param_groups_weight_decay`` (``decay`` and ``no_decay``, scale 1).
    With it: timm's ``param_groups_layer_decay`` (one group per layer and decay kind). Empty groups are left out.

    Example:
        >>> [(g["name"], g["lr_scale"]) for g in param_groups(model, 0.05, 0.75)][:2]  # doctest: +SKIP
        [('layer_0_no_decay', 0.2373046875), ('layer_0_decay', 0.2373046875)]
    """
    params = list(model.trainable_params())
    spec = getattr(model, "spec", None)  # timm's Qwen3 and DeepSeek ViTs: head and projector join the last block
    qwen = bool(getattr(spec, "qwen_vit", False) or getattr(spec, "deepseek_vit", False))
    ids = layer_ids((p.name for p in params), head_joins_last=qwen) if layer_decay is not None else {}
    num_layers = max(ids.values(), default=0) + 1
    groups: dict[str, dict[str, Any]] = {}
    for p in params:
        no_decay = p.ndim <= 1 or p.name in NO_WEIGHT_DECAY or p.name.endswith(REL_POS_TABLE) or p.name.startswith(XCIT_POSITIONS)
        kind = "no_decay" if no_decay else "decay"
        if layer_decay is None:
            name, scale = kind, 1.0
        else:
            name, scale = f"layer_{ids[p.name]}_{kind}", float(layer_decay ** (num_layers - 1 - ids[p.name]))
        group = groups.setdefault(name, {"name": name, "params": [], "weight_decay": 0.0 if no_decay else weight_decay, "lr_scale": scale})
        group["params"].append(p)
    return list(groups.values())
