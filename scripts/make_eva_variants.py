"""Write vitzoo/variants/eva.py from timm's own eva.py model arguments (run by hand when timm adds models).

Each timm architecture with pretrained weights whose options vitzoo's spec expresses becomes one
registered function; the rest are listed with the reason they are left out. Every spec is checked
against the state-dict shapes of timm's model built on the meta device.

    python scripts/make_eva_variants.py > vitzoo/variants/eva.py
"""

from __future__ import annotations

import sys

import timm
import timm.models.eva as eva
from timm.models._registry import _model_to_module

from vitzoo.canonical import expected_shapes
from vitzoo.spec import ViTSpec

DEFAULT = ViTSpec()


class Captured(Exception):
    pass


def model_args(arch: str) -> dict:
    captured = {}

    def fake(variant, pretrained=False, **kwargs):
        captured.update(kwargs)
        raise Captured

    real, eva._create_eva = eva._create_eva, fake
    try:
        getattr(eva, arch)()
    except Captured:
        pass
    finally:
        eva._create_eva = real
    return captured


def left_out(kw: dict) -> str:
    if kw.get("rope_type") == "mrope":
        return f"rope_type={kw['rope_type']!r} (learned per-block frequencies)"
    return ""


def kv_rule(heads: int, kv_heads) -> tuple[int, int]:
    """timm's per-block ``num_kv_heads`` as vitzoo's rule: (fewer heads between, full blocks at each end); (0, 0) for none."""
    per_block = [heads if k is None else k for k in (kv_heads if isinstance(kv_heads, (tuple, list)) else [kv_heads])]
    lead = next((i for i, k in enumerate(per_block) if k != heads), len(per_block))
    middle = set(per_block[lead:len(per_block) - lead]) if lead < len(per_block) else set()
    if not middle:
        return 0, 0
    assert len(middle) == 1 and all(k == heads for k in per_block[len(per_block) - lead:]), per_block
    return middle.pop(), lead


def to_spec(arch: str, kw: dict) -> dict:
    d = kw["embed_dim"]
    hidden = int(d * kw.get("mlp_ratio", 4.0))
    swiglu, scale_mlp, align = kw.get("swiglu_mlp", False), kw.get("scale_mlp", False), kw.get("swiglu_align_to", 0)
    if swiglu and (scale_mlp or align):
        mlp_type = "swiglu_split"
        if align:
            hidden += -hidden % align
    else:
        mlp_type = "swiglu" if swiglu else "mlp"
    global_pool = kw.get("global_pool", "avg")
    fc_norm = kw.get("use_fc_norm", global_pool == "avg")
    post_norm = kw.get("use_post_transformer_norm", not fc_norm)
    qkv_bias = kw.get("qkv_bias", True)
    cfg = timm.models.get_pretrained_cfg(arch).to_dict()
    img = kw.get("img_size", cfg["input_size"][-1])  # timm builds the pretrained size when the arguments name none
    out = dict(
        img_size=img if isinstance(img, int) else img[0],
        patch_size=kw["patch_size"], embed_dim=d, depth=kw["depth"], num_heads=kw["num_heads"], mlp_dim=hidden,
        num_classes=cfg.get("num_classes", 1000),
        block="eva", mlp_type=mlp_type, mlp_norm=scale_mlp, attn_norm=kw.get("scale_attn_inner", False),
        qkv_bias=qkv_bias, qkv_fused=kw.get("qkv_fused", True),
        k_bias=(kw.get("attn_type", "eva") == "rope") or not qkv_bias,
        class_token=kw.get("class_token", True), reg_tokens=kw.get("num_reg_tokens", 0),
        global_pool=global_pool, fc_norm=bool(fc_norm), final_norm=bool(fc_norm or post_norm),
        pre_norm=kw.get("use_pre_transformer_norm", False), patch_bias=not kw.get("use_pre_transformer_norm", False),
        layer_scale=kw.get("init_values") is not None,
        abs_pos_embed=kw.get("use_abs_pos_emb", True), pos_embed_prefix=not kw.get("no_embed_class", False),
        norm_eps=(kw["norm_layer"].keywords["eps"] if "norm_layer" in kw else 1e-6),
        norm_type="rms" if "norm_layer" in kw and kw["norm_layer"].func.__name__ == "RmsNorm" else "layer",
        qk_norm=kw.get("qk_norm", False), attn_only_layer_scale=kw.get("attn_only_layer_scale", False),
        img_width=0 if isinstance(img, int) or img[1] == img[0] else img[1],
        dynamic_img_size=kw.get("dynamic_img_size", False),
        post_norm=kw.get("use_post_norm", False),
    )
    out["num_kv_heads"], out["num_full_attn_blocks"] = kv_rule(kw["num_heads"], kw.get("num_kv_heads"))
    if out["layer_scale"]:  # timm's init_values: the fresh layer scales (PE Lang/Spatial 0.1, Sapiens2 1.0)
        out["layer_scale_init"] = float(kw["init_values"])
    if out["post_norm"]:
        out["layer_scale"] = False  # timm's EvaBlockPostNorm ignores init_values
    if global_pool == "map":
        out["pool_include_prefix"] = True  # Eva.pool hands every token to the attention pool
        out["pool_heads"] = kw.get("attn_pool_num_heads") or 0
        pool_hidden = int(d * (kw.get("attn_pool_mlp_ratio") or kw.get("mlp_ratio", 4.0)))
        out["pool_mlp_dim"] = pool_hidden if pool_hidden != hidden else 0
        if out["pool_heads"] == kw["num_heads"]:
            out["pool_heads"] = 0
    if kw.get("use_rot_pos_emb"):
        ref = kw.get("ref_feat_shape")
        rope = kw.get("rope_type", "cat")
        out.update(
            rope=rope, rope_temperature=float(kw.get("rope_temperature", 10000.0)),
            rope_ref_grid=(ref if isinstance(ref, int) else ref[0]) if (ref and rope == "cat") else 0,
            rope_grid_offset=float(kw.get("rope_grid_offset", 0.0)), rope_grid_xy=kw.get("rope_grid_indexing", "ij") == "xy",
            rope_half=bool(kw.get("rope_rotate_half", False)),
        )
    return {k: v for k, v in out.items() if v != getattr(DEFAULT, k)}


def short_name(arch: str) -> str:
    """vitzoo's short name: family, size letter, patch, and the resolution when it is not 224."""
    sizes = {"tiny": "ti", "small": "s", "small_plus": "splus", "base": "b", "medium": "m", "mediumd": "md",
             "betwixt": "bw", "large": "l", "huge_plus": "hplus", "huge": "h", "giant": "g", "gigantic": "g",
             "enormous": "e", "7b": "7b", "5b": "5b"}
    name = arch
    for prefix, family in (("vit_pe_core_", "pe_core_"), ("vit_pe_lang_", "pe_lang_"), ("vit_pe_spatial_", "pe_spatial_"),
                           ("eva02_", "eva02_"), ("eva_", "eva_"), ("vit_", "")):
        if name.startswith(prefix):
            name, fam = name[len(prefix):], family
            break
    size, _, rest = name.partition("_patch")
    patch, _, tail = rest.partition("_")
    parts = tail.split("_") if tail else []
    res = next((p for p in parts if p.isdigit()), "")
    tags = [p for p in parts if not p.isdigit()]
    if "dinov3" in tags:
        fam = "dinov3_"
        tags.remove("dinov3")
    elif "sapiens2" in tags:
        fam = "sapiens2_"
        tags.remove("sapiens2")
    elif "lingbot" in tags:
        fam = "lingbot_"
        tags.remove("lingbot")
    elif "rope" in tags:
        fam = "vit_rope_" if not fam else fam
        tags.remove("rope")
    out = f"{fam}{sizes[size]}_{patch}" + "".join(f"_{t}" for t in tags)
    return out + (f"_{res}" if res and res != "224" else "")


def main() -> None:
    archs = sorted({n.split(".")[0] for n in timm.list_pretrained() if _model_to_module.get(n.split(".")[0]) == "eva"})
    lines = [
        '"""timm\'s ``eva.py`` models: EVA-01/EVA-02, DINOv3, Perception Encoder (PE), timm\'s and naver\'s RoPE ViTs, Sapiens2.',
        "",
        "Written by scripts/make_eva_variants.py from timm's own model arguments and checked against its tensor",
    ]
    specs, skipped = [], []
    for arch in archs:
        kw = model_args(arch)
        why = left_out(kw)
        if why:
            skipped.append(f"{arch}: {why}")
            continue
        fields = to_spec(arch, kw)
        spec = ViTSpec(**fields)
        model = timm.create_model(arch, pretrained=False, device="meta", num_classes=spec.num_classes)
        theirs = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        if spec.rope != "mixed":  # RoPE-Mixed's frequencies are learned weights; the other forms keep no tensor
            theirs.pop("rope.freqs", None)
        if theirs != expected_shapes(spec):
            a, b = set(theirs.items()), set(expected_shapes(spec).items())
            sys.exit(f"{arch}: shapes differ: timm-only {sorted(a - b)[:4]}, vitzoo-only {sorted(b - a)[:4]}")
        specs.append((arch, short_name(arch), fields))
    if skipped:
        lines += ["shapes; edit that script, not this file. Left out (options vitzoo's spec does not express yet):"]
        lines += [f"    {s}" for s in skipped]
    else:
        lines += ["shapes; edit that script, not this file."]
    lines += ['', "Example:", "    >>> from vitzoo.variants import get_spec",
              '    >>> get_spec("vit_small_patch16_dinov3").rope', "    'dinov3'", '"""', "",
              "from __future__ import annotations", "", "from vitzoo.spec import ViTSpec", "",
              "from .registry import register_variant", ""]
    for arch, short, fields in specs:
        args = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        lines += ["", f"@register_variant({arch!r})", f"def {short}() -> ViTSpec:", f"    return ViTSpec({args})", ""]
    print("\n".join(lines).rstrip() + "\n")


if __name__ == "__main__":
    main()
