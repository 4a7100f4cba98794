"""timm's naflexvit.py (NaFlex ViT, SigLIP 2 NaFlex, C-RADIO) against the real timm, random weights.

Each case: timm builds the architecture reduced to two blocks of width 64, every parameter drawn at
random, and saves its state dict (``embeds.*`` names); vitzoo reads the file by timm's name on the
NumPy backend, MindSpore PyNative and ``jit=True`` and gives timm's output for NCHW images of
several sizes (the native 16 × 16 grid, non-square 160 × 256, a grid smaller than the learned one)
and for NaFlex dictionaries of images of different sizes padded to one length.
"""

from __future__ import annotations

import json

import mindspore as ms
import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
from safetensors.torch import load_file  # noqa: E402

import vitzoo  # noqa: E402
from vitzoo import naflex, weights  # noqa: E402
from vitzoo.canonical import expected_shapes  # noqa: E402
from vitzoo.errors import CheckpointError  # noqa: E402
from vitzoo.features import FeatureError  # noqa: E402
from vitzoo.variants import get_spec  # noqa: E402
from vitzoo.weights.naflex_names import from_canonical  # noqa: E402

from family_timm import rel, save_timm  # noqa: E402
from family_timm import random_timm as _random_timm  # noqa: E402

NAMES = ["naflexvit_base_patch16_gap", "naflexvit_base_patch16_par_gap", "naflexvit_base_patch16_parfac_gap", "naflexvit_base_patch16_siglip",
         "naflexvit_so400m_patch16_siglip", "naflexvit_base_patch16_radio_v3", "naflexvit_large_patch16_radio_v3",
         "naflexvit_huge_patch16_radio_v3", "naflexvit_giant_patch16_radio_v3", "naflexvit_so400m_patch16_radio_v4", "naflexvit_huge_patch16_radio_v4"]
SMALL = dict(embed_dim=64, num_heads=4)
RUNS = [dict(backend="numpy"), {}, dict(jit=True)]
# one of each position-grid kind: bilinear antialiased + MAP; bicubic + aspect-preserving factorized tables + avg;
# C-RADIO's 128-grid, bilinear without antialias, corners aligned, class token and registers
KINDS = ["naflexvit_base_patch16_siglip", "naflexvit_base_patch16_parfac_gap", "naflexvit_base_patch16_radio_v3"]


def random_timm(name):
    return _random_timm(name, **SMALL)


def vitzoo_model(name, path, tm, **run):
    return vitzoo.create(name, pretrained=str(path), depth=2, **SMALL, mlp_dim=tm.blocks[0].mlp.fc1.out_features, **run)


def out(model, x):
    if isinstance(model, vitzoo.backends.numpy.NumpyViT):
        return model(x)
    y = model(x if isinstance(x, dict) else ms.Tensor(x))
    return y.asnumpy()


def mixed_batch(seq_len=260):
    """Four images of different aspect ratios (3×5, 7×2, 16×16 and 1×1 patches), padded to ``seq_len``."""
    rng = np.random.default_rng(2)
    images = [rng.standard_normal((3, 16 * h, 16 * w)).astype(np.float32) for h, w in ((3, 5), (7, 2), (16, 16), (1, 1))]
    return naflex.patchify(images, 16, seq_len=seq_len)


def timm_out(tm, x):
    with torch.no_grad():
        if isinstance(x, dict):
            return tm({k: torch.from_numpy(v) for k, v in x.items()}).numpy()
        return tm(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("name", NAMES)
def test_variant_is_timms_architecture(name):
    """The tensors (timm's names and shapes) and every setting of timm's position grid, pooling and tokens."""
    spec = get_spec(name)
    tm = timm.create_model(name, pretrained=False, device="meta", num_classes=spec.num_classes)
    shapes = {k: np.zeros(s, np.float32) for k, s in expected_shapes(spec).items()}
    assert {k: tuple(v.shape) for k, v in tm.state_dict().items()} == {k: v.shape for k, v in from_canonical(shapes, spec).items()}
    e = tm.embeds
    assert (e.pos_embed_interp_mode, e.pos_embed_antialias, e.pos_embed_align_corners, e.pos_embed_ar_preserving, e.pos_embed_type) == (
        spec.pos_interp, spec.pos_antialias, spec.pos_align_corners, spec.pos_ar_preserving, "factorized" if spec.pos_factorized else "learned")
    assert e.pos_embed_grid_size == (spec.pos_grid, spec.pos_grid) and not e.pos_embed_use_grid_sample and e.channels_last
    assert (tm.global_pool, tm.num_prefix_tokens, tm.has_class_token, tm.pool_include_prefix) == (
        spec.global_pool, spec.num_prefix_tokens, spec.class_token, spec.pool_include_prefix)
    assert type(tm.blocks[0].mlp.act).__name__ == {"exact": "GELU", "tanh": "GELUTanh"}[spec.gelu]
    assert spec.final_norm == (type(tm.norm).__name__ != "Identity" or type(tm.fc_norm).__name__ != "Identity")
    assert timm.models.get_pretrained_cfg(timm.list_pretrained(name + ".*")[0]).input_size[-1] == spec.img_size


@pytest.mark.parametrize("name", KINDS)
def test_images_of_any_size_equal_timm_on_every_backend(tmp_path, name):
    tm = random_timm(name)
    path = save_timm(tm, tmp_path)
    sizes = [(256, 256), (160, 256), (48, 96)]
    xs = [np.random.default_rng(i).standard_normal((2, 3, *hw)).astype(np.float32) for i, hw in enumerate(sizes)]
    refs = [timm_out(tm, x) for x in xs]
    for run in RUNS:
        model = vitzoo_model(name, path, tm, **run)
        for hw, x, ref in zip(sizes, xs, refs):
            assert rel(out(model, x), ref) <= 1e-4, (name, run, hw)


@pytest.mark.parametrize("name", KINDS)
def test_naflex_batches_equal_timm_on_every_backend(tmp_path, name):
    """Images of four sizes padded to 260 patches: per-image grids, masked attention, masked pooling."""
    tm = random_timm(name)
    path = save_timm(tm, tmp_path)
    batch = mixed_batch()
    ref = timm_out(tm, batch)
    with torch.no_grad():
        tokens = tm.forward_features(**{k: torch.from_numpy(v) for k, v in batch.items()})["patches"].numpy()
    for run in RUNS:
        model = vitzoo_model(name, path, tm, **run)
        assert rel(out(model, batch), ref) <= 1e-4, (name, run)
        feats = model.forward_features(batch)
        got = feats["patches"] if "backend" in run else feats["patches"].asnumpy()
        assert rel(got, tokens) <= 1e-4, (name, run)  # the padding's tokens too, as timm computes them
        head = model.forward_head(feats["patches"], patch_valid=feats["patch_valid"])
        assert rel(np.asarray(head if "backend" in run else head.asnumpy()), ref) <= 1e-4


def test_naflex_inputs_in_each_form_give_the_same_output(tmp_path):
    """timm's dict (NumPy, MindSpore or torch tensors), keyword tensors, transformers' keys, and each image alone."""
    name = "naflexvit_base_patch16_siglip"
    tm = random_timm(name)
    model = vitzoo_model(name, save_timm(tm, tmp_path), tm)
    batch = mixed_batch()
    ref = timm_out(tm, batch)
    forms = [{k: ms.Tensor(v) for k, v in batch.items()}, {k: torch.from_numpy(v) for k, v in batch.items()}, {**batch, "seq_len": 260}]
    for form in forms:
        assert rel(model(form).asnumpy(), ref) <= 1e-4
    assert rel(model(ms.Tensor(batch["patches"]), patch_coord=batch["patch_coord"], patch_valid=batch["patch_valid"]).asnumpy(), ref) <= 1e-4
    shapes = np.array([[3, 5], [7, 2], [16, 16], [1, 1]])
    hf = {"pixel_values": batch["patches"], "pixel_attention_mask": batch["patch_valid"].astype(np.int64), "spatial_shapes": shapes}
    assert rel(model(hf).asnumpy(), ref) <= 1e-4
    alone = naflex.patchify([batch["patches"][0, :15].reshape(3, 5, 16, 16, 3).transpose(4, 0, 2, 1, 3).reshape(3, 48, 80)], 16)
    assert rel(model(alone).asnumpy()[0], ref[0]) <= 1e-4  # padding changes nothing for the real patches


def test_patchify_equals_timms_patchify_and_collator():
    from timm.data.naflex_dataset import NaFlexCollator
    from timm.data.naflex_transforms import Patchify

    rng = np.random.default_rng(3)
    images = [rng.standard_normal((3, 16 * h, 16 * w)).astype(np.float32) for h, w in ((2, 3), (4, 1))]
    ref, _ = NaFlexCollator(max_seq_len=9)([(Patchify(16)(torch.from_numpy(img)), 0) for img in images])
    ours = naflex.patchify(images, 16, seq_len=9)
    for key in naflex._TIMM_KEYS:
        np.testing.assert_array_equal(ours[key], ref[key].numpy())


def test_timm_writer_output_loads_in_timm_and_round_trips(tmp_path):
    name = "naflexvit_base_patch16_parfac_gap"
    tm = random_timm(name)
    src = save_timm(tm, tmp_path, "src")
    ckpt = weights.read(src, variant=get_spec(name, depth=2, **SMALL, mlp_dim=256))
    assert ckpt.spec.naflex and ckpt.spec.pos_factorized and ckpt.spec.pos_grid == 16
    out_path = tmp_path / "out.safetensors"
    weights.write(ckpt, out_path, format="timm")
    back = timm.create_model(name, pretrained=False, depth=2, **SMALL).eval()
    back.load_state_dict(load_file(str(out_path)), strict=True)
    for k, v in load_file(str(src)).items():
        assert torch.equal(back.state_dict()[k], v), k  # bit for bit
    canonical = tmp_path / "canonical.safetensors"
    vitzoo.save(vitzoo.create(name, pretrained=str(src), backend="numpy", depth=2, **SMALL, mlp_dim=256), canonical)
    x = np.random.default_rng(4).standard_normal((1, 3, 64, 112)).astype(np.float32)
    assert rel(vitzoo.create_from_file(canonical, backend="numpy")(x), timm_out(tm, x)) <= 1e-4


def test_a_nameless_naflex_file_is_refused_until_its_grid_settings_are_given(tmp_path):
    """Tensors cannot show the grid's resampling (gap and par_gap hold the same tensors); timm's config.json can."""
    name = "naflexvit_base_patch16_par_gap"
    tm = random_timm(name)
    path = save_timm(tm, tmp_path)
    with pytest.raises(CheckpointError, match="pos_ar_preserving") as err:
        weights.read(path, variant=dict(num_heads=4))
    assert "\n" not in str(err.value)
    (tmp_path / "config.json").write_text(json.dumps({"architecture": name, "num_classes": 1000, "model_args": {"num_heads": 4}, "pretrained_cfg": {"input_size": [3, 384, 384]}}))
    spec = weights.read(path).spec
    assert (spec.naflex, spec.pos_ar_preserving, spec.pos_interp, spec.img_size, spec.num_heads) == (True, True, "bicubic", 384, 4)
    x = np.random.default_rng(5).standard_normal((1, 3, 160, 256)).astype(np.float32)
    assert rel(vitzoo.create_from_file(path, backend="numpy")(x), timm_out(tm, x)) <= 1e-4


def test_img_size_only_changes_the_default_input(tmp_path):
    """The grid has its own size: img_size (timm's eval size) never resamples the stored grid."""
    name = "naflexvit_base_patch16_siglip"
    tm = random_timm(name)
    path = save_timm(tm, tmp_path)
    model = vitzoo.create(name, pretrained=str(path), backend="numpy", depth=2, **SMALL, mlp_dim=256, img_size=224)
    np.testing.assert_array_equal(model.state["pos_embed"], tm.embeds.pos_embed.detach().numpy().reshape(1, 256, 64))
    assert model.spec.img_size == 224 and model.spec.dynamic_img_size


def test_bad_naflex_inputs_are_one_sentence_errors():
    model = vitzoo.create("naflexvit_base_patch16_siglip", backend="numpy", depth=1, **SMALL, mlp_dim=128)
    batch = mixed_batch(20 * 20)
    bad = [
        {"patches": batch["patches"], "patch_coord": batch["patch_coord"]},
        {**batch, "patches": batch["patches"][..., :100]},
        {**batch, "patch_coord": batch["patch_coord"].astype(np.float32)},
        {**batch, "patch_valid": batch["patch_valid"][:, :5]},
        {"pixel_values": batch["patches"], "pixel_attention_mask": batch["patch_valid"], "spatial_shapes": np.array([[30, 30]] * 4)},
    ]
    for x in bad:
        with pytest.raises(naflex.NaFlexInputError) as err:
            model(x)
        assert "\n" not in str(err.value) and str(err.value).endswith(".")
    with pytest.raises(naflex.NaFlexInputError, match="patch_coord"):
        model(batch["patches"], patch_coord=batch["patch_coord"])
    with pytest.raises(FeatureError, match="multiple of the patch size"):
        model(np.zeros((1, 3, 40, 32), np.float32))
