"""Named training recipes (``vitzoo train --recipe deit|finetune|linear-probe``): presets of timm ``train.py`` flags.

A recipe fills in the settings a run does not give itself; anything given explicitly wins. The values
come from the papers' published hyper-parameters (DeiT's ImageNet recipe, the BEiT/MAE fine-tuning
recipe, MAE's linear probe), kept to the flags vitzoo has. The settings a recipe filled in are printed
when the run starts and saved with the rest in the run's ``config.json``.

Example:
    >>> options, filled = apply_recipe({"recipe": "finetune", "drop_path": 0.2})
    >>> options["drop_path"], filled["layer_decay"]
    (0.2, 0.65)
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from vitzoo.errors import VitzooError

RECIPES: dict[str, dict[str, Any]] = {
    # DeiT (Touvron et al. 2021, timm's DeiT training): AdamW, wd 0.05, drop path 0.1, smoothing 0.1,
    # mixup 0.8 + cutmix 1.0 (switch 0.5), RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25 (pixel),
    # EMA 0.99996, 5 warm-up epochs.
    "deit": dict(optimizer="adamw", aa="rand-m9-mstd0.5-inc1", weight_decay=0.05, drop_path=0.1, label_smoothing=0.1, mixup=0.8, cutmix=1.0,
                 mixup_switch_prob=0.5, reprob=0.25, remode="pixel", model_ema=True, model_ema_decay=0.99996, warmup_epochs=5.0),
    # Fine-tuning a pretrained ViT (BEiT / MAE): layer decay 0.65, drop path 0.1, mixup 0.8 + cutmix 1.0,
    # RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25, smoothing 0.1, wd 0.05, 5 warm-up epochs.
    "finetune": dict(optimizer="adamw", aa="rand-m9-mstd0.5-inc1", weight_decay=0.05, layer_decay=0.65, drop_path=0.1, label_smoothing=0.1,
                     mixup=0.8, cutmix=1.0, reprob=0.25, warmup_epochs=5.0),
    # Linear probe (MAE): only the head trains on the frozen backbone, no weight decay, no smoothing, no mixing.
    "linear-probe": dict(linear_probe=True, weight_decay=0.0, label_smoothing=0.0, drop_path=0.0, mixup=0.0, cutmix=0.0, reprob=0.0),
}


def apply_recipe(options: dict[str, Any], explicit: Optional[Iterable[str]] = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``options`` with ``options["recipe"]``'s presets filled in, and the presets that were used.

    ``explicit``: the option names the user gave (default: every key of ``options``); the recipe
    never overrides those.
    """
    name = options.get("recipe")
    if name is None:
        return dict(options), {}
    if name not in RECIPES:
        raise VitzooError(f"Unknown recipe {name!r}; use one of {', '.join(RECIPES)}.")
    given = set(options) if explicit is None else set(explicit)
    filled = {k: v for k, v in RECIPES[name].items() if k not in given}
    return {**options, **filled}, filled


def describe(name: str, filled: dict[str, Any]) -> str:
    """One line saying what a recipe set, e.g. ``recipe deit: drop_path=0.1, mixup=0.8``."""
    values = ", ".join(f"{k}={v!r}" for k, v in filled.items()) or "nothing (every setting was given)"
    return f"recipe {name}: {values}"
