"""The text tower of a CLIP-style model, and the whole two-tower model: specs, canonical names, random init.

Canonical text-tower names (a tower's own state; inside a whole model they carry the
``text.`` prefix, the image tower's the ``visual.`` prefix, plus ``logit_scale`` and, for
SigLIP, ``logit_bias``, both of shape ``[]``)::

    token_embed.weight            [vocab_size, width]
    pos_embed                     [1, context_length, width]
    blocks.{i}.norm1 / norm2      .weight, .bias [width]      (the ViT's block names)
    blocks.{i}.attn.qkv           .weight [3·width, width], .bias [3·width]
    blocks.{i}.attn.proj          .weight [width, width], .bias [width]
    blocks.{i}.mlp.fc1 / fc2      .weight, .bias
    norm                          .weight, .bias [width]      (open_clip's ln_final, transformers' final_layer_norm)
    head                          .weight [proj_dim, width] (+ .bias with proj_bias)

Example:
    >>> spec = TextSpec(vocab_size=100, context_length=8, width=32, heads=2, layers=1, mlp_dim=64, proj_dim=16)
    >>> text_shapes(spec)["head.weight"]
    (16, 32)
    >>> TextSpec.from_dict(spec.to_dict()) == spec
    True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np

from vitzoo.errors import DataError, SpecError
from vitzoo.spec import GELU_FORMS, ViTSpec

TEXT_POOLS = ("argmax", "eos", "last")  # open_clip's argmax / eos, SigLIP's last token
FAMILIES = ("clip", "siglip")
Shape = tuple[int, ...]


@dataclass(frozen=True)
class TextSpec:
    """Everything needed to rebuild a CLIP or SigLIP text transformer exactly (defaults: OpenAI CLIP ViT-B/16's).

    ``pool``: ``"argmax"`` reads the token at the largest id (open_clip: the end-of-text
    token has the largest id), ``"eos"`` the first ``eos_token_id`` (transformers' CLIP),
    ``"last"`` the last position (SigLIP). ``causal``: each token attends to the ones
    before it only (CLIP), or to all (SigLIP). ``proj_dim`` 0: no projection.
    """

    vocab_size: int = 49408
    context_length: int = 77
    width: int = 512
    heads: int = 8
    layers: int = 12
    mlp_dim: int = 2048
    norm_eps: float = 1e-5
    gelu: str = "exact"
    causal: bool = True
    pool: str = "argmax"
    eos_token_id: int = -1  # only with pool="eos"
    proj_dim: int = 512
    proj_bias: bool = False

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context_length", "width", "heads", "layers", "mlp_dim"):
            value = getattr(self, name)
            if not _is_int(value) or value <= 0:
                raise SpecError(f"Text spec field {name!r} must be a positive integer, got {value!r}.")
        if not _is_int(self.proj_dim) or self.proj_dim < 0:
            raise SpecError(f"Text spec field 'proj_dim' must be a non-negative integer, got {self.proj_dim!r}.")
        for name in ("causal", "proj_bias"):
            if not isinstance(getattr(self, name), bool):
                raise SpecError(f"Text spec field {name!r} must be true or false, got {getattr(self, name)!r}.")
        if not isinstance(self.norm_eps, (int, float)) or isinstance(self.norm_eps, bool) or not 0 < self.norm_eps < 1:
            raise SpecError(f"Text spec field 'norm_eps' must be a float in (0, 1), got {self.norm_eps!r}.")
        if self.gelu not in GELU_FORMS:
            raise SpecError(f"Unknown GELU form {self.gelu!r}; use one of {', '.join(GELU_FORMS)}.")
        if self.pool not in TEXT_POOLS:
            raise SpecError(f"Unknown text pooling {self.pool!r}; use one of {', '.join(TEXT_POOLS)}.")
        if self.pool == "eos" and not (_is_int(self.eos_token_id) and 0 <= self.eos_token_id < self.vocab_size):
            raise SpecError(f"Text pooling 'eos' needs an eos_token_id in [0, {self.vocab_size}), got {self.eos_token_id!r}.")
        if self.width % self.heads:
            raise SpecError(f"Text width {self.width} is not divisible by heads {self.heads}; choose a head count that divides it.")
        if self.proj_bias and not self.proj_dim:
            raise SpecError("proj_bias=True needs a projection (proj_dim > 0).")
        object.__setattr__(self, "norm_eps", float(self.norm_eps))

    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    @property
    def embed_dim(self) -> int:
        """Width of the text embedding: the projection's, or the tower's without one."""
        return self.proj_dim or self.width

    def replace(self, **changes: Any) -> "TextSpec":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TextSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, Mapping) or set(data) - names:
            raise SpecError(f"Not a text spec: unknown field(s) {sorted(set(data) - names) if isinstance(data, Mapping) else data!r}.")
        return cls(**dict(data))


@dataclass(frozen=True)
class ClipSpec:
    """A whole CLIP-style model: the image tower's :class:`~vitzoo.spec.ViTSpec`, the text tower's :class:`TextSpec`.

    ``family`` ``"clip"`` turns similarities into probabilities with a softmax over the
    texts, ``"siglip"`` with a sigmoid per pair (and the model has a ``logit_bias``).
    """

    vision: ViTSpec
    text: TextSpec
    family: str = "clip"

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise SpecError(f"Unknown CLIP family {self.family!r}; use one of {', '.join(FAMILIES)}.")
        image_dim = self.vision.num_classes or self.vision.num_features
        if image_dim != self.text.embed_dim:
            raise SpecError(f"The image tower embeds into {image_dim} dimensions and the text tower into {self.text.embed_dim}; they must agree.")

    @property
    def logit_bias(self) -> bool:
        return self.family == "siglip"

    @property
    def embed_dim(self) -> int:
        return self.text.embed_dim

    def to_dict(self) -> dict[str, Any]:
        return {"vision": self.vision.to_dict(), "text": self.text.to_dict(), "family": self.family}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ClipSpec":
        return cls(ViTSpec.from_dict(data["vision"]), TextSpec.from_dict(data["text"]), data.get("family", "clip"))


def text_shapes(spec: TextSpec) -> dict[str, Shape]:
    """Canonical name → shape of every tensor of a text tower, in model order."""
    w, m = spec.width, spec.mlp_dim
    shapes: dict[str, Shape] = {"token_embed.weight": (spec.vocab_size, w), "pos_embed": (1, spec.context_length, w)}
    for i in range(spec.layers):
        b = f"blocks.{i}."
        shapes.update({
            b + "norm1.weight": (w,), b + "norm1.bias": (w,),
            b + "attn.qkv.weight": (3 * w, w), b + "attn.qkv.bias": (3 * w,),
            b + "attn.proj.weight": (w, w), b + "attn.proj.bias": (w,),
            b + "norm2.weight": (w,), b + "norm2.bias": (w,),
            b + "mlp.fc1.weight": (m, w), b + "mlp.fc1.bias": (m,),
            b + "mlp.fc2.weight": (w, m), b + "mlp.fc2.bias": (w,),
        })  # fmt: skip
    shapes.update({"norm.weight": (w,), "norm.bias": (w,)})
    if spec.proj_dim:
        shapes["head.weight"] = (spec.proj_dim, w)
        if spec.proj_bias:
            shapes["head.bias"] = (spec.proj_dim,)
    return shapes


def check_text_state(state: Mapping[str, np.ndarray], spec: TextSpec, source: str = "the text tower") -> None:
    """Raise :class:`~vitzoo.errors.CheckpointError` unless ``state`` holds exactly the tensors of ``spec``, shaped right."""
    from vitzoo.errors import CheckpointError

    want = text_shapes(spec)
    missing = [n for n in want if n not in state]
    extra = [n for n in state if n not in want]
    if missing or extra:
        what = f"lacks {', '.join(missing[:3])}" if missing else f"has unexpected {', '.join(extra[:3])}"
        raise CheckpointError(f"{source} does not fit its text spec: it {what}.")
    for name, shape in want.items():
        if tuple(state[name].shape) != shape:
            raise CheckpointError(f"{source}: text tensor {name!r} has shape {tuple(state[name].shape)}, expected {shape}.")


def init_text_state(spec: TextSpec, seed: Optional[int] = 0) -> dict[str, np.ndarray]:
    """A random float32 text tower: normal(0.02) weights (0.01 for positions), zero biases, unit norms.

    Example:
        >>> s = init_text_state(TextSpec(vocab_size=10, context_length=4, width=8, heads=2, layers=1, mlp_dim=16, proj_dim=4))
        >>> s["pos_embed"].shape, float(s["norm.weight"].mean())
        ((1, 4, 8), 1.0)
    """
    rng = np.random.default_rng(seed)
    state: dict[str, np.ndarray] = {}
    for name, shape in text_shapes(spec).items():
        if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
            state[name] = np.ones(shape, np.float32)
        elif name.endswith(".bias"):
            state[name] = np.zeros(shape, np.float32)
        else:
            std = 0.01 if name == "pos_embed" else 0.02
            state[name] = (rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float32)
    return state


def checked_ids(array: np.ndarray, spec: TextSpec) -> np.ndarray:
    """``array`` if it holds integer token ids ``[N, L]`` with ``1 ≤ L ≤ context_length`` and ids in the vocabulary."""
    if array.ndim != 2 or array.shape[0] == 0 or not 1 <= array.shape[1] <= spec.context_length:
        raise DataError(f"Token ids must have shape [N, L] with N ≥ 1 and 1 ≤ L ≤ {spec.context_length}, got {tuple(array.shape)}; use model.tokenize(texts).")
    if not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"Token ids must be integers, got {array.dtype}; use model.tokenize(texts).")
    if array.min() < 0 or array.max() >= spec.vocab_size:
        raise DataError(f"Token ids must lie in [0, {spec.vocab_size}), got {int(array.min())}..{int(array.max())}; were they made by another model's tokenizer?")
    return array


PREFIX_STEP = 16  # cut lengths are rounded up to this, so a compiled tower sees few distinct shapes


def pooled_prefix(ids: np.ndarray, spec: TextSpec) -> np.ndarray:
    """``ids`` cut after the last position any row pools (rounded up to ``PREFIX_STEP``), for causal towers.

    A causal tower's pooled token attends only to the tokens before it, so the tokens after
    the last pooled one change no output; cutting them makes a batch of short prompts padded
    to 77 tokens (every ImageNet template) several times cheaper. Towers without a causal
    mask, or pooling the last position, get ``ids`` unchanged.

    Example:
        >>> spec = TextSpec(vocab_size=50, context_length=40, width=16, heads=2, layers=1, mlp_dim=32, proj_dim=8)
        >>> pooled_prefix(np.array([[48, 3, 49] + [0] * 37]), spec).shape
        (1, 16)
    """
    if not spec.causal or spec.pool == "last":
        return ids
    at = ids.argmax(-1) if spec.pool == "argmax" else (ids == spec.eos_token_id).argmax(-1)  # as the towers pool
    length = min(ids.shape[1], -(-(int(at.max()) + 1) // PREFIX_STEP) * PREFIX_STEP)
    return ids[:, :length]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
