"""The abstract, framework-agnostic description of a Vision Transformer."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Mapping

from vitzoo.errors import SpecError

GELU_FORMS = ("exact", "tanh", "quick")
POOLING = ("token", "avg", "map")
MLP_TYPES = ("mlp", "swiglu")


@dataclass(frozen=True)
class ViTSpec:
    """Everything needed to rebuild a ViT's forward pass exactly.

    The defaults are timm's ViT-B/16 at 224 px. Instances are immutable and
    validated on construction; use :meth:`replace` to derive a new spec.

    Example:
        >>> spec = ViTSpec(embed_dim=192, depth=12, num_heads=3, mlp_dim=768)
        >>> spec.head_dim, spec.num_patches
        (64, 196)
        >>> ViTSpec.from_json(spec.to_json()) == spec
        True
        >>> ViTSpec(class_token=False, global_pool="map", dist_token=True)
        Traceback (most recent call last):
        ...
        vitzoo.errors.SpecError: dist_token=True (DeiT distilled) needs class_token=True; the distilled head reads the class and distillation tokens.
    """

    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    num_classes: int = 1000
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_dim: int = 3072
    patch_bias: bool = True  # timm drops it when pre_norm is set
    qkv_bias: bool = True
    qk_norm: bool = False
    norm_eps: float = 1e-6
    gelu: str = "exact"  # "exact" (erf, torch/timm), "tanh" (MindSpore's default) or "quick" (OpenAI CLIP's x·sigmoid(1.702x))
    mlp_type: str = "mlp"  # "mlp" (fc1 → GELU → fc2) or "swiglu" (packed fc1 [2·mlp_dim, D]: silu(first half) × second half)
    class_token: bool = True
    dist_token: bool = False  # DeiT distilled: a second prefix token with its own head, logits = mean of both heads
    reg_tokens: int = 0
    pos_embed_prefix: bool = True  # pos_embed also covers the class/distillation/register tokens
    global_pool: str = "token"  # "token" (class token), "avg" (mean of patch tokens) or "map" (attention pool, SigLIP)
    fc_norm: bool = False  # norm after pooling instead of on every token
    pre_norm: bool = False  # extra LayerNorm before the blocks (CLIP style)
    layer_scale: bool = False  # per-channel residual scales ls1/ls2
    pre_logits_dim: int = 0  # >0: Linear(embed_dim, pre_logits_dim) + tanh before the head
    dynamic_img_size: bool = False  # any input H×W: pos_embed resampled at run time (timm's keyword)
    dynamic_img_pad: bool = False  # with dynamic_img_size: pad H, W up to patch multiples (bottom/right)

    def __post_init__(self) -> None:
        for name in ("img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads", "mlp_dim"):
            value = getattr(self, name)
            if not _is_int(value) or value <= 0:
                raise SpecError(f"ViT spec field {name!r} must be a positive integer, got {value!r}.")
        for name in ("num_classes", "reg_tokens", "pre_logits_dim"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise SpecError(f"ViT spec field {name!r} must be a non-negative integer, got {value!r}.")
        for name in ("patch_bias", "qkv_bias", "qk_norm", "class_token", "dist_token", "pos_embed_prefix", "fc_norm", "pre_norm",
                     "layer_scale", "dynamic_img_size", "dynamic_img_pad"):
            if not isinstance(getattr(self, name), bool):
                raise SpecError(f"ViT spec field {name!r} must be true or false, got {getattr(self, name)!r}.")
        if not isinstance(self.norm_eps, (int, float)) or isinstance(self.norm_eps, bool) or not 0 < self.norm_eps < 1:
            raise SpecError(f"ViT spec field 'norm_eps' must be a float in (0, 1), got {self.norm_eps!r}.")
        if self.gelu not in GELU_FORMS:
            raise SpecError(f"Unknown GELU form {self.gelu!r}; use one of {', '.join(GELU_FORMS)}.")
        if self.global_pool not in POOLING:
            raise SpecError(f"Unknown pooling {self.global_pool!r}; use one of {', '.join(POOLING)}.")
        if self.mlp_type not in MLP_TYPES:
            raise SpecError(f"Unknown MLP type {self.mlp_type!r}; use one of {', '.join(MLP_TYPES)}.")
        if self.embed_dim % self.num_heads:
            raise SpecError(
                f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}; "
                "choose a head count that divides it."
            )
        if self.img_size < self.patch_size:
            raise SpecError(f"img_size {self.img_size} is smaller than patch_size {self.patch_size}; choose a larger image size.")
        if self.global_pool == "token" and not self.class_token:
            raise SpecError("global_pool='token' needs class_token=True; use global_pool='avg' or 'map' without a class token.")
        self._check_combinations()
        object.__setattr__(self, "norm_eps", float(self.norm_eps))

    def _check_combinations(self) -> None:
        """Refuse family features that do not combine (timm builds none of these)."""
        if self.dist_token:
            # the distilled head reads tokens 0 and 1 and averages two classifiers
            for bad, why in (
                (not self.class_token, "class_token=True"),
                (self.global_pool != "token", "global_pool='token'"),
                (self.reg_tokens > 0, "reg_tokens=0"),
                (self.fc_norm, "fc_norm=False"),
                (self.pre_logits_dim > 0, "pre_logits_dim=0"),
            ):
                if bad:
                    raise SpecError(f"dist_token=True (DeiT distilled) needs {why}; the distilled head reads the class and distillation tokens.")
        if self.global_pool == "map" and self.mlp_type != "mlp":
            raise SpecError("global_pool='map' needs mlp_type='mlp': the attention pool's MLP width is only defined for a plain MLP.")

    # Derived sizes -------------------------------------------------------
    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    @property
    def grid_size(self) -> int:
        """Patches along one side of the image.

        Like timm's strided convolution, a size that is not a multiple of the patch
        (SigLIP so400m/14 at 384 px: 27 patches) leaves the last rows and columns out.
        """
        return self.img_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid_size**2

    @property
    def num_prefix_tokens(self) -> int:
        """Class, distillation and register tokens, in front of the patch tokens."""
        return int(self.class_token) + int(self.dist_token) + self.reg_tokens

    @property
    def num_tokens(self) -> int:
        return self.num_prefix_tokens + self.num_patches

    @property
    def pos_embed_len(self) -> int:
        return self.num_tokens if self.pos_embed_prefix else self.num_patches

    @property
    def fc1_dim(self) -> int:
        """Output width of each block's ``mlp.fc1``: twice ``mlp_dim`` for the packed SwiGLU."""
        return 2 * self.mlp_dim if self.mlp_type == "swiglu" else self.mlp_dim

    @property
    def num_features(self) -> int:
        """Width of the pooled features fed to the classifier."""
        return self.pre_logits_dim or self.embed_dim

    # Conversions ----------------------------------------------------------
    def replace(self, **changes: Any) -> "ViTSpec":
        """A copy with some fields changed (validated again)."""
        unknown = sorted(set(changes) - _FIELD_NAMES)
        if unknown:
            raise SpecError(f"Unknown ViT spec field(s) {', '.join(unknown)}; valid fields: {', '.join(sorted(_FIELD_NAMES))}.")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ViTSpec":
        if not isinstance(data, Mapping):
            raise SpecError(f"A ViT spec must be a JSON object, got {type(data).__name__}.")
        unknown = sorted(set(data) - _FIELD_NAMES)
        if unknown:
            raise SpecError(f"Unknown ViT spec field(s) {', '.join(unknown)}; was it written by a newer vitzoo?")
        return cls(**dict(data))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ViTSpec":
        try:
            data = json.loads(text)
        except (TypeError, ValueError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
            raise SpecError(f"The ViT spec is not valid JSON ({exc}).") from None
        return cls.from_dict(data)


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(ViTSpec))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
