"""The NumPy reference backend against the real timm (random weights)."""

import numpy as np
import pytest

import vitzoo
from vitzoo import CheckpointError
from vitzoo.backends import available_backends, get_backend
from vitzoo.canonical import expected_shapes

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
from timm_models import randomise_  # noqa: E402

CASES = {
    "vit_ti_16": (dict(), dict()),
    "registers_layerscale_avg_fcnorm": (
        dict(reg_tokens=4, init_values=0.1, global_pool="avg", fc_norm=True, depth=2),
        dict(reg_tokens=4, layer_scale=True, global_pool="avg", fc_norm=True, depth=2),
    ),
    "no_class_token_qknorm_prenorm": (
        dict(class_token=False, global_pool="avg", qk_norm=True, pre_norm=True, depth=2, qkv_bias=False),
        dict(class_token=False, global_pool="avg", qk_norm=True, pre_norm=True, depth=2, qkv_bias=False,
             patch_bias=False, fc_norm=True),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_logits_match_timm(case):
    timm_kwargs, spec_kwargs = CASES[case]
    ref = randomise_(timm.create_model("vit_tiny_patch16_224", pretrained=False, **timm_kwargs))
    state = {k: v.numpy() for k, v in ref.state_dict().items()}
    model = get_backend("numpy").build(vitzoo.get_spec("vit_ti_16", **spec_kwargs), state)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = ref(x).numpy()
        feats = ref.forward_features(x)
        pooled = ref.forward_head(feats, pre_logits=True).numpy()
    assert np.abs(model(x.numpy()) - expected).max() <= 1e-4
    ours = model.forward_features(x.numpy())
    assert np.abs(ours - feats.numpy()).max() <= 1e-4
    assert np.abs(model.forward_head(ours, pre_logits=True) - pooled).max() <= 1e-4


def test_tanh_gelu_and_eps_are_honoured():
    spec = vitzoo.get_spec("vit_ti_16", depth=1, img_size=32, patch_size=8)
    state = get_backend("numpy").build(spec).state
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    base = get_backend("numpy").build(spec, state)(x)
    tanh = get_backend("numpy").build(spec.replace(gelu="tanh"), state)(x)
    assert 0 < np.abs(base - tanh).max() < 1e-2  # close, but not the same function


def test_random_init_is_deterministic_and_timm_like():
    spec = vitzoo.get_spec("vit_ti_16", depth=2)
    a = vitzoo.create("vit_ti_16", backend="numpy", depth=2).state
    b = vitzoo.create("vit_ti_16", backend="numpy", depth=2).state
    assert set(a) == set(expected_shapes(spec))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    w = a["blocks.0.mlp.fc1.weight"]
    assert abs(w.std() - 0.02 * 0.88) < 2e-3 and np.abs(w).max() <= 0.04 + 1e-6  # truncated at 2 std
    assert np.all(a["blocks.0.norm1.weight"] == 1) and np.all(a["head.bias"] == 0)


def test_random_init_is_the_same_on_any_thread_count(monkeypatch):
    """Blocks are drawn on a thread pool; the values depend on seed, name and shape only."""
    import vitzoo.init as init

    spec = vitzoo.get_spec("vit_ti_16", depth=2)
    monkeypatch.setattr(init, "_BLOCK", 10_000)  # many blocks per tensor, so block seams are exercised
    parallel = init.init_state(spec, seed=5)
    monkeypatch.setattr(init.os, "cpu_count", lambda: 1)
    serial = init.init_state(spec, seed=5)
    assert all(np.array_equal(parallel[k], serial[k]) for k in parallel)
    w = parallel["blocks.1.mlp.fc2.weight"]
    assert abs(w.std() - 0.02 * 0.88) < 1e-3 and np.abs(w).max() <= 0.04 + 1e-6
    assert not np.array_equal(init.init_state(spec, seed=6)["pos_embed"], parallel["pos_embed"])
    # one tensor's stream does not depend on the others: a new head leaves the blocks alone
    other = init.init_state(spec.replace(num_classes=10), seed=5)
    assert np.array_equal(other["blocks.0.attn.qkv.weight"], parallel["blocks.0.attn.qkv.weight"])


def test_bad_state_names_the_tensor():
    spec = vitzoo.get_spec("vit_ti_16", depth=1)
    state = dict(get_backend("numpy").build(spec).state)
    state.pop("blocks.0.attn.qkv.bias")
    state["blocks.0.attn.proj.weight"] = np.zeros((3, 3), np.float32)
    state["extra"] = np.zeros(1, np.float32)
    with pytest.raises(CheckpointError, match=r"missing blocks\.0\.attn\.qkv\.bias; unexpected extra; wrong shape blocks\.0\.attn\.proj\.weight \(3, 3\)"):
        get_backend("numpy").build(spec, state)


def test_reset_classifier_and_headless():
    model = vitzoo.create("vit_ti_16", backend="numpy", depth=1, img_size=32, patch_size=8)
    x = np.zeros((2, 3, 32, 32), np.float32)
    model.reset_classifier(7)
    assert model(x).shape == (2, 7) and model.spec.num_classes == 7
    model.reset_classifier(0)
    assert model(x).shape == (2, 192) and "head.weight" not in model.state


def test_backends_are_plugins():
    assert {"mindspore", "numpy"} <= set(available_backends())
    with pytest.raises(vitzoo.BackendError, match="Unknown backend 'jax'"):
        get_backend("jax")
