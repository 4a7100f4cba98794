"""Write vitzoo's table of whole CLIP-style weight tags (vitzoo/data/pretrained_clip.json) from open_clip's own data.

For every ``(model, tag)`` of ``open_clip.list_pretrained()`` (open_clip's ``get_pretrained_cfg``):

* the model must be one whose config vitzoo bundles (``vitzoo/data/open_clip_models.json``), so
  ``create_clip`` can build it;
* the weights must be on the Hugging Face hub (``hf_hub`` set, open_clip's default file names):
  vitzoo downloads them through its ``hf-hub:`` repo code, never from a bare URL;
* the tag's ``quick_gelu`` must equal the model config's: open_clip only warns when they differ
  (the model then computes another activation than it was trained with), and it lists the same
  weights under the ``-quickgelu`` model name, where they match;

otherwise the pair goes under ``left_out`` with the reason. Each entry records the hub repo, the
eval preprocessing (mean, std, interpolation, resize mode) from open_clip's cfg, and the licence
timm states for the same hub repo (``None`` where timm states none: read the repo's model card).
The test suite checks the table against the installed open_clip.

Usage:
    python scripts/make_clip_pretrained_table.py [--check]

``--check`` writes nothing and exits 1 if the committed table is out of date.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional

TABLE = Path(__file__).resolve().parent.parent / "vitzoo" / "data" / "pretrained_clip.json"
MODELS = TABLE.parent / "open_clip_models.json"
PREPROCESSING = ("mean", "std", "interpolation", "resize_mode")


def _timm_licenses() -> dict[str, Optional[str]]:
    """hub repo -> the licence timm's pretrained_cfg states for it (timm publishes most of open_clip's timm/ repos)."""
    import timm

    out: dict[str, Optional[str]] = {}
    for name in timm.list_pretrained():
        cfg = timm.models.get_pretrained_cfg(name)
        if cfg is not None and cfg.hf_hub_id and cfg.license:
            out.setdefault(cfg.hf_hub_id.rstrip("/"), cfg.license)
    return out


def build_table() -> dict[str, Any]:
    import open_clip

    models = json.loads(MODELS.read_text(encoding="utf-8"))["models"]
    licenses = _timm_licenses()
    entries, left_out = [], []
    for model, tag in open_clip.list_pretrained():
        cfg = open_clip.get_pretrained_cfg(model, tag)
        repo, _, filename = (cfg.get("hf_hub") or "").rpartition("/")  # open_clip's split: "ORG/REPO/" + an optional file name
        reason = None
        if model not in models:
            reason = "vitzoo does not bundle this open_clip model config (its towers are not ViTs vitzoo builds)"
        elif not cfg.get("hf_hub"):
            reason = f"no Hugging Face hub copy (open_clip reads {cfg.get('url')})"
        elif filename:
            reason = f"a non-default file name {filename!r} in the hub repo"
        elif bool(cfg.get("quick_gelu", False)) != bool(models[model].get("quick_gelu", False)):
            reason = f"trained with quick_gelu={bool(cfg.get('quick_gelu'))}, the config says otherwise; use {model}-quickgelu"
        if reason:
            left_out.append({"name": f"{model}.{tag}", "reason": reason})
            continue
        row = {"model": model, "tag": tag, "hub_repo": repo, "license": licenses.get(repo)}
        row.update({k: list(cfg[k]) if isinstance(cfg[k], (list, tuple)) else cfg[k] for k in PREPROCESSING})
        entries.append(row)
    return {"_source": f"open_clip {open_clip.__version__} get_pretrained_cfg (written by scripts/make_clip_pretrained_table.py)",
            "entries": entries, "left_out": left_out}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed table is out of date")
    args = parser.parse_args(argv)
    text = json.dumps(build_table(), indent=1) + "\n"
    if args.check:
        same = TABLE.is_file() and TABLE.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{TABLE} is out of date; run scripts/make_clip_pretrained_table.py")
        return 0 if same else 1
    tmp = TABLE.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(TABLE)  # no half-written table on failure
    print(f"wrote {TABLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
