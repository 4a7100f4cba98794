"""Image embeddings with a MindSpore ViT: the ``eval`` data pipeline, one compiled graph, pooled features out.

What an embedding is (``pool=None``) follows each family's own library:
``model(x)`` for a model without classes (DINOv2: class token after the norm;
SigLIP: the attention-pool output; plain ViT: the pooled features) and for a
CLIP projection head (the projected image embedding); the pooled features before
the classifier (timm's ``pre_logits``) for a classifier. ``pool="cls"|"avg"|"map"``
pools the final tokens that way instead (then ``fc_norm``/pre-logits as the model has).

Per-block features (``layers``): each chosen block's tokens through the final
norm (timm's ``forward_intermediates(norm=True)``), pooled by ``pool`` (``cls`` or
``avg``; by default the model's own token/avg pooling, ``avg`` for MAP models).

Example:
    >>> out = embed_files(model, ["a.jpg", "b.jpg"], batch_size=2)  # doctest: +SKIP
    >>> out["embeddings"].shape
    (2, 768)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
from mindspore import Tensor

from vitzoo.errors import DataError
from vitzoo.features import take_indices
from vitzoo.transforms import transforms_for

from ..train.data import ImageFolder, eval_dataset
from ..train.evaluation import _LABEL_SET_SIZES, model_class_names

POOLS = ("cls", "avg", "map")


def uses_head_output(model: Any) -> bool:
    """Whether the family's image embedding is ``model(x)`` itself (no classes, or a CLIP projection head).

    A CLIP tower's head is its image projection: pre-norm, no class names, and a width
    that is no label set's class count (a CLIP fine-tuned classifier carries its labels).
    """
    spec = model.spec
    if spec.num_classes == 0:
        return True
    return bool(spec.pre_norm) and model_class_names(model) is None and spec.num_classes not in _LABEL_SET_SIZES


def check_pool(model: Any, pool: Optional[str], layers: bool) -> None:
    spec = model.spec
    if pool is None:
        return
    if pool not in POOLS:
        raise DataError(f"Unknown pooling {pool!r}; use one of {', '.join(POOLS)}.")
    if pool == "cls" and not spec.class_token:
        raise DataError("pool='cls' needs a class token, and this model has none; use pool='avg'" + ("." if layers else " or its default pooling."))
    if pool == "cls" and layers and spec.block in ("cait", "xcit"):
        family = "CaiT" if spec.block == "cait" else "XCiT"
        raise DataError(f"{family}'s blocks hold only the patch tokens (the class token joins after them), so per-block features (layers) pool by 'avg'.")
    if pool == "map" and not hasattr(model, "attn_pool"):
        raise DataError("pool='map' needs an attention-pool (MAP) head, and this model has none; use pool='cls' or 'avg'.")
    if pool == "map" and layers:
        raise DataError("Per-block features (layers) pool by 'cls' or 'avg'; the MAP head only reads the final tokens.")


def describe_embedding(model: Any, pool: Optional[str]) -> str:
    """A short name for what the embeddings are (kept in the output's metadata)."""
    if pool is not None:
        return f"pool={pool}"
    if model.spec.num_classes == 0:
        return "pooled output (model(x), no classifier)"
    return "head output (image projection)" if uses_head_output(model) else "pre-logits (pooled features before the classifier)"


def embed_files(
    model: Any,
    files: Sequence[str],
    *,
    batch_size: int = 32,
    pool: Optional[str] = None,
    layers: Any = None,
    normalize: bool = False,
    skip_bad: bool = False,
    progress: bool = False,
    workers: int = 2,
) -> dict[str, Any]:
    """Embeddings of image files (the eval preprocessing of the model's weights), in the order given.

    Returns ``embeddings`` ``[N, D]``, ``layers`` ``{block index: [N, D]}``, ``kept``
    (indices into ``files`` that were read), ``skipped`` (paths), ``seconds``, ``img_per_s``.
    """
    from tqdm import tqdm

    if not files:
        raise DataError("No images to embed; give image files, directories or glob patterns.")
    take: tuple = tuple(take_indices(len(model.blocks), layers)[0]) if layers is not None else ()
    check_pool(model, pool, bool(take))
    model.set_train(False)
    folder = ImageFolder(root=Path("."), classes=[], samples=[(Path(f), i) for i, f in enumerate(files)])
    pipeline = eval_dataset(folder, transforms_for(model), batch_size, skip_bad=skip_bad, workers=workers)
    head_output = uses_head_output(model)
    # per-block features: the class token where the blocks carry one (CaiT's and XCiT's do not), else the patch tokens' mean
    token = model.spec.global_pool == "token" and model.spec.block not in ("cait", "xcit")
    layer_pool = pool if pool in ("cls", "avg") else ("cls" if token else "avg")
    args = (pool, take, bool(normalize), head_output, layer_pool)
    chunks: list[list[np.ndarray]] = []
    kept: list[np.ndarray] = []
    start = time.perf_counter()
    with tqdm(total=len(files), desc="embed", unit="img", disable=not progress, leave=False) as bar:
        for images, index in pipeline:
            n = images.shape[0]
            if n < batch_size:  # pad the last batch: one graph for the whole run
                images = np.concatenate([images, np.zeros((batch_size - n, *images.shape[1:]), images.dtype)])
            # the model's own graph cache: compiled once per choice and shape, recompiled if its weights change
            outs = [o.asnumpy()[:n] for o in model._run_graph("_embed", Tensor(images), *args)]
            good = index >= 0  # -1: an unreadable image skipped with skip_bad
            chunks.append([o[good] for o in outs])
            kept.append(index[good])
            bar.update(n)
    seconds = time.perf_counter() - start
    if not kept or sum(len(k) for k in kept) == 0:
        raise DataError("None of the images could be read, so there is nothing to embed.")
    columns = [np.concatenate(parts).astype(np.float32) for parts in zip(*chunks)]
    count = int(sum(len(k) for k in kept))
    return {
        "embeddings": columns[0],
        "layers": {int(i): arr for i, arr in zip(take, columns[1:])},
        "kept": np.concatenate(kept).astype(np.int64),
        "skipped": list(pipeline.source.skipped),
        "seconds": seconds,
        "img_per_s": count / seconds if seconds > 0 else float("inf"),
    }
