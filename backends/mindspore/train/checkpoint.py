"""Self-describing checkpoints from MindSpore's own training loop (``mindspore.train.Model`` + ``ModelCheckpoint``).

A ``.ckpt`` that ``ModelCheckpoint`` saves around a vitzoo model holds its weights
under vitzoo's canonical names, but nothing says the head count, eps, GELU form or
pooling. :func:`checkpoint_config` returns the ``CheckpointConfig`` the tutorial
passes to ``ModelCheckpoint``, with the model's spec and provenance added to every
file (``append_info``), so ``vitzoo.create(pretrained=FILE)`` rebuilds the trained
model exactly, with no name.

Example:
    >>> import vitzoo
    >>> from mindspore.train import ModelCheckpoint
    >>> net = vitzoo.create("vit_ti_16", img_size=32, patch_size=4, depth=2, num_classes=10)
    >>> config = vitzoo.checkpoint_config(net, save_checkpoint_steps=100, keep_checkpoint_max=2)
    >>> callback = ModelCheckpoint(prefix="vit_digits", directory="ckpt", config=config)
"""

from __future__ import annotations

from typing import Any

from mindspore.train import CheckpointConfig

from vitzoo.errors import VitzooError
from vitzoo.weights.mindspore_format import META_ENTRY, SPEC_ENTRY, provenance_entry


def checkpoint_config(model: Any, **kwargs: Any) -> CheckpointConfig:
    """A ``mindspore.train.CheckpointConfig`` whose files record ``model``'s spec and provenance.

    ``kwargs`` are ``CheckpointConfig``'s own (``save_checkpoint_steps``,
    ``keep_checkpoint_max``, ``append_info`` with ``"epoch_num"``/``"step_num"``, ...).
    A dict already in ``append_info`` keeps its entries beside vitzoo's.
    """
    spec = getattr(model, "spec", None)
    if spec is None or not hasattr(spec, "to_json"):
        raise VitzooError(f"checkpoint_config() needs a vitzoo model (one built by vitzoo.create), got a {type(model).__name__}.")
    from vitzoo.version import __version__

    carried = {**(getattr(model, "pretrained_cfg", {}) or {}), "vitzoo_version": __version__}
    ours = {SPEC_ENTRY: spec.to_json(), META_ENTRY: provenance_entry(carried)}
    append: list[Any] = []
    for item in list(kwargs.pop("append_info", None) or []):
        if isinstance(item, dict):  # MindSpore takes a single dict: merge the caller's into ours
            ours = {**item, **ours}
        else:
            append.append(item)
    return CheckpointConfig(append_info=[*append, ours], **kwargs)
