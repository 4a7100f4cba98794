"""Which registered variants agree with a file's tensors, and the one sentence that refuses a file when they cannot settle it.

weights/infer.py asks :func:`agreeing` for the variants that may lend a field no tensor shows, and raises
:func:`refusal`'s sentence for the fields still open.

Example:
    >>> from vitzoo.variants import get_spec
    >>> fields = dict(get_spec("vit_b_16").to_dict())
    >>> [name for name, _ in agreeing([("vit_b_16", get_spec("vit_b_16")), ("vit_s_16", get_spec("vit_s_16"))], fields, SIZE_KEYS)]
    ['vit_b_16']
"""

from __future__ import annotations

from typing import Any, Mapping

from vitzoo.spec import ViTSpec

_HOW_TO_GIVE = {"num_heads": "num_heads=12", "norm_eps": "norm_eps=1e-6", "gelu": "gelu='exact'", "global_pool": "global_pool='token'",
                "img_size": "img_size=224", "pool_heads": "pool_heads=8", "pool_include_prefix": "pool_include_prefix=True",
                "rope": "rope='cat'", "rope_temperature": "rope_temperature=100.0", "rope_ref_grid": "rope_ref_grid=16",
                "rope_grid_offset": "rope_grid_offset=1.0", "rope_grid_xy": "rope_grid_xy=True", "rope_half": "rope_half=True",
                "pos_interp": "pos_interp='bilinear'", "pos_antialias": "pos_antialias=True", "pos_align_corners": "pos_align_corners=False",
                "pos_ar_preserving": "pos_ar_preserving=False",
                "res_post_norm": "res_post_norm=True", "post_norm": "post_norm=True"}
_FLAGS = {"num_heads": "--num-heads 12", "norm_eps": "--norm-eps 1e-6", "gelu": "--gelu exact", "global_pool": "--global-pool token"}
# A registered variant of the same sizes lends its head count; one of the same
# architecture lends eps, GELU form and pooling; in both cases only when all such variants agree.
SIZE_KEYS = ("patch_size", "embed_dim", "depth", "mlp_dim")
MATCH_KEYS = SIZE_KEYS + (
    "mlp_type", "dist_token", "class_token", "reg_tokens", "pre_norm", "layer_scale", "patch_bias", "qkv_bias", "qk_norm", "fc_norm",
    "block", "abs_pos_embed", "k_bias", "qkv_fused", "attn_norm", "mlp_norm", "final_norm", "rel_pos_bias", "depth_token_only",
    "norm_type", "patch_norm", "proj_bias", "mlp_bias", "diff_attn", "naflex", "pos_embed_grid", "pos_factorized",
    "rel_pos_type", "rel_pos_dim", "rel_pos_shared", "backbone", "backbone_layers", "attn_only_layer_scale", "parallel_out_fused",
)


def refusal(source: str, open_fields: list[str], fields: Mapping[str, Any], registered: list[tuple[str, ViTSpec]]) -> str:
    """One sentence: which fields are open, why, and how to give them."""
    same_form = agreeing(registered, fields, MATCH_KEYS)
    if same_form:
        by_values: dict[str, str] = {}  # one variant for each combination of values: the disagreement, not a list
        for name, spec in same_form:
            by_values.setdefault(", ".join(f"{f}={getattr(spec, f)!r}" for f in open_fields), name)
        seen = ", ".join(f"{name} ({values})" for values, name in by_values.items())
        why = f"the registered variants of this architecture disagree: {seen}"
    else:
        why = "no registered variant has this architecture"
    example = ", ".join(_HOW_TO_GIVE[f] for f in open_fields)
    flags = " ".join(_FLAGS[f] for f in open_fields if f in _FLAGS) or "--variant NAME"
    them = "them" if len(open_fields) > 1 else "it"
    return (
        f"{source} does not say its {_join(open_fields)} (the tensors cannot show {them}, it has no metadata or config "
        f"file that does, and {why}); give {them}, e.g. vitzoo.create(..., {example}) or vitzoo-convert {flags}, or name "
        "the variant it was built from (vitzoo.create(NAME, pretrained=FILE) or --variant NAME)."
    )


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def agreeing(specs: list[tuple[str, ViTSpec]], fields: Mapping[str, Any], keys: tuple[str, ...]) -> list[tuple[str, ViTSpec]]:
    """The named specs that agree with the tensors on ``keys`` (those the tensors fix) and on having a MAP head."""
    keys = tuple(k for k in keys if k in fields)
    pool = fields.get("global_pool")
    is_map, is_query = pool == "map", pool == "query"
    return [(name, spec) for name, spec in specs if all(getattr(spec, k) == fields[k] for k in keys)
            and (spec.global_pool == "map") == is_map and (spec.global_pool == "query") == is_query]
