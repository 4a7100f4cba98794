"""timm's parallel-block ViTs (``vit_pwee`` ParallelScalingBlock, ``vit_dpwee`` DiffParallelScalingBlock) against the real timm.

Random weights (λ vectors drawn large, so differential attention matters, and layer scales near one, so
every branch counts); NumPy, PyNative and ``jit=True``, read with the name and by content, written back
to timm's layout.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import vitzoo  # noqa: E402
from vitzoo import weights  # noqa: E402

from family_timm import assert_layer_decay_is_timms, logits, rel, run, save_timm  # noqa: E402
from family_timm import random_timm as _random_timm  # noqa: E402

NAMES = ["vit_pwee_patch16_reg1_gap_256", "vit_dpwee_patch16_reg1_gap_256"]
SMALL = dict(embed_dim=64, num_heads=4, mlp_ratio=4.0)
OURS = dict(depth=2, embed_dim=64, num_heads=4, mlp_dim=256)


def random_timm(name: str, **kwargs):
    return _random_timm(name, scale={"lambda_": 10.0}, **{**SMALL, **kwargs})


def _x(size: int, seed: int = 1, batch: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32)


@pytest.mark.parametrize("name", NAMES)
def test_equals_timm_on_every_backend_at_two_sizes(tmp_path, name):
    for size in (32, 48):
        tm = random_timm(name, img_size=size, num_classes=5)
        path = save_timm(tm, tmp_path, name=str(size))
        x = _x(size)
        ref = logits(tm, x)
        for backend in (dict(backend="numpy"), {}, dict(jit=True)):
            model = vitzoo.create(name, pretrained=str(path), img_size=size, num_classes=5, **OURS, **backend)
            assert rel(run(model, x), ref) <= 1e-4, (name, size, backend)


@pytest.mark.parametrize("name", NAMES)
def test_a_file_without_a_name_is_read_by_content_and_written_back_for_timm(tmp_path, name):
    tm = random_timm(name, img_size=32, num_classes=3)
    path = save_timm(tm, tmp_path)
    given = dict(norm_eps=1e-6, gelu="exact", num_heads=4)
    ckpt = weights.read(path, variant=given)
    spec = ckpt.spec
    assert (spec.block, spec.diff_attn, spec.parallel_out_fused, spec.mlp_dim, spec.reg_tokens) == (
        "parallel", "dpwee" in name, "dpwee" in name, 256, 1)
    x = _x(32, batch=1)
    assert rel(run(vitzoo.create(None, pretrained=str(path), backend="numpy", **given), x), logits(tm, x)) <= 1e-4
    weights.write(ckpt, tmp_path / "back.safetensors", format="timm")
    from safetensors.torch import load_file

    again = random_timm(name, img_size=32, num_classes=3)
    again.load_state_dict(load_file(str(tmp_path / "back.safetensors")), strict=True)
    assert rel(logits(again, x), logits(tm, x)) <= 1e-6


def test_the_block_form_refuses_what_timm_does_not_build():
    from vitzoo.errors import SpecError

    base = vitzoo.get_spec("vit_pwee_patch16_reg1_gap_256")
    with pytest.raises(SpecError, match="parallel_out_fused=True in a parallel block"):
        base.replace(diff_attn=True)
    with pytest.raises(SpecError, match="needs packed q, k, v without norms"):
        base.replace(qk_norm=True)
    with pytest.raises(SpecError, match="set block='parallel'"):
        vitzoo.get_spec("vit_small_patch16_224", parallel_out_fused=True)


def test_the_registered_models_are_timms():
    """The full-size variants build timm's tensors (names and shapes) and the same parameter count."""
    from vitzoo.init import init_state

    for name in NAMES:
        ref = timm.create_model(name, pretrained=False, device="meta")
        state = init_state(vitzoo.get_spec(name))
        assert {k: tuple(v.shape) for k, v in ref.state_dict().items()} == {k: v.shape for k, v in state.items()}, name


@pytest.mark.parametrize("name", NAMES)
def test_intermediates_equal_timms(tmp_path, name):
    import mindspore as ms

    tm = random_timm(name, img_size=32, num_classes=0)
    path = save_timm(tm, tmp_path)
    x = _x(32, batch=1)
    with torch.no_grad():
        final_ref, maps_ref = tm.forward_intermediates(torch.from_numpy(x), indices=[0, 1], norm=True)
    for backend in (dict(backend="numpy"), {}):
        model = vitzoo.create(name, pretrained=str(path), img_size=32, num_classes=0, **OURS, **backend)
        final, maps = model.forward_intermediates(x if backend else ms.Tensor(x), indices=[0, 1], norm=True)
        assert rel(np.asarray(final if backend else final.asnumpy()), final_ref.numpy()) <= 1e-4
        for a, b in zip(maps, maps_ref):
            assert rel(np.asarray(a if backend else a.asnumpy()), b.numpy()) <= 1e-4


@pytest.mark.parametrize("name", NAMES)
def test_drop_path_and_layer_decay_follow_timm(name):
    from vitzoo.backends.mindspore.model.drop_path import set_drop_path

    ref = timm.create_model(name, pretrained=False, depth=2, num_classes=4, drop_path_rate=0.1, **SMALL)
    model = vitzoo.create(name, num_classes=4, **OURS)
    assert set_drop_path(model, 0.1) == pytest.approx([getattr(b.drop_path, "drop_prob", 0.0) for b in ref.blocks])
    assert_layer_decay_is_timms(ref, model)


@pytest.mark.parametrize("name", NAMES)
def test_export_runs_equal_to_the_model(tmp_path, name):
    pytest.importorskip("onnxruntime")
    from vitzoo.backends.mindspore.deploy.export import export_model

    path = save_timm(random_timm(name, img_size=32, num_classes=4), tmp_path)
    model = vitzoo.create(name, pretrained=str(path), num_classes=4, img_size=32, **OURS)
    summary = export_model(model, tmp_path / "parallel.onnx")  # verify=True: raises above 1e-4 of the output scale
    assert summary["output_shape"] == [1, 4] and summary["max_abs_diff"] is not None
