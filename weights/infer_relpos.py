"""What a timm file's tensors say about the relative-position ViTs and the hybrid ViTs (read by :mod:`.infer`).

``backbone_fields``: a BiT ResNetV2 stem before the patch projection (``patch_embed.backbone.*``), its stage and
block counts from the tensor names, or MobileCLIP's stem (``conv_stem_proj`` checks its tensors). ``rel_pos_mlp_fields``: timm's ``RelPosMlp`` per block or shared, its hidden
width, form ('cr' or Swin-V2's) and the head count; a layer scale settles that the blocks are pre-norm.
Damaged files get one :class:`~vitzoo.errors.CheckpointError` sentence.

Example:
    >>> rel_pos_mlp_fields({"blocks.0.ls1.gamma": None}, "f")["res_post_norm"]
    False
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

from vitzoo import conv_stem, resnetv2
from vitzoo.errors import CheckpointError

CONV_STEM_ANCHOR = conv_stem.ANCHOR


def conv_stem_proj(state: Mapping[str, np.ndarray], source: str) -> Any:
    """MobileCLIP's stem: every tensor of timm's ``ConvStem`` at its shape; a stand-in for the absent projection's shape.

    The stand-in ``[D, C, 16, 16]`` (D the last convolution's channels, C the image's) lets the plain reading go on: the
    width, the input channels and the 16-pixel patch are what a projection would have shown.
    """
    first, last = state.get(conv_stem.PREFIX + "0.conv.weight"), state.get(conv_stem.PREFIX + "2.conv.weight")
    if first is None or last is None or first.ndim != 4 or last.ndim != 4:
        raise CheckpointError(f"{source} has BatchNorm tensors under patch_embed.backbone but not the three convolutions of "
                              "MobileCLIP's stem; the file is incomplete or damaged.")
    expected = conv_stem.shapes(int(first.shape[1]), int(last.shape[0]))
    found = {k: tuple(v.shape) for k, v in state.items() if k.startswith(conv_stem.PREFIX) and not k.endswith("num_batches_tracked")}
    if found != expected:
        wrong = sorted(set(found) ^ set(expected)) or sorted(k for k in found if found[k] != expected[k])
        raise CheckpointError(f"{source}: the MobileCLIP stem's tensors do not fit together (first: {wrong[0]!r}); the file is damaged.")
    return np.broadcast_to(np.float32(0), (int(last.shape[0]), int(first.shape[1]), conv_stem.PATCH, conv_stem.PATCH))


def backbone_fields(state: Mapping[str, np.ndarray], source: str, proj_in: int) -> dict[str, Any]:
    """timm's hybrid ViT: BiT's ResNetV2 under ``patch_embed.backbone``, its stages' block counts from the names."""
    names = [k for k in state if k.startswith("patch_embed.backbone.")]
    if not names:
        return dict(backbone="none", backbone_layers=())
    if CONV_STEM_ANCHOR in state:  # checked whole by conv_stem_proj
        return dict(backbone="convstem", backbone_layers=())
    stages: dict[int, set] = {}
    for k in names:
        m = re.match(r"patch_embed\.backbone\.stages\.(\d{1,2})\.blocks\.(\d{1,3})\.", k)
        if m:
            stages.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    layers = tuple(len(stages[s]) for s in sorted(stages))
    if sorted(stages) != list(range(len(stages))) or any(stages[s] != set(range(len(stages[s]))) for s in stages) or len(layers) > 4:
        raise CheckpointError(f"{source} has ResNetV2 backbone stages or blocks with gaps ({sorted(stages)}); the file is incomplete or damaged.")
    stem = resnetv2.prefix(layers) + "conv.weight"
    if stem not in state or state[stem].ndim != 4:
        raise CheckpointError(f"{source} has patch_embed.backbone tensors but no {stem!r} of the shape a ResNetV2 stem has; the file is "
                              "damaged or holds another backbone (timm's ResNet-26d/50d or MobileCLIP stems are not built by vitzoo).")
    if proj_in != resnetv2.out_channels(layers):
        raise CheckpointError(f"{source}: patch_embed.proj reads {proj_in} channels but a ResNetV2 of {layers} blocks gives "
                              f"{resnetv2.out_channels(layers)}; the file is damaged.")
    return dict(backbone="resnetv2", backbone_layers=layers, in_chans=int(state[stem].shape[1]))


def rel_pos_mlp_fields(state: Mapping[str, np.ndarray], source: str) -> dict[str, Any]:
    """timm's relpos ViT: a bias MLP per block (``attn.rel_pos.mlp``) or one shared, its width, form and the head count."""
    found = [p for p in ("shared_rel_pos.mlp.", "blocks.0.attn.rel_pos.mlp.") if p + "fc1.weight" in state]
    if not found:
        if any(".rel_pos.mlp." in k or k.startswith("shared_rel_pos.") for k in state):
            raise CheckpointError(f"{source} has relative position MLP tensors but no 'fc1' of block 0 or the shared one; the file is incomplete or damaged.")
        out: dict[str, Any] = dict(rel_pos_type="none", rel_pos_dim=0, rel_pos_shared=False)
        if any(f"blocks.0.{g}" in state for g in ("ls1.gamma", "gamma_1", "gamma1")):
            out["res_post_norm"] = False  # a layer scale (XCiT's gamma1 too): timm's post-norm blocks have none
        return out
    if len(found) == 2:
        raise CheckpointError(f"{source} has both a shared relative position MLP and one in block 0; timm builds one or the other, so the file is damaged.")
    p = found[0]
    fc1, fc2 = state[p + "fc1.weight"], state.get(p + "fc2.weight")
    if fc2 is None or fc1.ndim != 2 or fc1.shape[1] != 2 or fc2.ndim != 2 or fc2.shape[1] != fc1.shape[0]:
        shown = None if fc2 is None else tuple(fc2.shape)
        raise CheckpointError(f"{source}: relative position MLP {p}fc1 {tuple(fc1.shape)} and fc2 {shown} do not fit together (expected [hidden, 2] and [heads, hidden]).")
    out = dict(rel_pos_type="mlp" if p + "fc2.bias" in state else "mlp_swin",  # Swin-V2's form has no fc2 bias
               rel_pos_dim=int(fc1.shape[0]), rel_pos_shared=p.startswith("shared"), num_heads=int(fc2.shape[0]),
               block="vit", rope="none", rel_pos_bias="none")
    if "blocks.0.ls1.gamma" in state:
        out["res_post_norm"] = False
    return out
