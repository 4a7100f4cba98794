"""The spec of an XCiT state (timm's ``xcit.py`` names), for :func:`vitzoo.weights.infer.infer_spec`.

The tensors show the family (``patch_embed.proj.0.0.weight``: the convolutional stem), the patch size
(four convolution stages for 16, three for 8), the widths, the depth, the head count (``attn.temperature``
is ``[heads, 1, 1]``) and the class-attention depth. They cannot show ``tokens_norm`` (whether the
class-attention blocks norm every token) or the image size (XCiT has no position table): those come from
the reader's config, the caller's hint, or the registered XCiT variants of these sizes when they agree;
eps, GELU form, pooling and size otherwise take timm's ``Xcit`` defaults (1e-6, exact, class token, 224; any
input size that is a patch multiple, as timm's model takes).

Example:
    >>> import vitzoo
    >>> from vitzoo.init import init_state
    >>> fields = xcit_fields(init_state(vitzoo.get_spec("xcit_nano_12_p8_224", depth=1)), "f")
    >>> fields["patch_size"], fields["num_heads"], fields["depth"]
    (8, 4, 1)
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

from vitzoo.errors import CheckpointError

ANCHOR = "patch_embed.proj.0.0.weight"


def xcit_fields(state: Mapping[str, np.ndarray], source: str) -> dict[str, Any]:
    """The spec fields an XCiT state's names and shapes fix, after checking the parts are all there."""
    stages = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"patch_embed\.proj\.(\d{1,3})\.0\.weight", k)))
    if stages not in ([0, 2, 4], [0, 2, 4, 6]):
        raise CheckpointError(f"{source} has XCiT patch-embedding convolutions {stages}, not the three (patch 8) or four (patch 16) "
                              "of timm's ConvPatchEmbed; the file is incomplete or damaged.")
    first, last = state[ANCHOR], state[f"patch_embed.proj.{stages[-1]}.0.weight"]
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d{1,6})\.", k))}
    heads = {int(m.group(1)) for k in state if (m := re.match(r"cls_attn_blocks\.(\d{1,6})\.", k))}
    for part, present in (("blocks", blocks), ("cls_attn_blocks", heads)):
        if not present or present != set(range(len(present))):
            raise CheckpointError(f"{source} is an XCiT checkpoint whose {part}.* are missing or not numbered 0, 1, …; the file is incomplete or damaged.")
    needed = ("cls_token", "pos_embed.token_projection.weight", "blocks.0.attn.temperature", "blocks.0.mlp.fc2.weight", "norm.weight")
    missing = [k for k in needed if k not in state]
    if missing:
        raise CheckpointError(f"{source} is an XCiT checkpoint without {missing[0]!r} (timm's Xcit with its Fourier positions has it); "
                              "the file is incomplete or damaged.")
    if last.ndim == 4 and state["cls_token"].ndim == 3 and int(last.shape[0]) != int(state["cls_token"].shape[-1]):
        raise CheckpointError(f"{source}: its XCiT patch embedding ends at width {int(last.shape[0])} but its class token is "
                              f"{int(state['cls_token'].shape[-1])} wide; a convolution stage is missing, the file is incomplete or damaged.")
    temperature = state["blocks.0.attn.temperature"]
    if first.ndim != 4 or last.ndim != 4 or temperature.ndim != 3 or state["blocks.0.mlp.fc2.weight"].ndim != 2:
        raise CheckpointError(f"{source}: XCiT tensors have unexpected ranks (patch embedding {tuple(first.shape)}, temperature {tuple(temperature.shape)}).")
    return dict(
        block="xcit", patch_size=16 if len(stages) == 4 else 8, in_chans=int(first.shape[1]), embed_dim=int(last.shape[0]),
        depth=len(blocks), num_heads=int(temperature.shape[0]), mlp_dim=int(state["blocks.0.mlp.fc2.weight"].shape[1]),
        depth_token_only=len(heads), qkv_bias="blocks.0.attn.qkv.bias" in state,
        num_classes=int(state["head.weight"].shape[0]) if "head.weight" in state else 0,
        class_token=True, abs_pos_embed=False, patch_bias=False, layer_scale=True, rope="none", rel_pos_bias="none",
        mlp_type="mlp", dist_token=False, reg_tokens=0, fc_norm=False, pre_norm=False, final_norm=True, qk_norm=False,
        k_bias=True, qkv_fused=True, attn_norm=False, mlp_norm=False, norm_type="layer", patch_norm=False, proj_bias=True,
        mlp_bias=True, pre_logits_dim=0,
    )


def xcit_unseen(fields: Mapping[str, Any], source: str, config: Mapping[str, Any], given: Mapping[str, Any],
                registered: list) -> dict[str, Any]:
    """What the tensors cannot show: stated (config, then hint), else the agreeing variants', else timm's ``Xcit`` default.

    ``tokens_norm`` has no default (timm's nano models and the others differ): unsettled, it is refused.
    """
    same = [spec for _, spec in registered if spec.block == "xcit"
            and all(getattr(spec, k) == fields[k] for k in ("patch_size", "embed_dim", "depth", "num_heads", "mlp_dim", "depth_token_only"))]
    out: dict[str, Any] = {}
    # timm's Xcit defaults where no variant settles it: eps 1e-6, exact GELU, class-token pooling, 224 px, any size
    defaults = (("img_size", 224), ("tokens_norm", None), ("layer_scale_init", 1.0 if fields["depth"] <= 12 else 1e-5),
                ("norm_eps", 1e-6), ("gelu", "exact"), ("global_pool", "token"), ("dynamic_img_size", True))
    for name, fallback in defaults:
        stated = [src[name] for src in (config, given) if name in src]
        values = {getattr(spec, name) for spec in same}
        if stated:
            out[name] = stated[0]
        elif len(values) == 1:
            out[name] = values.pop()
        elif fallback is not None:
            out[name] = fallback
        else:
            raise CheckpointError(f"{source} is an XCiT checkpoint that does not say whether its class-attention blocks norm every token "
                                  "(the tensors cannot show it and no registered XCiT variant of these sizes settles it); give it, e.g. "
                                  "vitzoo.create(..., tokens_norm=True), or name the variant it was built from.")
    return out
