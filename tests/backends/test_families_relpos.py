"""timm's vision_transformer_relpos.py (and vit_base_patch16_rpn_224) against the real timm, random weights.

Each case: timm builds the architecture with two blocks, every parameter drawn at random (the bias
MLPs' weights made large, so that a wrong offset, lookup or axis shows in the logits), and saves its
state dict; vitzoo reads the file on the NumPy backend, MindSpore PyNative and ``jit=True`` and gives
timm's logits, at small image sizes (the MLP's weights fit any grid). Written back with
``format="timm"`` it loads strict in timm.
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

from family_timm import logits, rel, run  # noqa: E402
from family_timm import random_timm as _random_timm  # noqa: E402

BACKENDS = (dict(backend="numpy"), {}, dict(jit=True))


def random_timm(name: str, **kwargs):
    return _random_timm(name, scale={"rel_pos.mlp": 8.0}, **kwargs)


@pytest.mark.parametrize("name, size, extra", [
    ("vit_relpos_small_patch16_224", 48, {}),  # per-block MLP, fc_norm
    ("vit_srelpos_small_patch16_224", 32, {}),  # one shared MLP
    ("vit_relpos_medium_patch16_cls_224", 48, {}),  # class token (zero bias in its row and column), token pooling
    ("vit_relpos_medium_patch16_rpn_224", 32, {}),  # residual post-norm blocks
    ("vit_relpos_small_patch16_224", 32, dict(rel_pos_type="mlp_swin")),  # Swin-V2's coordinates and 16·sigmoid
    ("vit_base_patch16_rpn_224", 32, {}),  # vision_transformer.py's ResPostBlock
])
def test_equals_timm_on_every_backend(tmp_path, name, size, extra):
    tm = random_timm(name, num_classes=5, img_size=size, **extra)
    path = tmp_path / "model.safetensors"
    save_file(tm.state_dict(), str(path))
    x = np.random.default_rng(1).standard_normal((2, 3, size, size)).astype(np.float32)
    ref = logits(tm, x)
    for backend in BACKENDS:
        model = vitzoo.create(name, pretrained=str(path), depth=2, num_classes=5, img_size=size, **extra, **backend)
        assert rel(run(model, x), ref) <= 1e-4, (name, backend)


def test_the_bias_mlp_matters():
    """A model whose MLP output weights are scaled gives other logits: the bias, varying by offset, reaches the scores
    (a constant per head would not: the softmax ignores it)."""
    tm = random_timm("vit_relpos_small_patch16_224", num_classes=5, img_size=32)
    state = {k: v.numpy() for k, v in tm.state_dict().items()}
    x = np.random.default_rng(2).standard_normal((1, 3, 32, 32)).astype(np.float32)
    spec = get_spec("vit_relpos_small_patch16_224", depth=2, num_classes=5, img_size=32)
    a = run(vitzoo.backends.numpy.backend.build(spec, state), x)
    state["blocks.0.attn.rel_pos.mlp.fc2.weight"] = state["blocks.0.attn.rel_pos.mlp.fc2.weight"] * np.float32(3.0)
    assert rel(run(vitzoo.backends.numpy.backend.build(spec, state), x), a) > 1e-3


def test_a_relpos_file_without_a_name_reads_its_architecture_from_the_tensors(tmp_path):
    """The MLP's fc1 shows its width, fc2 the head count; a shared one is its own name; the image size is stated."""
    tm = random_timm("vit_srelpos_medium_patch16_224", num_classes=4, img_size=64)
    path = tmp_path / "srelpos.safetensors"
    save_file(tm.state_dict(), str(path))
    given = dict(norm_eps=1e-6, gelu="exact", img_size=64)
    spec = weights.read(path, variant=given).spec
    assert (spec.rel_pos_type, spec.rel_pos_dim, spec.rel_pos_shared, spec.num_heads, spec.abs_pos_embed, spec.res_post_norm) == \
        ("mlp", 512, True, 8, False, False)
    x = np.random.default_rng(3).standard_normal((1, 3, 64, 64)).astype(np.float32)
    assert rel(run(vitzoo.create(None, pretrained=str(path), backend="numpy", **given), x), logits(tm, x)) <= 1e-4


def test_a_post_norm_file_without_a_name_is_refused_unless_told(tmp_path):
    """No layer scale: the tensors fit the pre-norm and the post-norm block alike, so the reader asks."""
    from vitzoo.errors import CheckpointError

    tm = random_timm("vit_relpos_medium_patch16_rpn_224", num_classes=3, img_size=32)
    path = tmp_path / "rpn.safetensors"
    save_file(tm.state_dict(), str(path))
    given = dict(norm_eps=1e-6, gelu="exact", img_size=32)
    with pytest.raises(CheckpointError, match="res_post_norm") as info:
        weights.read(path, variant=given)
    assert "\n" not in str(info.value)
    x = np.random.default_rng(4).standard_normal((1, 3, 32, 32)).astype(np.float32)
    model = vitzoo.create(None, pretrained=str(path), backend="numpy", res_post_norm=True, **given)
    assert rel(run(model, x), logits(tm, x)) <= 1e-4


def test_a_damaged_relpos_file_is_refused_in_one_sentence(tmp_path):
    from vitzoo.errors import CheckpointError

    state = random_timm("vit_relpos_small_patch16_224", img_size=32).state_dict()
    for broken, match in (({k: v for k, v in state.items() if k != "blocks.0.attn.rel_pos.mlp.fc1.weight"}, "incomplete or damaged"),
                          ({**state, "shared_rel_pos.mlp.fc1.weight": state["blocks.0.attn.rel_pos.mlp.fc1.weight"].clone()}, "one or the other"),
                          ({**state, "blocks.0.attn.rel_pos.mlp.fc2.weight": state["blocks.0.attn.rel_pos.mlp.fc2.weight"][:, :5].contiguous()}, "do not fit")):
        path = tmp_path / "damaged.safetensors"
        save_file(broken, str(path))
        with pytest.raises(CheckpointError, match=match) as info:
            weights.read(path, variant=dict(img_size=32))
        assert "\n" not in str(info.value)


def test_intermediates_equal_timms(tmp_path):
    tm = random_timm("vit_relpos_medium_patch16_cls_224", num_classes=0, img_size=32)
    path = tmp_path / "m.safetensors"
    save_file(tm.state_dict(), str(path))
    x = np.random.default_rng(4).standard_normal((1, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        final_ref, maps_ref = tm.forward_intermediates(torch.from_numpy(x), indices=[0, 1], norm=True)
    for backend in (dict(backend="numpy"), {}):
        model = vitzoo.create("vit_relpos_medium_patch16_cls_224", pretrained=str(path), depth=2, num_classes=0, img_size=32, **backend)
        final, maps = model.forward_intermediates(x if backend else ms.Tensor(x), indices=[0, 1], norm=True)
        assert rel(np.asarray(final if backend else final.asnumpy()), final_ref.numpy()) <= 1e-4
        for a, b in zip(maps, maps_ref):
            assert rel(np.asarray(a if backend else a.asnumpy()), b.numpy()) <= 1e-4


@pytest.mark.parametrize("name", ["vit_srelpos_small_patch16_224"])
def test_timm_writer_output_loads_in_timm(tmp_path, name):
    tm = random_timm(name, num_classes=3, img_size=32)
    src = tmp_path / "src.safetensors"
    save_file(tm.state_dict(), str(src))
    out = tmp_path / "out.safetensors"
    weights.write(weights.read(src, variant=get_spec(name, depth=2, num_classes=3, img_size=32)), out, format="timm")
    back = timm.create_model(name, pretrained=False, depth=2, num_classes=3, img_size=32).eval()
    back.load_state_dict(load_file(str(out)), strict=True)
    x = np.random.default_rng(5).standard_normal((1, 3, 32, 32)).astype(np.float32)
    assert rel(logits(back, x), logits(tm, x)) <= 1e-6


def test_drop_path_rates_are_timms():
    from vitzoo.backends.mindspore.model.drop_path import set_drop_path

    ref = timm.create_model("vit_relpos_medium_patch16_rpn_224", pretrained=False, depth=3, drop_path_rate=0.1, img_size=32)
    model = vitzoo.create("vit_relpos_medium_patch16_rpn_224", img_size=32, depth=3, num_classes=2)
    rates = set_drop_path(model, 0.1)
    assert rates == pytest.approx([getattr(b.drop_path1, "drop_prob", 0.0) for b in ref.blocks])


def test_onnx_export_runs_equal_to_the_model(tmp_path):
    """The export copy takes q/k/v as slices (ONNX has no Unstack) and keeps the bias MLP; the file, run again, equals the model."""
    pytest.importorskip("onnxruntime")
    from vitzoo.backends.mindspore.deploy.export import export_model

    name = "vit_relpos_medium_patch16_cls_224"  # per-block MLPs and the class token's zero rows
    tm = random_timm(name, num_classes=4, img_size=32)
    path = tmp_path / "m.safetensors"
    save_file(tm.state_dict(), str(path))
    model = vitzoo.create(name, pretrained=str(path), depth=2, num_classes=4, img_size=32)
    summary = export_model(model, tmp_path / "relpos.onnx")  # verify=True: raises above 1e-4 of the output scale
    assert summary["output_shape"] == [1, 4] and summary["max_abs_diff"] is not None


def test_the_spec_refuses_what_timms_relpos_vit_does_not_build():
    from vitzoo.errors import SpecError

    spec = get_spec("vit_relpos_small_patch16_224")
    for bad, match in ((dict(rel_pos_dim=0), "go together"), (dict(abs_pos_embed=True), "no other positions"),
                       (dict(dynamic_img_size=True), "fixed input size"), (dict(global_pool="map"), "'token' or 'avg'"),
                       (dict(res_post_norm=True), "layer_scale=False"), (dict(rel_pos_type="bias"), "Unknown rel_pos_type")):
        with pytest.raises(SpecError, match=match):
            spec.replace(**bad)


def test_fresh_init_is_timms():
    """timm's relpos ViTs keep PyTorch's layer init (uniform ±fan_in^-0.5), layer scale 1e-6; post-norm blocks start their norms there."""
    from vitzoo.init import init_state

    state = init_state(get_spec("vit_relpos_medium_patch16_rpn_224", depth=1))
    ref = timm.create_model("vit_relpos_medium_patch16_rpn_224", pretrained=False, depth=1).state_dict()
    for name, fan_in in (("blocks.0.attn.rel_pos.mlp.fc1.weight", 2), ("blocks.0.attn.qkv.weight", 512), ("patch_embed.proj.bias", 768)):
        bound = fan_in**-0.5
        for drawn in (state[name], ref[name].numpy()):
            assert 0.9 * bound < np.abs(drawn).max() <= bound * 1.0001 and abs(drawn.std() - bound / 3**0.5) < 0.1 * bound, name
    assert np.all(state["blocks.0.norm1.weight"] == np.float32(1e-6)) and float(ref["blocks.0.norm1.weight"][0]) == pytest.approx(1e-6)
    gamma = init_state(get_spec("vit_relpos_small_patch16_224", depth=1))["blocks.0.ls1.gamma"]
    assert np.all(gamma == np.float32(1e-6))
    assert np.all(init_state(get_spec("vit_base_patch16_rpn_224", depth=1))["blocks.0.norm2.weight"] == np.float32(1e-5))


def test_a_file_runs_at_another_image_size_as_timm(tmp_path):
    """The MLP's weights fit any grid: a 32-px file at 64 px equals timm's model built for 64 px with the same weights."""
    tm = random_timm("vit_relpos_medium_patch16_cls_224", num_classes=3, img_size=32)
    path = tmp_path / "m.safetensors"
    save_file(tm.state_dict(), str(path))
    big = timm.create_model("vit_relpos_medium_patch16_cls_224", pretrained=False, depth=2, num_classes=3, img_size=64).eval()
    big.load_state_dict(tm.state_dict(), strict=True)
    x = np.random.default_rng(6).standard_normal((1, 3, 64, 64)).astype(np.float32)
    for backend in (dict(backend="numpy"), dict(jit=True)):
        model = vitzoo.create("vit_relpos_medium_patch16_cls_224", pretrained=str(path), depth=2, num_classes=3, img_size=64, **backend)
        assert rel(run(model, x), logits(big, x)) <= 1e-4
