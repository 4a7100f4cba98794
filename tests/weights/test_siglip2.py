"""SigLIP 2 as a whole model: Gemma's tokenizer.json through the ``tokenizers`` library, fixed-resolution and NaFlex checkpoints.

The fixed-resolution SigLIP 2 checkpoints are transformers ``SiglipModel`` folders (SigLIP's
architecture), the NaFlex ones ``Siglip2Model`` folders (last tests); their tokenizer is Gemma's ``tokenizer.json``; no real one is available offline, so
the tests learn a small byte-fallback BPE and save it as transformers' ``GemmaTokenizerFast``
(SigLIP 2's settings: ``<eos>`` appended, no ``<bos>``, right padding). References:
``AutoTokenizer`` on the folder, open_clip's ``HFTokenizer`` with its SigLIP 2 settings
(``clean="canonicalize"``, context 64), transformers' ``SiglipModel`` with random weights.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
T = pytest.importorskip("transformers")
open_clip = pytest.importorskip("open_clip")
pytest.importorskip("tokenizers")

import vitzoo  # noqa: E402
from family_models import max_rel_diff  # noqa: E402
from text_models import CORPUS, gemma_tokenizer_files  # noqa: E402
from timm_models import randomise_  # noqa: E402
from vitzoo.errors import DataError  # noqa: E402
from vitzoo.hf_tokenizer import JsonTokenizer  # noqa: E402
from vitzoo.zero_shot import to_numpy  # noqa: E402

TOL = 1e-4
RUNS = [("numpy", False), ("mindspore", False), ("mindspore", True)]
X = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
VISION = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=16, patch_size=4)
TEXT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, max_position_embeddings=12)


@pytest.fixture(scope="module")
def gemma(tmp_path_factory):
    return gemma_tokenizer_files(tmp_path_factory.mktemp("gemma"))


@pytest.mark.parametrize("length", [64, 12])
def test_gemma_ids_equal_transformers(gemma, length):
    ref = T.AutoTokenizer.from_pretrained(gemma)(CORPUS, padding="max_length", max_length=length, truncation=True)["input_ids"]
    ours = JsonTokenizer(gemma, length)(CORPUS)
    assert ours.dtype == np.int64 and ours.shape == (len(CORPUS), length)
    assert ours.tolist() == ref  # over-long texts cut to the length with <eos> kept last
    assert ours[0].tolist().count(1) == 1 and 2 not in ours[:, 0]  # <eos> once, no <bos>


def test_gemma_ids_equal_open_clip_siglip2_settings(gemma):
    ref = open_clip.tokenizer.HFTokenizer(str(gemma), context_length=64, clean="canonicalize")(CORPUS).numpy()
    ours = JsonTokenizer(gemma, 64, clean="canonicalize")(CORPUS)
    np.testing.assert_array_equal(ours, ref)
    assert (ours != JsonTokenizer(gemma, 64)(CORPUS)).any()  # the cleaning is a real difference (case, punctuation)


def test_tokenizer_files_missing_or_foreign(gemma, tmp_path):
    with pytest.raises(DataError, match="no tokenizer.json"):
        JsonTokenizer(tmp_path, 64)(["a dog"])
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(DataError, match="not a tokenizers file"):
        JsonTokenizer(tmp_path, 64)(["a dog"])
    other = tmp_path / "other"
    shutil.copytree(gemma, other)
    (other / "tokenizer_config.json").write_text('{"tokenizer_class": "BertTokenizer"}')
    with pytest.raises(DataError, match="BertTokenizer"):
        JsonTokenizer(other, 64)(["a dog"])


@pytest.fixture(scope="module")
def siglip2_folder(gemma, tmp_path_factory):
    """A fixed-resolution SigLIP 2 checkpoint: a SiglipModel folder with Gemma's tokenizer files."""
    vocab = len(T.AutoTokenizer.from_pretrained(gemma))
    model = randomise_(T.SiglipModel(T.SiglipConfig(vision_config=VISION, text_config=dict(TEXT, vocab_size=vocab))), scale=0.3)
    with torch.no_grad():
        model.logit_scale.fill_(1.5)
    folder = tmp_path_factory.mktemp("siglip2")
    model.save_pretrained(folder)
    for f in gemma.iterdir():
        shutil.copy(f, folder / f.name)
    return folder, model


@pytest.mark.parametrize("backend,jit", RUNS)
def test_fixed_resolution_siglip2_matches_transformers(siglip2_folder, backend, jit):
    folder, model = siglip2_folder
    clip = vitzoo.create_clip(None, pretrained=folder, backend=backend, jit=jit)
    ids = clip.tokenize(CORPUS[:6])
    ref_ids = T.AutoTokenizer.from_pretrained(folder)(CORPUS[:6], padding="max_length", max_length=12, truncation=True)["input_ids"]
    assert ids.tolist() == ref_ids
    assert clip.spec.family == "siglip" and clip.spec.text.pool == "last" and not clip.spec.text.causal
    with torch.no_grad():
        x, t = torch.from_numpy(X), torch.from_numpy(ids)
        image = model.get_image_features(pixel_values=x)
        text = model.get_text_features(input_ids=t)
        image, text = (v if isinstance(v, torch.Tensor) else v.pooler_output for v in (image, text))
        logits = model(input_ids=t, pixel_values=x).logits_per_image
    diffs = [max_rel_diff(to_numpy(clip.encode_image(X)), image.numpy()), max_rel_diff(to_numpy(clip.encode_text(ids)), text.numpy()),
             max_rel_diff(to_numpy(clip(X, ids)), logits.numpy())]
    print(f"siglip2 {backend} jit={jit}", [f"{d:.1e}" for d in diffs])
    assert max(diffs) <= TOL, diffs


@pytest.fixture(scope="module")
def naflex_folder(gemma, tmp_path_factory):
    """A SigLIP 2 NaFlex checkpoint: a Siglip2Model folder (8 × 8 position table) with Gemma's tokenizer files."""
    vocab = len(T.AutoTokenizer.from_pretrained(gemma))
    vision = {k: v for k, v in VISION.items() if k != "image_size"}
    cfg = T.Siglip2Config(vision_config=dict(vision, num_patches=64), text_config=dict(TEXT, vocab_size=vocab))
    model = randomise_(T.Siglip2Model(cfg), scale=0.3)
    with torch.no_grad():
        model.logit_scale.fill_(1.5)
    folder = tmp_path_factory.mktemp("siglip2_naflex")
    model.save_pretrained(folder)
    for f in gemma.iterdir():
        shutil.copy(f, folder / f.name)
    return folder, model


@pytest.mark.parametrize("backend,jit", RUNS)
def test_naflex_siglip2_model_matches_transformers(naflex_folder, backend, jit):
    """encode_image on a NaFlex batch (three aspect ratios, padded) = get_image_features; text and logits unchanged."""
    from vitzoo.naflex import patchify

    folder, model = naflex_folder
    clip = vitzoo.create_clip(None, pretrained=folder, backend=backend, jit=jit)
    assert clip.spec.vision.naflex and clip.spec.family == "siglip"
    sizes = [(3, 5), (8, 8), (2, 11)]
    rng = np.random.default_rng(3)
    batch = patchify([rng.standard_normal((3, 4 * h, 4 * w)).astype(np.float32) for h, w in sizes], 4, seq_len=64)
    hf = {"pixel_values": batch["patches"], "pixel_attention_mask": batch["patch_valid"].astype(np.int64), "spatial_shapes": np.array(sizes)}
    ids = clip.tokenize(CORPUS[:4])
    with torch.no_grad():
        pt = {k: torch.from_numpy(v) for k, v in hf.items()}
        image = model.get_image_features(**pt)
        image = image if isinstance(image, torch.Tensor) else image.pooler_output
        text = model.get_text_features(input_ids=torch.from_numpy(ids))
        text = text if isinstance(text, torch.Tensor) else text.pooler_output
        logits = model(input_ids=torch.from_numpy(ids), **pt).logits_per_image
    diffs = [max_rel_diff(to_numpy(clip.encode_image(hf)), image.numpy()), max_rel_diff(to_numpy(clip.encode_image(batch)), image.numpy()),
             max_rel_diff(to_numpy(clip.encode_text(ids)), text.numpy()), max_rel_diff(to_numpy(clip(hf, ids)), logits.numpy())]
    print(f"siglip2 naflex {backend} jit={jit}", [f"{d:.1e}" for d in diffs])
    assert max(diffs) <= TOL, diffs
    x = rng.standard_normal((1, 3, 24, 44)).astype(np.float32)  # an NCHW image of its own aspect ratio: 6 × 11 patches
    with torch.no_grad():
        one = model.get_image_features(**{k: torch.from_numpy(v) for k, v in _hf_batch(x[0], (6, 11)).items()})
        one = one if isinstance(one, torch.Tensor) else one.pooler_output
    assert max_rel_diff(to_numpy(clip.encode_image(x)), one.numpy()) <= TOL


def _hf_batch(image, shape):
    from vitzoo.naflex import patchify

    b = patchify([image], 4)
    return {"pixel_values": b["patches"], "pixel_attention_mask": b["patch_valid"].astype(np.int64), "spatial_shapes": np.array([shape])}
