"""Whole CLIP-style models (both towers) from open_clip and transformers files, against the real libraries.

Each reference model is built tiny from its own library with random weights, saved the way
that library saves it, and read by ``vitzoo.create_clip``: ``encode_image``, ``encode_text``
and ``clip(images, ids)`` must match open_clip's ``encode_image`` / ``encode_text`` / logits and
transformers' ``get_image_features`` / ``get_text_features`` / ``logits_per_image`` to 1e-4 of
the output scale, on NumPy, MindSpore and MindSpore with ``jit=True``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
T = pytest.importorskip("transformers")
open_clip = pytest.importorskip("open_clip")
from safetensors.torch import save_file as save_torch_file  # noqa: E402

import vitzoo  # noqa: E402
from family_models import max_rel_diff  # noqa: E402
from text_models import siglip_tokenizer_files  # noqa: E402
from timm_models import randomise_  # noqa: E402
from vitzoo.errors import CheckpointError, DataError  # noqa: E402
from vitzoo.zero_shot import to_numpy  # noqa: E402

TOL = 1e-4
RUNS = [("numpy", False), ("mindspore", False), ("mindspore", True)]
X = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
OC_CFG = dict(embed_dim=24, vision_cfg=dict(image_size=16, layers=2, width=32, head_width=16, patch_size=4, mlp_ratio=2.0),
              text_cfg=dict(context_length=12, vocab_size=49408, width=32, heads=4, layers=2))
TEXTS = ["a photo of a dog.", "", "Café 日本 🐶 " * 5, "two  words"]


def compare(clip, ref_image, ref_text, ref_logits, ids, label):
    diffs = {
        "image": max_rel_diff(to_numpy(clip.encode_image(X)), ref_image),
        "text": max_rel_diff(to_numpy(clip.encode_text(ids)), ref_text),
        "logits": max_rel_diff(to_numpy(clip(X, ids)), ref_logits),
    }
    print(label, {k: f"{v:.1e}" for k, v in diffs.items()})
    assert max(diffs.values()) <= TOL, diffs


# open_clip ----------------------------------------------------------------------------------
def oc_model(quick_gelu: bool):
    model = randomise_(open_clip.CLIP(**json.loads(json.dumps(OC_CFG)), quick_gelu=quick_gelu), scale=0.3)
    with torch.no_grad():
        model.logit_scale.fill_(2.0)
    return model


def oc_reference(model, ids):
    with torch.no_grad():
        image, text = model.encode_image(torch.from_numpy(X)), model.encode_text(torch.from_numpy(ids))
        logits = model.get_logits(torch.from_numpy(X), torch.from_numpy(ids))[0]
    return image.numpy(), text.numpy(), logits.numpy()


@pytest.fixture(scope="module", params=[True, False], ids=["quickgelu", "gelu"])
def oc_folder(request, tmp_path_factory):
    model = oc_model(request.param)
    folder = tmp_path_factory.mktemp("oc")
    save_torch_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": {**OC_CFG, "quick_gelu": request.param}}))
    return folder, model


@pytest.mark.parametrize("backend,jit", RUNS)
def test_open_clip_folder_matches_open_clip(oc_folder, backend, jit):
    folder, model = oc_folder
    clip = vitzoo.create_clip(None, pretrained=folder, backend=backend, jit=jit)
    ids = clip.tokenize(TEXTS)
    ref_ids = open_clip.get_tokenizer("ViT-B-16", context_length=12)(TEXTS).numpy()
    np.testing.assert_array_equal(ids, ref_ids)  # cut texts keep their end token
    assert clip.spec.text.pool == "argmax" and clip.spec.text.causal and clip.spec.family == "clip"
    compare(clip, *oc_reference(model, ids), ids, f"open_clip {backend} jit={jit}")



@pytest.mark.parametrize("backend,jit", RUNS)
def test_short_prompts_are_cut_after_their_end_token_and_give_open_clips_embeddings(tmp_path, backend, jit):
    """A causal tower pools at the end token, so the padding after it is cut (pooled_prefix); the embeddings stay open_clip's."""
    from vitzoo.text_spec import pooled_prefix

    cfg = json.loads(json.dumps(OC_CFG))
    cfg["text_cfg"]["context_length"] = 40
    model = randomise_(open_clip.CLIP(**cfg), scale=0.3)
    save_torch_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "open_clip_model.safetensors"))
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg}))
    clip = vitzoo.create_clip(None, pretrained=tmp_path, backend=backend, jit=jit)
    short, mixed = clip.tokenize(["a dog", "a photo of a cat."]), clip.tokenize(["a dog", "cat " * 20])
    assert short.shape[1] == mixed.shape[1] == 40
    assert pooled_prefix(short, clip.spec.text).shape[1] == 16 and pooled_prefix(mixed, clip.spec.text).shape[1] == 32
    for ids in (short, mixed):
        with torch.no_grad():
            ref = model.encode_text(torch.from_numpy(ids)).numpy()
        assert max_rel_diff(to_numpy(clip.encode_text(ids)), ref) <= TOL


def test_bare_open_clip_file_needs_the_model_name(tmp_path):
    """A file without open_clip_config.json: the open_clip name settles heads, eps and GELU, or the read is refused."""
    model = open_clip.create_model("ViT-S-32", pretrained=None)  # a real open_clip name, random weights
    randomise_(model, scale=0.05)
    path = tmp_path / "open_clip_model.safetensors"
    save_torch_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    with pytest.raises(CheckpointError, match="give the open_clip model name") as info:
        vitzoo.create_clip(None, pretrained=path, backend="numpy")
    assert "\n" not in str(info.value)
    clip = vitzoo.create_clip("ViT-S-32", pretrained=path, backend="numpy")
    ids = clip.tokenize(["a diagram", "a dog"])
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        ref_image = model.encode_image(torch.from_numpy(x)).numpy()
        ref_text = model.encode_text(torch.from_numpy(ids)).numpy()
    assert max_rel_diff(clip.encode_image(x), ref_image) <= TOL
    assert max_rel_diff(clip.encode_text(ids), ref_text) <= TOL


def test_image_tower_alone_is_refused_in_one_sentence(oc_folder, tmp_path):
    folder, model = oc_folder
    visual = {k: v.contiguous() for k, v in model.state_dict().items() if k.startswith("visual.")}
    save_torch_file(visual, str(tmp_path / "open_clip_model.safetensors"))
    (tmp_path / "open_clip_config.json").write_text((folder / "open_clip_config.json").read_text())
    with pytest.raises(CheckpointError, match="holds no text tower") as info:
        vitzoo.create_clip(None, pretrained=tmp_path, backend="numpy")
    assert "\n" not in str(info.value)


def test_bad_token_ids_are_one_sentence(oc_folder):
    clip = vitzoo.create_clip(None, pretrained=oc_folder[0], backend="numpy")
    for bad in (np.zeros((2, 13), np.int64), np.full((1, 4), 49408), np.zeros((1, 4), np.float32), np.zeros(4, np.int64)):
        with pytest.raises(DataError):
            clip.encode_text(bad)
    with pytest.raises(DataError, match="strings"):
        clip.tokenize([b"bytes"])


# transformers ---------------------------------------------------------------------------------
VISION = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=16, patch_size=4)
TEXT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, max_position_embeddings=12)


def hf_features(out):
    return (out if isinstance(out, torch.Tensor) else out.pooler_output).numpy()


def hf_reference(model, ids):
    with torch.no_grad():
        x, t = torch.from_numpy(X), torch.from_numpy(ids)
        image = hf_features(model.get_image_features(pixel_values=x))
        text = hf_features(model.get_text_features(input_ids=t))
        logits = model(input_ids=t, pixel_values=x).logits_per_image.numpy()
    return image, text, logits


@pytest.fixture(scope="module", params=["clip", "clip_legacy_eos", "siglip"])
def hf_folder(request, tmp_path_factory):
    if request.param == "siglip":
        cfg = T.SiglipConfig(vision_config=VISION, text_config=dict(TEXT, vocab_size=200))
        model = T.SiglipModel(cfg)
    else:
        eos = 2 if request.param == "clip_legacy_eos" else 49407  # configs before transformers PR #24773 pool at the largest id
        model = T.CLIPModel(T.CLIPConfig(vision_config=VISION, text_config=dict(TEXT, vocab_size=49408, eos_token_id=eos), projection_dim=24))
    randomise_(model, scale=0.3)
    with torch.no_grad():
        model.logit_scale.fill_(1.5)
    folder = tmp_path_factory.mktemp(request.param)
    model.save_pretrained(folder)
    if request.param == "siglip":
        siglip_tokenizer_files(folder)  # what SiglipProcessor.save_pretrained puts beside the weights
    return request.param, folder, model


@pytest.mark.parametrize("backend,jit", RUNS)
def test_transformers_folder_matches_transformers(hf_folder, backend, jit):
    kind, folder, model = hf_folder
    clip = vitzoo.create_clip(None, pretrained=folder, backend=backend, jit=jit)
    if kind == "siglip":
        ids = clip.tokenize(TEXTS)
        ref_ids = T.SiglipTokenizer.from_pretrained(folder)(TEXTS, padding="max_length", max_length=12, truncation=True)["input_ids"]
        assert ids.tolist() == ref_ids
        assert clip.spec.family == "siglip" and clip.spec.text.pool == "last" and not clip.spec.text.causal
    else:
        ids = clip.tokenize(TEXTS)
        assert clip.spec.text.pool == ("argmax" if kind == "clip_legacy_eos" else "eos")
    compare(clip, *hf_reference(model, ids), ids, f"{kind} {backend} jit={jit}")


@pytest.mark.parametrize("hf_folder", ["siglip"], indirect=True)
def test_siglip_logit_bias_is_part_of_the_logits(hf_folder):
    kind, folder, model = hf_folder
    clip = vitzoo.create_clip(None, pretrained=folder, backend="numpy")
    assert float(clip.logit_bias) == pytest.approx(float(model.logit_bias))
    ids = np.random.default_rng(3).integers(0, 200, (2, 12))
    plain = clip.logits(clip.encode_image(X), clip.encode_text(ids)) - clip.logit_bias
    assert max_rel_diff(clip(X, ids), plain + float(model.logit_bias)) <= TOL


def test_transformers_image_tower_alone_is_refused(tmp_path):
    T.CLIPVisionModelWithProjection(T.CLIPVisionConfig(**VISION, projection_dim=24)).save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="not a whole CLIP model"):
        vitzoo.create_clip(None, pretrained=tmp_path, backend="numpy")


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        vitzoo.create_clip("ViT-B-16", pretrained=tmp_path / "nope.safetensors")
    with pytest.raises(vitzoo.UnknownNameError, match="Unknown open_clip model"):
        vitzoo.create_clip("ViT-Q-99", backend="numpy")


@pytest.fixture(scope="module")
def vit_b_16(tmp_path_factory):
    model = open_clip.create_model("ViT-B-16", pretrained=None).eval()
    path = tmp_path_factory.mktemp("b16") / "open_clip_model.safetensors"
    save_torch_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return model, path


@pytest.mark.parametrize("backend", ["numpy", "mindspore"])
def test_real_size_vit_b_16(backend, vit_b_16):
    """open_clip's own ViT-B-16 (random weights, saved bare): the name settles the rest; both towers match."""
    model, path = vit_b_16
    clip = vitzoo.create_clip("ViT-B-16", pretrained=path, backend=backend)
    x = np.random.default_rng(4).standard_normal((1, 3, 224, 224)).astype(np.float32)
    ids = clip.tokenize(["a photo of a dog.", "a diagram of a jet engine"])
    with torch.no_grad():
        ref = [t.numpy() for t in (model.encode_image(torch.from_numpy(x)), model.encode_text(torch.from_numpy(ids)),
                                    model.get_logits(torch.from_numpy(x), torch.from_numpy(ids))[0])]
    diffs = [max_rel_diff(to_numpy(out), r) for out, r in zip((clip.encode_image(x), clip.encode_text(ids), clip(x, ids)), ref)]
    print(f"ViT-B-16 {backend}: image {diffs[0]:.1e} text {diffs[1]:.1e} logits {diffs[2]:.1e}")
    assert max(diffs) <= TOL, diffs


def test_image_tower_names_must_fit_the_file(vit_b_16, tmp_path):
    """A vitzoo / timm image-tower name works where open_clip_config.json gives the text tower, and must describe the file."""
    model, path = vit_b_16
    (tmp_path / "open_clip_model.safetensors").symlink_to(path)
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": open_clip.get_model_config("ViT-B-16")}))
    clip = vitzoo.create_clip("clip_b_16", pretrained=tmp_path, backend="numpy")
    assert clip.spec.vision.num_heads == 12 and clip.spec.text.heads == 8
    with pytest.raises(CheckpointError, match="do not match the named variant"):
        vitzoo.create_clip("clip_b_32", pretrained=tmp_path, backend="numpy")
    with pytest.raises(CheckpointError, match="give the open_clip model name"):
        vitzoo.create_clip("clip_b_16", pretrained=path, backend="numpy")  # no config: the text tower is still unknown
