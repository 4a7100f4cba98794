"""EVA-02-E's residual post-norm blocks (timm's eva.py, ``use_post_norm``) against the real timm, random weights.

``x + norm1(attn(x))`` then ``x + norm2(mlp(x))``: the same tensors as EVA's pre-norm block, so a file
alone cannot tell the two apart; vitzoo takes the form from a name, a registered variant of the file's
sizes, or the caller, and otherwise asks.
"""

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

from family_timm import assert_layer_decay_is_timms, logits, rel, run, save_timm  # noqa: E402
from family_timm import random_timm as _random_timm  # noqa: E402

NAME = "eva02_enormous_patch14_clip_224"
SMALL = dict(embed_dim=64, num_heads=4, mlp_ratio=4.0)
OURS = dict(depth=2, embed_dim=64, num_heads=4, mlp_dim=256)


def random_timm(**kwargs):
    return _random_timm(NAME, **{**SMALL, **kwargs})


def _x(size: int, seed: int = 1, batch: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32)


@pytest.mark.parametrize("size", [28, 42])
def test_equals_timm_on_every_backend(tmp_path, size):
    tm = random_timm(img_size=size, num_classes=5)
    path = save_timm(tm, tmp_path)
    x = _x(size)
    ref = logits(tm, x)
    for backend in (dict(backend="numpy"), {}, dict(jit=True)) if size == 28 else (dict(backend="numpy"), {}):
        model = vitzoo.create(NAME, pretrained=str(path), img_size=size, num_classes=5, **OURS, **backend)
        assert rel(run(model, x), ref) <= 1e-4, backend


def test_a_file_alone_cannot_say_post_norm_so_it_is_asked_for(tmp_path):
    from vitzoo.errors import CheckpointError

    tm = random_timm(img_size=28, num_classes=3)
    path = save_timm(tm, tmp_path)
    given = dict(num_heads=4, norm_eps=1e-6, gelu="exact", global_pool="token", rope="none")
    with pytest.raises(CheckpointError, match="post_norm") as info:
        weights.read(path, variant=given)
    assert "\n" not in str(info.value)
    spec = weights.read(path, variant={**given, "post_norm": True}).spec
    assert (spec.post_norm, spec.block, spec.k_bias, spec.layer_scale) == (True, "eva", False, False)
    x = _x(28, batch=1)
    model = vitzoo.create(None, pretrained=str(path), backend="numpy", post_norm=True, **given)
    assert rel(run(model, x), logits(tm, x)) <= 1e-4


def test_the_registered_size_reads_by_content_alone():
    """At EVA-02-E's real sizes the registered variant settles post_norm (and the head count)."""
    from vitzoo.canonical import expected_shapes
    from vitzoo.weights.infer import infer_spec

    spec = get_spec(NAME)
    # zero-stride arrays: the full-size tensors' shapes without their memory (inference reads shapes only)
    state = {k: np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), s, (0,) * len(s)) for k, s in expected_shapes(spec).items()}
    assert infer_spec(state, "the file") == spec


def test_timm_writer_output_loads_in_timm(tmp_path):
    tm = random_timm(img_size=28, num_classes=3)
    src = save_timm(tm, tmp_path, "src")
    out = tmp_path / "out.safetensors"
    weights.write(weights.read(src, variant=get_spec(NAME, img_size=28, num_classes=3, **OURS)), out, format="timm")
    back = timm.create_model(NAME, pretrained=False, depth=2, img_size=28, num_classes=3, **SMALL).eval()
    back.load_state_dict(load_file(str(out)), strict=True)
    x = _x(28, batch=1)
    assert rel(logits(back, x), logits(tm, x)) <= 1e-6


def test_intermediates_equal_timms(tmp_path):
    tm = random_timm(img_size=28, num_classes=0)
    path = save_timm(tm, tmp_path)
    x = _x(28, batch=1)
    with torch.no_grad():
        final_ref, maps_ref = tm.forward_intermediates(torch.from_numpy(x), indices=[0, 1], norm=True)
    for backend in (dict(backend="numpy"), {}):
        model = vitzoo.create(NAME, pretrained=str(path), img_size=28, num_classes=0, **OURS, **backend)
        final, maps = model.forward_intermediates(x if backend else ms.Tensor(x), indices=[0, 1], norm=True)
        assert rel(np.asarray(final if backend else final.asnumpy()), final_ref.numpy()) <= 1e-4
        for a, b in zip(maps, maps_ref):
            assert rel(np.asarray(a if backend else a.asnumpy()), b.numpy()) <= 1e-4


def test_drop_path_and_layer_decay_follow_timm():
    from vitzoo.backends.mindspore.model.drop_path import set_drop_path

    ref = timm.create_model(NAME, pretrained=False, depth=3, img_size=28, num_classes=4, drop_path_rate=0.1, **SMALL)
    model = vitzoo.create(NAME, img_size=28, num_classes=4, **{**OURS, "depth": 3})
    assert set_drop_path(model, 0.1) == pytest.approx([getattr(b.drop_path1, "drop_prob", 0.0) for b in ref.blocks])
    assert_layer_decay_is_timms(ref, model)


def test_export_runs_equal_to_the_model(tmp_path):
    pytest.importorskip("onnxruntime")
    from vitzoo.backends.mindspore.deploy.export import export_model

    tm = random_timm(img_size=28, num_classes=4)
    path = save_timm(tm, tmp_path)
    model = vitzoo.create(NAME, pretrained=str(path), img_size=28, num_classes=4, **OURS)
    summary = export_model(model, tmp_path / "eva_e.onnx")  # verify=True: raises above 1e-4 of the output scale
    assert summary["output_shape"] == [1, 4] and summary["max_abs_diff"] is not None


def test_fresh_init_holds_timms_tensors():
    from vitzoo.init import init_state

    state = init_state(get_spec(NAME, **OURS, img_size=28))
    ref = timm.create_model(NAME, pretrained=False, depth=2, img_size=28, device="meta", **SMALL)
    assert {k: tuple(v.shape) for k, v in ref.state_dict().items()} == {k: v.shape for k, v in state.items()}
    assert float(state["blocks.0.norm1.weight"].mean()) == 1.0 and not any("gamma" in k for k in state)


def test_the_spec_refuses_post_norm_where_timm_has_none():
    from vitzoo.errors import SpecError

    for bad, match in ((dict(layer_scale=True), "no layer scale"), (dict(block="vit", k_bias=True), "block='eva'")):
        with pytest.raises(SpecError, match=match):
            get_spec(NAME, **bad)
