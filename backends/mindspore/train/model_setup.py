"""The training-time changes to a built model that a recipe asks for: stochastic depth, a frozen backbone, LoRA.

None of them changes the architecture or the checkpoint (LoRA's adapters are merged into the weights on save): they are settings of the run
(:class:`~vitzoo.configs.TrainConfig`), applied to the model once, before the optimizer is built and
the training step compiled (the optimizer takes ``model.trainable_params()``, the rates of drop path
are graph constants).

Example:
    >>> from vitzoo.configs import TrainConfig
    >>> prepare_model(model, TrainConfig("data", drop_path=0.1, freeze_backbone=True))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from vitzoo.canonical import is_classifier
from vitzoo.configs import TrainConfig
from vitzoo.errors import TrainError

from ..model.drop_path import set_drop_path
from .lora import add_lora


def freeze_backbone(model: Any) -> list[str]:
    """Stop gradients to everything but the classifier (``head.*``, ``head_dist.*``); returns the names that still train.

    Example:
        >>> freeze_backbone(model)  # doctest: +SKIP
        ['head.weight', 'head.bias']
    """
    for p in model.get_parameters():
        p.requires_grad = is_classifier(p.name)
    trainable = [p.name for p in model.trainable_params()]
    if not trainable:
        raise TrainError("--freeze-backbone/--linear-probe train only the head, and this model has none (num_classes=0).")
    return trainable


def prepare_model(model: Any, cfg: TrainConfig, rank: int = 0) -> None:
    """Apply ``cfg``'s training-time model options to ``model`` (in place)."""
    if cfg.drop_path:
        set_drop_path(model, cfg.drop_path, seed=cfg.seed, rank=rank)
    if cfg.freeze_backbone or cfg.linear_probe:
        freeze_backbone(model)
    if cfg.lora_rank:
        add_lora(model, cfg.lora_rank, cfg.lora_scale, seed=cfg.seed)
