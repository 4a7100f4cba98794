"""Mixup and CutMix (``--mixup``, ``--cutmix``, ...): timm's ``timm.data.Mixup`` on NumPy batches.

The batch (normalised images ``[B, C, H, W]`` float32, integer labels) is mixed with its own reverse
(sample ``i`` with ``B - 1 - i``) and the labels become soft targets ``[B, classes]`` with the label
smoothing folded in; the training step then uses soft-target cross-entropy (timm's
``SoftTargetCrossEntropy``). Modes: ``batch`` (one lambda and box per batch), ``pair`` (per pair of
samples), ``elem`` (per sample).

The random draws are timm's, call for call, made from a ``numpy.random.RandomState`` given per batch
(timm draws from NumPy's global legacy generator, the same algorithm): seeded with the same number, the
mixed images and targets are timm's bit for bit (tests/train/test_recipes_mixup.py). The trainer seeds
each batch from the run's seed, the step and the rank, so a resumed run mixes exactly as an uninterrupted one.

Example:
    >>> import numpy as np
    >>> mix = Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=3, label_smoothing=0.1)
    >>> x, y = mix(np.ones((4, 3, 8, 8), np.float32), np.array([0, 1, 2, 0]), np.random.RandomState(0))
    >>> y.shape, float(y.sum(1).round(6).min())
    ((4, 3), 1.0)
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from vitzoo.configs import TrainConfig

def mixup_target(labels: np.ndarray, num_classes: int, lam: "float | np.ndarray", smoothing: float) -> np.ndarray:
    """timm's ``mixup_target``: smoothed one-hot targets mixed with the reversed batch's, float32."""
    off = smoothing / num_classes
    on = 1.0 - smoothing + off
    y1 = np.full((len(labels), num_classes), off, np.float32)
    y1[np.arange(len(labels)), labels.astype(np.int64)] = on
    if isinstance(lam, np.ndarray):  # per sample: a float32 tensor in timm, so 1 - lam is float32 too
        return y1 * lam + y1[::-1] * (np.float32(1.0) - lam)
    return y1 * np.float32(lam) + y1[::-1] * np.float32(1.0 - lam)  # a Python float: 1 - lam in float64, then rounded


def rand_bbox(shape: Sequence[int], lam: float, rng: np.random.RandomState, count: Optional[int] = None) -> tuple:
    """timm's ``rand_bbox`` (no margin): a box of area ``1 - lam`` around a random centre, clipped to the image."""
    ratio = np.sqrt(1 - lam)
    img_h, img_w = shape[-2:]
    cut_h, cut_w = int(img_h * ratio), int(img_w * ratio)
    cy = rng.randint(0, img_h, size=count)
    cx = rng.randint(0, img_w, size=count)
    yl = np.clip(cy - cut_h // 2, 0, img_h)
    yh = np.clip(cy + (cut_h + 1) // 2, 0, img_h)
    xl = np.clip(cx - cut_w // 2, 0, img_w)
    xh = np.clip(cx + (cut_w + 1) // 2, 0, img_w)
    return yl, yh, xl, xh


def rand_bbox_minmax(shape: Sequence[int], minmax: Sequence[float], rng: np.random.RandomState, count: Optional[int] = None) -> tuple:
    """timm's ``rand_bbox_minmax``: box sides drawn between ``minmax[0]`` and ``minmax[1]`` of the image's."""
    img_h, img_w = shape[-2:]
    cut_h = rng.randint(int(img_h * minmax[0]), int(img_h * minmax[1]), size=count)
    cut_w = rng.randint(int(img_w * minmax[0]), int(img_w * minmax[1]), size=count)
    yl = rng.randint(0, img_h - cut_h + 1, size=count)
    xl = rng.randint(0, img_w - cut_w + 1, size=count)
    return yl, yl + cut_h, xl, xl + cut_w


class Mixup:
    """timm's ``Mixup`` (same arguments and defaults, ``correct_lam=True``), called with the batch's generator."""

    def __init__(self, mixup_alpha: float = 1.0, cutmix_alpha: float = 0.0, cutmix_minmax: Optional[Sequence[float]] = None,
                 prob: float = 1.0, switch_prob: float = 0.5, mode: str = "batch", label_smoothing: float = 0.1,
                 num_classes: int = 1000) -> None:
        self.mixup_alpha, self.cutmix_alpha, self.cutmix_minmax = mixup_alpha, cutmix_alpha, cutmix_minmax
        if cutmix_minmax is not None:
            self.cutmix_alpha = 1.0  # timm: minmax boxes force cutmix on with alpha 1
        self.mix_prob, self.switch_prob, self.mode = prob, switch_prob, mode
        self.label_smoothing, self.num_classes = label_smoothing, num_classes

    def _bbox_and_lam(self, shape: Sequence[int], lam: float, rng: np.random.RandomState) -> tuple:
        """timm's ``cutmix_bbox_and_lam``: the box, and lambda corrected to the box's clipped area."""
        if self.cutmix_minmax is not None:
            yl, yu, xl, xu = rand_bbox_minmax(shape, self.cutmix_minmax, rng)
        else:
            yl, yu, xl, xu = rand_bbox(shape, lam, rng)
        return (yl, yu, xl, xu), 1.0 - (yu - yl) * (xu - xl) / float(shape[-2] * shape[-1])

    def _params_per_elem(self, n: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        use_cutmix = np.zeros(n, dtype=bool)
        if self.mixup_alpha > 0.0 and self.cutmix_alpha > 0.0:
            use_cutmix = rng.rand(n) < self.switch_prob
            lam_mix = np.where(use_cutmix, rng.beta(self.cutmix_alpha, self.cutmix_alpha, size=n), rng.beta(self.mixup_alpha, self.mixup_alpha, size=n))
        elif self.mixup_alpha > 0.0:
            lam_mix = rng.beta(self.mixup_alpha, self.mixup_alpha, size=n)
        else:
            use_cutmix = np.ones(n, dtype=bool)
            lam_mix = rng.beta(self.cutmix_alpha, self.cutmix_alpha, size=n)
        lam = np.where(rng.rand(n) < self.mix_prob, lam_mix.astype(np.float32), np.ones(n, dtype=np.float32))
        return lam, use_cutmix

    def _params_per_batch(self, rng: np.random.RandomState) -> tuple[float, bool]:
        if not rng.rand() < self.mix_prob:
            return 1.0, False
        if self.mixup_alpha > 0.0 and self.cutmix_alpha > 0.0:
            use_cutmix = bool(rng.rand() < self.switch_prob)
            alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
            return float(rng.beta(alpha, alpha)), use_cutmix
        if self.mixup_alpha > 0.0:
            return float(rng.beta(self.mixup_alpha, self.mixup_alpha)), False
        return float(rng.beta(self.cutmix_alpha, self.cutmix_alpha)), True

    def _mix_batch(self, x: np.ndarray, rng: np.random.RandomState) -> float:
        lam, use_cutmix = self._params_per_batch(rng)
        if lam == 1.0:
            return 1.0
        if use_cutmix:
            (yl, yh, xl, xh), lam = self._bbox_and_lam(x.shape, lam, rng)
            x[:, :, yl:yh, xl:xh] = x[::-1][:, :, yl:yh, xl:xh].copy()
        else:  # timm: x.flip(0).mul_(1 - lam), x.mul_(lam).add_(...), float32 with the scalars rounded to float32
            x[...] = x * np.float32(lam) + x[::-1] * np.float32(1.0 - lam)
        return lam

    def _mix_pairs(self, x: np.ndarray, rng: np.random.RandomState, pairs: bool) -> np.ndarray:
        n = len(x)
        lam_batch, use_cutmix = self._params_per_elem(n // 2 if pairs else n, rng)
        orig = x.copy()  # the unmixed source of every mix
        for i in range(len(lam_batch)):
            j = n - i - 1
            lam = lam_batch[i]
            if lam == 1.0:
                continue
            if use_cutmix[i]:
                (yl, yh, xl, xh), lam_batch[i] = self._bbox_and_lam(x[i].shape, lam, rng)
                x[i][:, yl:yh, xl:xh] = orig[j][:, yl:yh, xl:xh]
                if pairs:
                    x[j][:, yl:yh, xl:xh] = orig[i][:, yl:yh, xl:xh]
            else:
                x[i] = x[i] * lam + orig[j] * (np.float32(1) - lam)
                if pairs:
                    x[j] = x[j] * lam + orig[i] * (np.float32(1) - lam)
        if pairs:
            lam_batch = np.concatenate((lam_batch, lam_batch[::-1]))
        return lam_batch.astype(np.float32)[:, None]

    def __call__(self, x: np.ndarray, labels: np.ndarray, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        """The mixed copy of ``x`` and the soft targets ``[B, num_classes]``."""
        if len(x) % 2:
            raise ValueError("Mixup needs an even batch size.")
        x = np.array(x, dtype=np.float32)  # our own writable copy (pipeline batches may be read-only)
        if self.mode == "batch":
            lam = self._mix_batch(x, rng)
        else:
            lam = self._mix_pairs(x, rng, pairs=self.mode == "pair")
        return x, mixup_target(labels, self.num_classes, lam, self.label_smoothing)


def make_mixup(cfg: TrainConfig, num_classes: int) -> Optional[Mixup]:
    """timm train.py's ``Mixup`` for ``cfg`` (its label smoothing folded into the targets), or ``None`` when off."""
    if not cfg.mixing:
        return None
    minmax = tuple(cfg.cutmix_minmax) if cfg.cutmix_minmax is not None else None
    return Mixup(cfg.mixup, cfg.cutmix, minmax, cfg.mixup_prob, cfg.mixup_switch_prob, cfg.mixup_mode, cfg.label_smoothing, num_classes)


def batch_rng(seed: int, step: int, rank: int) -> np.random.RandomState:
    """The generator of one batch's mix: fixed by the run's seed, the global step and the rank (resume-exact)."""
    return np.random.RandomState(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0])
