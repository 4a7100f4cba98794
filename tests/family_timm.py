"""Shared helpers for the family tests that compare vitzoo with the real timm on random weights.

``random_timm`` builds a reduced timm model (two blocks unless told) and draws every parameter
at random, with norms and layer scales near one so that every block matters; ``scale`` makes
chosen parameters larger (relative position tables, head-mixing matrices), so that a wrong
lookup or a wrong axis shows in the logits. ``run`` and ``logits`` give NumPy outputs from a
vitzoo model (either backend) and a timm model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import mindspore as ms
import numpy as np
import pytest

import vitzoo

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")


def random_timm(name: str, depth: int = 2, scale: Mapping[str, float] = {}, **kwargs: Any) -> "torch.nn.Module":
    """A timm model with ``depth`` blocks and random weights; ``scale`` maps name fragments to factors."""
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, depth=depth, **kwargs).eval()
    with torch.no_grad():
        for pname, p in model.named_parameters():
            p.normal_(0, 0.05)
            if p.ndim == 1 and (pname.endswith("weight") or "gamma" in pname):
                p.add_(1.0)
            for fragment, factor in scale.items():
                if fragment in pname:
                    p.mul_(factor)
    return model


def save_timm(model: "torch.nn.Module", folder: Path, name: str = "model") -> Path:
    """The model's state dict as a safetensors file in ``folder``."""
    from safetensors.torch import save_file

    path = Path(folder) / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def rel(out: Any, ref: np.ndarray) -> float:
    """Max abs difference relative to the reference's scale."""
    return float(np.abs(np.asarray(out) - ref).max() / np.abs(ref).max())


def run(model: Any, x: np.ndarray) -> np.ndarray:
    """A vitzoo model's output on ``x``, on either backend."""
    out = model(x if isinstance(model, vitzoo.backends.numpy.NumpyViT) else ms.Tensor(x))
    return out if isinstance(out, np.ndarray) else out.asnumpy()


def logits(model: "torch.nn.Module", x: np.ndarray) -> np.ndarray:
    """A timm model's output on ``x``."""
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def assert_layer_decay_is_timms(ref: "torch.nn.Module", model: Any, layer_decay: float = 0.7, weight_decay: float = 0.05) -> None:
    """vitzoo's layer-decay groups of ``model`` are timm's ``param_groups_layer_decay`` of ``ref``: same members, scales, decay."""
    from timm.optim import param_groups_layer_decay

    from vitzoo.backends.mindspore.train.param_groups import param_groups

    names = {id(p): n for n, p in ref.named_parameters()}
    theirs = {frozenset(names[id(p)] for p in g["params"]): (g["lr_scale"], g["weight_decay"])
              for g in param_groups_layer_decay(ref, weight_decay, no_weight_decay_list=ref.no_weight_decay(), layer_decay=layer_decay)}
    ours = {frozenset(p.name for p in g["params"]): (g["lr_scale"], g["weight_decay"]) for g in param_groups(model, weight_decay, layer_decay)}
    assert set(ours) == set(theirs)
    for group, (scale, wd) in theirs.items():
        assert ours[group][1] == wd and ours[group][0] == pytest.approx(scale, rel=1e-12), sorted(group)
