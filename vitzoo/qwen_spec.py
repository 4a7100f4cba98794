"""The Qwen3 ViT's part of the spec (timm's ``qwen3_vit.py``): what its fields combine with.

A Qwen3 ViT is a spec with NaFlex's ``pos_embed_grid`` but no ``naflex=True``: the learned grid
of its own size, resampled to each input as timm's ``resample_pos_embed_grid`` does
(:data:`GRID_RESAMPLING`), around EVA blocks with rotary positions; ``fc_norm_affine=False`` (a
post-pool LayerNorm without weight and bias), the projector (``merge_size``, ``merge_dim``) and
``output_tokens`` (timm's ``_enc`` models) are its own fields.

Example:
    >>> from vitzoo.spec import ViTSpec
    >>> spec = ViTSpec(block="eva", rope="cat", class_token=False, global_pool="avg", dynamic_img_size=True,
    ...                pos_embed_grid=4, **GRID_RESAMPLING)
    >>> spec.qwen_vit, spec.pos_embed_len
    (True, 16)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vitzoo.errors import SpecError

if TYPE_CHECKING:
    from vitzoo.spec import ViTSpec

# timm's resample_pos_embed_grid: F.interpolate(mode="bilinear", align_corners=True), antialias left off
GRID_RESAMPLING = {"pos_interp": "bilinear", "pos_antialias": False, "pos_align_corners": True}


def check_qwen(spec: "ViTSpec") -> None:
    """The Qwen3 ViT's parts go with what timm's ``Qwen3VitEncoder`` / ``Qwen3VitClassifier`` build around them."""
    if (spec.merge_size > 0) != (spec.merge_dim > 0):
        raise SpecError("merge_size and merge_dim go together (the Qwen3 ViT projector: merge_size² patch tokens into one, "
                        "projected to merge_dim).")
    if spec.output_tokens and (not spec.merge_size or spec.num_classes or spec.fc_norm):
        raise SpecError("output_tokens=True (Qwen3 ViT's _enc models) needs the projector (merge_size, merge_dim), "
                        "num_classes=0 and fc_norm=False: the model returns the projected tokens.")
    if spec.deepseek_vit:
        return  # the DeepSeek ViT's own form (vitzoo/deepseek_spec.py) uses the projector and weightless head norm fields too
    if not spec.fc_norm_affine and not (spec.fc_norm and spec.final_norm):
        raise SpecError("fc_norm_affine=False is an fc_norm without weight and bias; it needs fc_norm=True.")
    if spec.naflex or not (spec.pos_embed_grid or spec.merge_size or not spec.fc_norm_affine):
        return  # NaFlex's grid (the spec's _check_naflex), or no Qwen3 ViT part
    resampling = tuple(getattr(spec, k) for k in GRID_RESAMPLING) != tuple(GRID_RESAMPLING.values())
    for bad, why in ((spec.block != "eva" or spec.rope != "cat", "the EVA block with rotary positions (block='eva', rope='cat')"),
                     (spec.num_prefix_tokens, "no class or register tokens"), (not spec.abs_pos_embed, "abs_pos_embed=True"),
                     (spec.global_pool != "avg", "global_pool='avg'"), (not spec.pos_embed_grid, "pos_embed_grid > 0"),
                     (resampling, "the grid resampled as timm's resample_pos_embed_grid (pos_interp='bilinear', pos_antialias=False, "
                                  "pos_align_corners=True)"),
                     (not spec.dynamic_img_size, "dynamic_img_size=True (the grid is resampled per input)"),
                     (spec.dynamic_img_pad or spec.pre_norm or spec.pre_logits_dim or spec.patch_norm, "no padding, pre-norm, "
                      "pre-logits or patch norm"), (spec.norm_type != "layer", "LayerNorms")):
        if bad:
            raise SpecError(f"The Qwen3 ViT's fields (pos_embed_grid without naflex=True, merge_size, fc_norm_affine) need {why}.")
