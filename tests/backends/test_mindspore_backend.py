"""The MindSpore backend against the real timm (CPU torch) and the NumPy reference backend.

Weights are random and deliberately non-trivial (LayerNorm weights/biases, tokens and
layer scales perturbed), so a swapped, skipped or mis-scaled tensor shows in the logits.
"""

from __future__ import annotations

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import vitzoo  # noqa: E402
from vitzoo.backends import get_backend  # noqa: E402
from vitzoo.canonical import expected_shapes  # noqa: E402
from vitzoo.errors import CheckpointError  # noqa: E402
from vitzoo.init import init_state  # noqa: E402
from vitzoo.spec import ViTSpec  # noqa: E402

TOL = 1e-4
backend = get_backend("mindspore")
TINY = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, mlp_dim=64, num_classes=7)

# Small specs that exercise every optional part timm has.
CUSTOM = {
    "reg_ls_avg_fcnorm": ViTSpec(**TINY, reg_tokens=4, layer_scale=True, global_pool="avg", fc_norm=True),
    "qknorm_prenorm": ViTSpec(**TINY, qk_norm=True, pre_norm=True, patch_bias=False),
    "no_class_token": ViTSpec(**TINY, class_token=False, global_pool="avg", qkv_bias=False),
    "no_embed_class": ViTSpec(**TINY, reg_tokens=1, pos_embed_prefix=False),
}


# Helpers -------------------------------------------------------------------
def timm_model(spec: ViTSpec) -> "torch.nn.Module":
    """The timm model of ``spec``, with non-trivial random weights, in eval mode."""
    from timm.models.vision_transformer import VisionTransformer

    assert spec.patch_bias != spec.pre_norm, "timm ties the patch bias to pre_norm"
    model = VisionTransformer(
        img_size=spec.img_size, patch_size=spec.patch_size, in_chans=spec.in_chans, num_classes=spec.num_classes,
        global_pool=spec.global_pool, embed_dim=spec.embed_dim, depth=spec.depth, num_heads=spec.num_heads,
        mlp_ratio=spec.mlp_dim / spec.embed_dim, qkv_bias=spec.qkv_bias, qk_norm=spec.qk_norm,
        init_values=1e-5 if spec.layer_scale else None, class_token=spec.class_token,
        no_embed_class=not spec.pos_embed_prefix, reg_tokens=spec.reg_tokens, pre_norm=spec.pre_norm,
        fc_norm=spec.fc_norm,
    )
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if name.endswith("gamma") or (p.ndim == 1 and "norm" in name and name.endswith("weight")):
                p.copy_(1.0 + 0.2 * noise)  # LayerNorm weights and layer scales away from 1 / 1e-5
            elif p.ndim == 1 or name in ("cls_token", "reg_token", "pos_embed"):
                p.copy_(0.1 * noise)  # biases and tokens away from 0
            else:  # Linear/conv weights: unit-scale activations, so GELU's form or a bad scale shows
                p.copy_(noise / float(np.prod(p.shape[1:])) ** 0.5)
    return model.eval()


def canonical(model: "torch.nn.Module") -> dict[str, np.ndarray]:
    """timm's names are the canonical names: copy its tensors as float32 numpy arrays."""
    return {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}


def images(spec: ViTSpec, batch: int = 2, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, spec.in_chans, spec.img_size, spec.img_size), dtype=np.float32)


def run(fn, x: np.ndarray, *args) -> np.ndarray:
    return fn(ms.Tensor(x), *args).asnumpy()


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max())


def noisy(state: dict[str, np.ndarray], seed: int = 3) -> dict[str, np.ndarray]:
    """``state`` plus noise of unit-scale activations (weights ~ 1/sqrt(fan_in), vectors ~ 0.2)."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, v in state.items():
        noise = rng.standard_normal(v.shape, dtype=np.float32)
        scale = np.float32(0.2) if v.ndim == 1 or k in ("cls_token", "reg_token", "pos_embed") else np.float32(np.prod(v.shape[1:]) ** -0.5)
        out[k] = v + scale * noise
    return out


def small_spec(**changes) -> ViTSpec:
    return ViTSpec(**{**TINY, **changes})


# Parity with timm -------------------------------------------------------------
@pytest.fixture(scope="module", params=["vit_ti_16", "vit_s_16"])
def full_size(request):
    """A full-size timm variant with random weights, its canonical state and timm's logits."""
    spec = vitzoo.get_spec(request.param)
    model = timm_model(spec)
    x = images(spec)
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy()
    return spec, canonical(model), x, logits


@pytest.mark.parametrize("jit", [False, True], ids=["pynative", "jit"])
def test_full_size_logits_match_timm(full_size, jit):
    spec, state, x, expected = full_size
    model = backend.build(spec, state, jit=jit)
    assert max_diff(run(model, x), expected) <= TOL


@pytest.mark.parametrize("jit", [False, True], ids=["pynative", "jit"])
@pytest.mark.parametrize("case", sorted(CUSTOM))
def test_custom_specs_match_timm(case, jit):
    spec = CUSTOM[case]
    reference = timm_model(spec)
    model = backend.build(spec, canonical(reference), jit=jit)
    x = images(spec)
    with torch.no_grad():
        t = torch.from_numpy(x)
        feats = reference.forward_features(t)
        want_logits = reference(t).numpy()
        want_pooled = reference.forward_head(feats, pre_logits=True).numpy()
        want_feats = feats.numpy()
    got_feats = run(model.forward_features, x)
    assert max_diff(got_feats, want_feats) <= TOL
    assert max_diff(model.forward_head(ms.Tensor(got_feats), pre_logits=True).asnumpy(), want_pooled) <= TOL
    assert max_diff(run(model, x), want_logits) <= TOL


# Parity with the NumPy backend (what timm has no equivalent of) ----------------
@pytest.mark.parametrize("jit", [False, True], ids=["pynative", "jit"])
@pytest.mark.parametrize(
    "changes",
    [
        dict(norm_eps=1e-7, gelu="tanh"),
        dict(norm_eps=0.05),  # large enough that a norm ignoring the spec's eps shows
        dict(pre_logits_dim=24),
        dict(pre_logits_dim=24, num_classes=0, global_pool="avg"),
    ],
    ids=["eps1e-7_tanh", "eps0.05", "pre_logits", "pre_logits_no_head"],
)
def test_matches_numpy_backend(changes, jit):
    spec = small_spec(**changes)
    state = noisy(init_state(spec))
    reference = get_backend("numpy").build(spec, state)
    model = backend.build(spec, state, jit=jit)
    x = images(spec)
    assert max_diff(run(model, x), reference(x)) <= TOL
    feats = reference.forward_features(x)
    assert max_diff(run(model.forward_head, feats, True), reference.forward_head(feats, pre_logits=True)) <= TOL


def test_gelu_form_and_eps_change_the_output():
    """The tanh/1e-7 spec is really computed differently (the parity above is not vacuous)."""
    spec = small_spec()
    state = init_state(spec)
    x = images(spec)
    exact = run(backend.build(spec, state), x)
    tanh = run(backend.build(spec.replace(gelu="tanh"), state), x)
    assert max_diff(exact, tanh) > 1e-7


# Model behaviour ------------------------------------------------------------
def test_default_create_is_mindspore_in_eval_mode():
    model = vitzoo.create("vit_b_16")
    assert isinstance(model, ms.nn.Cell) and not model.training
    assert model.spec == vitzoo.get_spec("vit_b_16")
    assert sum(int(np.prod(p.shape)) for p in model.get_parameters()) == 86_567_656


def test_same_seed_same_weights_as_numpy_backend():
    spec = small_spec(reg_tokens=2, layer_scale=True)
    ms_state = backend.state_dict(backend.build(spec))
    np_state = get_backend("numpy").build(spec).state
    assert list(ms_state) == list(np_state)
    assert all(np.array_equal(ms_state[k], np_state[k]) for k in np_state)


@pytest.mark.parametrize("spec", [small_spec(pre_logits_dim=16), *CUSTOM.values()], ids=["pre_logits", *CUSTOM])
def test_parameter_names_are_canonical(spec):
    names = [p.name for p in backend.build(spec).get_parameters()]
    assert len(names) == len(set(names))
    assert set(names) == set(expected_shapes(spec))


def test_state_dict_round_trip_is_bit_exact():
    spec = CUSTOM["reg_ls_avg_fcnorm"]
    state = canonical(timm_model(spec))
    out = backend.state_dict(backend.build(spec, state))
    assert list(out) == list(expected_shapes(spec))
    for name, value in state.items():
        assert out[name].dtype == np.float32 and np.array_equal(out[name], value), name
    again = backend.state_dict(backend.build(spec, out))
    assert all(np.array_equal(again[k], out[k]) for k in out)


def test_weights_are_copied_not_aliased():
    spec = small_spec()
    state = init_state(spec)
    frozen = {k: v.copy() for k, v in state.items()}
    for v in frozen.values():
        v.flags.writeable = False  # e.g. a memory-mapped safetensors file
    model = backend.build(spec, frozen)
    state_out = backend.state_dict(model)
    state_out["pos_embed"][...] = 5.0
    assert np.array_equal(backend.state_dict(model)["pos_embed"], state["pos_embed"])


@pytest.mark.parametrize("jit", [False, True], ids=["pynative", "jit"])
def test_reset_classifier(jit):
    spec = small_spec(global_pool="avg", fc_norm=True)
    model = backend.build(spec, jit=jit)
    x = images(spec)
    assert run(model, x).shape == (2, 7)
    model.reset_classifier(3)
    assert model.spec.num_classes == 3 and run(model, x).shape == (2, 3)
    assert set(p.name for p in model.get_parameters()) == set(expected_shapes(model.spec))
    assert np.array_equal(backend.state_dict(model)["head.bias"], np.zeros(3, np.float32))
    model.reset_classifier(0)
    assert model.spec.num_classes == 0
    assert not any(p.name.startswith("head.") for p in model.get_parameters())
    pooled = run(model, x)
    assert pooled.shape == (2, spec.embed_dim)
    assert max_diff(pooled, run(model.forward_head, run(model.forward_features, x), True)) == 0.0


def test_no_head_returns_pooled_features():
    reference = timm_model(small_spec(num_classes=0))
    model = backend.build(small_spec(num_classes=0), canonical(reference))
    x = images(model.spec)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    assert expected.shape == (2, 32) and max_diff(run(model, x), expected) <= TOL


@pytest.mark.parametrize("jit", [False, True], ids=["pynative", "jit"])
def test_gradients_match_timm(jit):
    """construct is differentiable (PyNative, and inside a compiled train step): grads equal timm's."""
    spec = CUSTOM["reg_ls_avg_fcnorm"]
    reference = timm_model(spec)
    model = backend.build(spec, canonical(reference))
    x = images(spec)
    weights = np.random.default_rng(5).standard_normal((2, spec.num_classes), dtype=np.float32)
    (reference(torch.from_numpy(x)) * torch.from_numpy(weights)).sum().backward()
    want = {k: p.grad.numpy() for k, p in reference.named_parameters()}

    params = model.trainable_params()
    w = ms.Tensor(weights)

    def loss_fn(inputs):
        return (model(inputs) * w).sum()

    grad_fn = ms.value_and_grad(loss_fn, None, params)
    step = ms.jit(grad_fn) if jit else grad_fn
    _, grads = step(ms.Tensor(x))
    got = {p.name: g.asnumpy() for p, g in zip(params, grads)}
    assert set(got) == set(want)
    for name in want:
        scale = max(1.0, float(np.abs(want[name]).max()))
        assert max_diff(got[name], want[name]) <= TOL * scale, name


def test_compiled_model_sees_new_weights():
    """Weights replaced after the first compiled call are used (MindSpore alone would keep the old ones)."""
    spec = small_spec()
    state = noisy(init_state(spec))
    model, eager = backend.build(spec, state, jit=True), backend.build(spec, state)
    x = images(spec)
    feats = run(model.forward_features, x)
    previous = run(model, x)
    for how, value in (("set_data", 0.05), ("load_param_into_net", -0.03), ("in_place", 0.02)):
        new = ms.Tensor(np.full((7, 32), value, np.float32))
        for m in (model, eager):
            if how == "set_data":
                m.head.weight.set_data(new)
            elif how == "load_param_into_net":
                assert ms.load_param_into_net(m, {"head.weight": ms.Parameter(new, name="head.weight")})[1] == []
            else:  # what an optimizer step does
                ms.ops.assign(m.head.weight, new)
        logits = run(model, x)
        assert max_diff(logits, previous) > 1e-3 and max_diff(logits, run(eager, x)) <= TOL, how
        previous = logits
    assert max_diff(run(model.forward_features, x), feats) == 0.0
    assert ms.get_context("mode") == ms.PYNATIVE_MODE  # jit never switched the global context


# Bad weights ----------------------------------------------------------------
@pytest.mark.parametrize(
    "damage, named",
    [
        (lambda s: s.pop("blocks.1.mlp.fc2.bias"), "blocks.1.mlp.fc2.bias"),
        (lambda s: s.update({"blocks.0.attn.extra": np.zeros(3, np.float32)}), "blocks.0.attn.extra"),
        (lambda s: s.update({"pos_embed": np.zeros((1, 5, 32), np.float32)}), "pos_embed"),
        (lambda s: s.update({"head.weight": s["head.weight"].astype(np.float64)}), "head.weight"),
    ],
    ids=["missing", "unexpected", "wrong_shape", "wrong_dtype"],
)
def test_bad_state_raises_checkpoint_error_naming_the_tensor(damage, named):
    spec = small_spec()
    state = init_state(spec)
    damage(state)
    with pytest.raises(CheckpointError, match=named.replace(".", r"\.")):
        backend.build(spec, state)


def test_state_dict_rejects_foreign_models():
    with pytest.raises(vitzoo.VitzooError, match="MindSpore backend"):
        backend.state_dict(get_backend("numpy").build(small_spec()))
