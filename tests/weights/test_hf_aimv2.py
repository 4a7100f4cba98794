"""transformers Aimv2VisionModel folders (and an Aimv2Model's image tower) against transformers itself, random weights.

transformers builds each model (every parameter drawn, norms near one) and writes it with
``save_pretrained``; vitzoo reads the folder with no name given and its output equals ``pooler_output``
(the attention pooling head, ``use_head``) or, where transformers builds no head, the tokens' mean
(timm's AIMv2 pooling) on NumPy, MindSpore and ``jit=True``, and after export to ONNX and MindIR.
Written back with ``format="hf"``, the folder loads in transformers with no missing or unexpected tensor,
gives the same output and reads back bit for bit. timm's ``aimv2_*`` weights written as a transformers
folder give timm's output there and read back the same canonical state.
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

SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48, image_size=56, patch_size=14)
CASES = {
    "head": {},  # apple/aimv2-*-224: the attention pooling head, no biases
    "biases": dict(qkv_bias=True, mlp_bias=True, rms_norm_eps=1e-6),
    "no_head": dict(use_head=False),
    "native": dict(is_native=True),  # apple/aimv2-*-native: sin-cos positions of each input's grid, any image size
}


def _draw(model):
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(0, 0.1)
            if p.ndim == 1 and name.endswith("weight"):
                p.add_(1.0)
    return model.eval()


def random_aimv2(**overrides):
    from transformers import Aimv2VisionConfig, Aimv2VisionModel

    torch.manual_seed(0)
    return _draw(Aimv2VisionModel(Aimv2VisionConfig(**{**SMALL, **overrides})))


def pooled(model, x: np.ndarray) -> np.ndarray:
    """``pooler_output``; the tokens' mean where transformers builds no head."""
    with torch.no_grad():
        out = model(pixel_values=torch.from_numpy(x))
    return (out.pooler_output if out.pooler_output is not None else out.last_hidden_state.mean(1)).numpy()


def image(seed: int = 1, batch: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, 56, 56)).astype(np.float32)


@pytest.mark.parametrize("case", list(CASES))
def test_an_aimv2_folder_equals_transformers_on_every_backend(tmp_path, case):
    ref = random_aimv2(**CASES[case])
    ref.save_pretrained(tmp_path / "aimv2")
    spec = weights.read(tmp_path / "aimv2").spec
    assert (spec.norm_type, spec.patch_norm, spec.class_token, spec.mlp_type) == ("rms", True, False, "swiglu_split")
    assert spec.global_pool == ("avg" if case == "no_head" else "query")
    assert (spec.qkv_bias, spec.proj_bias, spec.mlp_bias) == (case == "biases",) * 3
    assert (spec.sincos_pos, spec.abs_pos_embed, spec.dynamic_img_size) == ((True, False, True) if case == "native" else (False, True, False))
    jit = [dict(jit=True)] if case in ("head", "native") else []  # graph compiles are slow: the head and the sin-cos paths
    models = [vitzoo.create(None, pretrained=str(tmp_path / "aimv2"), **options) for options in [dict(backend="numpy"), {}] + jit]
    for h, w in ((56, 56), (42, 84)) if case == "native" else ((56, 56),):
        x = np.random.default_rng(1).standard_normal((2, 3, h, w)).astype(np.float32)
        expected = pooled(ref, x)
        for model in models:
            assert rel(run(model, x), expected) <= 1e-4, (case, h, w, model)


@pytest.mark.parametrize("suffix, case", [(".mindir", "biases"), (".onnx", "native")])
def test_the_attention_pooling_head_exports(tmp_path, suffix, case):
    pytest.importorskip("onnxruntime")
    from vitzoo.backends.mindspore.deploy.export import export_model, run_exported

    ref = random_aimv2(**CASES[case])
    ref.save_pretrained(tmp_path / "aimv2")
    export_model(vitzoo.create(None, pretrained=str(tmp_path / "aimv2")), tmp_path / f"model{suffix}", batch_size=2)
    x = image(5)
    assert rel(run_exported(tmp_path / f"model{suffix}", x), pooled(ref, x)) <= 1e-4


@pytest.mark.parametrize("case", ["head", "biases", "no_head", "native"])
def test_written_back_it_loads_strictly_and_round_trips_bit_for_bit(tmp_path, case):
    from transformers import Aimv2VisionModel

    ref = random_aimv2(**CASES[case])
    ref.save_pretrained(tmp_path / "src")
    first = weights.read(tmp_path / "src")
    weights.write(first, tmp_path / "back", format="hf")
    back, info = Aimv2VisionModel.from_pretrained(tmp_path / "back", output_loading_info=True)
    assert not any(info.values()), info
    x = image(3, batch=1)
    assert rel(pooled(back.eval(), x), pooled(ref, x)) <= 1e-6
    again = weights.read(tmp_path / "back")
    assert again.spec == first.spec and sorted(again.state) == sorted(first.state)
    for name, value in first.state.items():
        np.testing.assert_array_equal(again.state[name], value, err_msg=name)


def test_a_whole_aimv2_model_gives_its_image_tower(tmp_path):
    from transformers import Aimv2Config, Aimv2Model

    config = Aimv2Config(vision_config=SMALL, projection_dim=16,
                         text_config=dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, vocab_size=64))
    torch.manual_seed(0)
    ref = _draw(Aimv2Model(config))
    ref.save_pretrained(tmp_path / "whole")
    ckpt = weights.read(tmp_path / "whole")
    assert ckpt.dropped and all(n.startswith(("text_model.", "visual_projection.", "text_projection.", "logit_scale")) for n in ckpt.dropped)
    x = image(6)
    expected = pooled(ref.vision_model, x)
    assert rel(run(vitzoo.create(None, pretrained=str(tmp_path / "whole"), backend="numpy"), x), expected) <= 1e-4


def test_timm_aimv2_weights_are_the_same_model_as_a_transformers_folder(tmp_path):
    """timm's AIMv2 file, written as an Aimv2VisionModel folder (no head: timm's has none): transformers' tokens'
    mean is timm's output, and reading that folder gives the canonical state read from the timm file."""
    from family_timm import save_timm
    from transformers import Aimv2VisionModel

    tm = random_timm("aimv2_large_patch14_224", embed_dim=32, num_heads=4, img_size=56, num_classes=0)
    mlp_dim = tm.blocks[0].mlp.fc2.in_features
    variant = vitzoo.get_spec("aimv2_large_patch14_224", depth=2, embed_dim=32, num_heads=4, mlp_dim=mlp_dim, img_size=56)
    timm_ckpt = weights.read(save_timm(tm, tmp_path), variant=variant)
    weights.write(timm_ckpt, tmp_path / "hf", format="hf")
    hf = Aimv2VisionModel.from_pretrained(tmp_path / "hf").eval()
    x = image(4)
    with torch.no_grad():
        expected = tm(torch.from_numpy(x)).numpy()
    assert rel(pooled(hf, x), expected) <= 1e-4
    hf_ckpt = weights.read(tmp_path / "hf")
    assert hf_ckpt.spec == timm_ckpt.spec
    assert sorted(hf_ckpt.state) == sorted(timm_ckpt.state)
    for name, value in timm_ckpt.state.items():
        np.testing.assert_array_equal(hf_ckpt.state[name], value, err_msg=name)


def _edit_config(folder, **changes):
    path = folder / "config.json"
    cfg = json.loads(path.read_text())
    cfg.update(changes)
    path.write_text(json.dumps(cfg))


@pytest.mark.parametrize("change, message", [
    (dict(use_head=False), "use_head=false but the weights have an attention pooling head"),
    (dict(qkv_bias=True), "qkv_bias=true but the weights lack attention biases"),
    (dict(mlp_bias="yes"), "mlp_bias 'yes' is not true or false"),
    (dict(is_native=True), "is_native=true but the weights have a learned position_embedding"),
    (dict(num_attention_heads=3), "num_attention_heads|not divisible"),
    (dict(hidden_act="gelu"), "hidden_act 'gelu' is not supported"),
    (dict(patch_size=16), "config.json does not match its weights: patch_size=16"),
    (dict(image_size=112), "image_size 112 gives 64 patches, but position_embedding has 16 rows"),
])
def test_a_config_that_disagrees_with_its_tensors_is_one_sentence(tmp_path, change, message):
    random_aimv2().save_pretrained(tmp_path / "a")
    _edit_config(tmp_path / "a", **change)
    with pytest.raises(vitzoo.VitzooError, match=message) as info:
        weights.read(tmp_path / "a")
    assert "\n" not in str(info.value)


def test_a_classifier_cannot_be_written_as_aimv2(tmp_path):
    ckpt = weights.read(_saved(tmp_path))
    head = weights.Checkpoint(state={**ckpt.state, "head.weight": np.zeros((3, 32), np.float32), "head.bias": np.zeros(3, np.float32)},
                              spec=ckpt.spec.replace(num_classes=3))
    with pytest.raises(CheckpointError, match="no classifier") as info:
        weights.write(head, tmp_path / "out", format="hf")
    assert "\n" not in str(info.value) and not (tmp_path / "out").exists()


def _saved(tmp_path):
    random_aimv2().save_pretrained(tmp_path / "src")
    return tmp_path / "src"


def test_timms_aimv2_name_does_not_silently_drop_the_head(tmp_path):
    """timm's AIMv2 pools by the mean: a folder with the attention pooling head under that name is refused."""
    with pytest.raises(CheckpointError, match="global_pool 'query' \\(variant has 'avg'\\)") as info:
        vitzoo.create("aimv2_large_patch14_224", pretrained=str(_saved(tmp_path)), backend="numpy", depth=2, embed_dim=32,
                      num_heads=4, mlp_dim=48, img_size=56)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("case", ["head", "native"])
def test_the_transformers_only_parts_are_not_written_as_timm(tmp_path, case):
    random_aimv2(**CASES[case]).save_pretrained(tmp_path / "src")
    with pytest.raises(CheckpointError, match="timm's AIMv2 has no attention pooling head") as info:
        weights.write(weights.read(tmp_path / "src"), tmp_path / "timm.safetensors", format="timm")
    assert "\n" not in str(info.value) and not (tmp_path / "timm.safetensors").exists()
