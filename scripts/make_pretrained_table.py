"""Write vitzoo's table of timm weight sets (vitzoo/data/pretrained_timm.json) from timm's own configs.

For every pretrained weight set that timm builds with ``vision_transformer.py``,
``deit.py``, ``eva.py``, ``beit.py``, ``cait.py``, ``naflexvit.py``, ``xcit.py``, ``vision_transformer_relpos.py``,
``vision_transformer_hybrid.py`` or ``qwen3_vit.py`` (``timm.list_pretrained()`` filtered by the
architecture's module):

* if vitzoo registers its architecture (a variant or a timm alias), and the spec
  equals what ``timm.create_model`` builds (for eva.py/beit.py/cait.py/naflexvit.py/xcit.py qwen3_vit.py and the relpos/hybrid modules, whose variants
  scripts/make_eva_variants.py writes from timm's own arguments: the same tensors,
  names and shapes, as timm's model), the weight set becomes an entry: the
  hub repo, class count, label set, license and eval preprocessing are copied
  from timm's ``pretrained_cfg``; top-1 from ``scripts/timm_top1_imagenet.csv``;
* otherwise it is listed under ``left_out`` with the reason (what the spec
  cannot express, read from the timm model's own modules).

Run it again after registering variants or moving to another timm; the test
suite checks the table against the installed timm.

Usage:
    python scripts/make_pretrained_table.py [--check]

``--check`` writes nothing and exits 1 if the committed table is out of date.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from timm_specs import build_meta, read_timm_architecture, spec_differences  # noqa: E402

TABLE = HERE.parent / "vitzoo" / "data" / "pretrained_timm.json"
TOP1 = HERE / "timm_top1_imagenet.csv"
MODULES = ("vision_transformer", "deit", "eva", "beit", "cait", "naflexvit", "xcit", "vision_transformer_relpos", "vision_transformer_hybrid", "qwen3_vit",
           "deepseek_vit")
SHAPE_CHECKED = ("eva", "beit", "cait", "naflexvit", "xcit", "vision_transformer_relpos", "vision_transformer_hybrid", "qwen3_vit",
                 "deepseek_vit")  # modules whose architectures are checked by their tensors (see _judge_by_tensors)
SHAPE_CHECKED_ARCHS = ("aimv2_", "beit3_")  # vision_transformer.py models vitzoo builds with the EVA block's Cells (RMSNorm; inner norms), likewise
HUB_FILES = (None, "model.safetensors", "pytorch_model.bin")  # what a registry entry downloads
PREPROCESSING = ("input_size", "interpolation", "crop_pct", "crop_mode", "mean", "std")

# Facts about single weight sets that timm's pretrained_cfg does not state.
LEFT_OUT = {
    "flexivit_base.patch30_in21k": "trained at patch size 30 (big_vision's vit_b30 file); timm resamples the patch kernel "
                                   "when loading, vitzoo does not, and the hub file's kernel size cannot be checked offline",
}
# Architectures vitzoo leaves out for reasons other than the spec.
LEFT_OUT_ARCHS = {
    "test_vit": "timm's tiny test model (weights for timm's own tests)",
    "test_vit2": "timm's tiny test model (weights for timm's own tests)",
    "test_vit3": "timm's tiny test model (weights for timm's own tests)",
}
NOTES = {
    "vit_base_patch16_224.bamboo": "timm's pretrained_cfg states no license",
}


def timm_weight_sets() -> list[str]:
    """Every pretrained ``arch.tag`` timm builds with vision_transformer.py or deit.py.

    Architectures in name order; each one's tags in timm's priority order, so
    the first is what ``timm.create_model(arch, pretrained=True)`` loads.
    """
    import timm
    from timm.models._registry import _model_to_module, get_arch_pretrained_cfgs

    names = set(timm.list_pretrained())
    archs = sorted({n.split(".")[0] for n in names if _model_to_module.get(n.split(".")[0]) in MODULES})
    return [name for a in archs for name in get_arch_pretrained_cfgs(a) if name in names]


def in_issue_scope(name: str) -> bool:
    """The 291 of issue #12: architectures of vision_transformer.py/deit.py named ``vit_*`` or ``deit*``."""
    from timm.models._registry import _model_to_module

    arch = name.split(".")[0]
    return arch.startswith(("vit_", "deit")) and _model_to_module.get(arch) in ("vision_transformer", "deit")


def read_top1() -> dict[str, float]:
    lines = [line for line in TOP1.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    return {row["model"]: float(row["top1"]) for row in csv.DictReader(lines)}


def build_table() -> dict[str, Any]:
    import timm
    from timm.models import get_pretrained_cfg

    from vitzoo.errors import UnknownNameError
    from vitzoo.labels import label_set_for
    from vitzoo.variants import get_spec, resolve_name

    top1 = read_top1()
    entries: list[dict[str, Any]] = []
    left_out: list[dict[str, str]] = []
    arch_verdict: dict[str, tuple[Optional[str], Optional[str]]] = {}  # arch -> (variant, reason)
    for name in timm_weight_sets():
        arch, _, tag = name.partition(".")
        if arch not in arch_verdict:
            arch_verdict[arch] = _judge(arch, get_spec, resolve_name, UnknownNameError)
        variant, reason = arch_verdict[arch]
        if reason is None and _module(arch) == "qwen3_vit":
            variant = _qwen_variant(name, variant, get_spec)
        if reason is None and _module(arch) == "deepseek_vit":
            variant = _deepseek_variant(name, variant, get_spec)
        cfg = get_pretrained_cfg(name).to_dict()
        if reason is None and not cfg.get("hf_hub_id") and "ijepa" in str(cfg.get("url")):
            reason = (f"no Hugging Face hub copy: timm reads {cfg.get('url')}, an I-JEPA training checkpoint (the model under "
                      "'encoder', beside the predictor), a layout vitzoo's readers do not unwrap")
        if reason is None and not cfg.get("hf_hub_id"):
            reason = f"no Hugging Face hub copy: timm reads {cfg.get('url')}, a file vitzoo has no entry type for"
        if reason is None and cfg.get("hf_hub_filename") not in HUB_FILES:
            reason = (f"the hub repo holds {cfg['hf_hub_filename']} (an open_clip whole-model file that timm converts on load), "
                      "not the model.safetensors a registry entry downloads")
        if reason is None and name in LEFT_OUT:
            reason = LEFT_OUT[name]
        if reason is None and tuple(cfg["input_size"][-2:]) != get_spec(variant).input_size:  # (H, W): Sapiens2's is 1024 × 768
            reason = (f"evaluated at {cfg['input_size'][-2]} × {cfg['input_size'][-1]} px while the architecture is built for "
                      f"{' × '.join(map(str, get_spec(variant).input_size))} px")
        if reason is not None:
            left_out.append({"timm": name, "reason": reason})
            continue
        entry = {
            "name": f"{variant}.{tag}",
            "timm": name,
            "hub_repo": cfg["hf_hub_id"],  # timm resolves "timm/" to the full repo id
            "num_classes": cfg["num_classes"],
            "label_set": label_set_for(cfg["num_classes"]),
            "license": cfg.get("license") or "unknown",
            "top1": top1.get(name),
            **{k: _plain(cfg[k]) for k in PREPROCESSING},
        }
        notes = [NOTES[name]] if name in NOTES else []
        notes += [str(n) for n in (cfg.get("notes") or [])]
        if notes:
            entry["notes"] = "; ".join(notes)
        entries.append(entry)
    return {
        "about": "Generated by scripts/make_pretrained_table.py from timm's pretrained_cfgs; do not edit by hand.",
        "timm_version": timm.__version__,
        "entries": entries,
        "left_out": left_out,
    }


def _judge(arch: str, get_spec: Any, resolve_name: Any, unknown: type) -> tuple[Optional[str], Optional[str]]:
    """``(variant, None)`` if vitzoo registers ``arch`` with timm's exact architecture, else ``(None, reason)``."""
    if arch in LEFT_OUT_ARCHS:
        return None, LEFT_OUT_ARCHS[arch]
    from timm.models._registry import _model_to_module

    if _model_to_module.get(arch) in SHAPE_CHECKED or arch.startswith(SHAPE_CHECKED_ARCHS):
        return _judge_by_tensors(arch, get_spec, resolve_name, unknown)
    fields, unsupported = read_timm_architecture(build_meta(arch))
    if unsupported:
        return None, "the spec cannot express: " + ", ".join(unsupported)
    try:
        variant = resolve_name(arch)
    except unknown:
        return None, "architecture not registered in vitzoo"
    differences = spec_differences(get_spec(variant), fields)
    if differences:
        raise SystemExit(f"vitzoo's {variant} differs from timm's {arch}: {'; '.join(differences)}")
    return variant, None


def _judge_by_tensors(arch: str, get_spec: Any, resolve_name: Any, unknown: type) -> tuple[Optional[str], Optional[str]]:
    """eva.py / beit.py / cait.py / naflexvit.py / xcit.py / qwen3_vit.py: registered (from timm's own arguments) and holding exactly timm's tensors, or why not."""
    from make_eva_variants import left_out, model_args

    from vitzoo.canonical import expected_shapes

    try:
        variant = resolve_name(arch)
    except unknown:
        why = left_out(model_args(arch)) if _module(arch) == "eva" else ""
        return None, ("the spec cannot express: " + why) if why else "architecture not registered in vitzoo"
    spec = get_spec(variant)
    timm_shapes = _timm_shapes(arch, spec.num_classes)
    ours = expected_shapes(spec)
    if spec.naflex:  # NaFlexVit's own names (embeds.*, a Linear patch embedding, a [1, G, G, D] grid)
        import numpy as np

        from vitzoo.weights.naflex_names import from_canonical

        ours = {k: v.shape for k, v in from_canonical({k: np.zeros(s, np.float32) for k, s in ours.items()}, spec).items()}
    if timm_shapes != ours:
        raise SystemExit(f"vitzoo's {variant} holds other tensors than timm's {arch}")
    return variant, None


def _timm_shapes(name: str, num_classes: int) -> dict[str, tuple]:
    """The tensors of timm's model ``name`` (``arch`` or ``arch.tag``) built on the meta device, under vitzoo's names."""
    import timm

    from vitzoo.weights.qwen_timm import strip

    model = timm.create_model(name, pretrained=False, device="meta", num_classes=num_classes)  # their init takes no weight_init
    qwen = _module(name.split(".")[0]) in ("qwen3_vit", "deepseek_vit")  # the classifier's tower sits under encoder.
    # XCiT's BatchNorm step counters are buffers, not weights (no canonical tensor; torch refills them on load)
    return {(strip(k) if qwen else k): tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def _qwen_variant(name: str, variant: str, get_spec: Any) -> str:
    """timm's Qwen3 ViT: a ``_merge``/``_enc`` weight set's projector has its source LLM's width, so its vitzoo variant is the
    architecture's (timm's default width) or its ``_<width>`` one; either way checked against timm's model of that tag."""
    from vitzoo.canonical import expected_shapes

    candidates = [variant] + ([f"{variant}_{w}" for w in (1024, 2048, 2560, 4096, 5120)] if name.split(".")[0].endswith(("_merge", "_enc")) else [])
    for candidate in candidates:
        try:
            spec = get_spec(candidate)
        except Exception:  # noqa: BLE001 - no such width variant
            continue
        if _timm_shapes(name, spec.num_classes) == expected_shapes(spec):
            return candidate
    raise SystemExit(f"no vitzoo variant holds the tensors of timm's {name}")


def _deepseek_variant(name: str, variant: str, get_spec: Any) -> str:
    """timm's DeepSeek ViT: the V4-Flash Vision-Exp tower's weight sets have a 4096-wide aligner and 392 px input, its
    vitzoo variants the ``_392``/``_4096`` ones; chosen by timm's tensors and input size for that tag."""
    from timm.models import get_pretrained_cfg

    from vitzoo.canonical import expected_shapes

    size = tuple(get_pretrained_cfg(name).to_dict()["input_size"][-2:])
    for candidate in (variant, f"{variant}_392", f"{variant}_4096"):
        try:
            spec = get_spec(candidate)
        except Exception:  # noqa: BLE001 - no such variant
            continue
        if spec.input_size == size and _timm_shapes(name, spec.num_classes) == expected_shapes(spec):
            return candidate
    raise SystemExit(f"no vitzoo variant holds the tensors of timm's {name}")


def _module(arch: str) -> Optional[str]:
    from timm.models._registry import _model_to_module

    return _model_to_module.get(arch)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def dumps(table: dict[str, Any]) -> str:
    """JSON with one weight set per line: small diffs, easy to read."""
    head = {k: v for k, v in table.items() if k not in ("entries", "left_out")}
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    for key in ("entries", "left_out"):
        rows = [f"    {json.dumps(row, separators=(', ', ': '))}" for row in table[key]]
        lines.append(f'  "{key}": [')
        lines.append(",\n".join(rows))
        lines.append("  ]," if key == "entries" else "  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def summary(table: dict[str, Any]) -> str:
    covered = [e["timm"] for e in table["entries"]]
    scope = [n for n in covered + [r["timm"] for r in table["left_out"]] if in_issue_scope(n)]
    in_scope = [n for n in covered if in_issue_scope(n)]
    return (f"{len(covered)} of {len(covered) + len(table['left_out'])} timm weight sets covered; "
            f"{len(in_scope)} of the {len(scope)} with vit_*/deit* architectures of vision_transformer.py/deit.py")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed table is out of date")
    args = parser.parse_args(argv)
    table = build_table()
    text = dumps(table)
    if args.check:
        same = TABLE.exists() and TABLE.read_text(encoding="utf-8") == text
        print(("up to date: " if same else "OUT OF DATE: ") + summary(table))
        return 0 if same else 1
    from vitzoo.fileio import atomic_path

    with atomic_path(TABLE) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    print(f"wrote {TABLE}: {summary(table)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
