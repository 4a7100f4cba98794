"""timm-style random initialisation of a canonical state, framework-agnostic.

Linear and position weights: truncated normal (std 0.02, cut at 2 std); class and
register tokens: normal (std 1e-6); biases zero; LayerNorm ones/zeros; layer
scale 1e-5; the patch projection: LeCun-style truncated normal over its fan-in.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from vitzoo.canonical import expected_shapes
from vitzoo.spec import ViTSpec

LAYER_SCALE_INIT = 1e-5


def init_state(spec: ViTSpec, seed: Optional[int] = 0) -> dict[str, np.ndarray]:
    """A fresh float32 state for ``spec`` (deterministic for a given ``seed``).

    Example:
        >>> state = init_state(ViTSpec(depth=1, embed_dim=64, num_heads=2, mlp_dim=128))
        >>> float(state["blocks.0.norm1.weight"].mean())
        1.0
    """
    rng = np.random.default_rng(seed)
    state: dict[str, np.ndarray] = {}
    for name, shape in expected_shapes(spec).items():
        leaf = name.rsplit(".", 1)[-1]
        if name in ("cls_token", "reg_token"):
            value = rng.standard_normal(shape, dtype=np.float32) * np.float32(1e-6)
        elif name == "pos_embed":
            value = _trunc_normal(rng, shape, 0.02)
        elif name == "patch_embed.proj.weight":
            fan_in = int(np.prod(shape[1:]))
            value = _trunc_normal(rng, shape, (1.0 / fan_in) ** 0.5)
        elif leaf == "gamma":
            value = np.full(shape, LAYER_SCALE_INIT, np.float32)
        elif leaf == "bias":
            value = np.zeros(shape, np.float32)
        elif len(shape) == 1:  # LayerNorm weight
            value = np.ones(shape, np.float32)
        else:
            value = _trunc_normal(rng, shape, 0.02)
        state[name] = value
    return state


def _trunc_normal(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    """Normal(0, std) truncated to ±2 std, by redrawing the values outside."""
    value = rng.standard_normal(shape, dtype=np.float32)
    outside = np.abs(value) > 2.0
    while outside.any():
        value[outside] = rng.standard_normal(int(outside.sum()), dtype=np.float32)
        outside = np.abs(value) > 2.0
    value *= np.float32(std)
    return value
