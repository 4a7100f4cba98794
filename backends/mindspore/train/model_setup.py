"""The training-time changes to a built model that a recipe asks for (stochastic depth, ...).

None of them changes the architecture or the checkpoint: they are settings of the run
(:class:`~vitzoo.configs.TrainConfig`), applied to the model once, before the training step is compiled.

Example:
    >>> from vitzoo.configs import TrainConfig
    >>> prepare_model(model, TrainConfig("data", drop_path=0.1))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from vitzoo.configs import TrainConfig

from ..model.drop_path import set_drop_path


def prepare_model(model: Any, cfg: TrainConfig, rank: int = 0) -> None:
    """Apply ``cfg``'s training-time model options to ``model`` (in place)."""
    if cfg.drop_path:
        set_drop_path(model, cfg.drop_path, seed=cfg.seed, rank=rank)
