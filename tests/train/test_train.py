"""`vitzoo train`: a short run learns a tiny dataset and writes every output; resume; fine-tune; bad data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mindspore")

import vitzoo  # noqa: E402
from vitzoo.errors import DataError, VitzooError  # noqa: E402
from vitzoo.weights import load_file  # noqa: E402

from imagefolders import make_colour_folder, make_train_val  # noqa: E402

TINY = dict(img_size=32, patch_size=8, depth=1, embed_dim=32, num_heads=2, batch_size=12, lr=3e-3, progress=False, workers=1)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_train_val(tmp_path_factory.mktemp("colours"))


@pytest.fixture(scope="module")
def trained(data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("run") / "out"
    return out, vitzoo.train(data, epochs=8, output=out, **TINY)


def test_short_run_learns_and_writes_every_output(trained: tuple[Path, object], data: Path) -> None:
    out, result = trained
    # Three colour classes, 72 training images, 8 epochs: the stated bar is 90% (chance is 33%).
    assert result.best_top1 >= 90.0
    assert {"last.safetensors", "best.safetensors", "last.optim.safetensors", "metrics.jsonl", "curves.png"} <= {p.name for p in out.iterdir()}
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, 9))
    assert {"epoch", "loss", "lr", "val_top1", "val_top5", "img_per_s"} <= set(rows[0])
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    ckpt = load_file(out / "best.safetensors")
    assert ckpt.class_names == ["blue", "green", "red"]
    assert ckpt.spec.num_classes == 3 and ckpt.spec.embed_dim == 32
    best_row = max(rows, key=lambda r: r["val_top1"])
    assert best_row["epoch"] == result.best_epoch
    # The checkpoint alone is enough to evaluate it, and gives the number the run logged.
    again = vitzoo.evaluate(data / "val", weights=out / "best.safetensors")
    assert again["top1"] == pytest.approx(best_row["val_top1"]) and again["images"] == 24


def test_lr_schedule_warms_up_then_decays_to_min() -> None:
    from vitzoo.backends.mindspore.train.step import lr_at

    lrs = [lr_at(s, 100, 10, 1e-3, 1e-5) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))
    assert lrs[-1] == pytest.approx(1e-5, abs=1e-6)


def test_resume_gives_the_uninterrupted_result(tmp_path: Path) -> None:
    data = make_train_val(tmp_path / "data", train=8, val=2)  # 2 steps per epoch
    opts = dict(TINY, epochs=2, augment="light")  # random augmentation too: it is reseeded per epoch
    straight = vitzoo.train(data, output=tmp_path / "a", **opts)
    vitzoo.train(data, output=tmp_path / "b", stop_epoch=1, **opts)
    assert len((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()) == 1
    resumed = vitzoo.train(data, output=tmp_path / "b", resume=True, **opts)
    a, b = load_file(tmp_path / "a" / "last.safetensors").state, load_file(tmp_path / "b" / "last.safetensors").state
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) <= 1e-6
    assert [r["val_top1"] for r in resumed.history] == [r["val_top1"] for r in straight.history]


def test_output_guards(trained: tuple[Path, object], data: Path, tmp_path: Path) -> None:
    out, _ = trained
    with pytest.raises(VitzooError, match="already holds a training run"):
        vitzoo.train(data, output=out, epochs=1, **TINY)
    with pytest.raises(VitzooError, match="Nothing to resume"):
        vitzoo.train(data, output=tmp_path / "empty", resume=True, epochs=1, **TINY)


def test_finetune_from_file_gets_a_new_head(trained: tuple[Path, object], tmp_path: Path) -> None:
    out, _ = trained
    two = tmp_path / "two"
    make_colour_folder(two / "train", {"blue": 12, "red": 12}, seed=3)
    make_colour_folder(two / "val", {"blue": 4, "red": 4}, seed=4)
    opts = {k: v for k, v in TINY.items() if k not in ("img_size", "patch_size", "depth", "embed_dim", "num_heads", "lr")}
    vitzoo.train(two, pretrained=str(out / "best.safetensors"), epochs=1, lr=1e-12, output=tmp_path / "ft", **opts)
    base, tuned = load_file(out / "best.safetensors"), load_file(tmp_path / "ft" / "last.safetensors")
    assert tuned.spec.num_classes == 2 and tuned.class_names == ["blue", "red"]
    assert tuned.state["head.weight"].shape == (2, 32)
    # lr ~ 0: the backbone is still the pretrained one
    assert np.allclose(tuned.state["blocks.0.mlp.fc1.weight"], base.state["blocks.0.mlp.fc1.weight"], atol=1e-6)


@pytest.mark.parametrize("case", ["no_train", "no_val", "empty_class", "corrupt"])
def test_bad_data_dirs_name_the_path(case: str, tmp_path: Path) -> None:
    root = make_train_val(tmp_path / "d", train=4, val=2)
    if case == "no_train":
        bad = root / "train"
        for p in sorted(bad.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        bad.rmdir()
    elif case == "no_val":
        bad = root / "val"
        for p in sorted(bad.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        bad.rmdir()
    elif case == "empty_class":
        bad = root / "train" / "violet"
        bad.mkdir()
    else:
        bad = root / "train" / "red" / "001.png"
        bad.write_bytes(b"not a png")
    with pytest.raises(DataError) as err:
        vitzoo.train(root, output=tmp_path / "out", epochs=1, **dict(TINY, batch_size=4))
    assert str(bad.name) in str(err.value) and str(root) in str(err.value)
    assert not (tmp_path / "out" / "last.safetensors").exists()


def test_cli_train_prints_json_result(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vitzoo.cli.main import main

    argv = ["train", str(data), "--img-size", "32", "--patch-size", "8", "--depth", "1", "--embed-dim", "32", "--num-heads", "2",
            "--epochs", "1", "--batch-size", "12", "--output", str(tmp_path / "cli"), "--no-progress", "--workers", "1", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["best_epoch"] == 1 and Path(result["best"]).exists()
    assert main(["train", str(tmp_path / "nowhere"), "--output", str(tmp_path / "x")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_amp_step_runs(data: Path, tmp_path: Path) -> None:
    result = vitzoo.train(data, output=tmp_path / "amp", epochs=1, amp=True, **TINY)
    assert np.isfinite(result.history[0]["loss"])
    assert load_file(tmp_path / "amp" / "last.safetensors").state["head.weight"].dtype == np.float32


def test_without_matplotlib_the_run_says_so_and_writes_no_curves(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    vitzoo.train(data, output=tmp_path / "noplot", epochs=1, **TINY)
    written = {p.name for p in (tmp_path / "noplot").iterdir()}
    assert "curves.png" not in written and {"last.safetensors", "metrics.jsonl"} <= written
    notes = [line for line in capsys.readouterr().err.splitlines() if "matplotlib" in line]
    assert notes == ["note: matplotlib is not installed, so no curves.png is written (pip install 'vitzoo[plot]')"]
