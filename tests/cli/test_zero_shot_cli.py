"""`vitzoo zero-shot` and `vitzoo embed --text`: probabilities equal the reference library's, bad input is one sentence."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
T = pytest.importorskip("transformers")
open_clip = pytest.importorskip("open_clip")
from PIL import Image  # noqa: E402
from safetensors.torch import save_file as save_torch_file  # noqa: E402

from text_models import siglip_tokenizer_files  # noqa: E402
from timm_models import randomise_  # noqa: E402
from vitzoo.cli.main import main  # noqa: E402
from vitzoo.workflows.embedding import load_embeddings  # noqa: E402

CFG = dict(embed_dim=24, vision_cfg=dict(image_size=16, layers=1, width=32, head_width=16, patch_size=4),
           text_cfg=dict(context_length=16, vocab_size=49408, width=32, heads=4, layers=1))
LABELS = ["cat", "dog", "red car"]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    paths = []
    for i, size in enumerate([(40, 30), (20, 50)]):
        path = folder / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def oc(tmp_path_factory):
    model = randomise_(open_clip.CLIP(**json.loads(json.dumps(CFG))), scale=0.3)
    with torch.no_grad():
        model.logit_scale.fill_(1.0)
    folder = tmp_path_factory.mktemp("oc")
    save_torch_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": CFG}))
    return model, folder


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_zero_shot_probabilities_equal_open_clips(oc, images, capsys):
    model, folder = oc
    assert main(["zero-shot", *images, "--weights", str(folder), "--labels", ", ".join(LABELS), "--top", "3", "--json"]) == 0
    out = last_json(capsys)
    preprocess = open_clip.image_transform(16, is_train=False)  # open_clip's own eval transform
    x = torch.stack([preprocess(Image.open(p)) for p in images])
    with torch.no_grad():
        weights = open_clip.build_zero_shot_classifier(model, lambda t: open_clip.tokenize(t, context_length=16), LABELS, ["a photo of a {}."])
        probs = (model.logit_scale.exp() * model.encode_image(x, normalize=True) @ weights).softmax(-1).numpy()
    for item, ref in zip(out["predictions"], probs):
        got = {t["label"]: t["prob"] for t in item["top"]}
        assert [t["label"] for t in item["top"]] == [LABELS[i] for i in np.argsort(-ref)]
        np.testing.assert_allclose([got[label] for label in LABELS], ref, atol=1e-5)


def test_zero_shot_siglip_uses_a_sigmoid(images, tmp_path, capsys):
    model = T.SiglipModel(T.SiglipConfig(
        vision_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=16, patch_size=4),
        text_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, max_position_embeddings=16, vocab_size=200),
    ))
    randomise_(model, scale=0.3)
    model.save_pretrained(tmp_path)
    siglip_tokenizer_files(tmp_path)
    T.SiglipImageProcessorPil(size={"height": 16, "width": 16}, resample=2).save_pretrained(tmp_path)  # bilinear: the file decides
    assert main(["zero-shot", *images, "--weights", str(tmp_path), "--labels", ",".join(LABELS), "--backend", "numpy", "--json"]) == 0
    out = last_json(capsys)
    assert out["family"] == "siglip"
    processor = T.SiglipProcessor(image_processor=T.SiglipImageProcessorPil.from_pretrained(tmp_path),
                                  tokenizer=T.SiglipTokenizer.from_pretrained(tmp_path))
    inputs = processor(text=[f"a photo of a {c}." for c in LABELS], images=[Image.open(p).convert("RGB") for p in images],
                       padding="max_length", max_length=16, return_tensors="pt")
    with torch.no_grad():  # without the processor's attention_mask: SigLIP is trained on unmasked, max_length-padded text
        ref = torch.sigmoid(model(input_ids=inputs["input_ids"], pixel_values=inputs["pixel_values"]).logits_per_image).numpy()
    for item, row in zip(out["predictions"], ref):
        got = {t["label"]: t["prob"] for t in item["top"]}
        np.testing.assert_allclose([got[label] for label in LABELS], row, atol=1e-5)


def test_zero_shot_bad_input_is_one_sentence(oc, images, tmp_path, capsys):
    folder = oc[1]
    empty = tmp_path / "labels.txt"
    empty.write_text("# nothing\n\n")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    for argv, wanted in (
        ([images[0], "--labels", "a,b"], "zero-shot needs weights"),
        ([images[0], "--weights", str(folder), "--labels-file", str(empty)], "No labels given"),
        ([images[0], "--weights", str(folder), "--labels-file", str(tmp_path / "none.txt")], "Cannot read labels file"),
        ([str(broken), "--weights", str(folder), "--labels", "a,b"], "Cannot read image"),
        ([images[0], "--weights", str(folder), "--labels", "a", "--top", "0"], "--top must be a positive integer"),
    ):
        assert main(["zero-shot", *argv]) == 1
        err = capsys.readouterr().err.strip()
        assert wanted in err and len(err.splitlines()) == 1, err


def test_zero_shot_imagenet_labels_run(oc, images, capsys):
    assert main(["zero-shot", images[0], "--weights", str(oc[1]), "--imagenet", "--template", "simple", "--top", "2", "--backend", "numpy"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(images[0])


def test_embed_text_writes_encode_text_rows(oc, tmp_path, capsys):
    model, folder = oc
    texts = tmp_path / "texts.txt"
    texts.write_text("a photo of a dog\n\n# not a comment: a text\nCafé 日本\n", encoding="utf-8")
    out = tmp_path / "t.safetensors"
    assert main(["embed", "--text", str(texts), "--weights", str(folder), "-o", str(out), "--normalize", "--json"]) == 0
    assert last_json(capsys)["texts"] == 3
    back = load_embeddings(out)
    lines = ["a photo of a dog", "# not a comment: a text", "Café 日本"]
    assert json.loads(back["metadata"]["texts"]) == lines
    with torch.no_grad():
        ref = model.encode_text(open_clip.tokenize(lines, context_length=16), normalize=True).numpy()
    np.testing.assert_allclose(back["embeddings"], ref, atol=1e-5)
    assert main(["embed", "--text", str(texts), "-o", str(out)]) == 1
    assert "--weights" in capsys.readouterr().err
