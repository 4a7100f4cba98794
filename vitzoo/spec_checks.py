"""Each family's own rules for a :class:`~vitzoo.spec.ViTSpec`: which fields go together (CaiT, NaFlex, relpos, hybrid, ...).

``ViTSpec.__post_init__`` runs every function of ``FAMILY_CHECKS`` on the new spec; each raises one
:class:`~vitzoo.errors.SpecError` sentence for a combination its family's timm code does not build.
They live here, not as methods, so the spec module stays one screenful per job.

Example:
    >>> from vitzoo.spec import ViTSpec
    >>> ViTSpec(backbone_layers=(3, 4))
    Traceback (most recent call last):
    ...
    vitzoo.errors.SpecError: backbone_layers needs a backbone (backbone='resnetv2').
"""

from __future__ import annotations

import dataclasses
from typing import Any

from vitzoo.errors import SpecError
from vitzoo.deepseek_spec import check_deepseek
from vitzoo.qwen_spec import check_qwen
from vitzoo.xcit_spec import check_xcit

REL_POS_TYPES = ("none", "mlp", "mlp_swin")  # timm's vision_transformer_relpos.py rel_pos_type values vitzoo builds
BACKBONES = ("none", "resnetv2", "convstem")
_NAFLEX_FIELDS = ("pos_embed_grid", "pos_interp", "pos_antialias", "pos_align_corners", "pos_ar_preserving", "pos_factorized")


def _naflex_defaults(spec: Any) -> dict:
    """The NaFlex grid fields' defaults, read off the spec's own class (spec.py imports this module)."""
    return {f.name: f.default for f in dataclasses.fields(type(spec)) if f.name in _NAFLEX_FIELDS}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_cait(spec: Any) -> None:
    """CaiT's class-attention stage goes with its block, and with what timm's ``Cait`` builds around it."""
    if spec.block == "xcit" or spec.tokens_norm:
        return check_xcit(spec)
    if (spec.block == "cait") != (spec.depth_token_only > 0):
        raise SpecError("block='cait' and depth_token_only >= 1 go together (timm's CaiT: talking-heads blocks, then class-attention blocks).")
    if spec.block != "cait":
        return
    for bad, why in ((not spec.class_token, "class_token=True"), (spec.dist_token or spec.reg_tokens, "no distillation or register tokens"),
                     (spec.pos_embed_prefix or not spec.abs_pos_embed, "a pos_embed over the patch tokens only (pos_embed_prefix=False)"),
                     (spec.global_pool not in ("token", "avg"), "global_pool 'token' or 'avg'"),
                     (spec.fc_norm or spec.pre_norm or not spec.final_norm or spec.pre_logits_dim, "the final norm only (no fc_norm, "
                      "pre_norm or pre_logits)"),
                     (spec.qk_norm or not spec.qkv_fused or not spec.k_bias or spec.attn_norm or spec.mlp_norm or spec.mlp_type != "mlp",
                      "the plain packed qkv and MLP"),
                     (spec.norm_type != "layer" or spec.patch_norm or not spec.proj_bias or not spec.mlp_bias,
                      "LayerNorms and biased projections (no AIMv2 options)"),
                     (not spec.layer_scale, "layer_scale=True"), (spec.rope != "none" or spec.rel_pos_bias != "none", "no rotary or relative positions"),
                     (spec.dynamic_img_size, "a fixed input size (dynamic_img_size=False, as timm's CaiT)")):
        if bad:
            raise SpecError(f"block='cait' (timm's CaiT) needs {why}.")

def check_naflex(spec: Any) -> None:
    """A learned position grid of its own size: NaFlex's (timm's NaFlexVit, the plain ViT block around it) or the Qwen3 ViT's."""
    defaults = _naflex_defaults(spec)
    if not spec.naflex:
        # without NaFlex, a grid of its own size is the Qwen3 ViT's: how it is resampled is checked in vitzoo/qwen_spec.py
        own = ("pos_embed_grid", "pos_interp", "pos_antialias", "pos_align_corners") if spec.pos_embed_grid else ("pos_embed_grid",)
        changed = [f for f in defaults if f not in own and getattr(spec, f) != defaults[f]]
        if changed:
            raise SpecError(f"{', '.join(changed)} describe a learned position grid of its own size (NaFlex's); set naflex=True to use them.")
        return
    for bad, why in ((spec.block != "vit", "block='vit'"), (not spec.abs_pos_embed, "a learned position embedding (abs_pos_embed=True)"),
                     (spec.pos_embed_prefix, "a position embedding over the patch tokens only (pos_embed_prefix=False)"),
                     (spec.dist_token, "no distillation token"), (spec.pre_logits_dim, "no pre-logits layer"),
                     (spec.norm_type != "layer" or spec.patch_norm, "LayerNorms and no patch norm"),
                     (spec.pos_embed_grid <= 0, "pos_embed_grid >= 1 (the side of the learned grid)"),
                     (spec.merge_size or not spec.fc_norm_affine, "no Qwen3 ViT projector or parameter-free fc_norm")):
        if bad:
            raise SpecError(f"naflex=True (timm's NaFlexVit) needs {why}.")


def check_relpos(spec: Any) -> None:
    """timm's relative-position ViT: the bias MLP and the post-norm blocks go with the plain ViT block, as timm builds them."""
    if spec.rel_pos_type not in REL_POS_TYPES:
        raise SpecError(f"Unknown rel_pos_type {spec.rel_pos_type!r}; use one of {', '.join(REL_POS_TYPES)}.")
    mlp = spec.rel_pos_type != "none"
    if mlp != (spec.rel_pos_dim > 0) or (spec.rel_pos_shared and not mlp):
        raise SpecError("rel_pos_type 'mlp'/'mlp_swin' and rel_pos_dim >= 1 go together (the bias MLP's hidden width); "
                        "rel_pos_shared needs them too.")
    if spec.res_post_norm and (spec.block != "vit" or spec.layer_scale):
        raise SpecError("res_post_norm (timm's ResPostBlock) needs block='vit' and layer_scale=False; its norms take the layer scale's place.")
    if not mlp:
        return
    for bad, why in ((spec.block != "vit", "block='vit'"), (spec.abs_pos_embed or spec.rope != "none" or spec.rel_pos_bias != "none",
                      "no other positions (abs_pos_embed=False, rope and rel_pos_bias 'none')"),
                     (spec.dist_token or spec.reg_tokens, "no distillation or register tokens (the class token at most)"),
                     (spec.global_pool == "map" or spec.pre_norm or spec.pre_logits_dim, "global_pool 'token' or 'avg' and no pre_norm "
                      "or pre_logits"), (spec.mlp_type != "mlp", "the plain MLP"),
                     (spec.dynamic_img_size, "a fixed input size (dynamic_img_size=False, as timm's VisionTransformerRelPos)")):
        if bad:
            raise SpecError(f"rel_pos_type={spec.rel_pos_type!r} (timm's VisionTransformerRelPos) needs {why}.")

def check_backbone(spec: Any) -> None:
    """The hybrid stem: its form, its stages, and the fixed input size of timm's HybridEmbed."""
    layers = spec.backbone_layers
    if isinstance(layers, list):  # from JSON
        layers = tuple(layers)
        object.__setattr__(spec, "backbone_layers", layers)
    if spec.backbone not in BACKBONES:
        raise SpecError(f"Unknown backbone {spec.backbone!r}; use one of {', '.join(BACKBONES)}.")
    if not isinstance(layers, tuple) or len(layers) > 4 or not all(_is_int(n) and n > 0 for n in layers):
        raise SpecError(f"backbone_layers must be up to 4 positive block counts, got {layers!r}.")
    if spec.backbone == "none" and layers:
        raise SpecError("backbone_layers needs a backbone (backbone='resnetv2').")
    if spec.backbone == "convstem":
        for bad, why in ((spec.patch_size != 16, "patch_size=16 (its strides 4, 2, 2)"), (bool(layers), "no backbone_layers"),
                         (spec.embed_dim % 4, "a width divisible by 4"), (not spec.patch_bias, "patch_bias=True (its last convolution's bias)"),
                         (spec.patch_norm, "no patch_norm")):
            if bad:
                raise SpecError(f"backbone='convstem' (MobileCLIP's stem) needs {why}.")
    if spec.backbone != "none":
        for bad, why in ((spec.block != "vit", "block='vit'"), (spec.dynamic_img_size, "a fixed input size (dynamic_img_size=False)"),
                         (spec.grid_size < 1, f"an image size whose feature map holds a patch of {spec.patch_size}")):
            if bad:
                raise SpecError(f"backbone={spec.backbone!r} (timm's hybrid ViT) needs {why}.")

# Derived sizes -------------------------------------------------------



def check_diff_attn(spec: Any) -> None:
    """timm's DiffAttention lives inside the plain Block."""
    if spec.diff_attn:
        for bad, why in ((spec.block not in ("vit", "parallel"), "block='vit' or 'parallel'"), (spec.qk_norm, "no qk_norm"),
                         (spec.head_dim % 2, "an even head width"),
                         (spec.block == "parallel" and not spec.parallel_out_fused, "parallel_out_fused=True in a parallel block")):
            if bad:
                raise SpecError(f"diff_attn=True (timm's differential attention) needs {why}.")


def check_post_norm(spec: Any) -> None:
    """timm's EvaBlockPostNorm: EVA's attention and MLP, norms after them, no layer scale."""
    if spec.post_norm:
        for bad, why in ((spec.block != "eva", "block='eva'"), (spec.layer_scale, "no layer scale"),
                         (spec.rope == "mixed" or spec.rel_pos_bias != "none", "no RoPE-Mixed or relative position bias"),
                         (spec.qk_norm, "no qk_norm (timm's EvaBlockPostNorm has none)")):
            if bad:
                raise SpecError(f"post_norm=True (timm's EVA post-norm block) needs {why}.")


def check_sapiens2(spec: Any) -> None:
    """Sapiens2's parts: grouped-query attention in the EVA block (q/k/v apart), attention-only layer scale, a non-square input."""
    if spec.num_kv_heads in (0, spec.num_heads) or 2 * spec.num_full_attn_blocks >= spec.depth:
        # no block has fewer key/value heads: the canonical form states none (a spec compares equal to its file's)
        object.__setattr__(spec, "num_kv_heads", 0)
        object.__setattr__(spec, "num_full_attn_blocks", 0)
    if spec.num_kv_heads:
        for bad, why in ((spec.num_heads % spec.num_kv_heads, f"a key/value head count that divides num_heads {spec.num_heads}"),
                         (spec.block != "eva" or spec.post_norm, "block='eva' without post_norm"),
                         (spec.qkv_fused, "q, k and v projections apart (qkv_fused=False)"), (spec.rope == "mixed", "no RoPE-Mixed")):
            if bad:
                raise SpecError(f"num_kv_heads={spec.num_kv_heads} (grouped-query attention, timm's AttentionRope) needs {why}.")
    if spec.attn_only_layer_scale and (not spec.layer_scale or spec.block != "eva" or spec.post_norm or spec.rope == "mixed"):
        raise SpecError("attn_only_layer_scale needs layer_scale=True and block='eva' without post_norm or RoPE-Mixed (timm's EvaBlock gamma_1).")
    if spec.img_width and (not spec.dynamic_img_size or spec.abs_pos_embed or spec.naflex or spec.backbone != "none"
                           or spec.img_width < spec.patch_size):
        raise SpecError(f"img_width={spec.img_width} (a non-square default input) needs dynamic_img_size=True, no learned position "
                        "embedding or backbone, and a width of at least one patch.")


def check_parallel(spec: Any) -> None:
    """timm's parallel blocks: a plain MLP beside the attention, nothing of EVA's or the relative-position forms."""
    if spec.parallel_out_fused and spec.block != "parallel":
        raise SpecError("parallel_out_fused=True is an option of timm's parallel blocks; set block='parallel' to use it.")
    if spec.block == "parallel":
        for bad, why in ((spec.mlp_type != "mlp" or spec.mlp_norm or not spec.mlp_bias, "a plain GELU MLP with biases"),
                         (spec.qk_norm or spec.attn_norm or not spec.k_bias or not spec.qkv_fused, "packed q, k, v without norms"),
                         (spec.rope != "none" or spec.rel_pos_bias != "none" or spec.rel_pos_type != "none", "no rotary or relative positions"),
                         (spec.post_norm or spec.res_post_norm or spec.backbone != "none", "pre-norm and a patch embedding")):
            if bad:
                raise SpecError(f"block='parallel' (timm's ParallelScalingBlock) needs {why}.")


FAMILY_CHECKS = (check_cait, check_naflex, check_qwen, check_relpos, check_backbone, check_diff_attn, check_post_norm, check_sapiens2,
                 check_parallel, check_deepseek)
