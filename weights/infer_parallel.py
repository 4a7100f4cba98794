"""What the tensors of timm's parallel blocks show (``ParallelScalingBlock``, ``DiffParallelScalingBlock``).

``in_proj`` holds the MLP's hidden units and q, k, v in one matrix, so its rows less three widths are the
MLP width; ``mlp_bias`` stands for the MLP's bias when ``in_proj`` has none (no q/k/v bias); λ vectors on
the block show differential attention and, over half a head, the head count; ``out_proj`` (one output
projection over both branches) or ``attn_out_proj`` + ``mlp_out_proj``.

Example:
    >>> import numpy as np
    >>> from vitzoo.canonical import expected_shapes
    >>> from vitzoo.variants import get_spec
    >>> shapes = expected_shapes(get_spec("vit_dpwee_patch16_reg1_gap_256", depth=1))
    >>> fields = parallel_fields({k: np.zeros(s, np.float32) for k, s in shapes.items()}, "'x'", {"embed_dim": 256, "depth": 1})
    >>> fields["mlp_dim"], fields["num_heads"], fields["parallel_out_fused"]
    (1280, 4, True)
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from vitzoo.errors import CheckpointError

ANCHOR = "blocks.0.in_proj.weight"


def parallel_fields(state: Mapping[str, np.ndarray], source: str, common: Mapping[str, Any]) -> dict[str, Any]:
    """The spec fields of a checkpoint of parallel blocks; ``common`` holds what the tensors outside the blocks show."""
    d, b = common["embed_dim"], "blocks.0."
    w = state[ANCHOR]
    if w.ndim != 2 or w.shape[1] != d or w.shape[0] <= 3 * d:
        raise CheckpointError(f"{source}: {ANCHOR} {tuple(w.shape)} is not [MLP width + 3 × {d}, {d}]; the file is damaged.")
    mlp_dim = int(w.shape[0]) - 3 * d
    qkv_bias = b + "in_proj.bias" in state
    if qkv_bias == (b + "mlp_bias" in state):
        raise CheckpointError(f"{source}: a parallel block has an in_proj bias or an mlp_bias, never both or neither; the file is damaged.")
    fused_out = b + "out_proj.weight" in state
    proj = b + ("out_proj" if fused_out else "attn_out_proj")
    lam = state.get(b + "lambda_q1")
    fields: dict[str, Any] = dict(
        common, block="parallel", mlp_dim=mlp_dim, mlp_type="mlp", qkv_bias=qkv_bias, k_bias=True, qkv_fused=True, qk_norm=False,
        attn_norm=False, mlp_norm=False, mlp_bias=True, proj_bias=proj + ".bias" in state, parallel_out_fused=fused_out,
        layer_scale=b + "ls.gamma" in state, diff_attn=lam is not None, rope="none", rel_pos_bias="none", rel_pos_type="none",
        rel_pos_dim=0, rel_pos_shared=False, post_norm=False, res_post_norm=False, depth_token_only=0,
        abs_pos_embed="pos_embed" in state, final_norm="norm.weight" in state or "fc_norm.weight" in state,
        norm_type="rms" if b + "in_norm.weight" in state and b + "in_norm.bias" not in state else "layer",
        patch_norm="patch_embed.norm.weight" in state,
    )
    if lam is not None:  # differential attention: λ vectors over half a head show the head count
        if lam.ndim != 1 or lam.shape[0] < 1 or d % (2 * lam.shape[0]) or b + "sub_norm.weight" not in state:
            raise CheckpointError(f"{source}: {b}lambda_q1 {tuple(lam.shape)} does not fit width {d}, or sub_norm is missing; the file is damaged.")
        fields["num_heads"] = d // (2 * int(lam.shape[0]))
    return fields
