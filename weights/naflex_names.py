"""timm's NaFlexVit tensor names (``embeds.*``) and canonical ones, both ways.

timm's ``naflexvit.py`` keeps the embedding in one module: ``embeds.proj`` (a Linear over
channel-last patches, ``[D, p·p·C]``; the canonical name is the equivalent convolution
``patch_embed.proj.weight`` ``[D, C, p, p]``), ``embeds.pos_embed`` ``[1, G, G, D]`` (canonical
``pos_embed`` ``[1, G·G, D]``, row-major), ``embeds.pos_embed_y``/``_x``, ``embeds.cls_token`` and
``embeds.reg_token``. Every other name (blocks, norms, ``attn_pool``, ``head``) is timm's usual one.
Both directions are reshapes and one transpose: a round trip gives the same bits.

Example:
    >>> import numpy as np
    >>> raw = {"embeds.proj.weight": np.zeros((8, 48), np.float32), "embeds.pos_embed": np.zeros((1, 2, 2, 8), np.float32)}
    >>> state, _ = to_canonical(raw, "f", in_chans=3)
    >>> state["patch_embed.proj.weight"].shape, state["pos_embed"].shape
    ((8, 3, 4, 4), (1, 4, 8))
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional

import numpy as np

from vitzoo.errors import CheckpointError

ANCHOR = "embeds.proj.weight"
_TOP = {"embeds.proj.bias": "patch_embed.proj.bias", "embeds.cls_token": "cls_token", "embeds.reg_token": "reg_token",
        "embeds.pos_embed_y": "pos_embed_y", "embeds.pos_embed_x": "pos_embed_x"}
_UNSUPPORTED = ("embeds.norm.", "embeds.norm_input.", "embeds.patch_interpolator.", "rope.")


def is_naflex(names: Any) -> bool:
    """Whether a state's names are timm's NaFlexVit's."""
    return ANCHOR in names


def to_canonical(raw: Mapping[str, np.ndarray], source: str, in_chans: Optional[int] = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Canonical tensors of a NaFlexVit state, and the spec fields its layout fixes (``naflex``, the grid side)."""
    odd = sorted(n for n in raw if n.startswith(_UNSUPPORTED))
    if odd:
        raise CheckpointError(f"{source} is a timm NaFlexVit with {odd[0]!r}, an option (embedding norms, patch resizing, rotary positions) "
                              "that vitzoo does not build; only learned or factorized position grids are supported.")
    state: dict[str, np.ndarray] = {}
    fields: dict[str, Any] = {"naflex": True, "pos_embed_prefix": False}
    for name, value in raw.items():
        if name == ANCHOR:
            state["patch_embed.proj.weight"] = linear_to_conv(value, source, in_chans)
        elif name == "embeds.pos_embed":
            if value.ndim != 4 or value.shape[0] != 1 or value.shape[1] != value.shape[2]:
                raise CheckpointError(f"{source}: embeds.pos_embed has shape {tuple(value.shape)}; vitzoo reads square [1, G, G, D] position grids.")
            state["pos_embed"] = np.ascontiguousarray(value.reshape(1, value.shape[1] * value.shape[2], value.shape[3]))
            fields["pos_embed_grid"] = int(value.shape[1])
        elif name in _TOP:
            state[_TOP[name]] = value
        else:
            state[name] = value
    if "pos_embed_y" in state:
        y, x = state["pos_embed_y"], state.get("pos_embed_x")
        if x is None or y.ndim != 3 or y.shape != x.shape:
            raise CheckpointError(f"{source}: the factorized position tables embeds.pos_embed_y/_x are missing one or differ in shape; "
                                  "vitzoo reads equal square tables.")
        fields.update(pos_factorized=True, pos_embed_grid=int(y.shape[1]))
    elif "pos_embed" not in state:
        raise CheckpointError(f"{source} is a timm NaFlexVit without a position grid (pos_embed='none'), which vitzoo does not build.")
    return state, fields


def linear_to_conv(weight: np.ndarray, source: str, in_chans: Optional[int] = None) -> np.ndarray:
    """``[D, p·p·C]`` (channels last) → ``[D, C, p, p]``; the channel count is ``in_chans``, else 3, else 1."""
    if weight.ndim != 2:
        raise CheckpointError(f"{source}: embeds.proj.weight has shape {tuple(weight.shape)}; timm's NaFlex patch embedding is a Linear [D, p·p·C].")
    k = int(weight.shape[1])
    for chans in dict.fromkeys(c for c in (in_chans, 3, 1) if c):
        patch = math.isqrt(k // chans) if k % chans == 0 else 0
        if patch and patch * patch * chans == k:
            return np.ascontiguousarray(weight.reshape(weight.shape[0], patch, patch, chans).transpose(0, 3, 1, 2))
    raise CheckpointError(f"{source}: embeds.proj.weight takes {k} values per patch, which is no square patch of {in_chans or 3} channels; "
                          "give in_chans= (vitzoo.create(..., in_chans=N)).")


def from_canonical(state: Mapping[str, np.ndarray], spec: Any) -> dict[str, np.ndarray]:
    """timm NaFlexVit names for a canonical NaFlex state (what ``load_state_dict(strict=True)`` takes)."""
    inverse = {v: k for k, v in _TOP.items()}
    out: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if name == "patch_embed.proj.weight":
            out[ANCHOR] = np.ascontiguousarray(value.transpose(0, 2, 3, 1).reshape(value.shape[0], -1))
        elif name == "pos_embed":
            g = spec.pos_grid
            out["embeds.pos_embed"] = value.reshape(1, g, g, value.shape[-1])
        elif name in inverse:
            out[inverse[name]] = value
        else:
            out[name] = value
    return out
