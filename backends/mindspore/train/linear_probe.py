"""``--linear-probe``: the head trained on the frozen backbone's features, computed once.

Linear-probe protocols (MAE, DINO) read each image's pooled pre-logits features
(``model.forward_head(model.forward_features(x), pre_logits=True)``) from the frozen
pretrained model, without augmentation (the eval transform), and fit the classifier on them.
:class:`FeatureCache` does that for the train and val folders once per run; the training loop then
steps only ``model.head`` on shuffled batches of the cached features (the step is the usual
compiled one, with ``model.head`` as the network), and evaluates the head on the cached val
features. The model keeps its own head Parameters, so the saved checkpoint is the whole model
(backbone + trained head). ``--freeze-backbone`` stays the other mode: head only, full forward
with augmentation each step.

The batches of an epoch are a permutation drawn from the epoch's data seed (the same on every
rank; rank ``r`` of ``w`` takes rows ``r::w`` of each global batch, as the image pipeline does), so
a resumed run replays the same batches from the same state. Its losses agree with the uninterrupted
run's to float32 rounding but not always bit for bit (measured: 1.0746895969 vs 1.0746896565 after one
resumed epoch of a tiny run; ``--freeze-backbone`` resumes bit for bit): the head-only step of a fresh
process rounds differently somewhere in its last bits, a cause not found yet.

Example:
    >>> cache = FeatureCache.build(model, train_folder, val_folder, transform, batch_size=64)  # doctest: +SKIP
    >>> for feats, labels in cache.train_batches(seed=0, batch_size=64): ...  # doctest: +SKIP
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import mindspore as ms
import numpy as np

from vitzoo.errors import TrainError

from . import data as D


@dataclass
class _Skips:
    """What the trainer reads off a pipeline's source: the unreadable images, and the folder (for messages)."""

    skipped: list[str] = field(default_factory=list)
    samples: list[Any] = field(default_factory=list)


@dataclass
class CachedBatches:
    """One epoch of cached-feature batches, shaped like a :class:`~.data.Pipeline` for the training loop."""

    features: np.ndarray
    labels: np.ndarray
    rows: list[np.ndarray]
    source: _Skips

    @property
    def num_batches(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for rows in self.rows:
            yield self.features[rows], self.labels[rows]


def feature_extractor(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``images -> pooled pre-logits features`` of the model in eval mode, as one compiled graph."""
    if model.spec.dist_token:
        raise TrainError("--linear-probe trains one head on pooled features, and a distilled model has two; use --freeze-backbone.")

    from vitzoo.backends import get_backend

    # A compiled copy of the frozen model (jit=True compiles forward_features/forward_head as graphs; the
    # training model stays a PyNative one). It is used for one pass over the data and then dropped.
    backend = get_backend("mindspore")
    frozen = backend.build(model.spec, backend.state_dict(model), jit=True)
    return lambda images: frozen.forward_head(frozen.forward_features(ms.Tensor(images)), pre_logits=True).asnumpy()


def extract(model: Any, folder: D.ImageFolder, transform: Any, batch_size: int, *, skip_bad: bool = False, workers: int = 2,
            progress: bool = False, desc: str = "features") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features ``[N, D]`` and labels ``[N]`` of every readable image of ``folder`` (``transform``: the eval one)."""
    from tqdm import tqdm

    model.set_train(False)
    forward = feature_extractor(model)
    pipeline = D.eval_dataset(folder, transform, batch_size, skip_bad=skip_bad, workers=workers)
    feats, labels = [], []
    for images, y in tqdm(pipeline, total=pipeline.num_batches, desc=desc, unit="batch", disable=not progress, leave=False):
        n = images.shape[0]
        if n < batch_size:  # pad the last batch: one compiled shape
            images = np.concatenate([images, np.zeros((batch_size - n, *images.shape[1:]), images.dtype)])
        keep = y >= 0
        feats.append(forward(images)[:n][keep])
        labels.append(y[keep])
    return np.concatenate(feats).astype(np.float32), np.concatenate(labels).astype(np.int32), list(pipeline.source.skipped)


@dataclass
class FeatureCache:
    """The frozen model's features of the train and val images, and their labels."""

    train: np.ndarray
    train_labels: np.ndarray
    val: np.ndarray
    val_labels: np.ndarray
    skipped: list[str]
    val_folder: D.ImageFolder
    seconds: float

    @classmethod
    def build(cls, model: Any, train_folder: D.ImageFolder, val_folder: D.ImageFolder, transform: Any, batch_size: int, *,
              skip_bad: bool = False, workers: int = 2, progress: bool = False, announce: bool = True) -> "FeatureCache":
        tic = time.perf_counter()
        tr, tr_y, skipped = extract(model, train_folder, transform, batch_size, skip_bad=skip_bad, workers=workers, progress=progress, desc="train features")
        va, va_y, val_skipped = extract(model, val_folder, transform, batch_size, skip_bad=skip_bad, workers=workers, progress=progress, desc="val features")
        seconds = time.perf_counter() - tic
        if announce:
            print(f"linear probe: features of {len(tr)} train and {len(va)} val images ({tr.shape[1]} dims) in {seconds:.1f} s", file=sys.stderr)
        return cls(tr, tr_y, va, va_y, skipped + val_skipped, val_folder, seconds)

    def train_batches(self, seed: int, batch_size: int, num_shards: int = 1, shard_id: int = 0) -> CachedBatches:
        """One epoch: the cached train features in the order ``seed`` draws, ``batch_size`` per shard, last partial batch dropped."""
        order = np.random.default_rng(seed).permutation(len(self.train))
        global_batch = batch_size * num_shards
        if len(order) < global_batch:
            raise TrainError(f"--linear-probe has {len(order)} readable training images, fewer than one batch of {global_batch}; lower --batch-size.")
        rows = [order[b * global_batch:(b + 1) * global_batch][shard_id::num_shards] for b in range(len(order) // global_batch)]
        return CachedBatches(self.train, self.train_labels, rows, _Skips(list(self.skipped)))

    def val_batches(self, batch_size: int) -> CachedBatches:
        """The cached val features in folder order (for :func:`~.evaluation.run_eval`)."""
        n = len(self.val)
        rows = [np.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
        return CachedBatches(self.val, self.val_labels, rows, _Skips([], list(self.val_folder.samples)))
