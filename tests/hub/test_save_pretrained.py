"""``vitzoo.save_pretrained`` / ``push_to_hub`` / ``vitzoo train --push-to-hub``: folders timm and transformers load with equal outputs.

The references are the libraries' own loaders: ``timm.create_model("local-dir:FOLDER", pretrained=True)``
and ``transformers.AutoModelForImageClassification`` / ``AutoModel.from_pretrained(FOLDER)``. Uploads go
to the local hub of ``hub_server`` (``HF_ENDPOINT``) through huggingface_hub, and are read back from it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
T = pytest.importorskip("transformers")

import vitzoo  # noqa: E402
from family_models import max_rel_diff  # noqa: E402
from vitzoo.backends import get_backend  # noqa: E402
from vitzoo.errors import CheckpointError  # noqa: E402
from vitzoo.init import init_state  # noqa: E402

TOL = 1e-4
X = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
LABELS = ["cat", "dog", "fox"]


def noisy_model(spec, seed=0, **meta):
    """A NumPy-backend model whose every tensor is random (unit-ish norms), as after a fine-tune."""
    rng = np.random.default_rng(seed)
    state = {k: (v + rng.normal(0, 0.1, v.shape)).astype(np.float32) for k, v in init_state(spec, seed=seed).items()}
    model = get_backend("numpy").build(spec, state)
    model.pretrained_cfg = {"class_names": LABELS[: spec.num_classes] or None, **meta}
    return model


SPECS = {
    "vit": dict(name="vit_ti_16", img_size=32, patch_size=8, depth=2, num_classes=3),
    "dinov2": dict(name="dinov2_s_14", img_size=28, patch_size=14, depth=2, num_classes=0),  # layer scale: transformers' Dinov2Model
    "registered": dict(name="vit_ti_16", img_size=32, num_classes=3),  # a registered timm architecture, new head and size
}


@pytest.mark.parametrize("kind", list(SPECS))
@pytest.mark.parametrize("layout", ["timm", "transformers"])
def test_saved_folder_loads_in_timm_and_transformers_with_equal_outputs(tmp_path, kind, layout):
    fields = dict(SPECS[kind])
    spec = vitzoo.get_spec(fields.pop("name"), **fields)
    x = X[:, :, : spec.img_size, : spec.img_size]
    model = noisy_model(spec, pretrained_cfg={"input_size": [3, spec.img_size, spec.img_size], "crop_pct": 0.9, "interpolation": "bicubic",
                                              "mean": [0.5] * 3, "std": [0.5] * 3, "crop_mode": "center"})
    expected = model(x)
    folder = vitzoo.save_pretrained(model, tmp_path / "out", layout=layout, license="apache-2.0", datasets=["colours"],
                                    metrics={"val_top1": 91.5, "best_epoch": 2})
    card = (folder / "README.md").read_text()
    header = card.split("---")[1]
    assert f"library_name: {layout}" in header and "license: apache-2.0" in header and "- colours" in header and "value: 91.5" in header
    from huggingface_hub import ModelCard

    data = ModelCard.load(folder / "README.md").data  # the hub's own parser reads the header back
    assert (data.library_name, data.license, data.datasets, data.eval_results[0].metric_value) == (layout, "apache-2.0", ["colours"], 91.5)
    if layout == "timm":
        cfg = json.loads((folder / "config.json").read_text())
        assert cfg["architecture"] == ("vit_tiny_patch16_224" if kind == "registered" else "vit_base_patch16_224")
        ref = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
        with torch.no_grad():
            out = ref(torch.from_numpy(x)).numpy()
        if spec.num_classes:
            assert ref.pretrained_cfg["label_names"] == LABELS and ref.pretrained_cfg["crop_pct"] == 0.9
    else:
        auto = T.AutoModelForImageClassification if spec.num_classes else T.AutoModel
        ref = auto.from_pretrained(folder).eval()
        assert type(ref).__name__ == {"vit": "ViTForImageClassification", "registered": "ViTForImageClassification",
                                      "dinov2": "Dinov2Model"}[kind]
        with torch.no_grad():
            result = ref(pixel_values=torch.from_numpy(x))
        out = result.logits.numpy() if spec.num_classes else result.pooler_output.numpy()
        if spec.num_classes:
            assert [ref.config.id2label[i] for i in range(3)] == LABELS
        proc = T.AutoImageProcessor.from_pretrained(folder)  # crop_pct 0.9: resize the shorter side to 35, crop 32
        assert type(proc).__name__.startswith("BitImageProcessor") and proc.size["shortest_edge"] == int(spec.img_size / 0.9)
    assert max_rel_diff(out, expected) <= TOL
    again = vitzoo.create(None, pretrained=folder, backend="numpy")  # and vitzoo reads its own folder back
    assert max_rel_diff(again(x), expected) <= TOL


def test_what_timm_cannot_express_is_refused_and_nothing_is_written(tmp_path):
    model = noisy_model(vitzoo.get_spec("vit_ti_16", img_size=32, patch_size=8, depth=2, num_classes=3, norm_eps=1e-7))
    with pytest.raises(CheckpointError, match=r"cannot describe this model \(it needs LayerNorm eps 1e-6 or 1e-5\)"):
        vitzoo.save_pretrained(model, tmp_path / "out", layout="timm")
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(vitzoo.VitzooError, match="Unknown layout 'keras'"):
        vitzoo.save_pretrained(model, tmp_path / "out", layout="keras")


@pytest.fixture
def hub(env, server):
    """The local hub, with the environment pointed at it."""
    return server


def test_push_to_hub_uploads_a_repo_that_loads_back(hub):
    spec = vitzoo.get_spec("vit_ti_16", img_size=32, patch_size=8, depth=2, num_classes=3)
    model = noisy_model(spec)
    url = vitzoo.push_to_hub(model, "me/tiny-vit", layout="timm", token="hf_secret", private=True)
    commit = hub.repos["me/tiny-vit"].refs["main"]
    assert url.endswith(f"/me/tiny-vit/commit/{commit}") and hub.repos["me/tiny-vit"].private
    assert sorted(hub.repos["me/tiny-vit"].commits[commit]) == ["README.md", "config.json", "model.safetensors"]
    posts = [h for m, p, h in hub.headers if m == "POST" and "/commit/" in p]
    assert posts and posts[0]["authorization"] == "Bearer hf_secret"
    back = vitzoo.create("hf-hub:me/tiny-vit", pretrained=True, backend="numpy")
    assert max_rel_diff(back(X), model(X)) <= TOL and back.pretrained_cfg["class_names"] == LABELS
    vitzoo.push_to_hub(model, "me/tiny-vit", layout="transformers")  # an existing repo: a second commit
    assert "preprocessor_config.json" in hub.repos["me/tiny-vit"].commits[hub.repos["me/tiny-vit"].refs["main"]]


def test_fine_tune_of_a_hub_repo_is_published_and_loads_in_transformers_and_timm(hub, tmp_path, capsys):
    """``vitzoo train --model hf-hub:... --pretrained main --push-to-hub``: timm's repo in, a fine-tune out."""
    pytest.importorskip("mindspore")
    from imagefolders import make_train_val
    from timm_models import tiny_timm
    from vitzoo.cli.main import main

    source = tmp_path / "source"
    timm.models.save_for_hf(tiny_timm(seed=2, num_classes=5, depth=1, embed_dim=32, num_heads=2), str(source), safe_serialization=True)
    hub.add_repo("timm/tiny-vit", source)
    data = make_train_val(tmp_path / "colours", train=6, val=3)
    out = tmp_path / "run"
    argv = ["train", str(data), "--model", "hf-hub:timm/tiny-vit", "--pretrained", "main", "--epochs", "1", "--batch-size", "6",
            "--output", str(out), "--no-progress", "--workers", "1", "--json", "--push-to-hub", "me/colours", "--hub-layout", "transformers"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    ours = vitzoo.create_from_file(result["best"], backend="numpy")
    assert ours.spec.num_classes == 3 and ours.spec.embed_dim == 32  # the repo's architecture, a new head
    files = hub.repos["me/colours"].commits[hub.repos["me/colours"].refs["main"]]
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    for name, data_bytes in files.items():
        (pulled / name).write_bytes(data_bytes)
    ref = T.AutoModelForImageClassification.from_pretrained(pulled).eval()
    with torch.no_grad():
        logits = ref(pixel_values=torch.from_numpy(X)).logits.numpy()
    assert max_rel_diff(logits, ours(X)) <= TOL
    assert sorted(ref.config.id2label.values()) == ["blue", "green", "red"]
    card = files["README.md"].decode()
    assert f"value: {result['best_top1']}" in card and "- colours" in card
    folder = vitzoo.save_pretrained(result["best"], tmp_path / "timm_out", layout="timm")  # the same fine-tune for timm
    assert json.loads((folder / "config.json").read_text())["architecture"] == "vit_base_patch16_224"
    timm_model = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    with torch.no_grad():
        assert max_rel_diff(timm_model(torch.from_numpy(X)).numpy(), ours(X)) <= TOL


def test_a_mindspore_model_saves_as_is(tmp_path):
    ms = pytest.importorskip("mindspore")
    from vitzoo.zero_shot import to_numpy

    spec = vitzoo.get_spec("vit_ti_16", img_size=32, patch_size=8, depth=1, num_classes=3)
    model = get_backend("mindspore").build(spec, get_backend("numpy").state_dict(noisy_model(spec, seed=4)))
    model.pretrained_cfg = {"class_names": LABELS}
    folder = vitzoo.save_pretrained(model, tmp_path / "ms", layout="transformers")
    ref = T.AutoModelForImageClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        logits = ref(pixel_values=torch.from_numpy(X)).logits.numpy()
    assert max_rel_diff(logits, to_numpy(model(ms.Tensor(X)))) <= TOL
