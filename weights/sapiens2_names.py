"""Meta's original Sapiens2 tensor names (``attn.wq``, ``ffn.w12``, ``ln1``, ``storage_tokens``) as canonical ones.

The same renaming as the ``sapiens2_weights`` branch of timm's ``eva.checkpoint_filter_fn``, so Meta's own
``model.safetensors`` reads like the timm layout; the pre-training ``mask_token`` and rotary buffers are no weights
of the model and are left out (listed in ``Checkpoint.dropped``).

Example:
    >>> import numpy as np
    >>> raw = {"blocks.0.attn.wq.weight": np.zeros(1), "blocks.0.ffn.w12.weight": np.zeros(1), "ln1.weight": np.zeros(1)}
    >>> sorted(to_canonical(raw, [])[0])
    ['blocks.0.attn.q_proj.weight', 'blocks.0.mlp.fc1.weight', 'norm.weight']
"""

from __future__ import annotations

import re
from typing import Mapping

import numpy as np

ANCHOR = "blocks.0.attn.wq.weight"
_RENAMES = (("storage_tokens", "reg_token"), ("patch_embed.projection.", "patch_embed.proj."), ("attn.wq.", "attn.q_proj."),
            ("attn.wk.", "attn.k_proj."), ("attn.wv.", "attn.v_proj."), ("attn.gamma.weight", "gamma_1"), (".ffn.", ".mlp."),
            (".ln1.", ".norm1."), (".ln2.", ".norm2."), ("mlp.w12", "mlp.fc1"), ("mlp.w3", "mlp.fc2"))


def is_sapiens2(state: Mapping[str, np.ndarray]) -> bool:
    """timm's own test: both Meta's attention and feed-forward names."""
    return ANCHOR in state and "blocks.0.ffn.w12.weight" in state


def to_canonical(state: Mapping[str, np.ndarray], dropped: list[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Canonical names; ``mask_token`` and rotary buffers go to ``dropped``."""
    out: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if name == "mask_token" or "rope" in name:  # pre-training only; the rotary tables are computed, not stored
            dropped.append(name)
            continue
        for old, new in _RENAMES:
            name = name.replace(old, new)
        out[re.sub(r"^ln1\.", "norm.", name)] = value  # the final norm
    return out, dropped
