"""Every ViT family against the real timm on random weights, through both backends.

DeiT (distilled), DeiT-III, DINOv2 (± registers, SwiGLU), CLIP (exact and QuickGELU),
SigLIP (MAP head, SigLIP 2's tanh GELU, average pooling): logits (or the pooled
output where there is no classifier), features and pre-logits must match timm to
1e-4 of the output scale in NumPy, MindSpore PyNative and MindSpore ``jit=True``.
"""

from __future__ import annotations

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from family_models import CASES as FAMILIES, family_timm, image, max_rel_diff, timm_state  # noqa: E402
from vitzoo.backends import get_backend  # noqa: E402
from vitzoo.canonical import expected_shapes  # noqa: E402

TOL = 1e-4
BACKENDS = {"numpy": dict(backend="numpy"), "pynative": dict(backend="mindspore"), "jit": dict(backend="mindspore", jit=True)}


@pytest.fixture(scope="module")
def references() -> dict:
    """family → (canonical state, input, timm logits, timm features, timm pre-logits)."""
    out = {}
    for name, case in FAMILIES.items():
        x = image(size=case.spec.img_size)
        model = family_timm(name)
        with torch.no_grad():
            t = torch.from_numpy(x)
            feats = model.forward_features(t)
            out[name] = (timm_state(model), x, model(t).numpy(), feats.numpy(), model.forward_head(feats, pre_logits=True).numpy())
    return out


def build(name: str, state: dict, how: str):
    opts = dict(BACKENDS[how])
    return get_backend(opts.pop("backend")).build(FAMILIES[name].spec, state, **opts)


def as_numpy(value) -> np.ndarray:
    return value.asnumpy() if hasattr(value, "asnumpy") else np.asarray(value)


def run(model, how: str, method: str, x: np.ndarray, **kwargs) -> np.ndarray:
    arg = x if how == "numpy" else ms.Tensor(x)
    fn = model if method == "__call__" else getattr(model, method)
    return as_numpy(fn(arg, **kwargs))


def test_canonical_shapes_are_timms():
    for name, case in FAMILIES.items():
        sd = {k: tuple(v.shape) for k, v in family_timm(name).state_dict().items()}
        assert sd == expected_shapes(case.spec), name


@pytest.mark.parametrize("how", list(BACKENDS))
@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_matches_timm(name: str, how: str, references: dict) -> None:
    state, x, logits, feats, pooled = references[name]
    model = build(name, state, how)
    assert max_rel_diff(run(model, how, "__call__", x), logits) <= TOL
    if how == "jit" and name not in ("deit_distilled", "siglip"):
        return  # every graph compiles the same Cells; two heads' features/pre-logits suffice there
    ours_feats = run(model, how, "forward_features", x)
    assert max_rel_diff(ours_feats, feats) <= TOL
    assert max_rel_diff(run(model, how, "forward_head", feats, pre_logits=True), pooled) <= TOL
    if how != "numpy":  # the Cell tree names its parameters canonically: no mapping anywhere
        assert {p.name for p in model.get_parameters()} == set(expected_shapes(FAMILIES[name].spec))


@pytest.mark.parametrize("how", list(BACKENDS))
def test_reset_classifier_replaces_both_distilled_heads(how: str, references: dict) -> None:
    state, x, *_ = references["deit_distilled"]
    model = build("deit_distilled", state, how)
    model.reset_classifier(3)
    out = run(model, how, "__call__", x)
    assert out.shape == (2, 3) and model.spec.num_classes == 3
    assert params(model)["head.weight"].shape == params(model)["head_dist.weight"].shape == (3, 32)
    model.reset_classifier(0)  # no heads: the mean of the class and distillation tokens, as timm
    feats = run(model, how, "forward_features", x)
    assert max_rel_diff(run(model, how, "__call__", x), (feats[:, 0] + feats[:, 1]) / 2) <= TOL
    assert not {"head.weight", "head_dist.weight"} & set(params(model))


def params(model) -> dict:
    return dict(model.state) if hasattr(model, "state") else {p.name: p.asnumpy() for p in model.get_parameters()}
