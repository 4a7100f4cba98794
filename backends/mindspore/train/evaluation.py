"""Top-1/top-5 evaluation on an ImageFolder and top-k prediction, with MindSpore models.

Class folders are matched to the model's own class names (checkpoint metadata), so
an evaluation set may hold any subset of the classes, in any folder order.

Example:
    >>> model = vitzoo.create_from_file("runs/digits/best.safetensors")  # doctest: +SKIP
    >>> evaluate_folder(model, "digits/val")["top1"]                     # doctest: +SKIP
    98.6
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable, Optional, Sequence

import mindspore as ms
import numpy as np

from vitzoo.errors import DataError
from vitzoo.transforms import transforms_for

from .data import ImageFolder, Pipeline, eval_dataset, load_image, scan_image_folder

_SYNSET = re.compile(r"^n\d{8}$")


def model_class_names(model: Any) -> Optional[list[str]]:
    """The class names a model carries (from its checkpoint's metadata), if any."""
    names = (getattr(model, "pretrained_cfg", None) or {}).get("class_names")
    if names and len(names) == model.spec.num_classes:
        return [str(n) for n in names]
    return None


# Class counts of the label sets classifiers are trained on (ImageNet-1k, -12k, -21k).
_LABEL_SET_SIZES = (1000, 11821, 21841, 21843)


def no_classifier_reason(model: Any) -> Optional[str]:
    """One sentence saying why ``model`` gives no classes (``None`` when it has a classifier).

    A model has none when ``num_classes`` is 0 (DINOv2, SigLIP), when its weights
    say so (label set ``none``), or when it is a CLIP tower whose head is the image
    projection: a head with no class names whose width is no label set's class count.

    Example:
        >>> no_classifier_reason(vitzoo.create("dinov2_s_14", img_size=28))  # doctest: +SKIP
        'The model has no classifier head (num_classes=0): it gives image embeddings, not classes; ...'
    """
    spec = model.spec
    carried = getattr(model, "pretrained_cfg", None) or {}
    cfg = carried.get("pretrained_cfg") if isinstance(carried.get("pretrained_cfg"), dict) else {}
    if spec.num_classes == 0:
        what = "has no classifier head (num_classes=0)"
    elif cfg.get("label_set") == "none" or (spec.pre_norm and not model_class_names(model) and spec.num_classes not in _LABEL_SET_SIZES):
        what = f"has an embedding projection ({spec.num_classes} values), not a classifier, as its head"
    else:
        return None
    return f"The model {what}: it gives image embeddings, not classes; use `vitzoo embed` (vitzoo.embed) to get them."


def class_mapping(folder: ImageFolder, model: Any) -> np.ndarray:
    """The model's class index for each class folder of ``folder``.

    Folder names are looked up in the model's class names; ImageNet synset folders
    (``n01440764``) map to ImageNet-1k indices for 1000-class models; a model without
    class names takes the folders in sorted order if their count equals its classes.

    Example:
        >>> class_mapping(scan_image_folder("digits/val"), model)  # doctest: +SKIP
        array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    """
    from vitzoo import labels

    n = model.spec.num_classes
    where = f"Class folders of {str(folder.root)!r}"
    reason = no_classifier_reason(model)
    if reason is not None:
        raise DataError(f"Cannot evaluate on {str(folder.root)!r}: {reason[0].lower()}{reason[1:]}")
    names = model_class_names(model)
    if names is not None:
        lookup = {name: i for i, name in enumerate(names)}
        if all(c in lookup for c in folder.classes):
            return np.array([lookup[c] for c in folder.classes], np.int64)
    if n == 1000 and all(_SYNSET.match(c) for c in folder.classes):
        unknown = [c for c in folder.classes if c not in set(labels.imagenet_synsets())]
        if unknown:
            raise DataError(f"{where} include {_few(unknown)}, which are not ImageNet-1k synsets.")
        return np.array([labels.index_of_synset(c) for c in folder.classes], np.int64)
    if names is not None:
        missing = [c for c in folder.classes if c not in set(names)]
        raise DataError(
            f"{where} {_few(missing)} are not among the model's {n} class names ({_few(names)}); "
            "rename the folders to the model's class names."
        )
    if len(folder.classes) == n:
        return np.arange(n, dtype=np.int64)  # no names: the sorted-folder convention of ImageFolder training
    raise DataError(
        f"{where} ({len(folder.classes)}) cannot be matched to the model's {n} classes: its weights carry no class "
        "names; use weights with class names in their metadata, or one folder per model class."
    )


def compiled_forward(model: Any, batch_size: int) -> Callable[[np.ndarray], np.ndarray]:
    """A graph-compiled ``images -> logits`` function; short batches are padded so it compiles once."""
    model.set_train(False)

    @ms.jit
    def infer(x: ms.Tensor) -> ms.Tensor:
        return model(x)

    def forward(images: np.ndarray) -> np.ndarray:
        n = images.shape[0]
        if n < batch_size:
            images = np.concatenate([images, np.zeros((batch_size - n, *images.shape[1:]), images.dtype)])
        return infer(ms.Tensor(images)).asnumpy()[:n]

    return forward


def topk_hits(logits: np.ndarray, targets: np.ndarray, ks: Sequence[int] = (1, 5)) -> list[int]:
    """How many rows have their target among the k largest logits, for each k (ties broken by index).

    Example:
        >>> topk_hits(np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]]), np.array([0, 0]), ks=(1, 2))
        [1, 2]
    """
    order = np.argsort(-logits, axis=1, kind="stable")
    ranks = np.argmax(order == targets[:, None], axis=1)
    return [int((ranks < k).sum()) for k in ks]


def run_eval(
    forward: Callable[[np.ndarray], np.ndarray],
    pipeline: Pipeline,
    mapping: np.ndarray,
    *,
    progress: bool = False,
    desc: str = "eval",
) -> dict[str, Any]:
    """Top-1/top-5 (%) over a pipeline's batches; images labelled -1 (skipped) are not scored."""
    from tqdm import tqdm

    hits1 = hits5 = count = 0
    start = time.perf_counter()
    with tqdm(total=pipeline.num_batches, desc=desc, unit="batch", disable=not progress, leave=False) as bar:
        for images, labels in pipeline:
            keep = labels >= 0
            logits = forward(images)[keep]
            targets = mapping[labels[keep]]
            h1, h5 = topk_hits(logits, targets, (1, 5))
            hits1, hits5, count = hits1 + h1, hits5 + h5, count + int(keep.sum())
            bar.update(1)
            bar.set_postfix(top1=f"{100.0 * hits1 / max(count, 1):.2f}")
    seconds = time.perf_counter() - start
    if count == 0:
        raise DataError(f"No readable image in {str(pipeline.source.samples[0][0].parent.parent)!r} to evaluate.")
    return {
        "top1": 100.0 * hits1 / count,
        "top5": 100.0 * hits5 / count,
        "images": count,
        "seconds": seconds,
        "img_per_s": count / seconds if seconds > 0 else float("inf"),
        "skipped": list(pipeline.source.skipped),
    }


def evaluate_folder(
    model: Any,
    data_dir: str,
    *,
    batch_size: int = 64,
    skip_bad: bool = False,
    progress: bool = False,
    workers: int = 2,
) -> dict[str, Any]:
    """Evaluate ``model`` on ``data_dir`` with the eval preprocessing of its weights."""
    folder = scan_image_folder(data_dir)
    mapping = class_mapping(folder, model)
    pipeline = eval_dataset(folder, transforms_for(model), batch_size, skip_bad=skip_bad, workers=workers)
    result = run_eval(compiled_forward(model, batch_size), pipeline, mapping, progress=progress)
    result["classes"] = len(folder.classes)
    return result


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z.astype(np.float64))
    return e / e.sum(axis=1, keepdims=True)


def predict_files(model: Any, files: Sequence[str], *, top_k: int = 5, batch_size: int = 32) -> list[dict[str, Any]]:
    """The ``top_k`` classes (index, label, probability) of each image file."""
    reason = no_classifier_reason(model)
    if reason is not None:
        raise DataError(reason)
    if top_k < 1:
        raise DataError(f"top_k must be at least 1, got {top_k}.")
    names = model_class_names(model) or [str(i) for i in range(model.spec.num_classes)]
    transform = transforms_for(model)
    model.set_train(False)
    k = min(top_k, len(names))
    results: list[dict[str, Any]] = []
    for start in range(0, len(files), batch_size):
        chunk = list(files[start : start + batch_size])
        batch = np.stack([transform(load_image(f)) for f in chunk])
        probs = softmax(model(ms.Tensor(batch)).asnumpy())
        for path, row in zip(chunk, probs):
            best = np.argsort(-row, kind="stable")[:k]
            results.append({"image": str(path), "top": [{"index": int(i), "label": names[i], "prob": float(row[i])} for i in best]})
    return results


def _few(items: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(repr(str(x)) for x in list(items)[:limit])
    return shown if len(items) <= limit else f"{shown}, ... ({len(items)} in all)"
