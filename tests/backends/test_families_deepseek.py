"""timm's deepseek_vit.py (the DeepSeek-V4 / V4.1 vision encoder) against the real timm, random weights.

Each case: timm builds the architecture reduced (two blocks, width 64, 4 heads), every parameter
drawn at random, and saves its state dict; vitzoo reads the file on the NumPy backend, MindSpore
PyNative and ``jit=True`` and gives timm's output (the classifier's logits, the ``_align``
classifier's logits over the aligner's tokens, the ``_enc`` models' aligner tokens) on a square input
whose 3 x 3 patch grid the aligner takes as it is and a non-square one whose 4 x 7 grid it pads.
Read without a name, the layout shows the form; written back with ``format="timm"`` it loads strict in timm.
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
from vitzoo.errors import CheckpointError, SpecError  # noqa: E402

from family_timm import logits, random_timm, rel, run, save_timm  # noqa: E402

SMALL = dict(embed_dim=64, num_heads=4)
OURS = dict(depth=2, embed_dim=64, num_heads=4, mlp_dim=176)  # timm's hidden width: int(64 * 2816 / 1024)
FORMS = {"deepseek_vit_412m": dict(num_classes=7), "deepseek_vit_412m_align": dict(num_classes=7, out_features=48),
         "deepseek_vit_412m_enc": dict(out_features=48)}
GIVEN = dict(num_heads=4, norm_eps=1e-6, rope_temperature=10000.0)  # what the tensors cannot show
SIZES = ((42, 42), (56, 98))  # 3x3 patches (no aligner padding), 4x7 (padded to 6x9)


def _ours(name: str) -> dict:
    kw = FORMS[name]
    return {**OURS, **({"num_classes": kw["num_classes"]} if "num_classes" in kw else {}), **({"merge_dim": 48} if "out_features" in kw else {})}


def _np(x) -> np.ndarray:  # noqa: ANN001
    return np.asarray(x if isinstance(x, np.ndarray) else x.asnumpy())


@pytest.mark.parametrize("name", list(FORMS))
def test_equals_timm_on_every_backend_and_size(tmp_path, name):
    tm = random_timm(name, **SMALL, **FORMS[name])
    path = save_timm(tm, tmp_path)
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((2, 3, h, w)).astype(np.float32) for h, w in SIZES]
    refs = [logits(tm, x) for x in inputs]
    for backend in (dict(backend="numpy"), {}, dict(jit=True)):
        model = vitzoo.create(name, pretrained=str(path), **_ours(name), **backend)
        assert model.spec.deepseek_vit and not model.spec.qwen_vit
        for x, ref in zip(inputs, refs):
            out = run(model, x)
            assert out.shape == ref.shape and rel(out, ref) <= 1e-4, (name, backend, x.shape, rel(out, ref))


def test_the_rotary_tables_are_timms_axial_rope():
    """rope='cat' with rope_half on integer patch coordinates is DeepSeek's RoPE exactly: no new rope form is needed."""
    from vitzoo import rotary
    from vitzoo.variants import get_spec

    ref = timm.create_model("deepseek_vit_412m_enc", pretrained=False, depth=1, device="meta", **SMALL, out_features=8)
    rope = type(ref.rope)(dim=16, temperature=10000.0, in_pixels=False, feat_shape=None, rotate_half=True)
    spec = get_spec("deepseek_vit_412m_enc", **OURS, merge_dim=8)
    for rows, cols in ((3, 3), (4, 7), (9, 2)):
        sin_ref, cos_ref = rope.get_embed(shape=(rows, cols)).numpy().reshape(rows * cols, 2, 16).transpose(1, 0, 2)
        cos, sin = rotary.tables(spec, rows, cols, 0)
        assert np.abs(cos - cos_ref).max() <= 1e-6 and np.abs(sin - sin_ref).max() <= 1e-6, (rows, cols)


@pytest.mark.parametrize("name", list(FORMS))
def test_a_file_without_a_name_reads_its_form_from_the_layout_and_writes_back_for_timm(tmp_path, name):
    """encoder.* without a position table (classifier) or bare names with aligner.* (_enc) show the form; fc1's width shows k."""
    tm = random_timm(name, **SMALL, **FORMS[name])
    path = save_timm(tm, tmp_path)
    spec = weights.read(path, variant=GIVEN).spec
    assert (spec.deepseek_vit, spec.rope, spec.rope_half, spec.norm_type, spec.mlp_type, spec.mlp_bias, spec.abs_pos_embed) == (
        True, "cat", True, "rms", "swiglu", False, False)
    assert (spec.merge_size, spec.merge_dim, spec.output_tokens) == ((3, 48, name.endswith("_enc")) if "out_features" in FORMS[name] else (0, 0, False))
    x = np.random.default_rng(2).standard_normal((1, 3, 56, 98)).astype(np.float32)
    assert rel(run(vitzoo.create(None, pretrained=str(path), backend="numpy", **GIVEN), x), logits(tm, x)) <= 1e-4
    out = tmp_path / "back.safetensors"
    weights.write(weights.read(path, variant=GIVEN), out, format="timm")
    back = timm.create_model(name, pretrained=False, depth=2, **SMALL, **FORMS[name]).eval()
    back.load_state_dict(load_file(str(out)), strict=True)
    assert rel(logits(back, x), logits(tm, x)) <= 1e-6


def test_what_the_tensors_cannot_show_is_refused_in_one_sentence(tmp_path):
    path = save_timm(random_timm("deepseek_vit_412m_enc", **SMALL, out_features=48), tmp_path)
    with pytest.raises(CheckpointError, match="num_heads") as info:
        weights.read(path)  # the head count, eps and RoPE base: no tensor shows them, no registered variant has width 64
    assert "\n" not in str(info.value)
    assert "rope_temperature" in str(info.value) and "norm_eps" in str(info.value)


@pytest.mark.parametrize("name", ["deepseek_vit_412m", "deepseek_vit_412m_align"])
def test_intermediates_and_features_equal_timms(tmp_path, name):
    tm = random_timm(name, **SMALL, **FORMS[name])
    path = save_timm(tm, tmp_path)
    x = np.random.default_rng(4).standard_normal((1, 3, 56, 98)).astype(np.float32)
    with torch.no_grad():
        refs = {norm: tm.forward_intermediates(torch.from_numpy(x), indices=[0, 1], norm=norm) for norm in (False, True)}
        feats_ref = tm.forward_features(torch.from_numpy(x)).numpy()
    feats_ref = feats_ref.reshape(1, -1, feats_ref.shape[-1])  # timm's (B, H, W, D) as tokens
    for backend in (dict(backend="numpy"), {}, dict(jit=True)):
        model = vitzoo.create(name, pretrained=str(path), **_ours(name), **backend)
        arg = x if backend.get("backend") else ms.Tensor(x)
        for norm, (final_ref, maps_ref) in refs.items():
            final, maps = model.forward_intermediates(arg, indices=[0, 1], norm=norm)
            final_ref = final_ref.numpy().reshape(1, -1, final_ref.shape[-1])
            assert rel(_np(final), final_ref) <= 1e-4, (backend, norm)
            assert len(maps) == 2 and all(rel(_np(a), b.numpy()) <= 1e-4 for a, b in zip(maps, maps_ref)), (backend, norm)
        assert rel(_np(model.forward_features(arg)), feats_ref) <= 1e-4, backend


@pytest.mark.parametrize("name", ["deepseek_vit_412m_align", "deepseek_vit_412m_enc"])
def test_export_runs_equal_to_the_model(tmp_path, name):
    pytest.importorskip("onnxruntime")
    from vitzoo.backends.mindspore.deploy.export import export_model

    path = save_timm(random_timm(name, **SMALL, **FORMS[name]), tmp_path)
    model = vitzoo.create(name, pretrained=str(path), **_ours(name), img_size=56)  # a 4x4 grid: the aligner pads it to 6x6
    summary = export_model(model, tmp_path / "deepseek.onnx")  # verify=True: raises above 1e-4 of the output scale
    assert summary["output_shape"] == ([1, 7] if "num_classes" in FORMS[name] else [1, 4, 48]) and summary["max_abs_diff"] is not None


@pytest.mark.parametrize("name", ["deepseek_vit_412m", "deepseek_vit_412m_align"])
def test_layer_decay_groups_and_drop_path_rates_are_timms(name):
    """timm's DeepSeek matchers: stem, one layer per block, norm, aligner and head in the last block's layer; linear drop path."""
    from timm.optim import param_groups_layer_decay

    from vitzoo.backends.mindspore.model.drop_path import set_drop_path
    from vitzoo.backends.mindspore.train.param_groups import param_groups

    ref = timm.create_model(name, pretrained=False, depth=3, drop_path_rate=0.1, **SMALL, **FORMS[name])
    model = vitzoo.create(name, **{**_ours(name), "depth": 3})
    names = {id(p): n.replace("encoder.", "") for n, p in ref.named_parameters()}
    theirs = {frozenset(names[id(p)] for p in g["params"]): (g["lr_scale"], g["weight_decay"])
              for g in param_groups_layer_decay(ref, 0.05, no_weight_decay_list=ref.no_weight_decay(), layer_decay=0.75)}
    ours = {frozenset(p.name for p in g["params"]): (g["lr_scale"], g["weight_decay"]) for g in param_groups(model, 0.05, 0.75)}
    assert ours.keys() == theirs.keys()
    for k, (scale, wd) in theirs.items():
        assert ours[k][0] == pytest.approx(scale, rel=1e-12) and ours[k][1] == wd
    assert set_drop_path(model, 0.1) == pytest.approx([getattr(b.drop_path1, "drop_prob", 0.0) for b in ref.encoder.blocks])


@pytest.mark.parametrize("name", list(FORMS))
def test_fresh_init_has_timms_names_and_shapes(name):
    """The same tensors as timm's model (the classifier's encoder.* stripped); Linears at std about 0.02 as timm's, biases zero, norms one."""
    from vitzoo.init import init_state
    from vitzoo.variants import get_spec
    from vitzoo.weights.qwen_timm import strip

    state = init_state(get_spec(name, **_ours(name)))
    ref = timm.create_model(name, pretrained=False, depth=2, **SMALL, **FORMS[name])
    assert {strip(k): tuple(v.shape) for k, v in ref.state_dict().items()} == {k: v.shape for k, v in state.items()}
    for key in ("blocks.0.attn.qkv.weight", "blocks.1.mlp.fc1.weight", *(("aligner.fc1.weight",) if "out_features" in FORMS[name] else ())):
        assert 0.015 < state[key].std() < 0.021 and np.abs(state[key]).max() <= 0.04 + 1e-6
    assert not state["blocks.0.attn.qkv.bias"].any() and (state["norm.weight"] == 1).all()


def test_every_variant_holds_the_tensors_of_timms_weight_sets():
    """Each of timm's 6 DeepSeek weight sets against the vitzoo variant for it (aligner width and default input per tag), on the meta device."""
    from timm.models import get_pretrained_cfg

    from vitzoo.canonical import expected_shapes
    from vitzoo.variants import get_spec
    from vitzoo.weights.qwen_timm import strip

    served = {"deepseek_vit_412m.deepseek_v4_1_flash": "deepseek_vit_412m", "deepseek_vit_412m.deepseek_v4_flash_vision_exp": "deepseek_vit_412m_392",
              "deepseek_vit_412m_align.deepseek_v4_1_flash": "deepseek_vit_412m_align",
              "deepseek_vit_412m_align.deepseek_v4_flash_vision_exp": "deepseek_vit_412m_align_4096",
              "deepseek_vit_412m_enc.deepseek_v4_1_flash": "deepseek_vit_412m_enc",
              "deepseek_vit_412m_enc.deepseek_v4_flash_vision_exp": "deepseek_vit_412m_enc_4096"}
    for name, variant in served.items():
        model = timm.create_model(name, pretrained=False, device="meta")
        spec = get_spec(variant)
        assert {strip(k): tuple(v.shape) for k, v in model.state_dict().items()} == expected_shapes(spec), name
        assert tuple(get_pretrained_cfg(name).to_dict()["input_size"][-2:]) == spec.input_size, name


def test_bad_specs_and_damaged_files_are_one_sentence(tmp_path):
    from vitzoo.variants import get_spec

    for bad in (dict(norm_type="layer"), dict(fc_norm_affine=True), dict(abs_pos_embed=True), dict(layer_scale=True)):
        with pytest.raises(SpecError, match="deepseek_vit=True") as info:
            get_spec("deepseek_vit_412m_align", **bad)
        assert "\n" not in str(info.value)
    state = random_timm("deepseek_vit_412m_enc", **SMALL, out_features=48).state_dict()
    for broken in ({**state, "aligner.fc1.weight": state["aligner.fc1.weight"][:, :-1]},
                   {**{f"encoder.{k}": v for k, v in state.items()}, "blocks.0.extra": state["norm.weight"]},
                   {**state, "pos_embed": torch.zeros(1, 9, 64)}):
        path = tmp_path / "damaged.safetensors"
        save_file({k: v.clone().contiguous() for k, v in broken.items()}, str(path))
        with pytest.raises(CheckpointError) as info:
            weights.read(path, variant=GIVEN)
        assert "\n" not in str(info.value)
