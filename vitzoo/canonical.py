"""The canonical tensor names and shapes of a spec: the one naming scheme.

Every backend names its parameters this way and every weight format maps to it,
so this module is the single source of truth for what a complete state holds.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from vitzoo import conv_stem, rel_pos, resnetv2
from vitzoo.errors import CheckpointError
from vitzoo.spec import ViTSpec
from vitzoo.xcit_spec import xcit_shapes

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
    if spec.block == "xcit":  # timm's Xcit: convolutional stem, Fourier positions, its own block names
        return xcit_shapes(spec)
    d, m = spec.embed_dim, spec.mlp_dim
    shapes: dict[str, Shape] = {}
    proj_in = spec.in_chans
    if spec.backbone == "resnetv2":  # timm's hybrid ViT: the convolutional backbone's tensors, then the projection of its features
        shapes.update(resnetv2.shapes(spec.in_chans, spec.backbone_layers))
        proj_in = resnetv2.out_channels(spec.backbone_layers)
    if spec.backbone == "convstem":  # MobileCLIP: the stem's last convolution gives the tokens, no projection
        shapes.update(conv_stem.shapes(spec.in_chans, d))
    else:
        shapes["patch_embed.proj.weight"] = (d, proj_in, spec.patch_size, spec.patch_size)
    if spec.patch_bias and spec.backbone != "convstem":
        shapes["patch_embed.proj.bias"] = (d,)
    if spec.patch_norm:
        shapes.update(_norm("patch_embed.norm", d, spec))
    if spec.class_token:
        shapes["cls_token"] = (1, 1, d)
    if spec.dist_token:
        shapes["dist_token"] = (1, 1, d)
    if spec.reg_tokens:
        shapes["reg_token"] = (1, spec.reg_tokens, d)
    if spec.abs_pos_embed and spec.pos_factorized:  # NaFlex: rows' and columns' tables, added
        shapes["pos_embed_y"] = (1, spec.pos_grid, d)
        shapes["pos_embed_x"] = (1, spec.pos_grid, d)
    elif spec.abs_pos_embed:
        shapes["pos_embed"] = (1, spec.pos_embed_len, d)
    if spec.rope == "mixed":  # naver's RoPE-Mixed: learned (x, y) frequencies per block and head
        shapes["rope.freqs"] = (2, spec.depth, spec.num_heads, spec.head_dim // 2)
    if spec.pre_norm:
        shapes.update(_norm("norm_pre", d, spec))
    if spec.rel_pos_shared:  # timm's VisionTransformerRelPos: one bias MLP for every block
        shapes.update(_rel_pos_mlp(spec, "shared_rel_pos"))
    block = {"vit": _vit_block, "eva": _eva_block, "cait": _cait_block, "parallel": _parallel_block}[spec.block]
    for i in range(spec.depth):
        shapes.update(block(spec, f"blocks.{i}."))
    for i in range(spec.depth_token_only):  # CaiT's class-attention blocks
        shapes.update(_class_attn_block(spec, f"blocks_token_only.{i}."))
    if spec.deepseek_vit:  # the token norm stays before the aligner; the post-pool norm has no weight
        shapes.update({**_norm("norm", d, spec), **(_aligner(spec) if spec.merge_size else {})})
    elif spec.merge_size:  # the Qwen3 ViT's VLM projector
        shapes.update(_merger(spec))
    if spec.final_norm and spec.fc_norm_affine and not spec.deepseek_vit:  # Qwen3 ViT's classifier norm has no weight or bias
        shapes.update(_norm("fc_norm" if spec.fc_norm else "norm", spec.num_features if spec.merge_size else d, spec))
    if spec.global_pool == "map":
        shapes.update(_attention_pool("attn_pool", d, spec.pool_mlp_dim or m))
    if spec.global_pool == "query":
        shapes.update(_query_pool("query_pool", d, spec.qkv_bias))
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


def _vit_block(spec: ViTSpec, b: str) -> dict[str, Shape]:
    """timm's ``VisionTransformer`` block: packed qkv, layer scale as ``ls1.gamma``/``ls2.gamma``."""
    d, hd = spec.embed_dim, spec.head_dim
    shapes: dict[str, Shape] = {**_norm(b + "norm1", d), b + "attn.qkv.weight": (3 * d, d)}
    if spec.qkv_bias:
        shapes[b + "attn.qkv.bias"] = (3 * d,)
    if spec.qk_norm:
        shapes.update(_norm(b + "attn.q_norm", hd))
        shapes.update(_norm(b + "attn.k_norm", hd))
    if spec.rel_pos_type != "none" and not spec.rel_pos_shared:
        shapes.update(_rel_pos_mlp(spec, b + "attn.rel_pos"))
    if spec.diff_attn:  # timm's DiffAttention: λ vectors over half a head, an RMSNorm over a whole one
        shapes.update({f"{b}attn.lambda_{part}": (hd // 2,) for part in ("q1", "k1", "q2", "k2")})
        shapes[b + "attn.sub_norm.weight"] = (hd,)
    shapes[b + "attn.proj.weight"] = (d, d)
    shapes[b + "attn.proj.bias"] = (d,)
    if spec.layer_scale:
        shapes[b + "ls1.gamma"] = (d,)
    shapes.update(_norm(b + "norm2", d))
    shapes.update(_block_mlp(spec, b + "mlp"))
    if spec.layer_scale:
        shapes[b + "ls2.gamma"] = (d,)
    return shapes


def _parallel_block(spec: ViTSpec, b: str) -> dict[str, Shape]:
    """timm's ``ParallelScalingBlock`` (and ``DiffParallelScalingBlock``): ``in_proj`` = [MLP hidden | q | k | v]."""
    d, m, hd = spec.embed_dim, spec.mlp_dim, spec.head_dim
    shapes: dict[str, Shape] = {**_norm(b + "in_norm", d, spec), b + "in_proj.weight": (m + 3 * d, d)}
    if spec.qkv_bias:
        shapes[b + "in_proj.bias"] = (m + 3 * d,)
    else:  # timm gives the MLP its own bias when in_proj has none
        shapes[b + "mlp_bias"] = (m,)
    if spec.diff_attn:  # λ vectors over half a head, an RMSNorm over a whole one, on the block itself
        shapes.update({f"{b}lambda_{part}": (hd // 2,) for part in ("q1", "k1", "q2", "k2")})
        shapes[b + "sub_norm.weight"] = (hd,)
    outs = [("out_proj", d + m)] if spec.parallel_out_fused else [("attn_out_proj", d), ("mlp_out_proj", m)]
    for out, width in outs:
        shapes[f"{b}{out}.weight"] = (d, width)
        if spec.proj_bias:
            shapes[f"{b}{out}.bias"] = (d,)
    if spec.layer_scale:
        shapes[b + "ls.gamma"] = (d,)
    return shapes


def _rel_pos_mlp(spec: ViTSpec, prefix: str) -> dict[str, Shape]:
    """timm's ``RelPosMlp``: ``mlp.fc1`` (2 → rel_pos_dim), ``mlp.fc2`` (→ heads; no bias in Swin-V2's form)."""
    m = prefix + ".mlp."
    shapes: dict[str, Shape] = {m + "fc1.weight": (spec.rel_pos_dim, 2), m + "fc1.bias": (spec.rel_pos_dim,),
                                m + "fc2.weight": (spec.num_heads, spec.rel_pos_dim)}
    if spec.rel_pos_type != "mlp_swin":
        shapes[m + "fc2.bias"] = (spec.num_heads,)
    return shapes


def _eva_block(spec: ViTSpec, b: str) -> dict[str, Shape]:
    """timm's ``EvaBlock`` (and BEiT's): layer scale as ``gamma_1``/``gamma_2``, k without a bias when ``k_bias`` is off.

    ``EvaBlockPostNorm`` (``post_norm``) holds the same tensors: only where the norms act differs.
    """
    d, hd = spec.embed_dim, spec.head_dim
    kv = spec.kv_heads(int(b.split(".")[1])) * hd  # Sapiens2's grouped-query blocks: k and v of their kv heads only
    shapes: dict[str, Shape] = {}
    if spec.layer_scale:
        shapes[b + "gamma_1"] = (d,)
        if not spec.attn_only_layer_scale:
            shapes[b + "gamma_2"] = (d,)
    shapes.update(_norm(b + "norm1", d, spec))
    a = b + "attn."
    if spec.qkv_fused:
        if spec.qkv_bias and not spec.k_bias:
            shapes[a + "q_bias"] = (d,)
            shapes[a + "v_bias"] = (d,)
        shapes[a + "qkv.weight"] = (3 * d, d)
        if spec.qkv_bias and spec.k_bias:
            shapes[a + "qkv.bias"] = (3 * d,)
    else:
        for part, rows in (("q", d), ("k", kv), ("v", kv)):
            shapes[f"{a}{part}_proj.weight"] = (rows, d)
            if spec.qkv_bias and (part != "k" or spec.k_bias):
                shapes[f"{a}{part}_proj.bias"] = (rows,)
    if spec.qk_norm:  # per head, of the block's norm type (Sapiens2: RMSNorm)
        shapes.update(_norm(a + "q_norm", hd, spec))
        shapes.update(_norm(a + "k_norm", hd, spec))
    if spec.attn_norm:
        shapes.update(_norm(a + "norm", d))
    if spec.rel_pos_bias == "block":
        shapes[a + "relative_position_bias_table"] = (rel_pos.table_rows(spec.grid_size), spec.num_heads)
    shapes[a + "proj.weight"] = (d, d)
    if spec.proj_bias:
        shapes[a + "proj.bias"] = (d,)
    shapes.update(_norm(b + "norm2", d, spec))
    shapes.update(_block_mlp(spec, b + "mlp"))
    return shapes


def _cait_block(spec: ViTSpec, b: str) -> dict[str, Shape]:
    """timm's CaiT ``LayerScaleBlock``: packed qkv, talking heads (``proj_l``/``proj_w`` over the heads), ``gamma_1``/``gamma_2``."""
    d, h = spec.embed_dim, spec.num_heads
    shapes: dict[str, Shape] = {b + "gamma_1": (d,), b + "gamma_2": (d,), **_norm(b + "norm1", d), b + "attn.qkv.weight": (3 * d, d)}
    if spec.qkv_bias:
        shapes[b + "attn.qkv.bias"] = (3 * d,)
    shapes.update({b + "attn.proj.weight": (d, d), b + "attn.proj.bias": (d,), b + "attn.proj_l.weight": (h, h), b + "attn.proj_l.bias": (h,),
                   b + "attn.proj_w.weight": (h, h), b + "attn.proj_w.bias": (h,)})
    shapes.update(_norm(b + "norm2", d))
    shapes.update(_block_mlp(spec, b + "mlp"))
    return shapes


def _class_attn_block(spec: ViTSpec, b: str) -> dict[str, Shape]:
    """timm's ``LayerScaleBlockClassAttn``: ``ClassAttn`` with q, k, v apart (the class token's query), then the MLP."""
    d = spec.embed_dim
    shapes: dict[str, Shape] = {b + "gamma_1": (d,), b + "gamma_2": (d,), **_norm(b + "norm1", d)}
    for part in "qkv":
        shapes[f"{b}attn.{part}.weight"] = (d, d)
        if spec.qkv_bias:
            shapes[f"{b}attn.{part}.bias"] = (d,)
    shapes.update({b + "attn.proj.weight": (d, d), b + "attn.proj.bias": (d,), **_norm(b + "norm2", d)})
    shapes.update(_block_mlp(spec, b + "mlp"))
    return shapes


def _merger(spec: ViTSpec) -> dict[str, Shape]:
    """timm's ``Qwen3VitPatchMerger``: a per-token norm, then ``fc1`` over ``merge_size²`` unshuffled tokens and ``fc2``."""
    d, wide = spec.embed_dim, spec.embed_dim * spec.merge_size**2
    return {**_norm("merger.norm", d), "merger.fc1.weight": (wide, wide), "merger.fc1.bias": (wide,),
            "merger.fc2.weight": (spec.merge_dim, wide), "merger.fc2.bias": (spec.merge_dim,)}


def _aligner(spec: ViTSpec) -> dict[str, Shape]:
    """timm's ``DeepseekVitAligner``: ``fc1`` over ``merge_size²`` unshuffled tokens to ``merge_dim``, then ``fc2`` (no norm)."""
    wide, out = spec.embed_dim * spec.merge_size**2, spec.merge_dim
    return {"aligner.fc1.weight": (out, wide), "aligner.fc1.bias": (out,), "aligner.fc2.weight": (out, out), "aligner.fc2.bias": (out,)}


def _block_mlp(spec: ViTSpec, prefix: str) -> dict[str, Shape]:
    d, m = spec.embed_dim, spec.mlp_dim
    if spec.mlp_type == "swiglu_split":  # timm's SwiGLU: gate and value projections apart
        shapes = {prefix + ".fc1_g.weight": (m, d), prefix + ".fc1_g.bias": (m,),
                  prefix + ".fc1_x.weight": (m, d), prefix + ".fc1_x.bias": (m,)}
    else:
        shapes = {prefix + ".fc1.weight": (spec.fc1_dim, d), prefix + ".fc1.bias": (spec.fc1_dim,)}
    if not spec.mlp_bias:  # AIMv2
        shapes = {k: v for k, v in shapes.items() if not k.endswith(".bias")}
    if spec.mlp_norm:
        shapes.update(_norm(prefix + ".norm", m))
    shapes[prefix + ".fc2.weight"] = (d, m)
    if spec.mlp_bias:
        shapes[prefix + ".fc2.bias"] = (d,)
    return shapes


def _mlp(prefix: str, dim: int, fc1_dim: int, hidden: int) -> dict[str, Shape]:
    return {
        prefix + ".fc1.weight": (fc1_dim, dim),
        prefix + ".fc1.bias": (fc1_dim,),
        prefix + ".fc2.weight": (dim, hidden),
        prefix + ".fc2.bias": (dim,),
    }


def _query_pool(prefix: str, dim: int, kv_bias: bool) -> dict[str, Shape]:
    """AIMv2's attention pooling head (transformers' ``Aimv2AttentionPoolingHead``): the query is the token itself,
    k and v have a bias as the blocks' qkv do, the output projection always has one."""
    shapes: dict[str, Shape] = {prefix + ".query": (1, 1, dim)}
    for part in ("k", "v"):
        shapes[f"{prefix}.{part}.weight"] = (dim, dim)
        if kv_bias:
            shapes[f"{prefix}.{part}.bias"] = (dim,)
    return {**shapes, prefix + ".proj.weight": (dim, dim), prefix + ".proj.bias": (dim,)}


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


def _norm(prefix: str, dim: int, spec: "ViTSpec | None" = None) -> dict[str, Shape]:
    """A LayerNorm's weight and bias; with ``spec.norm_type == "rms"`` an RMSNorm's weight only."""
    if spec is not None and spec.norm_type == "rms":
        return {prefix + ".weight": (dim,)}
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
