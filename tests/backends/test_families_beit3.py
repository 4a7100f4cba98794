"""BEiT-3's image towers (timm's ``beit3_*``: LayerNorms inside attention and MLP) against the real timm, random weights."""

from __future__ import annotations

import mindspore as ms
import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
from safetensors.torch import load_file  # noqa: E402

import vitzoo  # noqa: E402
from vitzoo import weights  # noqa: E402
from vitzoo.variants import get_spec  # noqa: E402

from family_timm import assert_layer_decay_is_timms, logits, random_timm, rel, run, save_timm  # noqa: E402

NAME = "beit3_base_patch16_224"
SMALL = dict(embed_dim=64, num_heads=4)
OURS = dict(depth=2, embed_dim=64, num_heads=4, mlp_dim=256)


def _x(size: int, seed: int = 1, batch: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32)


@pytest.mark.parametrize("name, size", [(NAME, 32), ("beit3_large_patch16_224", 48)])
def test_equals_timm_on_every_backend(tmp_path, name, size):
    tm = random_timm(name, img_size=size, num_classes=5, **SMALL)
    assert not isinstance(tm.blocks[0].attn.norm, torch.nn.Identity) and not isinstance(tm.blocks[0].mlp.norm, torch.nn.Identity)
    path = save_timm(tm, tmp_path)
    x = _x(size)
    ref = logits(tm, x)
    for backend in (dict(backend="numpy"), {}, dict(jit=True)):
        model = vitzoo.create(name, pretrained=str(path), img_size=size, num_classes=5, **OURS, **backend)
        assert rel(run(model, x), ref) <= 1e-4, (name, backend)


def test_a_file_without_a_name_reads_its_inner_norms(tmp_path):
    tm = random_timm(NAME, img_size=32, num_classes=3, **SMALL)
    path = save_timm(tm, tmp_path)
    given = dict(num_heads=4, norm_eps=1e-5, gelu="exact", global_pool="avg", rope="none", post_norm=False)
    spec = weights.read(path, variant=given).spec
    assert (spec.attn_norm, spec.mlp_norm, spec.fc_norm, spec.k_bias, spec.layer_scale) == (True, True, True, True, False)
    x = _x(32, batch=1)
    assert rel(run(vitzoo.create(None, pretrained=str(path), backend="numpy", **given), x), logits(tm, x)) <= 1e-4


@pytest.mark.parametrize("name", [NAME, "beit3_large_patch16_224"])
def test_the_registered_sizes_read_by_content_alone(name):
    from vitzoo.canonical import expected_shapes
    from vitzoo.weights.infer import infer_spec

    spec = get_spec(name)
    # zero-stride arrays: the full-size tensors' shapes without their memory (inference reads shapes only)
    state = {k: np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), s, (0,) * len(s)) for k, s in expected_shapes(spec).items()}
    assert infer_spec(state, "the file") == spec


def test_timm_writer_output_loads_in_timm(tmp_path):
    tm = random_timm(NAME, img_size=32, num_classes=3, **SMALL)
    src = save_timm(tm, tmp_path, "src")
    out = tmp_path / "out.safetensors"
    weights.write(weights.read(src, variant=get_spec(NAME, img_size=32, num_classes=3, **OURS)), out, format="timm")
    back = timm.create_model(NAME, pretrained=False, depth=2, img_size=32, num_classes=3, **SMALL).eval()
    back.load_state_dict(load_file(str(out)), strict=True)
    x = _x(32, batch=1)
    assert rel(logits(back, x), logits(tm, x)) <= 1e-6


def test_intermediates_equal_timms(tmp_path):
    tm = random_timm(NAME, img_size=32, num_classes=0, **SMALL)
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

    tm = random_timm(NAME, img_size=32, num_classes=4, **SMALL)
    path = save_timm(tm, tmp_path)
    model = vitzoo.create(NAME, pretrained=str(path), img_size=32, num_classes=4, **OURS)
    summary = export_model(model, tmp_path / "beit3.onnx")  # verify=True: raises above 1e-4 of the output scale
    assert summary["output_shape"] == [1, 4] and summary["max_abs_diff"] is not None


def test_fresh_init_holds_timms_tensors():
    from vitzoo.init import init_state

    state = init_state(get_spec(NAME, **OURS, img_size=32))
    ref = timm.create_model(NAME, pretrained=False, depth=2, img_size=32, device="meta", **SMALL)
    assert {k: tuple(v.shape) for k, v in ref.state_dict().items()} == {k: v.shape for k, v in state.items()}
    assert float(state["blocks.0.attn.norm.weight"].mean()) == 1.0 and float(state["blocks.0.mlp.norm.bias"].std()) == 0.0
