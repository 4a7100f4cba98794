"""Infer a spec from canonical tensors; refuse rather than guess what they cannot show.

Shapes fix the sizes (patch, width, depth, MLP, tokens, head) and the family
parts: a distillation token, an attention-pool head (``attn_pool.*``), a packed
SwiGLU MLP (``fc1`` twice as wide as ``fc2``'s input). They cannot fix the head
count, LayerNorm eps, GELU form or, with a class token, token/average pooling.
Each of those comes from the first of these that states it:

1. the reader's ``config``: the file's own metadata, a config file beside it, and the
   values the source format allows no alternative to (MindSpore's official ViT computes
   eps 1e-7 and tanh GELU; transformers builds a config's missing field with its class
   default);
2. the ``hint``: the variant named by the caller with the overrides given (or the
   overrides alone);
3. the registered variants of the same architecture, when all of them agree.

Anything still open is a :class:`CheckpointError` that names the fields and how to give them.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, Optional, Union

import numpy as np

from vitzoo import rel_pos, resnetv2
from vitzoo.errors import CheckpointError, SpecError
from vitzoo.spec import ViTSpec
from vitzoo.variants import get_spec, variant_names
from vitzoo.weights.infer_relpos import CONV_STEM_ANCHOR, backbone_fields as _backbone_fields, conv_stem_proj, rel_pos_mlp_fields as _rel_pos_mlp_fields
from vitzoo.weights.infer_parallel import ANCHOR as PARALLEL_ANCHOR, parallel_fields
from vitzoo.weights.infer_refusal import MATCH_KEYS as _MATCH_KEYS, SIZE_KEYS as _SIZE_KEYS, agreeing as _agreeing, refusal as _refusal
from vitzoo.weights.infer_xcit import ANCHOR as XCIT_ANCHOR, xcit_fields, xcit_unseen

Hint = Union[ViTSpec, Mapping[str, Any], None]
"""What the caller says about the model: a variant's spec (its name, overrides applied) or just the fields given."""


def infer_spec(
    state: Mapping[str, np.ndarray],
    source: str,
    *,
    config: Optional[Mapping[str, Any]] = None,
    hint: Hint = None,
) -> ViTSpec:
    """The spec of a canonical state.

    ``config`` holds what the source states (it wins over everything but the tensors);
    ``hint`` what the caller said. Raises :class:`CheckpointError` for a damaged state,
    or when a field the tensors cannot show is stated nowhere and the registered
    variants of this architecture do not settle it.
    """
    fields = _tensor_fields(state, source)
    config = dict(config or {})
    if config.get("fc_norm_affine") is False:  # a post-pool norm without tensors (timm's Qwen3 ViT classifier): the layout states it
        fields.update(fc_norm=True, final_norm=True)
    given = _hint_fields(hint)
    if fields.get("block") == "xcit":  # what XCiT's tensors cannot show (weights/infer_xcit.py)
        fields.update(xcit_unseen(fields, source, config, given, [(n, get_spec(n)) for n in variant_names()]))
    class_token = fields["class_token"]
    if "attn_pool.latent" in state:
        fields["global_pool"] = "map"  # the tensors show the attention pool; nothing else decides
    elif "query_pool.query" in state:
        fields["global_pool"] = "query"  # AIMv2's attention pooling head, shown by its tensors too
    elif not class_token and "global_pool" not in config:
        fields["global_pool"] = "avg"  # without a class token the patch tokens' mean is the only pooling (a config saying otherwise is refused by the spec)
    if "attn_pool.latent" not in state:
        fields.update(pool_heads=0, pool_include_prefix=False)  # no attention pool: nothing to say about it
    elif not class_token and not fields["reg_tokens"]:
        fields["pool_include_prefix"] = False  # no prefix tokens: the option changes nothing
    # a learned grid of its own size: NaFlex's (its reader states the side), or without NaFlex the Qwen3 ViT's (weights/qwen_timm.py)
    grid = config.get("pos_embed_grid")
    own_grid = grid if not config.get("naflex") and _is_int(grid) and grid > 0 else 0
    fields.update(naflex=bool(config.get("naflex")), pos_embed_grid=own_grid, pos_factorized=False)
    if fields["naflex"]:  # NaFlex: the grid has its own size (stated by the reader), the image size is only the default input
        _naflex_fields(state, source, fields, config, given)
    elif "pos_embed" in state:
        _position_fields(state, source, fields, config, given)
    elif "img_size" in fields:  # from a relative position table: a stated size on the same grid wins (e.g. 384 over 27 patches of 14)
        for size in (config.get("img_size"), given.get("img_size")):
            if _is_int(size) and size // fields["patch_size"] == fields["img_size"] // fields["patch_size"]:
                fields["img_size"] = size
                break
    # Where no registered variant has these sizes, a file with a learned position embedding and the plain
    # ViT's names is timm's VisionTransformer: no rotary positions, its MAP pool. EVA-style names leave that open.
    plain_names = fields["abs_pos_embed"] and fields.get("block") not in ("eva", "cait") and "blocks.0.gamma_1" not in state

    registered = [(name, get_spec(name)) for name in variant_names()]
    # XCiT's tensors show its head count and family: its variants lend nothing to other files (nor theirs to it)
    registered = [(name, spec) for name, spec in registered if (spec.block == "xcit") == (fields.get("block") == "xcit")]
    resolved: dict[str, Any] = {}
    open_fields: list[str] = []
    # the registered variants these tensors fit: of the same sizes (they lend a head count), of the same form (the rest)
    lenders = {keys: _agreeing(registered, fields, keys) for keys in (_SIZE_KEYS, _MATCH_KEYS)}
    for name in UNSEEN_FIELDS:
        if name in fields:
            continue
        if name.startswith("rope_") and resolved.get("rope", fields.get("rope")) == "none":
            resolved[name] = getattr(_PLAIN, name)  # no rotary positions: their settings do not exist
            continue
        if (name, fields.get("block", "vit")) in (("res_post_norm", "eva"), ("res_post_norm", "cait"), ("res_post_norm", "xcit"),
                                                  ("post_norm", "vit"), ("post_norm", "cait"), ("post_norm", "xcit")):
            resolved[name] = False  # timm builds post-norm blocks from the plain ViT block (ResPostBlock) or EVA's only
            continue
        if name.startswith("pos_") and not fields["naflex"]:
            # no NaFlex grid: nothing is resampled with these settings, but for the Qwen3 ViT's grid, whose reader states them
            resolved[name] = config.get(name, getattr(_PLAIN, name)) if fields["pos_embed_grid"] else getattr(_PLAIN, name)
            continue
        if name in config:
            resolved[name] = config[name]
        elif name in given:
            resolved[name] = given[name]
        else:
            agreeing = lenders[_SIZE_KEYS if name == "num_heads" else _MATCH_KEYS]
            values = {getattr(spec, name) for _, spec in agreeing}
            if len(values) == 1:  # e.g. every CLIP tower of these sizes uses eps 1e-5
                resolved[name] = values.pop()
            elif not agreeing and plain_names and name in _PLAIN_VIT_FIELDS:
                resolved[name] = getattr(_PLAIN, name)
            else:
                open_fields.append(name)
    if open_fields:
        raise CheckpointError(_refusal(source, open_fields, fields, registered))
    for name in _BEHAVIOUR_FIELDS:  # how the model treats other input sizes, not what its weights compute: never refused
        if name in fields:  # settled already (XCiT: any patch multiple, whatever the variants)
            continue
        if name not in config and name in given:
            resolved[name] = given[name]
        elif name not in config:
            values = {getattr(spec, name) for _, spec in lenders[_MATCH_KEYS]}
            resolved[name] = values.pop() if len(values) == 1 else getattr(_PLAIN, name)
    if "block" not in fields:  # the names fit both blocks: rotary positions exist only in the EVA block
        fields["block"] = "vit" if resolved.get("rope", "none") == "none" else "eva"
    if not fields["qkv_fused"]:  # Sapiens2's grouped-query blocks: k_proj's rows are the block's key/value heads
        fields.update(_kv_fields(state, source, fields, fields.get("num_heads", resolved.get("num_heads"))))
    extra = {k: v for k, v in config.items() if k not in fields and k not in resolved}
    try:
        return ViTSpec(**{**fields, **resolved, **extra})
    except TypeError as exc:
        raise CheckpointError(f"{source}: cannot build a spec ({exc}).") from None
    except SpecError as exc:  # e.g. a config's head count that does not divide the width
        raise CheckpointError(f"{source} does not describe a valid ViT: {str(exc).rstrip('.')}.") from None


def _kv_fields(state: Mapping[str, np.ndarray], source: str, fields: Mapping[str, Any], heads: Any) -> dict[str, int]:
    """``num_kv_heads`` and ``num_full_attn_blocks`` from every block's ``k_proj`` (Sapiens2's layout, or full heads)."""
    d, depth = fields["embed_dim"], fields["depth"]
    rows = [int(state[f"blocks.{i}.attn.k_proj.weight"].shape[0]) for i in range(depth) if f"blocks.{i}.attn.k_proj.weight" in state]
    if all(r == d for r in rows):
        return {"num_kv_heads": 0, "num_full_attn_blocks": 0}
    hd = d // heads if _is_int(heads) and heads > 0 and d % heads == 0 else 0
    kv = [r // hd if hd and r % hd == 0 else 0 for r in rows]
    lead = next((i for i, k in enumerate(kv) if k != heads), len(kv))
    middle = set(kv[lead:depth - lead])
    if len(kv) != depth or 0 in kv or len(middle) != 1 or heads in middle or any(k != heads for k in kv[depth - lead:]):
        raise CheckpointError(f"{source}: its blocks' key/value projections ({', '.join(map(str, rows))} rows for {heads} heads of "
                              f"width {d}) are not Sapiens2's layout (full heads in the first and last blocks, the same fewer heads "
                              "between), the grouped-query attention vitzoo builds.")
    return {"num_kv_heads": middle.pop(), "num_full_attn_blocks": lead}


def _naflex_fields(state: Mapping[str, np.ndarray], source: str, fields: dict[str, Any], config: Mapping[str, Any], given: Mapping[str, Any]) -> None:
    """A NaFlex grid: its side from the reader, its tables from the tensors; the image size as stated, else the grid's."""
    grid = config.get("pos_embed_grid")
    if not _is_int(grid) or grid < 1:
        raise CheckpointError(f"{source}: a NaFlex checkpoint whose position grid size is not stated.")
    factorized = "pos_embed_y" in state
    expected = (1, grid, fields["embed_dim"]) if factorized else (1, grid * grid, fields["embed_dim"])
    found = state["pos_embed_y"] if factorized else state.get("pos_embed")
    if found is None or tuple(found.shape) != expected:
        raise CheckpointError(f"{source}: the NaFlex position grid has shape {None if found is None else tuple(found.shape)}, expected {expected}.")
    fields.update(pos_embed_grid=grid, pos_factorized=factorized, pos_embed_prefix=False, abs_pos_embed=True)
    size = next((v for v in (config.get("img_size"), given.get("img_size")) if _is_int(v) and v >= fields["patch_size"]), None)
    fields["img_size"] = size or grid * fields["patch_size"]


def _position_fields(state: Mapping[str, np.ndarray], source: str, fields: dict[str, Any], config: Mapping[str, Any], given: Mapping[str, Any]) -> None:
    """Image size and prefix layout from a learned position embedding's length."""
    class_token, patch = fields["class_token"], fields["patch_size"]
    pos_len = int(state["pos_embed"].shape[1])
    prefix = int(class_token) + int(fields["dist_token"]) + fields["reg_tokens"]
    prefix_in_pos = config.get("pos_embed_prefix")
    if prefix_in_pos is None:  # a square grid tells whether the prefix tokens are included
        prefix_in_pos = not _is_square(pos_len) or (prefix > 0 and _is_square(pos_len - prefix))
    grid_len = pos_len - prefix if prefix_in_pos else pos_len
    if not _is_square(grid_len):
        raise CheckpointError(f"{source}: position embedding length {pos_len} is not a square patch grid.")
    fields["pos_embed_prefix"] = bool(prefix_in_pos) if prefix else True
    grid = math.isqrt(grid_len)
    stride = resnetv2.stride(fields["backbone_layers"]) if fields.get("backbone", "none") == "resnetv2" else 1
    fields["img_size"] = grid * patch * stride  # a hybrid ViT's patches are cut from its backbone's feature map
    for size in (config.get("img_size"), given.get("img_size")):
        if _is_int(size) and size // (patch * stride) == grid:  # e.g. 384 px over a 27-patch grid of 14: the tensors cannot tell
            fields["img_size"] = size
            break


def _tensor_fields(state: Mapping[str, np.ndarray], source: str) -> dict[str, Any]:
    """The spec fields the tensors' names and shapes fix, after checking they fit together."""
    if XCIT_ANCHOR in state:  # timm's XCiT: a convolutional stem and its own block names
        return xcit_fields(state, source)
    if CONV_STEM_ANCHOR in state:  # MobileCLIP's stem: no projection, its last convolution is the patch embedding
        proj = conv_stem_proj(state, source)
    else:
        try:
            proj = state["patch_embed.proj.weight"]
        except KeyError as exc:
            raise CheckpointError(f"{source} has no {exc.args[0]!r} tensor; it does not look like a ViT checkpoint.") from None
    pos = state.get("pos_embed")
    if pos is None and "blocks.0.attn.qkv.weight" not in state and "blocks.0.attn.q_proj.weight" not in state:
        raise CheckpointError(f"{source} has no 'pos_embed' tensor; it does not look like a ViT checkpoint.")
    if proj.ndim != 4 or proj.shape[2] != proj.shape[3] or (pos is not None and pos.ndim != 3):
        shown = tuple(pos.shape) if pos is not None else None
        raise CheckpointError(f"{source}: patch embedding {tuple(proj.shape)} or position embedding {shown} has an unexpected shape.")
    embed_dim, in_chans, patch, _ = (int(v) for v in proj.shape)
    backbone = _backbone_fields(state, source, in_chans)  # timm's hybrid ViT: the projection reads the backbone's features
    in_chans = backbone.pop("in_chans", in_chans)
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d{1,6})\.", k))}
    depth = 1 + max(blocks, default=-1)
    if depth == 0:
        raise CheckpointError(f"{source} has no transformer blocks.")
    if len(blocks) != depth:  # checked before a spec of `depth` blocks is built (a damaged name may say 999999)
        gap = next(i for i in range(depth) if i not in blocks)
        raise CheckpointError(f"{source} has tensors of block {depth - 1} but none of block {gap}; the file is incomplete or damaged.")
    for name, ndim in (("blocks.0.mlp.fc1.weight", 2), ("blocks.0.mlp.fc2.weight", 2), ("reg_token", 3), ("pre_logits.fc.weight", 2), ("head.weight", 2)):
        if name in state and state[name].ndim != ndim:  # read below for sizes; a wrong rank is a damaged file
            raise CheckpointError(f"{source}: tensor {name!r} has shape {tuple(state[name].shape)}, expected {ndim} dimensions.")
    if PARALLEL_ANCHOR in state:  # timm's parallel blocks: one in_proj for the MLP and q, k, v (weights/infer_parallel.py)
        return parallel_fields(state, source, dict(**backbone, **_common_fields(state), patch_size=patch, in_chans=in_chans,
                                                    embed_dim=embed_dim, depth=depth))
    split = "blocks.0.mlp.fc1_g.weight" in state  # timm's SwiGLU with gate and value apart
    fc1 = state.get("blocks.0.mlp.fc1_g.weight" if split else "blocks.0.mlp.fc1.weight")
    fc2 = state.get("blocks.0.mlp.fc2.weight")
    if fc1 is None or fc2 is None:
        raise CheckpointError(f"{source} has no 'blocks.0.mlp.fc1.weight' or 'blocks.0.mlp.fc2.weight' tensor.")
    mlp_dim = int(fc2.shape[1])  # fc2's input width, for every MLP type
    if int(fc1.shape[0]) not in ((mlp_dim,) if split else (mlp_dim, 2 * mlp_dim)):
        raise CheckpointError(f"{source}: MLP fc1 {tuple(fc1.shape)} and fc2 {tuple(fc2.shape)} do not fit together.")
    a = "blocks.0.attn."
    fused = a + "qkv.weight" in state
    qkv_bias = any(a + n in state for n in ("qkv.bias", "q_bias", "q_proj.bias"))
    k_bias = not qkv_bias or a + "qkv.bias" in state or a + "k_proj.bias" in state
    fields: dict[str, Any] = dict(
        **backbone,
        abs_pos_embed=pos is not None or "pos_embed_y" in state,  # NaFlex's factorized grid: two 1-D tables
        qkv_fused=fused,
        k_bias=k_bias,
        attn_norm=a + "norm.weight" in state,
        mlp_norm="blocks.0.mlp.norm.weight" in state,
        final_norm="norm.weight" in state or "fc_norm.weight" in state,
    )
    if "rel_pos_bias.relative_position_bias_table" in state:
        raise CheckpointError(f"{source} is a BEiT checkpoint with one relative position table shared by all blocks (BEiT pre-training's "
                              "use_shared_rel_pos_bias), which vitzoo does not build; use a fine-tuned BEiT file (a table in every block).")
    table = state.get(a + "relative_position_bias_table")
    fields["rel_pos_bias"] = "none" if table is None else "block"
    if table is not None:  # the table is made for one square patch grid: it shows the image size as pos_embed does
        fields["rope"] = "none"  # BEiT's positions are the tables (the spec combines them with no rotary form)
        try:
            fields["img_size"] = rel_pos.grid_of_table(int(table.shape[0])) * patch
        except ValueError as exc:
            raise CheckpointError(f"{source}: {a}relative_position_bias_table {tuple(table.shape)}: {exc}.") from None
    # AIMv2: RMSNorm (a norm weight without a bias), a norm on the patch embeddings, bias-free projections
    fields["norm_type"] = "rms" if "blocks.0.norm1.weight" in state and "blocks.0.norm1.bias" not in state else "layer"
    fields["patch_norm"] = "patch_embed.norm.weight" in state
    fields["proj_bias"] = a + "proj.bias" in state
    fields["mlp_bias"] = "blocks.0.mlp.fc2.bias" in state
    freqs = state.get("rope.freqs")
    if freqs is not None:  # RoPE-Mixed: the learned frequencies [2, depth, heads, head_dim / 2] show the form and the heads
        if freqs.ndim != 4 or freqs.shape[0] != 2 or freqs.shape[1] != depth or freqs.shape[2] < 1 or embed_dim != 2 * freqs.shape[2] * freqs.shape[3]:
            raise CheckpointError(f"{source}: rope.freqs {tuple(freqs.shape)} does not fit {depth} blocks of width {embed_dim}; the file is damaged.")
        # the temperature only shapes a fresh init of these frequencies (timm's default 10), never what the file computes
        fields.update(rope="mixed", num_heads=int(freqs.shape[2]), rope_ref_grid=0, rope_grid_offset=0.0, rope_half=False, rope_temperature=10.0)
    lam = state.get(a + "lambda_q1")
    fields["diff_attn"] = lam is not None
    if lam is not None:  # differential attention: λ vectors over half a head show the head count
        if lam.ndim != 1 or lam.shape[0] < 1 or embed_dim % (2 * lam.shape[0]) or a + "sub_norm.weight" not in state:
            raise CheckpointError(f"{source}: {a}lambda_q1 {tuple(lam.shape)} does not fit width {embed_dim}, or attn.sub_norm is missing; the file is damaged.")
        fields["num_heads"] = embed_dim // (2 * int(lam.shape[0]))
    fields["attn_only_layer_scale"] = "blocks.0.gamma_1" in state and "blocks.0.gamma_2" not in state  # Sapiens2
    norm = state.get(a + "q_norm.weight")
    if norm is not None:  # per-head q/k norms show the head width
        if norm.ndim != 1 or norm.shape[0] < 1 or embed_dim % norm.shape[0]:
            raise CheckpointError(f"{source}: {a}q_norm.weight {tuple(norm.shape)} does not fit width {embed_dim}; the file is damaged.")
        fields["num_heads"] = embed_dim // int(norm.shape[0])
    if fields["rel_pos_bias"] != "none" or freqs is not None or "blocks.0.ls1.gamma" in state or "blocks.0.gamma_1" in state:
        fields["post_norm"] = False  # timm builds post-norm blocks only as EVA-02-E: no layer scale, RoPE-Mixed or relative positions
    eva_only = (freqs is not None or not fields["abs_pos_embed"] or not fused or not k_bias or fields["attn_norm"] or fields["mlp_norm"] or split
                or table is not None or fields["norm_type"] == "rms" or fields["patch_norm"] or not fields["proj_bias"] or not fields["mlp_bias"]
                or fields["attn_only_layer_scale"])
    token_only = {int(m.group(1)) for k in state if (m := re.match(r"blocks_token_only\.(\d{1,6})\.", k))}
    fields["depth_token_only"] = len(token_only)
    fields.update(_rel_pos_mlp_fields(state, source))
    if fields["rel_pos_type"] != "none":
        pass  # timm's VisionTransformerRelPos: the plain ViT block's names around the bias MLP (block set above)
    elif a + "proj_l.weight" in state or token_only:
        # CaiT: talking heads mix the heads' scores with an [H, H] Linear, so the tensors show the head count too
        if a + "proj_l.weight" not in state or token_only != set(range(len(token_only))):
            raise CheckpointError(f"{source} has CaiT tensors (blocks_token_only.*, attn.proj_l) but not all of them; the file is incomplete or damaged.")
        fields.update(block="cait", num_heads=int(state[a + "proj_l.weight"].shape[0]), rope="none")
    elif eva_only:
        fields["block"] = "eva"  # names or parts only timm's EVA block has
    elif "blocks.0.ls1.gamma" in state:
        fields["block"] = "vit"
    # else: the tensors fit both blocks (``gamma_1`` is also DeiT-III's old name): the block is settled below
    return dict(
        **fields,
        patch_size=patch,
        in_chans=in_chans,
        embed_dim=embed_dim,
        depth=depth,
        mlp_dim=mlp_dim,
        mlp_type="swiglu_split" if split else "swiglu" if int(fc1.shape[0]) == 2 * mlp_dim else "mlp",
        qkv_bias=qkv_bias,
        qk_norm="blocks.0.attn.q_norm.weight" in state,
        layer_scale="blocks.0.ls1.gamma" in state or "blocks.0.gamma_1" in state,
        **_common_fields(state),
    )


def _common_fields(state: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """What the tensors outside the blocks show, whatever the block form."""
    return dict(
        dist_token="dist_token" in state,
        patch_bias="patch_embed.proj.bias" in state or CONV_STEM_ANCHOR in state,  # MobileCLIP's stem: its last conv's bias
        class_token="cls_token" in state,
        reg_tokens=int(state["reg_token"].shape[1]) if "reg_token" in state else 0,
        fc_norm="fc_norm.weight" in state,
        pre_norm="norm_pre.weight" in state,
        pre_logits_dim=int(state["pre_logits.fc.weight"].shape[0]) if "pre_logits.fc.weight" in state else 0,
        num_classes=int(state["head.weight"].shape[0]) if "head.weight" in state else 0,
    )


def _hint_fields(hint: Hint) -> dict[str, Any]:
    if hint is None:
        return {}
    if isinstance(hint, ViTSpec):
        return hint.to_dict()
    return dict(hint)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_square(n: int) -> bool:
    return n > 0 and math.isqrt(n) ** 2 == n


# Fields no tensor shows (some only in some files: the image size without a position embedding, the
# block's form when its names fit both), and how a caller gives each one.
UNSEEN_FIELDS = (
    "num_heads", "norm_eps", "gelu", "global_pool", "img_size", "pool_heads", "pool_include_prefix",
    "rope", "rope_temperature", "rope_ref_grid", "rope_grid_offset", "rope_grid_xy", "rope_half", "res_post_norm", "post_norm",
    "pos_interp", "pos_antialias", "pos_align_corners", "pos_ar_preserving",
)
_PLAIN = ViTSpec()
_PLAIN_VIT_FIELDS = ("pool_heads", "pool_include_prefix", "rope", "res_post_norm", "post_norm")
# how the model treats other inputs or a fresh init, not what its weights compute (DINOv3: dynamic_img_size; Sapiens2's
# 1024 × 768 default input and layer scale init 1.0)
_BEHAVIOUR_FIELDS = ("dynamic_img_size", "dynamic_img_pad", "img_width", "layer_scale_init")
