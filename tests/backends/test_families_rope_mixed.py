"""naver's RoPE-Mixed ViTs (timm's eva.py, ``rope_type='mixed'``) against the real timm, random weights.

Every block and head has its own learned 2-D rotary frequencies (``rope.freqs``, [2, depth, heads,
head_dim / 2]); drawn large here so that a wrong block, head, axis or pair layout shows in the logits.
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

SMALL = dict(embed_dim=64, num_heads=4)
OURS = dict(depth=2, embed_dim=64, num_heads=4, mlp_dim=256)
MIXED, MIXED_APE = "vit_small_patch16_rope_mixed_224", "vit_small_patch16_rope_mixed_ape_224"


def random_timm(name: str, **kwargs):
    return _random_timm(name, scale={"rope.freqs": 20.0}, **{**SMALL, **kwargs})


def _x(size: int, seed: int = 1, batch: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32)


@pytest.mark.parametrize("name, size", [(MIXED, 48), (MIXED_APE, 32)])
def test_equals_timm_on_every_backend(tmp_path, name, size):
    tm = random_timm(name, img_size=size, num_classes=5)
    path = save_timm(tm, tmp_path)
    x = _x(size)
    ref = logits(tm, x)
    for backend in (dict(backend="numpy"), {}, dict(jit=True)):
        model = vitzoo.create(name, pretrained=str(path), img_size=size, num_classes=5, **OURS, **backend)
        assert rel(run(model, x), ref) <= 1e-4, (name, backend)


def test_other_input_sizes_with_dynamic_img_size(tmp_path):
    """The learned frequencies work on any grid: timm's dynamic_img_size, non-square inputs too."""
    tm = random_timm(MIXED, img_size=32, num_classes=3, dynamic_img_size=True)
    path = save_timm(tm, tmp_path)
    for backend in (dict(backend="numpy"), {}):
        model = vitzoo.create(MIXED, pretrained=str(path), img_size=32, num_classes=3, dynamic_img_size=True, **OURS, **backend)
        for h, w in ((48, 48), (32, 64)):
            x = np.random.default_rng(h + w).standard_normal((1, 3, h, w)).astype(np.float32)
            assert rel(run(model, x), logits(tm, x)) <= 1e-4, (backend, h, w)


def test_numpy_tables_equal_timms_embedding():
    from timm.layers.pos_embed_sincos import RotaryEmbeddingMixed

    from vitzoo import rotary

    spec = get_spec(MIXED, **OURS)
    ref = RotaryEmbeddingMixed(64, depth=2, num_heads=4, temperature=10.0, grid_indexing="xy")
    emb = ref.get_embed(shape=(3, 5)).detach().numpy()  # [depth, heads, N, 2·head_dim]: sin then cos
    cos, sin = rotary.mixed_tables(spec, ref.freqs.detach().numpy(), 3, 5, prefix=0)
    np.testing.assert_allclose(sin, emb[..., :16], atol=1e-6)
    np.testing.assert_allclose(cos, emb[..., 16:], atol=1e-6)


def test_a_file_without_a_name_reads_rope_mixed_from_its_tensors(tmp_path):
    """rope.freqs names the form and shows the head count; the rest comes from the registered RoPE ViTs."""
    tm = random_timm(MIXED_APE, img_size=32, num_classes=4)
    path = save_timm(tm, tmp_path)
    given = dict(norm_eps=1e-6, gelu="exact", global_pool="token", rope_grid_xy=True)  # no registered variant of these sizes
    spec = weights.read(path, variant=given).spec
    assert (spec.rope, spec.num_heads, spec.block, spec.pos_embed_prefix, spec.img_size) == ("mixed", 4, "eva", False, 32)
    x = _x(32, batch=1)
    assert rel(run(vitzoo.create(None, pretrained=str(path), backend="numpy", **given), x), logits(tm, x)) <= 1e-4


@pytest.mark.parametrize("name", [MIXED, MIXED_APE, "vit_large_patch16_rope_mixed_224"])
def test_a_registered_size_reads_by_content_alone(name):
    """At the real sizes nothing needs saying: the registered RoPE ViTs of these sizes agree on the rest."""
    from vitzoo.canonical import expected_shapes
    from vitzoo.weights.infer import infer_spec

    spec = get_spec(name)
    # zero-stride arrays: the full-size tensors' shapes without their memory (inference reads shapes only)
    state = {k: np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), s, (0,) * len(s)) for k, s in expected_shapes(spec).items()}
    assert infer_spec(state, "the file") == spec


def test_a_damaged_frequency_tensor_is_refused_in_one_sentence(tmp_path):
    from vitzoo.errors import CheckpointError

    state = dict(random_timm(MIXED, img_size=32).state_dict())
    state["rope.freqs"] = state["rope.freqs"][:, :1].contiguous()  # one block's frequencies for two blocks
    save_file(state, str(tmp_path / "bad.safetensors"))
    with pytest.raises(CheckpointError, match="rope.freqs") as info:
        weights.read(tmp_path / "bad.safetensors")
    assert "\n" not in str(info.value)


def test_timm_writer_output_loads_in_timm(tmp_path):
    tm = random_timm(MIXED, img_size=32, num_classes=3)
    src = save_timm(tm, tmp_path, "src")
    out = tmp_path / "out.safetensors"
    weights.write(weights.read(src, variant=get_spec(MIXED, img_size=32, num_classes=3, **OURS)), out, format="timm")
    back = timm.create_model(MIXED, pretrained=False, depth=2, img_size=32, num_classes=3, **SMALL).eval()
    back.load_state_dict(load_file(str(out)), strict=True)
    x = _x(32, batch=1)
    assert rel(logits(back, x), logits(tm, x)) <= 1e-6


def test_intermediates_equal_timms(tmp_path):
    tm = random_timm(MIXED, img_size=32, num_classes=0)
    path = save_timm(tm, tmp_path)
    x = _x(32, batch=1)
    with torch.no_grad():
        final_ref, maps_ref = tm.forward_intermediates(torch.from_numpy(x), indices=[0, 1], norm=True)
    for backend in (dict(backend="numpy"), {}):
        model = vitzoo.create(MIXED, pretrained=str(path), img_size=32, num_classes=0, **OURS, **backend)
        final, maps = model.forward_intermediates(x if backend else ms.Tensor(x), indices=[0, 1], norm=True)
        assert rel(np.asarray(final if backend else final.asnumpy()), final_ref.numpy()) <= 1e-4
        for a, b in zip(maps, maps_ref):
            assert rel(np.asarray(a if backend else a.asnumpy()), b.numpy()) <= 1e-4


def test_the_frequencies_train_and_follow_timms_layer_decay_and_drop_path():
    """rope.freqs is a weight without decay in the last (head's) layer, as timm's Eva groups it."""

    from vitzoo.backends.mindspore.model.drop_path import set_drop_path

    ref = timm.create_model(MIXED, pretrained=False, depth=3, img_size=32, num_classes=4, drop_path_rate=0.1, **SMALL)
    model = vitzoo.create(MIXED, img_size=32, num_classes=4, **{**OURS, "depth": 3})
    assert "rope.freqs" in {p.name for p in model.trainable_params()}
    assert set_drop_path(model, 0.1) == pytest.approx([getattr(b.drop_path1, "drop_prob", 0.0) for b in ref.blocks])
    assert_layer_decay_is_timms(ref, model)


def test_the_gradient_reaches_the_frequencies():
    from mindspore import ops

    model = vitzoo.create(MIXED, img_size=32, num_classes=2, **OURS)
    freqs = next(p for p in model.trainable_params() if p.name == "rope.freqs")
    grad = ms.grad(lambda x: model(x).sum(), grad_position=None, weights=[freqs])(ms.Tensor(_x(32)))
    assert float(ops.abs(grad[0]).sum()) > 0


@pytest.mark.parametrize("suffix", [".onnx", ".mindir"])
def test_export_runs_equal_to_the_model(tmp_path, suffix):
    pytest.importorskip("onnxruntime") if suffix == ".onnx" else None
    from vitzoo.backends.mindspore.deploy.export import export_model

    tm = random_timm(MIXED_APE, img_size=32, num_classes=4)
    path = save_timm(tm, tmp_path)
    model = vitzoo.create(MIXED_APE, pretrained=str(path), img_size=32, num_classes=4, **OURS)
    summary = export_model(model, tmp_path / f"mixed{suffix}")  # verify=True: raises above 1e-4 of the output scale
    assert summary["output_shape"] == [1, 4] and summary["max_abs_diff"] is not None


def test_fresh_frequencies_are_drawn_as_timms():
    """timm: per block and head one random direction; pair k's (x, y) frequency has length temperature^(-4k/head_dim)."""
    from vitzoo.init import init_state

    spec = get_spec(MIXED, **OURS)
    ours = init_state(spec)["rope.freqs"]
    theirs = timm.create_model(MIXED, pretrained=False, depth=2, **SMALL).rope.freqs.detach().numpy()
    assert ours.shape == theirs.shape == (2, 2, 4, 8)
    np.testing.assert_allclose(np.hypot(ours[0], ours[1]), np.hypot(theirs[0], theirs[1]), rtol=1e-5)
    assert not np.allclose(ours[:, 0], ours[:, 1])  # each block its own directions


def test_the_spec_refuses_what_timms_mixed_rope_does_not_have():
    from vitzoo.errors import SpecError

    for bad in (dict(rope_ref_grid=16), dict(rope_grid_offset=1.0), dict(rope_half=True)):
        with pytest.raises(SpecError, match="rope='mixed'"):
            get_spec(MIXED, **bad)
