"""transformers BeitModel / Data2VecVisionModel folders against transformers itself, random weights.

transformers builds each model (every parameter drawn: relative position tables made large so that
a wrong lookup shows, layer scales near one) and writes it with ``save_pretrained``; vitzoo reads the
folder with no name given and its output equals ``pooler_output`` on NumPy, MindSpore and ``jit=True``.
Written back with ``format="hf"``, the folder loads in transformers with no missing or unexpected
tensor, gives the same output, and reads back bit for bit. timm's ``beitv2_*`` weights written as a
transformers folder give timm's output there, and read back the same canonical state.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import vitzoo  # noqa: E402
from vitzoo import weights  # noqa: E402
from vitzoo.errors import CheckpointError  # noqa: E402

from family_timm import random_timm, rel, run  # noqa: E402

SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=64, patch_size=16)
CASES = {
    "finetuned": ("beit", dict(use_relative_position_bias=True)),  # microsoft/beit-*-224: tables, mean pool
    "abs_cls_no_scale": ("beit", dict(use_absolute_position_embeddings=True, use_mean_pooling=False, layer_scale_init_value=0.0)),
    "both_positions": ("beit", dict(use_absolute_position_embeddings=True, use_relative_position_bias=True, hidden_act="gelu_new")),
    "data2vec": ("data2vec", dict(use_relative_position_bias=True, layer_norm_eps=1e-6)),  # Data2VecVisionModel: no pooler norm
    "data2vec_pooler": ("data2vec_pooler", dict(use_relative_position_bias=True)),
}


def random_beit(kind: str = "beit", head: bool = False, **overrides):
    from transformers import BeitConfig, BeitForImageClassification, BeitModel, Data2VecVisionConfig, Data2VecVisionModel

    torch.manual_seed(0)
    config = (BeitConfig if kind == "beit" else Data2VecVisionConfig)(**{**SMALL, **overrides})
    if head:
        config.num_labels = 5
    if head:
        model = BeitForImageClassification(config)
    elif kind == "beit":
        model = BeitModel(config)
    else:  # transformers builds Data2VecVisionModel without the pooler's norm unless told
        model = Data2VecVisionModel(config, add_pooling_layer=kind == "data2vec_pooler")
    model = model.eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(0, 0.05)
            if p.ndim == 1 and name.endswith(("weight", "lambda_1", "lambda_2")):
                p.add_(1.0)
            if "relative_position_bias_table" in name:
                p.mul_(20.0)
    return model


def pooled(model, x: np.ndarray) -> np.ndarray:
    """``pooler_output`` (logits for a classifier); the patch tokens' mean where transformers builds no pooler."""
    with torch.no_grad():
        out = model(pixel_values=torch.from_numpy(x))
    if hasattr(out, "logits"):
        return out.logits.numpy()
    return (out.pooler_output if out.pooler_output is not None else out.last_hidden_state[:, 1:].mean(1)).numpy()


def image(seed: int = 1, batch: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, 64, 64)).astype(np.float32)


@pytest.mark.parametrize("case", list(CASES))
def test_a_beit_folder_equals_transformers_on_every_backend(tmp_path, case):
    kind, overrides = CASES[case]
    ref = random_beit(kind, **overrides)
    ref.save_pretrained(tmp_path / "beit")
    spec = weights.read(tmp_path / "beit").spec
    assert (spec.rel_pos_bias == "block") == overrides.get("use_relative_position_bias", False)
    assert spec.global_pool == ("avg" if overrides.get("use_mean_pooling", True) else "token")
    assert (spec.layer_scale, spec.k_bias, spec.img_size) == (overrides.get("layer_scale_init_value", 0.1) > 0, False, 64)
    x = image()
    expected = pooled(ref, x)
    jit = [dict(jit=True)] if case in ("finetuned", "both_positions") else []  # graph compiles are slow: the table paths
    for options in [dict(backend="numpy"), {}] + jit:
        assert rel(run(vitzoo.create(None, pretrained=str(tmp_path / "beit"), **options), x), expected) <= 1e-4, (case, options)


@pytest.mark.parametrize("size", [96, 48])
def test_at_another_image_size_the_tables_are_resized_as_transformers_does(tmp_path, size):
    """transformers interpolates each table bilinearly as an image (timm spreads it geometrically): the
    folder's spec says so, and the model built for ``size`` gives transformers' output at that size."""
    ref = random_beit(use_relative_position_bias=True)
    ref.save_pretrained(tmp_path / "beit")
    assert weights.read(tmp_path / "beit").spec.rel_pos_resize == "bilinear"
    x = np.random.default_rng(7).standard_normal((2, 3, size, size)).astype(np.float32)
    expected = pooled(ref, x)
    for options in (dict(backend="numpy"), dict(jit=True) if size == 96 else {}):
        model = vitzoo.create(None, pretrained=str(tmp_path / "beit"), img_size=size, **options)
        assert rel(run(model, x), expected) <= 1e-4, options


def test_the_bilinear_table_resize_is_torch_interpolate():
    from vitzoo import rel_pos

    table = np.random.default_rng(0).standard_normal((rel_pos.table_rows(5), 3)).astype(np.float32)
    for grid in (2, 7, 12):
        planes = torch.from_numpy(table[:-3].reshape(1, 9, 9, 3)).permute(0, 3, 1, 2)
        side = 2 * grid - 1
        want = torch.nn.functional.interpolate(planes, size=(side, side), mode="bilinear").permute(0, 2, 3, 1).reshape(-1, 3).numpy()
        got = rel_pos.resize_table_bilinear(table, grid)
        np.testing.assert_allclose(got[:-3], want, rtol=0, atol=1e-5)
        np.testing.assert_array_equal(got[-3:], table[-3:])


def test_a_classifier_gives_transformers_logits_and_class_names(tmp_path):
    ref = random_beit(head=True, use_relative_position_bias=True)
    ref.config.id2label = {i: f"class {i}" for i in range(5)}
    ref.config.label2id = {f"class {i}": i for i in range(5)}
    ref.save_pretrained(tmp_path / "cls")
    ckpt = weights.read(tmp_path / "cls")
    assert (ckpt.spec.num_classes, ckpt.class_names[:2]) == (5, ["class 0", "class 1"])
    x = image(2)
    assert rel(run(vitzoo.create(None, pretrained=str(tmp_path / "cls"), backend="numpy"), x), pooled(ref, x)) <= 1e-4
    weights.write(ckpt, tmp_path / "back", format="hf")
    from transformers import BeitForImageClassification

    back, info = BeitForImageClassification.from_pretrained(tmp_path / "back", output_loading_info=True)
    assert not any(info.values()), info
    assert rel(pooled(back.eval(), x), pooled(ref, x)) <= 1e-6


@pytest.mark.parametrize("case", ["finetuned", "abs_cls_no_scale", "data2vec"])
def test_written_back_it_loads_strictly_and_round_trips_bit_for_bit(tmp_path, case):
    from transformers import AutoModel

    kind, overrides = CASES[case]
    ref = random_beit(kind, **overrides)
    ref.save_pretrained(tmp_path / "src")
    first = weights.read(tmp_path / "src")
    weights.write(first, tmp_path / "back", format="hf")
    back, info = AutoModel.from_pretrained(tmp_path / "back", output_loading_info=True)
    assert not any(info.values()), info
    assert type(back).__name__ == ("Data2VecVisionModel" if case == "data2vec" else "BeitModel")
    x = image(3, batch=1)
    assert rel(pooled(back.eval(), x), pooled(ref, x)) <= 1e-6
    again = weights.read(tmp_path / "back")
    assert again.spec == first.spec and sorted(again.state) == sorted(first.state)
    for name, value in first.state.items():
        np.testing.assert_array_equal(again.state[name], value, err_msg=name)


def test_timm_beit_weights_are_the_same_model_as_a_transformers_folder(tmp_path):
    """timm's beitv2 file, written as a BeitModel folder: transformers gives timm's pooled features, and
    reading that folder gives the canonical state read from the timm file."""
    from family_timm import save_timm
    from transformers import BeitModel

    tm = random_timm("beitv2_base_patch16_224", embed_dim=32, num_heads=2, img_size=64, num_classes=0, scale={"relative_position_bias_table": 20.0})
    timm_ckpt = weights.read(save_timm(tm, tmp_path), variant=vitzoo.get_spec("beitv2_base_patch16_224", depth=2, embed_dim=32, num_heads=2,
                                                                                mlp_dim=128, img_size=64, num_classes=0))
    weights.write(timm_ckpt, tmp_path / "hf", format="hf")
    hf = BeitModel.from_pretrained(tmp_path / "hf").eval()
    x = image(4)
    with torch.no_grad():
        expected = tm(torch.from_numpy(x)).numpy()
    assert rel(pooled(hf, x), expected) <= 1e-4
    hf_ckpt = weights.read(tmp_path / "hf")
    # the same model: only the eps (config.json's) and how transformers resizes the tables for another size differ
    assert hf_ckpt.spec.replace(norm_eps=timm_ckpt.spec.norm_eps, rel_pos_resize="geometric") == timm_ckpt.spec
    assert sorted(hf_ckpt.state) == sorted(timm_ckpt.state)
    for name, value in timm_ckpt.state.items():
        np.testing.assert_array_equal(hf_ckpt.state[name], value, err_msg=name)


def _edit_config(folder, **changes):
    path = folder / "config.json"
    cfg = json.loads(path.read_text())
    cfg.update(changes)
    path.write_text(json.dumps(cfg))


@pytest.mark.parametrize("change, message", [
    (dict(use_relative_position_bias=False), "use_relative_position_bias=false but the weights have relative position tables"),
    (dict(use_mean_pooling=False), "use_mean_pooling=false but the weights have no final layernorm"),
    (dict(layer_scale_init_value=0.0), "layer_scale_init_value 0.0 says the layers lack lambda_1/lambda_2"),
    (dict(hidden_size=48), "config.json does not match its weights: hidden_size=48"),
    (dict(image_size=[64, 80]), "is not one integer"),
    (dict(image_size=96), "gives a 6x6 patch grid, but the relative position tables have 52 rows, not 124"),
])
def test_a_config_that_disagrees_with_its_tensors_is_one_sentence(tmp_path, change, message):
    random_beit(use_relative_position_bias=True).save_pretrained(tmp_path / "b")
    _edit_config(tmp_path / "b", **change)
    with pytest.raises(CheckpointError, match=message) as info:
        weights.read(tmp_path / "b")
    assert "\n" not in str(info.value)


def test_a_shared_relative_position_table_is_refused_in_one_sentence(tmp_path):
    random_beit(use_shared_relative_position_bias=True, use_mask_token=True).save_pretrained(tmp_path / "pt")
    with pytest.raises(CheckpointError, match="one relative position table shared by all layers") as info:
        weights.read(tmp_path / "pt")
    assert "\n" not in str(info.value)
