"""MindCV's ViT .ckpt layout and vitzoo's own .ckpt, against a MindSpore model built like MindCV's.

The reference (tests/ms_reference_models.py: ``MindCVViT``) mirrors MindCV's
``VisionTransformer`` including its options that change names or semantics (q/k norms,
layer scale, no class token with average pooling and fc_norm, position embedding
without the class token, pre-norm).
"""

from __future__ import annotations

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
from mindspore import nn  # noqa: E402

import vitzoo  # noqa: E402
from ms_reference_models import MindCVViT, TutorialViT, logits, randomize  # noqa: E402
from vitzoo import weights  # noqa: E402
from vitzoo.backends import get_backend  # noqa: E402
from vitzoo.errors import BackendError, CheckpointError  # noqa: E402
from vitzoo.init import init_state  # noqa: E402
from vitzoo.spec import ViTSpec  # noqa: E402
from vitzoo.weights import ms_checkpoint  # noqa: E402
from vitzoo.weights.base import Checkpoint  # noqa: E402

BASE = dict(image_size=32, patch_size=8, in_channels=3, embed_dim=64, depth=2, num_heads=4, num_classes=10)
HINT = ViTSpec(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, mlp_dim=256, num_classes=10)
TOL = 1e-4
CASES = {
    "token": dict(),
    "qknorm_layerscale_nobias": dict(qk_norm=True, init_values=0.1, qkv_bias=False),
    "avg_no_cls_prenorm": dict(global_pool="avg", class_token=False, no_embed_class=True, pre_norm=True),
    "token_pos_without_cls": dict(no_embed_class=True),
}


def _backends() -> list[str]:
    try:
        get_backend("mindspore")
        return ["numpy", "mindspore"]
    except BackendError:
        return ["numpy"]


def run(model, x: np.ndarray, backend: str) -> np.ndarray:
    out = model(ms.Tensor(x) if backend == "mindspore" else x)
    return out.asnumpy() if hasattr(out, "asnumpy") else np.asarray(out)


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(2).standard_normal((2, 3, 32, 32)).astype(np.float32)


@pytest.fixture(scope="module", params=list(CASES))
def saved(request, tmp_path_factory, x):
    """(case, reference net, weights-only .ckpt saved by MindSpore, reference logits)."""
    net = randomize(MindCVViT(**BASE, **CASES[request.param]), seed=11)
    path = tmp_path_factory.mktemp("mindcv") / f"{request.param}.ckpt"
    ms.save_checkpoint(net, str(path))
    return request.param, net, path, logits(net, x)


@pytest.mark.parametrize("backend", _backends())
def test_logits_match_the_mindcv_reference(saved, x, backend):
    case, _, path, expected = saved
    assert weights.detect_format(path) == "mindcv"
    # MindCV's nn.LayerNorm/nn.GELU fix eps and GELU; the head count and (with a class token) the pooling are the model's
    model = vitzoo.create_from_file(path, backend=backend, num_heads=4, global_pool=CASES[case].get("global_pool", "token"))
    assert model.spec.norm_eps == 1e-7 and model.spec.gelu == "tanh"
    diff = np.abs(run(model, x, backend) - expected).max()
    print(f"mindcv layout [{case}], {backend} backend: max |dlogit| = {diff:.2e}")
    assert diff <= TOL


def test_spec_follows_the_tensors(saved):
    case, _, path, _ = saved
    spec = weights.read(path, variant=HINT).spec
    options = CASES[case]
    assert spec.qk_norm == options.get("qk_norm", False) and spec.layer_scale == bool(options.get("init_values"))
    assert spec.qkv_bias == options.get("qkv_bias", True) and spec.pre_norm == options.get("pre_norm", False)
    assert spec.patch_bias == (not options.get("pre_norm", False))
    assert spec.global_pool == options.get("global_pool", "token") and spec.fc_norm == (spec.global_pool == "avg")
    assert spec.class_token == options.get("class_token", True)
    if spec.class_token:
        assert spec.pos_embed_prefix == (not options.get("no_embed_class", False))


def test_round_trip_is_byte_exact_and_loads_back_completely(saved, tmp_path, x):
    case, net, path, expected = saved
    out = tmp_path / "back.ckpt"
    weights.write(weights.read(path, variant=HINT), out, format="mindcv")
    assert out.read_bytes() == path.read_bytes()  # same names, order, types and bytes as MindSpore's save
    fresh = MindCVViT(**BASE, **CASES[case])
    assert ms.load_param_into_net(fresh, ms.load_checkpoint(str(out))) == ([], [])
    fresh.set_train(False)
    np.testing.assert_array_equal(logits(fresh, x), expected)


def test_training_state_is_dropped(tmp_path, x):
    net = randomize(MindCVViT(**BASE), seed=12)
    opt = nn.AdamWeightDecay(net.trainable_params(), learning_rate=1e-3)
    step = nn.TrainOneStepCell(nn.WithLossCell(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True)), opt)
    step.set_train(True)
    step(ms.Tensor(x), ms.Tensor(np.array([0, 3], np.int32)))
    path = tmp_path / "train.ckpt"
    ms.save_checkpoint(step, str(path))
    ckpt = weights.read(path, variant=HINT)
    assert ckpt.dropped and all(not name.startswith(("blocks", "head", "norm")) for name in ckpt.dropped)
    assert len(ckpt.dropped) >= 2 * len(ckpt.state)  # two Adam slots per weight, plus bookkeeping
    net.set_train(False)
    model = vitzoo.create_from_file(path, backend="numpy", num_heads=4, global_pool="token")
    assert np.abs(model(x) - logits(net, x)).max() <= TOL


def test_writer_output_from_canonical_weights_runs_in_mindcv_model(tmp_path, x):
    spec = HINT.replace(norm_eps=1e-7, gelu="tanh", qk_norm=True, layer_scale=True)
    state = {k: v + np.float32(0.05) * np.random.default_rng(len(k)).standard_normal(v.shape).astype(np.float32)
             for k, v in init_state(spec, seed=6).items()}
    out = tmp_path / "from_vitzoo.ckpt"
    weights.write(Checkpoint(state=state, spec=spec), out, format="mindcv")
    ref = MindCVViT(**BASE, qk_norm=True, init_values=0.1)
    assert ms.load_param_into_net(ref, ms.load_checkpoint(str(out))) == ([], [])
    ref.set_train(False)
    assert np.abs(vitzoo.create_from_file(out, backend="numpy", num_heads=4, global_pool="token")(x) - logits(ref, x)).max() <= TOL


def test_mindcv_writer_refuses_register_tokens(tmp_path):
    spec = HINT.replace(reg_tokens=2)
    with pytest.raises(CheckpointError, match="register tokens"):
        weights.write(Checkpoint(state=init_state(spec), spec=spec), tmp_path / "r.ckpt", format="mindcv")
    assert not (tmp_path / "r.ckpt").exists()


# vitzoo's own .ckpt and telling the three layouts apart ------------------------------------------
def test_vitzoo_ckpt_keeps_the_whole_spec_and_loads_in_mindspore(tmp_path):
    spec = HINT.replace(reg_tokens=1, norm_eps=1e-6, gelu="exact", num_heads=8)
    ckpt = Checkpoint(state=init_state(spec, seed=1), spec=spec)
    out = tmp_path / "own.ckpt"
    weights.write(ckpt, out, format="vitzoo_ckpt")
    assert weights.detect_format(out) == "vitzoo_ckpt"
    back = weights.read(out)
    assert back.spec == spec and back.dropped == []
    assert all(np.array_equal(back.state[k], v) for k, v in ckpt.state.items())
    loaded = ms.load_checkpoint(str(out))
    assert ViTSpec.from_json(loaded["vitzoo_spec"]) == spec
    np.testing.assert_array_equal(loaded["blocks.1.norm2.weight"].asnumpy(), ckpt.state["blocks.1.norm2.weight"])


def test_mindspore_backend_checkpoint_is_read_as_vitzoo_ckpt(tmp_path):
    try:
        model = vitzoo.create("vit_ti_16", backend="mindspore", depth=1, img_size=32, patch_size=8)
    except BackendError:
        pytest.skip("the MindSpore backend is not available")
    out = tmp_path / "trained.ckpt"
    ms.save_checkpoint(model, str(out))
    assert weights.detect_format(out) == "vitzoo_ckpt"
    back = weights.read(out, variant=model.spec)
    assert back.spec == model.spec
    assert all(np.array_equal(back.state[k], v) for k, v in get_backend("mindspore").state_dict(model).items())


def test_token_or_average_pooling_is_not_guessed(tmp_path):
    """A class token without fc_norm: MindCV can pool either way, so the read asks."""
    path = tmp_path / "token.ckpt"
    ms.save_checkpoint(MindCVViT(**BASE), str(path))
    with pytest.raises(CheckpointError, match=r"does not say its num_heads and global_pool .*global_pool='token'"):
        weights.read(path)
    assert weights.read(path, variant={"num_heads": 4, "global_pool": "avg"}).spec.global_pool == "avg"


def test_detection_tells_the_layouts_apart(tmp_path):
    official = tmp_path / "official.ckpt"
    ms.save_checkpoint(randomize(TutorialViT(32, 3, 8, 64, 1, 4, 128, 10)), str(official))
    mindcv = tmp_path / "mindcv.ckpt"
    ms.save_checkpoint(randomize(MindCVViT(**{**BASE, "depth": 1})), str(mindcv))
    own = tmp_path / "own.ckpt"
    weights.write(Checkpoint(state=init_state(HINT), spec=HINT), own, format="vitzoo_ckpt")
    assert [weights.detect_format(p) for p in (official, mindcv, own)] == ["mindspore", "mindcv", "vitzoo_ckpt"]
    with pytest.raises(CheckpointError, match="holds no ViT weights in the MindCV layout"):
        weights.read(official, format="mindcv")
    with pytest.raises(CheckpointError, match="holds no ViT weights in the official MindSpore layout"):
        weights.read(mindcv, format="mindspore")
    assert ms_checkpoint.list_tags(tmp_path / "missing.ckpt") is None
