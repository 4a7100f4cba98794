"""`vitzoo embed` and `vitzoo export`: the commands, their files, bad input, and nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")

import vitzoo  # noqa: E402
from vitzoo.cli.main import main  # noqa: E402
from vitzoo.workflows.embedding import load_embeddings  # noqa: E402
from vitzoo.errors import DataError, VitzooError  # noqa: E402
from vitzoo.workflows.tasks import demo_images  # noqa: E402


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> Path:
    """A tiny 10-class model saved as a canonical checkpoint with class names."""
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    model = vitzoo.create("vit_ti_16", img_size=32, patch_size=8, depth=2, embed_dim=32, num_heads=2, mlp_dim=64, num_classes=10)
    vitzoo.save(model, path, source="test", class_names=[str(i) for i in range(10)])
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_embed_command_writes_names_and_provenance(weights_file, tmp_path, capsys):
    images = tmp_path / "imgs"
    (images / "a").mkdir(parents=True)
    for p in demo_images()[:3]:
        (images / "a" / Path(p).name).write_bytes(Path(p).read_bytes())
    out = tmp_path / "out" / "emb.safetensors"
    assert main(["embed", str(images), "--weights", str(weights_file), "-o", str(out), "--batch-size", "2",
                 "--layers", "1", "--pool", "avg", "--no-progress", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["images"] == 3 and summary["dim"] == 32 and summary["layers"] == [1]
    back = load_embeddings(out)
    assert back["files"] == ["0.png", "1.png", "2.png"]  # relative to the folder holding them all
    meta = back["metadata"]
    assert meta["model"] == str(weights_file) and meta["pool"] == "avg"
    assert json.loads(meta["provenance"])["source"] == "test" and "class_names" not in json.loads(meta["provenance"])
    assert back["embeddings"].shape == (3, 32) and back["layers"][1].shape == (3, 32)
    assert leftovers(out.parent) == []


def test_embed_reports_or_skips_bad_images(weights_file, tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in demo_images()[:2]:
        (folder / Path(p).name).write_bytes(Path(p).read_bytes())
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    out = tmp_path / "e.safetensors"
    assert main(["embed", str(folder), "--weights", str(weights_file), "-o", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "broken.png" in err and err.count("\n") == 1
    assert not out.exists() and leftovers(tmp_path) == []
    assert main(["embed", str(folder), "--weights", str(weights_file), "-o", str(out), "--skip-bad", "--no-progress"]) == 0
    assert "skipped unreadable image" in capsys.readouterr().out
    back = load_embeddings(out)
    assert back["files"] == ["0.png", "1.png"] and json.loads(back["metadata"]["skipped"]) == ["broken.png"]


def test_embed_bad_requests(weights_file, tmp_path):
    model = vitzoo.create_from_file(weights_file)
    with pytest.raises(DataError, match="class token"):
        vitzoo.embed(demo_images()[:1], vitzoo.create("vit_ti_16", img_size=32, depth=1, class_token=False, global_pool="avg"), pool="cls")
    with pytest.raises(DataError, match="attention-pool"):
        vitzoo.embed(demo_images()[:1], model, pool="map")
    with pytest.raises(VitzooError, match="safetensors"):
        vitzoo.embed(demo_images()[:1], model, output=tmp_path / "e.npy")
    with pytest.raises(VitzooError, match="out of range"):
        vitzoo.embed(demo_images()[:1], model, layers=[5])
    with pytest.raises(DataError, match="No image file matches"):
        vitzoo.embed(str(tmp_path / "*.png"), model)


def test_export_command_both_formats(weights_file, tmp_path, capsys):
    for suffix in ("onnx", "mindir"):
        out = tmp_path / f"m.{suffix}"
        assert main(["export", "--weights", str(weights_file), "-o", str(out), "--batch-size", "3", "--img-size", "48", "--json"]) == 0
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert summary["format"] == suffix and summary["input_shape"] == [3, 3, 48, 48] and summary["output_shape"] == [3, 10]
        assert summary["max_abs_diff"] <= 1e-4
        assert out.stat().st_mode & 0o600 == 0o600  # not MindSpore's read-only 0400
    assert leftovers(tmp_path) == []


def test_export_of_a_dynamic_model_matches_the_model_at_the_export_size(tmp_path):
    model = vitzoo.create("vit_ti_16", img_size=32, patch_size=8, depth=1, num_classes=4, dynamic_img_size=True)
    summary = vitzoo.export(model, tmp_path / "d.mindir", img_size=48, batch_size=2)
    x = np.random.default_rng(0).standard_normal((2, 3, 48, 48)).astype(np.float32)
    graph = ms.nn.GraphCell(ms.load(str(tmp_path / "d.mindir")))
    assert np.abs(graph(ms.Tensor(x)).asnumpy() - model(ms.Tensor(x)).asnumpy()).max() <= 1e-4
    assert summary["max_abs_diff"] <= 1e-4


def test_export_bad_requests_leave_nothing(weights_file, tmp_path, capsys):
    assert main(["export", "--weights", str(weights_file), "-o", str(tmp_path / "m.pt")]) == 1
    assert "*.mindir or *.onnx" in capsys.readouterr().err
    assert main(["export", "-o", str(tmp_path / "m.onnx")]) == 1
    assert "Name the model" in capsys.readouterr().err
    assert main(["export", "--weights", str(weights_file), "-o", str(tmp_path / "m.onnx"), "--img-size", "0"]) == 1
    assert "img_size must be a positive integer" in capsys.readouterr().err
    with pytest.raises(VitzooError, match="batch_size"):
        vitzoo.export(weights=weights_file, output=tmp_path / "m.onnx", batch_size=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_large_mindir_is_written_as_graph_plus_weights_folder(weights_file, tmp_path, monkeypatch):
    import mindspore.train.serialization as serialization

    monkeypatch.setattr(serialization, "TOTAL_SAVE", 1)  # pretend the tiny model is over MindSpore's 1 GiB split size
    summary = vitzoo.export(weights=weights_file, output=tmp_path / "big.mindir")
    assert summary["files"] == [str(tmp_path / "big.mindir"), str(tmp_path / "big_variables")]
    assert (tmp_path / "big_variables" / "data_0").exists() and summary["max_abs_diff"] <= 1e-4
    assert leftovers(tmp_path) == []
