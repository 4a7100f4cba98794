"""Real timm ViTs with random, non-trivial weights: the reference the tests compare against.

Every parameter is random (zero biases or unit LayerNorms would hide mix-ups);
LayerNorm weights stay near 1 so activations keep a sensible scale.
"""

from __future__ import annotations

import torch
import timm


def randomise_(model: "torch.nn.Module", seed: int = 0, scale: float = 0.1) -> "torch.nn.Module":
    """Overwrite every parameter of ``model`` in place with seeded noise; returns it in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen) * scale
            p.copy_(1 + noise if "norm" in name and name.endswith("weight") else noise)
    return model.eval()


def tiny_timm(seed: int = 0, **kwargs) -> "torch.nn.Module":
    """A 2-block timm ViT-Ti at 32 px (patch 8, 5 classes) unless ``kwargs`` say otherwise."""
    args = dict(depth=2, img_size=32, patch_size=8, num_classes=5)
    args.update(kwargs)
    return randomise_(timm.create_model("vit_tiny_patch16_224", pretrained=False, **args), seed)


def timm_hint(model: "torch.nn.Module") -> dict:
    """The fields a timm state dict's tensors cannot show, read off the timm model itself.

    What a caller passes (``weights.read(path, variant=...)`` or ``create(..., **fields)``)
    for a file saved from a custom timm model without its ``config.json``.
    """
    act = type(model.blocks[0].mlp.act).__name__
    gelu = {"GELU": "exact", "GELUTanh": "tanh", "QuickGELU": "quick"}
    if act == "GELU" and getattr(model.blocks[0].mlp.act, "approximate", "none") == "tanh":
        act = "GELUTanh"
    norm = model.fc_norm if not isinstance(model.fc_norm, torch.nn.Identity) else model.norm
    return {"num_heads": model.blocks[0].attn.num_heads, "norm_eps": norm.eps, "gelu": gelu[act], "global_pool": model.global_pool or "token"}
