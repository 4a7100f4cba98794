"""Zero-shot classification with a CLIP-style model: class weights from prompts, ImageNet's names and OpenAI's templates.

``zero_shot_classifier`` is open_clip's ``build_zero_shot_classifier``: per class, every
template filled with the class name is encoded, each embedding normalised, the mean taken
and normalised again; the columns of the result ``[D, C]`` are the classes. Then
``exp(logit_scale) · normalize(encode_image(x)) @ W`` (plus ``logit_bias`` for SigLIP) are the logits.

``IMAGENET_CLASSNAMES`` (open_clip's cleaned-up names, not WordNet's lemmas), ``OPENAI_IMAGENET_TEMPLATES``
(the 80 prompts of OpenAI's ImageNet evaluation) and ``SIMPLE_IMAGENET_TEMPLATES`` (7) are open_clip's
lists, as ``str.format`` patterns (``"a bad photo of a {}."``).

Example:
    >>> import vitzoo
    >>> from vitzoo.zero_shot import IMAGENET_CLASSNAMES, OPENAI_IMAGENET_TEMPLATES, zero_shot_classifier
    >>> clip = vitzoo.create_clip("ViT-S-32", backend="numpy")
    >>> zero_shot_classifier(clip, ["dog", "cat"], ["a photo of a {}."]).shape
    (384, 2)
    >>> len(IMAGENET_CLASSNAMES), len(OPENAI_IMAGENET_TEMPLATES), OPENAI_IMAGENET_TEMPLATES[0]
    (1000, 80, 'a bad photo of a {}.')
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Callable, Sequence, Union

import numpy as np

from vitzoo.errors import DataError

Template = Union[str, Callable[[str], str]]

_DATA = json.loads(resources.files("vitzoo.data").joinpath("zero_shot_imagenet.json").read_text(encoding="utf-8"))
IMAGENET_CLASSNAMES: tuple[str, ...] = tuple(_DATA["imagenet_classnames"])
OPENAI_IMAGENET_TEMPLATES: tuple[str, ...] = tuple(_DATA["openai_imagenet_templates"])
SIMPLE_IMAGENET_TEMPLATES: tuple[str, ...] = tuple(_DATA["simple_imagenet_templates"])
TEMPLATES = {"openai": OPENAI_IMAGENET_TEMPLATES, "simple": SIMPLE_IMAGENET_TEMPLATES}


def zero_shot_classifier(clip: Any, classnames: Sequence[str], templates: Union[str, Sequence[Template]] = "openai", *, batch_size: int = 10) -> np.ndarray:
    """Class weights ``[D, C]`` (float32, unit columns) from prompts, as open_clip's ``build_zero_shot_classifier``.

    Args:
        clip: a model from :func:`vitzoo.create_clip`.
        classnames: one name per class.
        templates: ``"a photo of a {}."`` patterns or callables ``name -> text``; or ``"openai"`` (80) / ``"simple"`` (7).
        batch_size: classes encoded together (the result does not depend on it).
    """
    if isinstance(templates, str):
        if templates not in TEMPLATES:
            raise DataError(f"Unknown template set {templates!r}; use 'openai', 'simple' or a list of 'a photo of a {{}}.' patterns.")
        templates = TEMPLATES[templates]
    classnames, templates = list(classnames), list(templates)
    if not classnames or not all(isinstance(c, str) for c in classnames):
        raise DataError("zero_shot_classifier needs a non-empty list of class names (strings).")
    if not templates or not all(callable(t) or (isinstance(t, str) and "{}" in t) for t in templates):
        raise DataError("zero_shot_classifier needs templates: strings holding '{}' for the class name, or callables.")
    columns = []
    for start in range(0, len(classnames), batch_size):
        batch = classnames[start : start + batch_size]
        texts = [t(c) if callable(t) else t.format(c) for c in batch for t in templates]
        emb = normalize(to_numpy(clip.encode_text(clip.tokenize(texts))))
        mean = emb.reshape(len(batch), len(templates), -1).mean(axis=1)
        columns.append(normalize(mean).T)
    return np.ascontiguousarray(np.concatenate(columns, axis=1), dtype=np.float32)


def zero_shot_logits(clip: Any, images: Any, classifier: np.ndarray) -> np.ndarray:
    """Logits ``[B, C]``: ``exp(logit_scale)`` × normalised image embeddings @ ``classifier`` (+ ``logit_bias``)."""
    image = normalize(to_numpy(clip.encode_image(images)))
    logits = image @ classifier * np.float32(np.exp(to_numpy(clip.logit_scale)))
    bias = getattr(clip, "logit_bias", None)
    return logits + np.float32(to_numpy(bias)) if bias is not None and clip.spec.logit_bias else logits


def probabilities(clip: Any, logits: np.ndarray) -> np.ndarray:
    """Softmax over the classes for CLIP; a sigmoid per class for SigLIP (its labels are independent)."""
    logits = np.asarray(logits, np.float64)
    if clip.spec.family == "siglip":
        return (1 / (1 + np.exp(-logits))).astype(np.float32)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)


def normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (as ``torch.nn.functional.normalize``, which guards zero rows with 1e-12)."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), np.float32(1e-12))


def to_numpy(x: Any) -> np.ndarray:
    """A backend's tensor (MindSpore ``Tensor``/``Parameter`` or NumPy) as a NumPy array."""
    return x.asnumpy() if hasattr(x, "asnumpy") else np.asarray(x)
