"""Every writer, through the API and the CLI, says in one sentence why a location cannot be written.

Two unusable locations: a folder that cannot be created (``/proc/nope/...``, as in the
issue) and a folder whose parent is a regular file. Each writer must raise one
``WriteError`` sentence naming the target (the CLI: one ``error:`` line, exit 1) and
leave nothing behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ms = pytest.importorskip("mindspore")

import vitzoo  # noqa: E402
from vitzoo import weights  # noqa: E402
from vitzoo.cli.convert import main as convert_main  # noqa: E402
from vitzoo.cli.main import main  # noqa: E402
from vitzoo.errors import WriteError  # noqa: E402
from vitzoo.workflows.tasks import demo_images  # noqa: E402

ARCH = dict(img_size=32, patch_size=8, depth=1, embed_dim=32, num_heads=2, mlp_dim=64, num_classes=3)


@pytest.fixture(scope="module")
def model():
    return vitzoo.create("vit_ti_16", **ARCH)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, model) -> Path:
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    vitzoo.save(model, path)
    return path


@pytest.fixture(params=["proc", "file-parent"])
def bad_folder(request, tmp_path) -> Path:
    if request.param == "proc":
        if not Path("/proc").is_dir():
            pytest.skip("no /proc here")
        return Path("/proc/nope")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker / "sub"


def _refused(exc: pytest.ExceptionInfo, target: Path) -> None:
    text = str(exc.value)
    assert "\n" not in text and text.startswith(f"Cannot write {str(target)!r}: its folder") and "choose another output location" in text, text


def _cli_refused(code: int, capsys: pytest.CaptureFixture, target: Path) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and f"Cannot write {str(target)!r}" in err[0], err


def test_save(model, bad_folder: Path) -> None:
    target = bad_folder / "m.safetensors"
    with pytest.raises(WriteError) as exc:
        vitzoo.save(model, target)
    _refused(exc, target)


@pytest.mark.parametrize("suffix", [".mindir", ".onnx"])
def test_export(model, weights_file: Path, bad_folder: Path, suffix: str, capsys) -> None:
    target = bad_folder / f"m{suffix}"
    with pytest.raises(WriteError) as exc:
        vitzoo.export(model, target)
    _refused(exc, target)
    _cli_refused(main(["export", "--weights", str(weights_file), "-o", str(target)]), capsys, target)


def test_embed(weights_file: Path, bad_folder: Path, capsys) -> None:
    target = bad_folder / "e.safetensors"
    images = demo_images()[:1]
    with pytest.raises(WriteError) as exc:
        vitzoo.embed(images, weights=weights_file, output=target)
    _refused(exc, target)
    _cli_refused(main(["embed", *images, "--weights", str(weights_file), "-o", str(target), "--no-progress"]), capsys, target)


@pytest.mark.parametrize("to", ["vitzoo", "timm", "hf", "jax", "mindspore", "vitzoo_ckpt"])
def test_convert_and_weights_write(weights_file: Path, bad_folder: Path, to: str, capsys) -> None:
    target = bad_folder / ("out" if to == "hf" else f"out.{to}")
    with pytest.raises(WriteError) as exc:
        weights.write(weights.load_file(weights_file), target, format=to)
    _refused(exc, target)
    _cli_refused(convert_main([str(weights_file), "-o", str(target), "--to", to]), capsys, target)


def test_train_output(tmp_path: Path, bad_folder: Path, capsys) -> None:
    data = tmp_path / "data"
    for split in ("train", "val"):
        for label in ("a", "b"):
            (data / split / label).mkdir(parents=True)
            for p in demo_images()[:2]:
                (data / split / label / Path(p).name).write_bytes(Path(p).read_bytes())
    target = bad_folder / "run"
    code = main(["train", str(data), "--output", str(target), "--epochs", "1", "--img-size", "32", "--patch-size", "8",
                 "--depth", "1", "--embed-dim", "32", "--num-heads", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and f"Cannot write {str(target / 'last.safetensors')!r}" in err[0], err
    assert not os.path.exists(bad_folder)
