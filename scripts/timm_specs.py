"""Read a timm ViT's architecture from the model's own attributes, as vitzoo spec fields.

Used by ``scripts/make_pretrained_table.py`` (which timm weight sets vitzoo can
express, and why not the others) and by the test suite (every registered variant
against ``timm.create_model``). Models are built on PyTorch's ``meta`` device, so
even the giant ones cost no memory and build in a fraction of a second.

Example:
    >>> fields, unsupported = read_timm_architecture("vit_base_patch16_224")   # doctest: +SKIP
    >>> fields["embed_dim"], unsupported
    (768, [])
"""

from __future__ import annotations

from typing import Any


def build_meta(name: str, **kwargs: Any) -> Any:
    """``timm.create_model(name, pretrained=False)`` with every tensor on the meta device."""
    import timm
    import torch

    kwargs.setdefault("weight_init", "skip")  # nothing to initialise on the meta device; init dominates build time
    with torch.device("meta"):
        return timm.create_model(name, pretrained=False, **kwargs)


def read_timm_architecture(name_or_model: Any) -> tuple[dict[str, Any], list[str]]:
    """``(fields, unsupported)``: vitzoo spec fields read from the model, and what no spec field can express."""
    import torch.nn as nn

    m = build_meta(name_or_model) if isinstance(name_or_model, str) else name_or_model
    unsupported: list[str] = []
    kind = type(m).__name__
    if kind not in ("VisionTransformer", "VisionTransformerDistilled"):
        unsupported.append(f"{kind} model class")
    block = m.blocks[0]
    block_kind = type(block).__name__
    if block_kind in ("ParallelScalingBlock", "DiffParallelScalingBlock"):
        return _parallel_architecture(m, unsupported)
    if block_kind not in ("Block", "ResPostBlock"):  # ResPostBlock: res_post_norm
        unsupported.append(f"{block_kind} blocks")
        return {}, unsupported
    attn, mlp = block.attn, block.mlp
    diff_attn = type(attn).__name__ == "DiffAttention"
    if diff_attn and getattr(attn, "dual_lambda", False):
        unsupported.append("differential attention with dual scalar lambdas")
    elif type(attn).__name__ not in ("Attention", "DiffAttention"):
        unsupported.append(f"{type(attn).__name__} attention")
    if type(m.patch_embed).__name__ != "PatchEmbed":
        unsupported.append(f"{type(m.patch_embed).__name__} patch embedding")
    elif not isinstance(m.patch_embed.norm, nn.Identity):
        unsupported.append("a norm after the patch embedding")
    if not isinstance(getattr(attn, "norm", nn.Identity()), nn.Identity) or not isinstance(getattr(mlp, "norm", nn.Identity()), nn.Identity):
        unsupported.append("norms inside attention/MLP (scale_attn_norm/scale_mlp_norm)")
    if type(block.norm1).__name__ != "LayerNorm":
        unsupported.append(f"{type(block.norm1).__name__} normalisation in the blocks")
    if getattr(m, "pos_embed", None) is None:
        unsupported.append("no absolute position embedding")
    fc_norm = not isinstance(m.fc_norm, nn.Identity)
    final = m.fc_norm if fc_norm else m.norm
    final_norm = not isinstance(final, nn.Identity)
    if not final_norm:  # C-RADIO, InternViT: the blocks' norms give the eps
        final = block.norm1
    if type(final).__name__ != "LayerNorm":
        unsupported.append(f"{type(final).__name__} normalisation")
    mlp_kind = type(mlp).__name__
    act = mlp.act if hasattr(mlp, "act") else None
    act_kind = type(act).__name__
    if mlp_kind == "Mlp":
        mlp_type = "mlp"
        gelu = {("GELU", "none"): "exact", ("GELU", "tanh"): "tanh", ("GELUTanh", None): "tanh",
                ("QuickGELU", None): "quick"}.get((act_kind, getattr(act, "approximate", None)))
        if gelu is None:
            unsupported.append(f"{act_kind} activation")
    elif mlp_kind in ("GluMlp", "SwiGLUPacked") and act_kind == "SiLU" and not getattr(mlp, "gate_last", True):
        mlp_type, gelu = "swiglu", "exact"
    else:
        mlp_type, gelu = mlp_kind, None
        unsupported.append(f"{mlp_kind} MLP")
    fields: dict[str, Any] = dict(
        img_size=m.patch_embed.img_size[0],
        patch_size=m.patch_embed.patch_size[0],
        in_chans=m.patch_embed.proj.in_channels,
        embed_dim=m.embed_dim,
        depth=len(m.blocks),
        num_heads=attn.num_heads,
        mlp_dim=mlp.fc2.in_features,
        patch_bias=m.patch_embed.proj.bias is not None,
        qkv_bias=attn.qkv.bias is not None,
        qk_norm=not isinstance(attn.q_norm, nn.Identity),
        norm_eps=getattr(final, "eps", None),
        gelu=gelu,
        class_token=m.cls_token is not None,
        reg_tokens=m.num_reg_tokens,
        pos_embed_prefix=not m.no_embed_class,
        global_pool=m.global_pool,
        fc_norm=fc_norm,
        pre_norm=not isinstance(m.norm_pre, nn.Identity),
        layer_scale=not isinstance(getattr(block, "ls1", nn.Identity()), nn.Identity),
        pre_logits_dim=_pre_logits_dim(m),
    )
    if fields["layer_scale"]:  # timm's init_values: where fresh layer scales start
        fields["layer_scale_init"] = float(block.ls1.init_values)
    if mlp_type != "mlp":
        fields["mlp_type"] = mlp_type
    if block_kind == "ResPostBlock":
        fields["res_post_norm"] = True
    if getattr(m, "dist_token", None) is not None:
        fields["dist_token"] = True
    if not final_norm:
        fields["final_norm"] = False
    if diff_attn:
        fields["diff_attn"] = True
    if getattr(m, "dynamic_img_size", False):
        fields["dynamic_img_size"] = True
    if m.global_pool == "map" and type(m.attn_pool).__name__ != "AttentionPoolLatent":
        unsupported.append(f"{type(m.attn_pool).__name__} pooling")
    return fields, unsupported


def _parallel_architecture(m: Any, unsupported: list[str]) -> tuple[dict[str, Any], list[str]]:
    """timm's ParallelScalingBlock / DiffParallelScalingBlock ViTs (vit_pwee, vit_dpwee) as spec fields."""
    import torch.nn as nn

    block = m.blocks[0]
    diff = type(block).__name__ == "DiffParallelScalingBlock"
    if diff and getattr(block, "dual_lambda", False):
        unsupported.append("differential attention with dual scalar lambdas")
    if not isinstance(block.q_norm, nn.Identity) or type(block.in_norm).__name__ != "LayerNorm" or type(block.mlp_act).__name__ != "GELU":
        unsupported.append("a parallel block with q/k norms, another norm or another activation")
    fc_norm = not isinstance(m.fc_norm, nn.Identity)
    final = m.fc_norm if fc_norm else m.norm
    fields: dict[str, Any] = dict(
        img_size=m.patch_embed.img_size[0], patch_size=m.patch_embed.patch_size[0], in_chans=m.patch_embed.proj.in_channels,
        embed_dim=m.embed_dim, depth=len(m.blocks), num_heads=block.num_heads, mlp_dim=block.in_split[0],
        patch_bias=m.patch_embed.proj.bias is not None, qkv_bias=block.in_proj.bias is not None, norm_eps=final.eps, gelu="exact",
        class_token=m.cls_token is not None, reg_tokens=m.num_reg_tokens, pos_embed_prefix=not m.no_embed_class,
        global_pool=m.global_pool, fc_norm=fc_norm, pre_norm=not isinstance(m.norm_pre, nn.Identity),
        layer_scale=not isinstance(block.ls, nn.Identity), pre_logits_dim=_pre_logits_dim(m), block="parallel",
        parallel_out_fused=block.out_proj is not None,
    )
    if fields["layer_scale"]:
        fields["layer_scale_init"] = float(block.ls.init_values)
    if diff:
        fields["diff_attn"] = True
    return fields, unsupported


def spec_differences(spec: Any, fields: dict[str, Any]) -> list[str]:
    """Where a vitzoo spec disagrees with fields read from timm (``num_classes`` is the weights' business)."""
    from dataclasses import fields as dataclass_fields

    names = {f.name for f in dataclass_fields(spec)}
    out = [f"{k}: timm {v!r}, vitzoo (no such spec field)" for k, v in fields.items() if k not in names]
    for f in dataclass_fields(spec):
        if f.name == "num_classes":
            continue
        mine, theirs = getattr(spec, f.name), fields.get(f.name, f.default)
        if f.name == "norm_eps":
            same = abs(mine - theirs) <= 1e-12
        else:
            same = mine == theirs
        if not same:
            out.append(f"{f.name}: timm {theirs!r}, vitzoo {mine!r}")
    return out


def _pre_logits_dim(m: Any) -> int:
    fc = getattr(getattr(m, "head", None), "pre_logits", None) or getattr(m, "pre_logits", None)
    fc = getattr(fc, "fc", None)
    return int(fc.out_features) if fc is not None else 0
