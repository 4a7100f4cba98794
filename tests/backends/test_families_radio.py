"""ViTs without a final norm (timm's ``final_norm=False``: C-RADIOv3/v4, InternViT-300M) against the real timm, random weights.

timm builds each architecture with two blocks at a small width, every parameter drawn at random, and saves
its state dict; vitzoo reads the file on the NumPy backend, MindSpore PyNative and ``jit=True`` and gives
timm's outputs (the class token's features straight from the last block: no norm anywhere after it).
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

from family_timm import assert_layer_decay_is_timms, logits, random_timm, rel, run, save_timm  # noqa: E402

SMALL = dict(embed_dim=64, num_heads=2, mlp_ratio=4.0)  # so400m's own ratio would give 239
OURS = dict(depth=2, embed_dim=64, num_heads=2, mlp_dim=256)


def _x(size: int, seed: int = 1, batch: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32)


@pytest.mark.parametrize("name, size", [("vit_base_patch16_radio_v3", 64), ("vit_so400m_patch16_radio_v4", 48),
                                        ("vit_intern300m_patch14_448", 56)])
def test_equals_timm_on_every_backend(tmp_path, name, size):
    tm = random_timm(name, img_size=size, num_classes=7, **SMALL)
    path = save_timm(tm, tmp_path)
    x = _x(size)
    ref = logits(tm, x)
    for backend in (dict(backend="numpy"), {}, dict(jit=True)):
        model = vitzoo.create(name, pretrained=str(path), img_size=size, num_classes=7, **OURS, **backend)
        assert rel(run(model, x), ref) <= 1e-4, (name, backend)


def test_features_have_no_final_norm_as_timms():
    """With no classifier (the weights' own num_classes=0), the pooled output is the raw class token."""
    tm = random_timm("vit_large_patch16_radio_v3", img_size=32, **SMALL)
    assert isinstance(tm.norm, torch.nn.Identity) and isinstance(tm.fc_norm, torch.nn.Identity)
    from vitzoo.api import build_from_checkpoint

    model = build_from_checkpoint(_state_ckpt(tm, "vit_large_patch16_radio_v3", img_size=32), None, backend="numpy")
    x = _x(32)
    with torch.no_grad():
        feats = tm.forward_features(torch.from_numpy(x)).numpy()
    assert rel(model.forward_features(x), feats) <= 1e-4
    assert rel(run(model, x), logits(tm, x)) <= 1e-4


def _state_ckpt(tm, name, **changes):
    from vitzoo.weights.base import Checkpoint

    spec = get_spec(name, **{**OURS, **changes})
    return Checkpoint({k: v.numpy() for k, v in tm.state_dict().items()}, spec)


def test_intern_reads_other_input_sizes_as_timm(tmp_path):
    """InternViT-300M has timm's dynamic_img_size: one model, the position embedding resampled per input."""
    tm = random_timm("vit_intern300m_patch14_448", img_size=56, num_classes=3, **SMALL)
    path = save_timm(tm, tmp_path)
    for backend in (dict(backend="numpy"), {}):
        model = vitzoo.create("vit_intern300m_patch14_448", pretrained=str(path), img_size=56, num_classes=3, **OURS, **backend)
        for size in (42, 84):
            x = _x(size, seed=size, batch=1)
            assert rel(run(model, x), logits(tm, x)) <= 1e-4, (backend, size)


def test_a_file_without_a_name_reads_as_no_final_norm(tmp_path):
    """No norm.weight nor fc_norm.weight: final_norm=False; the registers beside a 4x4 pos_embed: outside it."""
    tm = random_timm("vit_base_patch16_radio_v3", img_size=64, num_classes=5, **SMALL)
    path = save_timm(tm, tmp_path)
    given = dict(num_heads=2, norm_eps=1e-6, gelu="exact", global_pool="token")
    spec = weights.read(path, variant=given).spec
    assert (spec.final_norm, spec.reg_tokens, spec.pos_embed_prefix, spec.img_size, spec.block) == (False, 7, False, 64, "vit")
    x = _x(64, batch=1)
    assert rel(run(vitzoo.create(None, pretrained=str(path), backend="numpy", **given), x), logits(tm, x)) <= 1e-4


def _shapes_only(spec):
    """Zero-stride arrays: the full-size tensors' shapes without their memory (inference reads shapes only)."""
    from vitzoo.canonical import expected_shapes

    return {k: np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), s, (0,) * len(s)) for k, s in expected_shapes(spec).items()}


@pytest.mark.parametrize("name", ["vit_so400m_patch16_radio_v4", "vit_base_patch16_radio_v3", "vit_intern300m_patch14_448"])
def test_a_registered_size_reads_by_content_alone(name):
    """At the real widths the shapes pick the registered variant (the head count from it), no name given."""
    from vitzoo.weights.infer import infer_spec

    spec = get_spec(name)
    assert infer_spec(_shapes_only(spec), "the file").replace(dynamic_img_size=spec.dynamic_img_size) == spec


def test_an_ambiguous_size_is_refused_not_guessed():
    """C-RADIOv3-g has SigLIP 2 giant's widths with 24 heads, not 16: the tensors cannot tell, so vitzoo asks."""
    from vitzoo.errors import CheckpointError
    from vitzoo.weights.infer import infer_spec

    with pytest.raises(CheckpointError, match="num_heads") as info:
        infer_spec(_shapes_only(get_spec("vit_giant_patch16_radio_v3")), "the file")
    assert "\n" not in str(info.value)
    assert infer_spec(_shapes_only(get_spec("vit_giant_patch16_radio_v3")), "the file", hint=dict(num_heads=24)).num_heads == 24


def test_timm_writer_output_loads_in_timm(tmp_path):
    tm = random_timm("vit_base_patch16_radio_v3", img_size=32, num_classes=3, **SMALL)
    src = save_timm(tm, tmp_path, "src")
    out = tmp_path / "out.safetensors"
    weights.write(weights.read(src, variant=get_spec("vit_base_patch16_radio_v3", img_size=32, num_classes=3, **OURS)), out, format="timm")
    back = timm.create_model("vit_base_patch16_radio_v3", pretrained=False, depth=2, img_size=32, num_classes=3, **SMALL).eval()
    back.load_state_dict(load_file(str(out)), strict=True)
    x = _x(32, batch=1)
    assert rel(logits(back, x), logits(tm, x)) <= 1e-6


def test_intermediates_equal_timms(tmp_path):
    tm = random_timm("vit_huge_patch16_radio_v4", img_size=48, num_classes=0, **SMALL)
    path = save_timm(tm, tmp_path)
    x = _x(48, batch=1)
    with torch.no_grad():
        final_ref, maps_ref = tm.forward_intermediates(torch.from_numpy(x), indices=[0, 1], norm=True)
    for backend in (dict(backend="numpy"), {}):
        model = vitzoo.create("vit_huge_patch16_radio_v4", pretrained=str(path), img_size=48, num_classes=0, **OURS, **backend)
        final, maps = model.forward_intermediates(x if backend else ms.Tensor(x), indices=[0, 1], norm=True)
        assert rel(np.asarray(final if backend else final.asnumpy()), final_ref.numpy()) <= 1e-4
        assert len(maps) == 2
        for a, b in zip(maps, maps_ref):
            assert rel(np.asarray(a if backend else a.asnumpy()), b.numpy()) <= 1e-4


def test_drop_path_and_layer_decay_follow_timm():
    from vitzoo.backends.mindspore.model.drop_path import set_drop_path

    ref = timm.create_model("vit_base_patch16_radio_v3", pretrained=False, depth=3, img_size=32, drop_path_rate=0.1, **SMALL)
    model = vitzoo.create("vit_base_patch16_radio_v3", img_size=32, **{**OURS, "depth": 3})
    assert set_drop_path(model, 0.1) == pytest.approx([b.drop_path1.drop_prob if hasattr(b.drop_path1, "drop_prob") else 0.0
                                                       for b in ref.blocks])
    assert_layer_decay_is_timms(ref, model)


@pytest.mark.parametrize("suffix", [".onnx", ".mindir"])
def test_export_runs_equal_to_the_model(tmp_path, suffix):
    pytest.importorskip("onnxruntime") if suffix == ".onnx" else None
    from vitzoo.backends.mindspore.deploy.export import export_model

    tm = random_timm("vit_base_patch16_radio_v3", img_size=32, num_classes=4, **SMALL)
    path = save_timm(tm, tmp_path)
    model = vitzoo.create("vit_base_patch16_radio_v3", pretrained=str(path), img_size=32, num_classes=4, **OURS)
    summary = export_model(model, tmp_path / f"radio{suffix}")  # verify=True: raises above 1e-4 of the output scale
    assert summary["output_shape"] == [1, 4] and summary["max_abs_diff"] is not None


def test_fresh_init_has_no_final_norm_and_timms_shapes():
    from vitzoo.init import init_state

    state = init_state(get_spec("vit_intern300m_patch14_448", depth=1))
    ref = timm.create_model("vit_intern300m_patch14_448", pretrained=False, depth=1, device="meta")
    assert {k: tuple(v.shape) for k, v in ref.state_dict().items()} == {k: v.shape for k, v in state.items()}
    assert not any(k.startswith(("norm.", "fc_norm.")) for k in state)
    assert 0 < state["cls_token"].std() < 1e-5 and state["blocks.0.ls1.gamma"].max() > 0


def test_a_damaged_file_is_refused_in_one_sentence(tmp_path):
    from vitzoo.errors import CheckpointError

    tm = random_timm("vit_base_patch16_radio_v3", img_size=32, **SMALL)
    state = {k: v for k, v in tm.state_dict().items() if not k.startswith("blocks.0.")}
    from safetensors.torch import save_file

    save_file(state, str(tmp_path / "damaged.safetensors"))
    with pytest.raises(CheckpointError, match="incomplete or damaged") as info:
        weights.read(tmp_path / "damaged.safetensors")
    assert "\n" not in str(info.value)
