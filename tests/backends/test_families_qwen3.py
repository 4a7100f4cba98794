"""timm's qwen3_vit.py (Qwen3-VL / Qwen3.5 vision towers) against the real timm, random weights.

Each case: timm builds the architecture reduced (two blocks, width 64), every parameter drawn at
random, and saves its state dict; vitzoo reads the file on the NumPy backend, MindSpore PyNative and
``jit=True`` and gives timm's output (the classifier's logits, the ``_enc`` models' projected tokens)
on square and non-square inputs, the native 4×4 position grid included. Written back with
``format="timm"`` it loads strict in timm.
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
from vitzoo.errors import CheckpointError  # noqa: E402
from vitzoo.features import FeatureError  # noqa: E402

from family_timm import logits, random_timm, rel, run, save_timm  # noqa: E402

SMALL = dict(embed_dim=64, num_heads=4)
OURS = dict(depth=2, embed_dim=64, num_heads=4, mlp_dim=256)
FORMS = {"qwen3_vit_306m": dict(num_classes=7), "qwen3_vit_306m_merge": dict(num_classes=7, out_features=48),
         "qwen3_vit_306m_enc": dict(out_features=48)}
GIVEN = dict(num_heads=4, norm_eps=1e-6, gelu="tanh", rope_temperature=10000.0)  # what the tensors cannot show


def _ours(name: str) -> dict:
    kw = FORMS[name]
    return {**OURS, **({"num_classes": kw["num_classes"]} if "num_classes" in kw else {}), **({"merge_dim": 48} if "out_features" in kw else {})}


@pytest.mark.parametrize("name", list(FORMS))
def test_equals_timm_on_every_backend_and_size(tmp_path, name):
    tm = random_timm(name, **SMALL, **FORMS[name], pos_embed_grid_size=4)
    path = save_timm(tm, tmp_path)
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((2, 3, h, w)).astype(np.float32) for h, w in ((64, 64), (32, 96))]  # native 4x4 grid, resampled 2x6
    refs = [logits(tm, x) for x in inputs]
    for backend in (dict(backend="numpy"), {}, dict(jit=True)):
        model = vitzoo.create(name, pretrained=str(path), **_ours(name), **backend)
        assert model.spec.pos_embed_grid == 4
        for x, ref in list(zip(inputs, refs))[-1:] if backend.get("jit") else zip(inputs, refs):  # jit: one compile, the resampled grid
            assert run(model, x).shape == ref.shape
            assert rel(run(model, x), ref) <= 1e-4, (name, backend, x.shape)


@pytest.mark.parametrize("name", list(FORMS))
def test_a_file_without_a_name_reads_its_form_from_the_layout_and_writes_back_for_timm(tmp_path, name):
    """encoder.* (classifier) or bare names with merger.* (_enc) show the form; the projector's widths show merge_size and merge_dim."""
    tm = random_timm(name, **SMALL, **FORMS[name])
    path = save_timm(tm, tmp_path)
    spec = weights.read(path, variant=GIVEN).spec
    assert (spec.pos_embed_grid, spec.rope, spec.rope_half, spec.class_token, spec.dynamic_img_size) == (48, "cat", True, False, True)
    assert (spec.merge_size, spec.merge_dim, spec.output_tokens) == ((2, 48, name.endswith("_enc")) if "out_features" in FORMS[name] else (0, 0, False))
    x = np.random.default_rng(2).standard_normal((1, 3, 32, 64)).astype(np.float32)
    assert rel(run(vitzoo.create(None, pretrained=str(path), backend="numpy", **GIVEN), x), logits(tm, x)) <= 1e-4
    out = tmp_path / "back.safetensors"
    weights.write(weights.read(path, variant=GIVEN), out, format="timm")
    back = timm.create_model(name, pretrained=False, depth=2, **SMALL, **FORMS[name]).eval()
    back.load_state_dict(load_file(str(out)), strict=True)
    assert rel(logits(back, x), logits(tm, x)) <= 1e-6


def test_intermediates_and_features_equal_timms(tmp_path):
    tm = random_timm("qwen3_vit_306m_merge", **SMALL, **FORMS["qwen3_vit_306m_merge"])
    path = save_timm(tm, tmp_path)
    x = np.random.default_rng(4).standard_normal((1, 3, 64, 32)).astype(np.float32)
    with torch.no_grad():
        final_ref, maps_ref = tm.forward_intermediates(torch.from_numpy(x), indices=[0, 1])
        feats_ref = tm.forward_features(torch.from_numpy(x)).numpy()
    for backend in (dict(backend="numpy"), dict(jit=True)):  # the graph's outputs hold no prefix tokens (an empty list there fails)
        model = vitzoo.create("qwen3_vit_306m_merge", pretrained=str(path), **_ours("qwen3_vit_306m_merge"), **backend)
        arg = x if backend.get("backend") else ms.Tensor(x)
        final, maps = model.forward_intermediates(arg, indices=[0, 1], norm=True)  # no final norm: norm changes nothing, as timm
        assert rel(np.asarray(final if backend.get("backend") else final.asnumpy()), final_ref.numpy()) <= 1e-4
        for a, b in zip(maps, maps_ref):
            assert rel(np.asarray(a if backend.get("backend") else a.asnumpy()), b.numpy()) <= 1e-4
        feats = model.forward_features(arg)
        assert rel(np.asarray(feats if backend.get("backend") else feats.asnumpy()), feats_ref) <= 1e-4


def test_embed_gives_the_pooled_normed_features_and_block_means(tmp_path):
    from vitzoo.workflows.tasks import demo_images

    tm = random_timm("qwen3_vit_306m", **SMALL, num_classes=0)
    path = save_timm(tm, tmp_path)
    model = vitzoo.create("qwen3_vit_306m", pretrained=str(path), **OURS, num_classes=0, img_size=32)
    out = vitzoo.embed(demo_images()[:1], model, layers=[1])
    assert out["embeddings"].shape == (1, 64) and out["layers"][1].shape == (1, 64)


@pytest.mark.parametrize("suffix", [".onnx"])
def test_export_runs_equal_to_the_model(tmp_path, suffix):
    pytest.importorskip("onnxruntime")
    from vitzoo.backends.mindspore.deploy.export import export_model

    tm = random_timm("qwen3_vit_306m_merge", **SMALL, **FORMS["qwen3_vit_306m_merge"])
    path = save_timm(tm, tmp_path)
    model = vitzoo.create("qwen3_vit_306m_merge", pretrained=str(path), **_ours("qwen3_vit_306m_merge"), img_size=64)
    summary = export_model(model, tmp_path / f"qwen{suffix}")  # verify=True: raises above 1e-4 of the output scale
    assert summary["output_shape"] == [1, 7] and summary["max_abs_diff"] is not None


def test_layer_decay_groups_and_drop_path_rates_are_timms():
    """timm's Qwen3 matchers: stem, one layer per block, projector and head in the last block's layer; linear drop path."""
    from vitzoo.backends.mindspore.model.drop_path import set_drop_path
    from vitzoo.backends.mindspore.train.param_groups import param_groups
    from timm.optim import param_groups_layer_decay

    ref = timm.create_model("qwen3_vit_306m_merge", pretrained=False, depth=3, drop_path_rate=0.1, **SMALL, **FORMS["qwen3_vit_306m_merge"])
    model = vitzoo.create("qwen3_vit_306m_merge", **{**_ours("qwen3_vit_306m_merge"), "depth": 3})
    names = {id(p): n.replace("encoder.", "") for n, p in ref.named_parameters()}
    theirs = {frozenset(names[id(p)] for p in g["params"]): (g["lr_scale"], g["weight_decay"])
              for g in param_groups_layer_decay(ref, 0.05, no_weight_decay_list=ref.no_weight_decay(), layer_decay=0.75)}
    ours = {frozenset(p.name for p in g["params"]): (g["lr_scale"], g["weight_decay"]) for g in param_groups(model, 0.05, 0.75)}
    assert ours.keys() == theirs.keys()
    for k, (scale, wd) in theirs.items():
        assert ours[k][0] == pytest.approx(scale, rel=1e-12) and ours[k][1] == wd
    assert set_drop_path(model, 0.1) == pytest.approx([getattr(b.drop_path1, "drop_prob", 0.0) for b in ref.encoder.blocks])


def test_every_variant_holds_the_tensors_of_timms_weight_sets():
    """Each Qwen3 variant against timm's model of a weight set it serves (the projector width is the tag's), on the meta device.

    The 88m and 306m ones here (scripts/make_pretrained_table.py checks all 39 weight sets the same way)."""
    import json
    from importlib import resources

    from vitzoo.canonical import expected_shapes
    from vitzoo.variants import get_spec
    from vitzoo.weights.qwen_timm import strip

    rows = json.loads(resources.files("vitzoo.data").joinpath("pretrained_timm.json").read_text())["entries"]
    served = {r["name"].split(".")[0]: r["timm"] for r in rows if r["timm"].startswith("qwen3_vit")}
    assert len([r for r in rows if r["timm"].startswith("qwen3_vit")]) == 39 and len(served) == 17
    for variant, name in served.items():
        if "416m" in variant:
            continue
        spec = get_spec(variant)
        model = timm.create_model(name, pretrained=False, device="meta")
        assert {strip(k): tuple(v.shape) for k, v in model.state_dict().items()} == expected_shapes(spec), variant


def test_bad_inputs_and_damaged_files_are_one_sentence(tmp_path):
    model = vitzoo.create("qwen3_vit_88m_enc", img_size=64, depth=1)
    with pytest.raises(FeatureError, match="merge does not divide") as info:
        model(ms.Tensor(np.zeros((1, 3, 48, 64), np.float32)))  # a 3x4 patch grid
    assert "\n" not in str(info.value)
    state = random_timm("qwen3_vit_306m_enc", **SMALL, out_features=48).state_dict()
    for broken in ({**state, "merger.fc1.weight": state["merger.fc1.weight"][:-1]},
                   {**{f"encoder.{k}": v for k, v in state.items()}, "blocks.0.extra": state["pos_embed"]},
                   {**state, "pos_embed": state["pos_embed"][:, :-1]}):
        path = tmp_path / "damaged.safetensors"
        from safetensors.torch import save_file

        save_file({k: v.clone().contiguous() for k, v in broken.items()}, str(path))
        with pytest.raises(CheckpointError) as info:
            weights.read(path, variant=GIVEN)
        assert "\n" not in str(info.value)


def test_fresh_init_is_timms():
    """pos_embed and Linears drawn at std about 0.02 as timm's Qwen3VitEncoder.init_weights (vitzoo cuts at 2 std), biases zero, norms one."""
    from vitzoo.init import init_state
    from vitzoo.variants import get_spec

    state = init_state(get_spec("qwen3_vit_88m_merge", depth=1))
    ref = dict(timm.create_model("qwen3_vit_88m_merge", pretrained=False, depth=1).named_parameters())
    for name in ("pos_embed", "blocks.0.attn.qkv.weight", "merger.fc1.weight"):
        theirs = ref["encoder." + name].detach().numpy()
        assert 0.015 < state[name].std() < 0.021 and 0.015 < theirs.std() < 0.021 and np.abs(state[name]).max() <= 0.04 + 1e-6
    assert not state["merger.fc1.bias"].any() and (state["merger.norm.weight"] == 1).all()



def test_the_grid_is_naflexs_pos_embed_grid_resampled_as_timms_resample_pos_embed_grid():
    """One field, one meaning: the Qwen3 ViT's grid is NaFlex's ``pos_embed_grid`` (no ``naflex``) with bilinear,
    aligned-corner, non-antialiased resampling, through NaFlex's matrices; equal to timm's own function, shrinking too."""
    from timm.models.qwen3_vit import resample_pos_embed_grid

    from vitzoo import SpecError, naflex
    from vitzoo.variants import get_spec

    spec = get_spec("qwen3_vit_88m", pos_embed_grid=6, embed_dim=8, num_heads=2, mlp_dim=16, depth=1)
    assert spec.qwen_vit and not spec.naflex and (spec.pos_interp, spec.pos_antialias, spec.pos_align_corners) == ("bilinear", False, True)
    pos = np.random.default_rng(3).standard_normal((1, 36, 8)).astype(np.float32)
    for rows, cols in ((6, 6), (2, 9), (11, 3), (1, 4)):
        ref = resample_pos_embed_grid(torch.from_numpy(pos), 6, (rows, cols)).numpy().reshape(rows * cols, 8)
        assert np.abs(naflex.position_grid_numpy(spec, {"pos_embed": pos}, rows, cols) - ref).max() <= 1e-6, (rows, cols)
    for bad, words in ((dict(pos_interp="bicubic"), "resample_pos_embed_grid"), (dict(pos_ar_preserving=True), "naflex=True"),
                       (dict(naflex=True), "naflex=True \\(timm's NaFlexVit\\) needs")):
        with pytest.raises(SpecError, match=words) as info:
            spec.replace(**bad)
        assert "\n" not in str(info.value)
    with pytest.raises(SpecError, match="without naflex=True"):  # a plain ViT with a grid of its own size and no NaFlex
        vitzoo.ViTSpec(pos_embed_grid=16)
