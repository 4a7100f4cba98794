"""``vitzoo info NAME [--json]``: a variant's spec, or a weight set's source, license, accuracy and preprocessing.

Example:
    $ vitzoo info vit_b_16.ms_in1k
    $ vitzoo info vit_base_patch16_224 --json
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from vitzoo.canonical import expected_shapes
from vitzoo.variants import aliases_of, get_spec, split_name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="a variant (vit_b_16, vit_base_patch16_224) or a weight set (vit_b_16.augreg_in1k)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    info = describe(args.name)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(_format(info))
    return 0


def describe(name: str) -> dict[str, Any]:
    """Everything ``vitzoo info`` shows, as a JSON-ready dict."""
    from vitzoo import hub, pretrained
    from vitzoo.transforms import resolve_cfg

    variant, tag = split_name(name)
    spec = get_spec(variant)
    info: dict[str, Any] = {
        "variant": variant,
        "aliases": aliases_of(variant),
        "params": int(sum(_numel(s) for s in expected_shapes(spec).values())),
        "spec": spec.to_dict(),
    }
    weight_sets = [pretrained.get_weight_set(n) for n in pretrained.list_pretrained(f"{variant}.*")]
    default = pretrained.default_tag(variant) if weight_sets else None
    if tag is None:
        info["weights"] = [{"name": ws.name, "top1": ws.top1, "label_set": ws.label_set, "source": ws.source, "default": ws.tag == default}
                           for ws in weight_sets]
        return info
    ws = pretrained.get_weight_set(name)
    cached = hub.converted_path(ws)
    info["weight_set"] = {
        "name": ws.name,
        "default": ws.tag == default,
        "source": ws.source,
        "files": list(ws.files) if ws.hub_repo else [ws.url],
        "format": ws.source_format,
        "license": ws.license,
        "top1": ws.top1,
        "label_set": ws.label_set,
        "num_classes": ws.num_classes,
        "sha256": ws.sha256,
        "preprocessing": resolve_cfg(ws.pretrained_cfg()),
        "cached": str(cached) if cached.exists() else None,
        "notes": ws.notes,
    }
    return info


def _format(info: dict[str, Any]) -> str:
    spec = info["spec"]
    lines = [f"{info['variant']}" + (f"  (timm: {', '.join(info['aliases'])})" if info["aliases"] else "")]
    lines.append(
        f"  ViT: patch {spec['patch_size']}, {spec['img_size']} px, width {spec['embed_dim']}, depth {spec['depth']}, "
        f"{spec['num_heads']} heads, MLP {spec['mlp_dim']}, {info['params'] / 1e6:.1f}M parameters"
    )
    if "weights" in info:
        if not info["weights"]:
            lines.append("  no pretrained weights")
        for w in info["weights"]:
            top1 = f"{w['top1']:.2f}" if w["top1"] is not None else "-"
            lines.append(f"  {'*' if w['default'] else ' '} {w['name']:<44} top-1 {top1:>6}  {w['label_set']:<12} {w['source']}")
        if info["weights"]:
            lines.append("  (* = loaded by pretrained=True)")
        return "\n".join(lines)
    w = info["weight_set"]
    pre = w["preprocessing"]
    resize = int(pre["input_size"][-1] / pre["crop_pct"])
    mode = f"resize to {resize}x{resize}" if pre["crop_mode"] == "squash" else f"resize shorter side to {resize}"
    top1 = f"{w['top1']:.2f} % (published, ImageNet-1k val)" if w["top1"] is not None else "not published"
    rows = [
        ("weights", w["name"] + ("  (default for the variant)" if w["default"] else "")),
        ("source", f"{w['source']} ({', '.join(w['files']) + '; ' if w['source'].startswith('hf-hub:') else ''}{w['format']} format)"),
        ("license", w["license"]),
        ("top-1", top1),
        ("labels", _labels_line(w["label_set"], w["num_classes"])),
        ("preprocess", f"{mode} ({pre['interpolation']}), centre crop {pre['input_size'][-1]}, mean {pre['mean']}, std {pre['std']}"),
        ("sha256", w["sha256"] or "not published"),
        ("cached", w["cached"] or "no (`vitzoo download " + w["name"] + "` fetches it)"),
    ]
    if w["notes"]:
        rows.append(("notes", w["notes"]))
    lines += [f"  {k:<11} {v}" for k, v in rows]
    return "\n".join(lines)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _labels_line(label_set: str, num_classes: int) -> str:
    from vitzoo.labels import NO_LABELS, class_names_for

    if label_set == NO_LABELS:
        return f"none (the {num_classes}-wide head is an embedding projection, not classes)" if num_classes else "none (no classifier)"
    shipped = "" if class_names_for(label_set, num_classes) else "; class names not shipped, predictions show indices"
    return f"{label_set} ({num_classes} classes{shipped})"
