"""vitzoo: Vision Transformers with framework-agnostic specs and weights, run on MindSpore.

Example:
    >>> import vitzoo
    >>> vitzoo.list_models("vit_b_32*")
    ['vit_b_32', 'vit_b_32_384']
    >>> vitzoo.get_spec("vit_b_16").embed_dim
    768

``import vitzoo`` imports no deep-learning framework: a backend is imported the
first time a model is built on it.
"""

from __future__ import annotations

from vitzoo.api import build_from_checkpoint, create, create_from_file, save
from vitzoo.clip_api import create_clip
from vitzoo.errors import (
    BackendError,
    CheckpointError,
    DataError,
    DownloadError,
    SpecError,
    UnknownNameError,
    VitzooError,
    WriteError,
    TrainError,
    TrainingInterrupted,
)
from vitzoo.spec import ViTSpec
from vitzoo.variants import get_spec, list_models, register_variant
from vitzoo.version import __version__

__all__ = [
    "__version__",
    "ViTSpec",
    "create",
    "create_from_file",
    "create_clip",
    "zero_shot_classifier",
    "build_from_checkpoint",
    "save",
    "get_spec",
    "list_models",
    "register_variant",
    "VitzooError",
    "UnknownNameError",
    "SpecError",
    "CheckpointError",
    "DownloadError",
    "DataError",
    "BackendError",
    "WriteError",
    "TrainError",
    "TrainingInterrupted",
    "list_pretrained",
    "list_pretrained_clip",
    "transforms_for",
    "train",
    "evaluate",
    "predict",
    "embed",
    "export",
    "checkpoint_config",
    "save_pretrained",
    "push_to_hub",
]


def __getattr__(name: str) -> object:  # light helpers, imported on first use
    if name == "list_pretrained":
        from vitzoo.pretrained import list_pretrained

        return list_pretrained
    if name == "list_pretrained_clip":
        from vitzoo.pretrained.clip_tags import list_pretrained_clip

        return list_pretrained_clip
    if name == "transforms_for":
        from vitzoo.transforms import transforms_for

        return transforms_for
    if name == "zero_shot_classifier":
        from vitzoo.zero_shot import zero_shot_classifier

        return zero_shot_classifier
    if name == "export":
        from vitzoo.workflows.exporting import export

        return export
    if name == "embed":
        from vitzoo.workflows.embedding import embed

        return embed
    if name == "checkpoint_config":  # for MindSpore's own ModelCheckpoint: MindSpore loads here
        from vitzoo.backends.mindspore.train.checkpoint import checkpoint_config

        return checkpoint_config
    if name in ("save_pretrained", "push_to_hub"):  # sharing on the Hugging Face hub
        from vitzoo.hub import publish

        return getattr(publish, name)
    if name in ("train", "evaluate", "predict"):  # the workflows; MindSpore loads when one runs
        from vitzoo.workflows import tasks

        return getattr(tasks, name)
    raise AttributeError(f"module 'vitzoo' has no attribute {name!r}")
