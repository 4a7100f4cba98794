"""The DeepSeek-V4 ViT's part of the spec (timm's ``deepseek_vit.py``): the fixed form and what it combines with.

Every field but ``deepseek_vit`` is an existing one: EVA blocks (``block="eva"``: packed qkv with its
bias, a bias-free packed SwiGLU) with RMSNorms, axial rotary positions in the rotate-half layout on
integer patch coordinates (``rope="cat"``, ``rope_half=True``: the same table timm's
``RotaryEmbeddingCat(in_pixels=False)`` gives the Qwen3 ViT), no learned positions, no prefix tokens.
``deepseek_vit`` says how the head and projector fields read: the token norm ``norm.*`` stays after the
blocks while ``fc_norm`` (``fc_norm_affine=False``) is a weightless RMSNorm after the mean pool, and
``merge_size``/``merge_dim`` build the "aligner" (``aligner.*``) rather than the Qwen3 ViT's merger.

Example:
    >>> from vitzoo.spec import ViTSpec
    >>> spec = ViTSpec(**FORM, embed_dim=64, num_heads=4, mlp_dim=176, depth=1, num_classes=0, fc_norm=True, fc_norm_affine=False)
    >>> spec.deepseek_vit, spec.norm_type, spec.qwen_vit
    (True, 'rms', False)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vitzoo.errors import SpecError

if TYPE_CHECKING:
    from vitzoo.spec import ViTSpec

# What timm's DeepseekVitEncoder always builds (the head and projector fields vary by form: see the variants)
FORM = dict(block="eva", norm_type="rms", mlp_type="swiglu", mlp_bias=False, qkv_bias=True, k_bias=True, qkv_fused=True,
            class_token=False, reg_tokens=0, abs_pos_embed=False, global_pool="avg", final_norm=True, rope="cat", rope_half=True,
            rope_ref_grid=0, rope_grid_offset=0.0, rope_grid_xy=False, dynamic_img_size=True, post_norm=False, deepseek_vit=True)
# timm's default input (RoPE only: no tensor depends on it, any patch multiple runs)
IMG_SIZE = 546


def check_deepseek(spec: "ViTSpec") -> None:
    """``deepseek_vit=True`` goes with what timm's ``DeepseekVitEncoder`` / ``DeepseekVitClassifier`` build around it."""
    if not spec.deepseek_vit:
        return
    wrong = [k for k, v in FORM.items() if getattr(spec, k) != v]
    if wrong:
        shown = ", ".join(f"{k}={FORM[k]!r}" for k in wrong)
        raise SpecError(f"deepseek_vit=True (timm's DeepSeek-V4 ViT) needs {shown}; its blocks, norms and positions are fixed.")
    for bad, why in ((spec.pos_embed_grid or spec.naflex or spec.pre_norm or spec.patch_norm or spec.layer_scale or spec.qk_norm,
                      "no position grid, pre-norm, patch norm, layer scale or q/k norm"),
                     (spec.fc_norm and spec.fc_norm_affine, "a weightless post-pool norm (fc_norm_affine=False) when fc_norm is set"),
                     (spec.output_tokens and (spec.fc_norm or spec.num_classes or not spec.merge_size),
                      "the aligner, no fc_norm and num_classes=0 for output_tokens=True (timm's _enc models)"),
                     (not spec.output_tokens and not spec.fc_norm, "fc_norm=True for the classifier forms (the pooled features are normed)"),
                     ((spec.merge_size > 0) != (spec.merge_dim > 0), "merge_size and merge_dim together (the aligner)")):
        if bad:
            raise SpecError(f"deepseek_vit=True (timm's DeepSeek-V4 ViT) needs {why}.")
