"""The settings and constants the workflows and the backends share: a training run's config, image suffixes.

They live in the core so that ``vitzoo.workflows`` (above the backends) and ``vitzoo.backends.mindspore.train``
(below them) both read them without importing each other.

Example:
    >>> TrainConfig("data", epochs=3).optimizer
    'adamw'
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Optional, Union

from vitzoo.errors import VitzooError

PathLike = Union[str, "os.PathLike[str]"]
DEFAULT_TRAIN_MODEL = "vit_ti_16"
OPTIMIZERS = ("adamw", "adam", "sgd")
MIXUP_MODES = ("batch", "pair", "elem")
ERASE_MODES = ("pixel", "const", "rand")
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp", ".gif")


@dataclass
class TrainConfig:
    """Every setting of a training run (the ``vitzoo train`` options), with their defaults.

    ``model`` is a variant name (default ``vit_ti_16`` when training from scratch);
    ``img_size``/``patch_size``/``depth``/``embed_dim``/``num_heads``/``mlp_dim``
    override its architecture (``mlp_dim`` defaults to 4 × ``embed_dim`` when only
    the width is given). ``pretrained`` (``True``, a weight tag or a checkpoint file)
    fine-tunes those weights with a new head sized from the class folders.
    ``lr`` defaults to 1e-3 from scratch and 1e-4 when fine-tuning; ``warmup_epochs``
    to 10% of ``epochs``. ``augment``: ``auto`` (light pad + shift crop for small
    images such as digits, random-resized-crop + flip otherwise), ``light``, ``rrc``, ``none``.
    ``stop_epoch`` ends the run early (the schedule still spans ``epochs``), to
    split a run across jobs: continue it later with ``resume=True``. ``skip_bad``
    passes over unreadable images (listed in the result's ``skipped``) instead of stopping.
    ``save_every_steps`` also saves the resumable state every N steps (for jobs killed
    without warning); SIGTERM/SIGINT always save it. ``skip_nonfinite`` tolerates that
    many steps whose loss or gradients are not finite (skipped, counted in metrics.jsonl)
    before stopping with :class:`~vitzoo.errors.TrainError`. ``nodes``/``node_rank``/
    ``master_addr``/``master_port`` run ``devices`` workers on each of several machines
    (msrun's ``--worker_num``/``--node_rank``/``--master_addr``/``--master_port``);
    ``join_timeout`` is how long the first node waits for the others.

    Recipes (timm ``train.py``'s flags): ``drop_path`` is the stochastic-depth rate of the last block
    (timm's linear rule over the blocks; a training option, not part of the saved architecture).
    ``layer_decay`` scales each layer's learning rate by ``layer_decay ** (layers after it)`` (timm's
    ``param_groups_layer_decay``: stem first, then the blocks, then the head at the full rate).
    ``mixup``/``cutmix`` (Beta alphas), ``cutmix_minmax``, ``mixup_prob``, ``mixup_switch_prob`` and
    ``mixup_mode`` (``batch``, ``pair``, ``elem``) are ``timm.data.Mixup``'s; with either on, the label
    smoothing goes into the mixed targets and the loss is soft-target cross-entropy.
    ``model_ema`` keeps timm's ``ModelEmaV3`` average of the weights (``model_ema_decay``, with
    ``model_ema_warmup`` its warm-up), evaluated each epoch and saved as ``ema.safetensors``.
    ``grad_accum_steps`` N sums the gradients of N batches of ``batch_size`` per update (an update of
    an N-times-larger batch; the schedule counts updates). ``reprob``/``remode``/``recount``: timm's
    random erasing (probability per image, fill ``pixel``/``const``/``rand``, at most that many boxes).
    ``aa``: timm's RandAugment string (``rand-m9-mstd0.5-inc1``, :mod:`vitzoo.randaugment`) on the cropped image.
    ``freeze_backbone`` trains only the head (full forward, with augmentation); ``linear_probe`` trains the head
    on the frozen backbone's pooled features, computed once for the train and val sets with the eval transform
    (no augmentation, no drop path). ``lora_rank`` R > 0 adds LoRA adapters (``W x + alpha/R · B A x``) to every
    attention and MLP Linear of the frozen backbone, ``lora_alpha`` defaulting to R (scale 1); saved checkpoints
    hold the merged weights.
    ``recipe`` (:mod:`vitzoo.recipes`) names the preset the run's settings were filled in from.
    ``push_to_hub`` (a hub repo id) uploads ``best.safetensors`` when the run ends, in ``hub_layout``
    (``timm`` or ``transformers``), with a model card holding the best validation top-1.

    Example:
        >>> TrainConfig("data", epochs=3).optimizer
        'adamw'
    """

    data_dir: str
    model: Optional[str] = None
    pretrained: Union[bool, str, None] = None
    img_size: Optional[int] = None
    patch_size: Optional[int] = None
    depth: Optional[int] = None
    embed_dim: Optional[int] = None
    num_heads: Optional[int] = None
    mlp_dim: Optional[int] = None
    epochs: int = 30
    batch_size: int = 64
    lr: Optional[float] = None
    min_lr: float = 0.0
    warmup_epochs: Optional[float] = None
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    optimizer: str = "adamw"
    momentum: float = 0.9
    clip_grad: Optional[float] = None
    augment: str = "auto"
    output: str = "runs/train"
    resume: bool = False
    stop_epoch: Optional[int] = None
    amp: bool = False
    seed: int = 0
    devices: int = 1
    workers: int = 2
    skip_bad: bool = False
    progress: bool = True
    save_every_steps: Optional[int] = None
    skip_nonfinite: int = 0
    nodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 8118
    join_timeout: int = 600
    drop_path: float = 0.0
    layer_decay: Optional[float] = None
    mixup: float = 0.0
    cutmix: float = 0.0
    cutmix_minmax: Optional[tuple[float, float]] = None
    mixup_prob: float = 1.0
    mixup_switch_prob: float = 0.5
    mixup_mode: str = "batch"
    model_ema: bool = False
    model_ema_decay: float = 0.9998
    model_ema_warmup: bool = False
    grad_accum_steps: int = 1
    reprob: float = 0.0
    remode: str = "pixel"
    recount: int = 1
    aa: Optional[str] = None
    freeze_backbone: bool = False
    linear_probe: bool = False
    lora_rank: int = 0
    lora_alpha: Optional[float] = None
    recipe: Optional[str] = None
    push_to_hub: Optional[str] = None  # hub repo id: the best checkpoint is uploaded there when the run ends
    hub_layout: str = "timm"  # "timm" or "transformers": the layout push_to_hub writes

    def __post_init__(self) -> None:
        self.data_dir = os.fspath(self.data_dir)
        self.output = os.fspath(self.output)
        if isinstance(self.pretrained, os.PathLike):
            self.pretrained = os.fspath(self.pretrained)
        if self.optimizer not in OPTIMIZERS:
            raise VitzooError(f"Unknown optimizer {self.optimizer!r}; use one of {', '.join(OPTIMIZERS)}.")
        for name in ("epochs", "batch_size", "devices", "workers", "nodes", "join_timeout", "grad_accum_steps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise VitzooError(f"{name} must be a positive integer, got {getattr(self, name)!r}.")
        if not 0 <= self.label_smoothing < 1:
            raise VitzooError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}.")
        if self.batch_size % (self.devices * self.nodes):
            raise VitzooError(
                f"batch_size {self.batch_size} (the global batch) must be divisible by the {self.devices * self.nodes} workers "
                f"(devices {self.devices} x nodes {self.nodes})."
            )
        if not 0 <= self.node_rank < self.nodes:
            raise VitzooError(f"node_rank must be in [0, {self.nodes}), got {self.node_rank!r}.")
        if self.save_every_steps is not None and (not isinstance(self.save_every_steps, int) or self.save_every_steps < 1):
            raise VitzooError(f"save_every_steps must be a positive integer, got {self.save_every_steps!r}.")
        if not 0.0 <= self.drop_path < 1.0:
            raise VitzooError(f"drop_path must be in [0, 1), got {self.drop_path!r}.")
        if self.layer_decay is not None and not 0.0 < self.layer_decay <= 1.0:
            raise VitzooError(f"layer_decay must be in (0, 1], got {self.layer_decay!r}.")
        self._check_mixup()
        self._check_head_only()
        if not 0.0 <= self.reprob <= 1.0:
            raise VitzooError(f"reprob must be in [0, 1], got {self.reprob!r}.")
        if self.remode not in ERASE_MODES:
            raise VitzooError(f"Unknown remode {self.remode!r}; use one of {', '.join(ERASE_MODES)}.")
        if not isinstance(self.recount, int) or self.recount < 1:
            raise VitzooError(f"recount must be a positive integer, got {self.recount!r}.")
        if self.aa:
            from vitzoo.randaugment import parse_config

            parse_config(self.aa)  # a bad --aa fails before any data is read
        self._check_lora()
        if self.recipe is not None:
            from vitzoo.recipes import RECIPES

            if self.recipe not in RECIPES:
                raise VitzooError(f"Unknown recipe {self.recipe!r}; use one of {', '.join(RECIPES)}.")
        if not 0.0 <= self.model_ema_decay < 1.0:
            raise VitzooError(f"model_ema_decay must be in [0, 1), got {self.model_ema_decay!r}.")
        if self.hub_layout not in ("timm", "transformers"):
            raise VitzooError(f"Unknown hub_layout {self.hub_layout!r}; use timm or transformers.")
        if not isinstance(self.skip_nonfinite, int) or self.skip_nonfinite < 0:
            raise VitzooError(f"skip_nonfinite must be a non-negative integer, got {self.skip_nonfinite!r}.")

    def _check_mixup(self) -> None:
        if self.mixup < 0 or self.cutmix < 0:
            raise VitzooError(f"mixup and cutmix are Beta-distribution alphas and must be >= 0, got {self.mixup!r} and {self.cutmix!r}.")
        if self.mixup_mode not in MIXUP_MODES:
            raise VitzooError(f"Unknown mixup_mode {self.mixup_mode!r}; use one of {', '.join(MIXUP_MODES)}.")
        for name in ("mixup_prob", "mixup_switch_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise VitzooError(f"{name} must be in [0, 1], got {getattr(self, name)!r}.")
        if self.cutmix_minmax is not None:
            self.cutmix_minmax = tuple(float(v) for v in self.cutmix_minmax)
            if len(self.cutmix_minmax) != 2 or not 0.0 < self.cutmix_minmax[0] < self.cutmix_minmax[1] <= 1.0:
                raise VitzooError(f"cutmix_minmax must be two ratios 0 < LO < HI <= 1 of the image side, got {self.cutmix_minmax!r}.")
        per_rank = self.batch_size // (self.devices * self.nodes)
        if self.mixing and per_rank % 2:
            raise VitzooError(f"Mixup/CutMix mixes each batch with its reverse and needs an even batch per worker; batch_size {self.batch_size} "
                              f"gives {per_rank} per worker: use an even number.")

    def _check_head_only(self) -> None:
        from vitzoo.errors import TrainError

        flag = "--linear-probe" if self.linear_probe else "--freeze-backbone" if self.freeze_backbone else None
        if flag is None:
            return
        if self.layer_decay is not None:
            raise TrainError(f"--layer-decay has nothing to scale with {flag}: only the head trains, and it is the top layer; drop one of them.")
        if self.linear_probe and self.drop_path:
            raise TrainError("--drop-path does not apply with --linear-probe: the frozen backbone is a fixed feature extractor; drop --drop-path or use --freeze-backbone.")
        if self.linear_probe and not self.pretrained:
            raise TrainError("--linear-probe measures pretrained features: give --pretrained (a weight tag or a checkpoint file).")
        if self.linear_probe:
            used = [f for f, on in (("--mixup", self.mixup), ("--cutmix", self.cutmix or self.cutmix_minmax), ("--aa", self.aa), ("--reprob", self.reprob)) if on]
            if used:
                raise TrainError(f"--linear-probe trains on features computed once from un-augmented images, so {', '.join(used)} cannot apply; "
                                 "drop them or use --freeze-backbone (head only, full forward with augmentation).")

    def _check_lora(self) -> None:
        from vitzoo.errors import TrainError

        if not isinstance(self.lora_rank, int) or self.lora_rank < 0:
            raise TrainError(f"--lora-rank must be a non-negative integer, got {self.lora_rank!r}.")
        if self.lora_alpha is not None and (not self.lora_rank or self.lora_alpha <= 0):
            raise TrainError(f"--lora-alpha {self.lora_alpha!r} needs --lora-rank R > 0 and a positive value.")
        if self.lora_rank and (self.linear_probe or self.freeze_backbone):
            flag = "--linear-probe" if self.linear_probe else "--freeze-backbone"
            raise TrainError(f"--lora-rank trains adapters inside the backbone, which {flag} keeps fixed; drop one of them.")

    @property
    def lora_scale(self) -> float:
        """LoRA's ``alpha / r`` (peft's ``scaling``); ``lora_alpha`` defaults to the rank, so 1.0."""
        return (self.lora_alpha if self.lora_alpha is not None else self.lora_rank) / self.lora_rank if self.lora_rank else 0.0

    @property
    def mixing(self) -> bool:
        """Mixup or CutMix is on (timm: ``--mixup > 0``, ``--cutmix > 0`` or ``--cutmix-minmax``)."""
        return self.mixup > 0 or self.cutmix > 0 or self.cutmix_minmax is not None

    @property
    def base_lr(self) -> float:
        return self.lr if self.lr is not None else (1e-4 if self.pretrained else 1e-3)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
