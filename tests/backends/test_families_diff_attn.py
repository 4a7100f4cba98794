"""timm's differential attention ViTs (``vit_dwee``/``vit_dlittle``, ``attn_layer='diff'``) against the real timm, random weights.

The λ vectors are drawn large, so that λ (and each block's depth-dependent λ_init) matters in the logits.
"""

from __future__ import annotations

import mindspore as ms
import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
from safetensors.torch import load_file, save_file  # noqa: E402

import vitzoo  # noqa: E402
from vitzoo import weights  # noqa: E402
from vitzoo.variants import get_spec  # noqa: E402

from family_timm import assert_layer_decay_is_timms, logits, rel, run, save_timm  # noqa: E402
from family_timm import random_timm as _random_timm  # noqa: E402

NAME = "vit_dwee_patch16_reg1_gap_256"
SMALL = dict(embed_dim=64, num_heads=4, mlp_ratio=4.0)
OURS = dict(depth=2, embed_dim=64, num_heads=4, mlp_dim=256)


def random_timm(name: str = NAME, **kwargs):
    return _random_timm(name, scale={"lambda_": 10.0}, **{**SMALL, **kwargs})


def _x(size: int, seed: int = 1, batch: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32)


@pytest.mark.parametrize("name, size", [(NAME, 32), ("vit_dlittle_patch16_reg1_gap_256", 48)])
def test_equals_timm_on_every_backend(tmp_path, name, size):
    tm = random_timm(name, img_size=size, num_classes=5)
    path = save_timm(tm, tmp_path)
    x = _x(size)
    ref = logits(tm, x)
    for backend in (dict(backend="numpy"), {}, dict(jit=True)):
        model = vitzoo.create(name, pretrained=str(path), img_size=size, num_classes=5, **OURS, **backend)
        assert rel(run(model, x), ref) <= 1e-4, (name, backend)


def test_a_file_without_a_name_reads_differential_attention(tmp_path):
    """attn.lambda_q1 names the form and, over half a head, shows the head count."""
    tm = random_timm(img_size=32, num_classes=3)
    path = save_timm(tm, tmp_path)
    given = dict(norm_eps=1e-6, gelu="exact")
    spec = weights.read(path, variant=given).spec
    assert (spec.diff_attn, spec.num_heads, spec.block, spec.reg_tokens, spec.global_pool) == (True, 4, "vit", 1, "avg")
    x = _x(32, batch=1)
    assert rel(run(vitzoo.create(None, pretrained=str(path), backend="numpy", **given), x), logits(tm, x)) <= 1e-4


@pytest.mark.parametrize("name", [NAME, "vit_dlittle_patch16_reg1_gap_256"])
def test_the_registered_sizes_read_by_content_alone(name):
    from vitzoo.canonical import expected_shapes
    from vitzoo.weights.infer import infer_spec

    spec = get_spec(name)
    # zero-stride arrays: the full-size tensors' shapes without their memory (inference reads shapes only)
    state = {k: np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), s, (0,) * len(s)) for k, s in expected_shapes(spec).items()}
    assert infer_spec(state, "the file") == spec


def test_a_damaged_file_is_refused_in_one_sentence(tmp_path):
    from vitzoo.errors import CheckpointError

    state = {k: v for k, v in random_timm(img_size=32).state_dict().items() if "sub_norm" not in k}
    save_file(state, str(tmp_path / "bad.safetensors"))
    with pytest.raises(CheckpointError, match="damaged") as info:
        weights.read(tmp_path / "bad.safetensors")
    assert "\n" not in str(info.value)


def test_timm_writer_output_loads_in_timm(tmp_path):
    tm = random_timm(img_size=32, num_classes=3)
    src = save_timm(tm, tmp_path, "src")
    out = tmp_path / "out.safetensors"
    weights.write(weights.read(src, variant=get_spec(NAME, img_size=32, num_classes=3, **OURS)), out, format="timm")
    back = timm.create_model(NAME, pretrained=False, depth=2, img_size=32, num_classes=3, **SMALL).eval()
    back.load_state_dict(load_file(str(out)), strict=True)
    x = _x(32, batch=1)
    assert rel(logits(back, x), logits(tm, x)) <= 1e-6


def test_intermediates_equal_timms(tmp_path):
    tm = random_timm(img_size=32, num_classes=0)
    path = save_timm(tm, tmp_path)
    x = _x(32, batch=1)
    with torch.no_grad():
        final_ref, maps_ref = tm.forward_intermediates(torch.from_numpy(x), indices=[0, 1], norm=True)
    for backend in (dict(backend="numpy"), {}):
        model = vitzoo.create(NAME, pretrained=str(path), img_size=32, num_classes=0, **OURS, **backend)
        final, maps = model.forward_intermediates(x if backend else ms.Tensor(x), indices=[0, 1], norm=True)
        assert rel(np.asarray(final if backend else final.asnumpy()), final_ref.numpy()) <= 1e-4
        for a, b in zip(maps, maps_ref):
            assert rel(np.asarray(a if backend else a.asnumpy()), b.numpy()) <= 1e-4


def test_drop_path_and_layer_decay_follow_timm():
    from vitzoo.backends.mindspore.model.drop_path import set_drop_path

    ref = timm.create_model(NAME, pretrained=False, depth=3, img_size=32, num_classes=4, drop_path_rate=0.1, **SMALL)
    model = vitzoo.create(NAME, img_size=32, num_classes=4, **{**OURS, "depth": 3})
    assert set_drop_path(model, 0.1) == pytest.approx([getattr(b.drop_path1, "drop_prob", 0.0) for b in ref.blocks])
    assert_layer_decay_is_timms(ref, model)


def test_export_runs_equal_to_the_model(tmp_path):
    pytest.importorskip("onnxruntime")
    from vitzoo.backends.mindspore.deploy.export import export_model

    tm = random_timm(img_size=32, num_classes=4)
    path = save_timm(tm, tmp_path)
    model = vitzoo.create(NAME, pretrained=str(path), img_size=32, num_classes=4, **OURS)
    summary = export_model(model, tmp_path / "dwee.onnx")  # verify=True: raises above 1e-4 of the output scale
    assert summary["output_shape"] == [1, 4] and summary["max_abs_diff"] is not None


def test_fresh_init_draws_the_lambdas_as_timm():
    """timm: λ vectors Normal(0, 0.1), the sub-norm's weight ones."""
    from vitzoo.init import init_state

    state = init_state(get_spec(NAME, **{**OURS, "depth": 1}, img_size=32))
    ref = timm.create_model(NAME, pretrained=False, depth=1, img_size=32, device="meta", **SMALL)
    assert {k: tuple(v.shape) for k, v in ref.state_dict().items()} == {k: v.shape for k, v in state.items()}
    lam = np.concatenate([state[f"blocks.0.attn.lambda_{p}"] for p in ("q1", "k1", "q2", "k2")])
    assert 0.05 < lam.std() < 0.2 and float(state["blocks.0.attn.sub_norm.weight"].min()) == 1.0
