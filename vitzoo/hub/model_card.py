"""The model card (README.md) of a folder written by :func:`vitzoo.save_pretrained`: the hub's metadata header and a short text.

The header is huggingface_hub's :class:`~huggingface_hub.ModelCardData` (``library_name``, ``license``,
``datasets``, ``tags``, ``pipeline_tag``, ``metrics`` and, with a training run's top-1, a ``model-index``
entry), so the hub shows the library's loading snippet and the result.

Example:
    >>> text = model_card(ckpt, "timm", repo_id="me/vit-digits", metrics={"top1": 98.2})  # doctest: +SKIP
    >>> text.splitlines()[0]  # doctest: +SKIP
    '---'
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

_LIBRARY = {"timm": "timm", "transformers": "transformers"}


def model_card(
    ckpt: Any,
    layout: str,
    *,
    repo_id: Optional[str] = None,
    license: Optional[str] = None,
    datasets: Optional[Sequence[str]] = None,
    tags: Optional[Sequence[str]] = None,
    metrics: Optional[Mapping[str, Any]] = None,
    base_model: Optional[str] = None,
) -> str:
    """README.md text for ``ckpt`` saved in ``layout`` (``"timm"`` or ``"transformers"``).

    ``metrics`` are a training run's results (``top1`` / ``val_top1`` in %, ``top5``, ``epoch``, ...):
    listed in the text, and the top-1 also as the header's ``model-index`` result.
    """
    from huggingface_hub import EvalResult, ModelCardData

    spec = ckpt.spec
    classify = spec.num_classes > 0
    pipeline = "image-classification" if classify else "image-feature-extraction"
    metrics = dict(metrics or {})
    top1 = next((metrics[k] for k in ("top1", "val_top1", "accuracy") if isinstance(metrics.get(k), (int, float))), None)
    name = repo_id or "ORG/REPO"  # the snippets name the repo it is pushed to
    dataset_list = list(datasets or [])
    eval_results = None
    if top1 is not None:
        dataset = dataset_list[0] if dataset_list else "imagefolder"
        eval_results = [EvalResult(task_type=pipeline, dataset_type=dataset, dataset_name=dataset, dataset_split="validation",
                                   metric_type="accuracy", metric_name="top-1 accuracy (%)", metric_value=float(top1))]
    meta = ckpt.meta or {}
    license = license or ((meta.get("pretrained_cfg") or {}).get("license") if isinstance(meta.get("pretrained_cfg"), dict) else None)
    data = ModelCardData(
        library_name=_LIBRARY[layout], license=license, datasets=dataset_list or None, pipeline_tag=pipeline,
        tags=list(dict.fromkeys([pipeline, "vitzoo", "mindspore", _LIBRARY[layout], *(tags or [])])),
        metrics=["accuracy"] if top1 is not None else None, base_model=base_model, model_name=name.split("/")[-1] if eval_results else None,
        eval_results=eval_results,
    )
    load = (
        f'import timm\nmodel = timm.create_model("hf-hub:{name}", pretrained=True)'
        if layout == "timm"
        else f'from transformers import AutoModel{"ForImageClassification" if classify else ""}\n'
        f'model = AutoModel{"ForImageClassification" if classify else ""}.from_pretrained("{name}")'
    )
    lines = [
        "---", data.to_yaml(), "---", "", f"# {repo_id.split('/')[-1] if repo_id else 'A vitzoo model'}", "",
        f"A Vision Transformer ({spec.depth} blocks, width {spec.embed_dim}, {spec.num_heads} heads, patch {spec.patch_size}, "
        f"{spec.img_size} px" + (f", {spec.num_classes} classes" if classify else ", no classifier") + f") saved by vitzoo in {layout}'s layout.",
    ]
    if meta.get("source"):
        lines += ["", f"Weights from: `{meta['source']}`."]
    if metrics:
        lines += ["", "## Training results", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items()]
    lines += ["", "## Use", "", "```python", load, "```", "", "With vitzoo (MindSpore):", "", "```python", "import vitzoo",
              f'model = vitzoo.create("hf-hub:{name}", pretrained=True)', "```", ""]
    return "\n".join(lines)
