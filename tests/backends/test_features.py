"""forward_intermediates and dynamic image sizes against the real timm (random weights), on both backends."""

from __future__ import annotations

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import vitzoo  # noqa: E402
from timm_models import tiny_timm  # noqa: E402
from vitzoo.backends import get_backend  # noqa: E402
from vitzoo.features import FeatureError, take_indices  # noqa: E402

TOL = 1e-4
# name -> (timm kwargs, vitzoo spec overrides); tiny models: 32 px, patch 8, 3 blocks
CASES = {
    "cls_reg": (dict(reg_tokens=2), dict(reg_tokens=2)),
    "no_embed_class_layerscale": (dict(no_embed_class=True, init_values=0.1), dict(pos_embed_prefix=False, layer_scale=True)),
    "avg_fc_norm_no_cls": (
        dict(class_token=False, global_pool="avg", fc_norm=True),
        dict(class_token=False, global_pool="avg", fc_norm=True),
    ),
}


def pair(case: str, backend: str = "mindspore", jit: bool = False, **extra):
    timm_kw, spec_kw = CASES[case]
    ref = tiny_timm(depth=3, **timm_kw, **extra)
    spec = vitzoo.get_spec("vit_ti_16", depth=3, img_size=32, patch_size=8, num_classes=5, **spec_kw, **extra)
    state = {k: v.numpy() for k, v in ref.state_dict().items()}
    return ref, get_backend(backend).build(spec, state, jit=jit)


def to_numpy(value):
    if isinstance(value, (list, tuple)):
        return [to_numpy(v) for v in value]
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    return value.asnumpy() if hasattr(value, "asnumpy") else value.numpy() if hasattr(value, "numpy") else value


def max_diff(ours, theirs) -> float:
    if isinstance(theirs, (list, tuple)):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(theirs)
        return max([max_diff(a, b) for a, b in zip(ours, theirs)], default=0.0)
    if isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs)
        return max(max_diff(ours[k], theirs[k]) for k in theirs)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    return float(np.abs(ours - theirs).max())


def images(h: int = 32, w: int = 32, batch: int = 2) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((batch, 3, h, w), dtype=np.float32)


def run_both(ref, model, x: np.ndarray, method: str, **kwargs):
    with torch.no_grad():
        theirs = to_numpy(getattr(ref, method)(torch.from_numpy(x), **kwargs))
    arg = x if type(model).__module__.startswith("vitzoo.backends.numpy") else ms.Tensor(x)
    return to_numpy(getattr(model, method)(arg, **kwargs)), theirs


ARGUMENTS = [
    dict(),
    dict(indices=2, norm=True),
    dict(indices=[0, -1], return_prefix_tokens=True, output_fmt="NLC"),
    dict(indices=[1], stop_early=True, intermediates_only=True),
    dict(indices=(0, 2), return_prefix_tokens=True, norm=True, output_dict=True),
]


@pytest.mark.parametrize("backend", ["mindspore", "numpy"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_intermediates_match_timm(case, backend):
    ref, model = pair(case, backend)
    for kwargs in ARGUMENTS:
        ours, theirs = run_both(ref, model, images(), "forward_intermediates", **kwargs)
        assert max_diff(ours, theirs) <= TOL, kwargs


def test_forward_intermediates_compiled():
    ref, model = pair("cls_reg", jit=True)
    for kwargs in (dict(indices=2, return_prefix_tokens=True), dict(indices=[0], norm=True, output_fmt="NLC")):
        ours, theirs = run_both(ref, model, images(), "forward_intermediates", **kwargs)
        assert max_diff(ours, theirs) <= TOL, kwargs
    maps = model.forward_intermediates(ms.Tensor(images()), intermediates_only=True)
    assert all(isinstance(m, ms.Tensor) and tuple(m.shape) == (2, 192, 4, 4) for m in maps)


# Dynamic image size -------------------------------------------------------------
@pytest.mark.parametrize("backend", ["mindspore", "numpy"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_dynamic_img_size_matches_timm_on_non_square_sizes(case, backend):
    ref, model = pair(case, backend, dynamic_img_size=True)
    for h, w in ((32, 32), (24, 56), (48, 16)):  # native, then downsampled rows + upsampled columns, and the reverse
        for method, kwargs in (("forward", {}), ("forward_intermediates", dict(indices=2, return_prefix_tokens=True))):
            with torch.no_grad():
                theirs = to_numpy(getattr(ref, method)(torch.from_numpy(images(h, w)), **kwargs))
            x = images(h, w)
            call = model if method == "forward" else model.forward_intermediates
            ours = to_numpy(call(x if backend == "numpy" else ms.Tensor(x), **kwargs))
            assert max_diff(ours, theirs) <= TOL, (h, w, method)


@pytest.mark.parametrize("backend", ["mindspore", "numpy"])
def test_dynamic_img_pad_matches_timm(backend):
    ref, model = pair("cls_reg", backend, dynamic_img_size=True, dynamic_img_pad=True)
    for h, w in ((20, 44), (33, 31)):
        ours, theirs = run_both(ref, model, images(h, w), "forward_intermediates", indices=1)
        assert max_diff(ours, theirs) <= TOL
        assert ours[1][0].shape[2:] == (-(-h // 8), -(-w // 8))


def test_compiled_model_recompiles_per_input_shape():
    ref, model = pair("no_embed_class_layerscale", jit=True, dynamic_img_size=True)
    for h, w in ((24, 40), (40, 16), (24, 40)):
        x = images(h, w)
        with torch.no_grad():
            expected = ref(torch.from_numpy(x)).numpy()
        assert max_diff(model(ms.Tensor(x)).asnumpy(), expected) <= TOL
        assert max_diff(model.forward_features(ms.Tensor(x)).asnumpy(), ref.forward_features(torch.from_numpy(x)).detach().numpy()) <= TOL


def test_create_keyword_and_spec_round_trip(tmp_path):
    model = vitzoo.create("vit_ti_16", img_size=32, patch_size=8, depth=1, dynamic_img_size=True, dynamic_img_pad=True)
    assert model.spec.dynamic_img_size and model.spec.dynamic_img_pad
    assert tuple(model(ms.Tensor(images(20, 28))).shape) == (2, 1000)
    vitzoo.save(model, tmp_path / "m.safetensors")
    again = vitzoo.create_from_file(tmp_path / "m.safetensors")
    assert again.spec == model.spec


# Errors -------------------------------------------------------------------------
def test_bad_requests_are_one_clear_error():
    _, model = pair("cls_reg")
    x = ms.Tensor(images())
    with pytest.raises(FeatureError, match="last 4 blocks"):
        model.forward_intermediates(x, indices=4)
    with pytest.raises(FeatureError, match="out of range"):
        model.forward_intermediates(x, indices=[0, 3])
    with pytest.raises(FeatureError, match="output_fmt"):
        model.forward_intermediates(x, output_fmt="NHWC")
    with pytest.raises(FeatureError, match="dynamic_img_size=True"):
        model(ms.Tensor(images(32, 40)))
    with pytest.raises(FeatureError, match="NCHW"):
        model(ms.Tensor(images()[0]))
    _, dynamic = pair("cls_reg", dynamic_img_size=True)
    with pytest.raises(FeatureError, match="dynamic_img_pad=True"):
        dynamic(ms.Tensor(images(30, 32)))


def test_take_indices_is_timms():
    from timm.models._features import feature_take_indices

    for indices in (None, 1, 3, [0], [-1, 0], (1, 2)):
        assert take_indices(3, indices) == tuple(feature_take_indices(3, indices))
