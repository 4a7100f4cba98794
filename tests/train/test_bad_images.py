"""Bad images in predict, eval and train: a clear DataError naming the file, or skipped and counted on request.

Covers corrupt, truncated and empty files, a text file with an image extension,
decompression bombs (dimensions past Pillow's pixel limit, from a file of a few
hundred bytes), and the image modes that need care: CMYK, palette with
transparency, alpha, 1-bit, 16-bit and 32-bit integer grey (scaled to 8 bits, not
clipped), 32-bit float (refused: its range is unknown).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("mindspore")

import vitzoo  # noqa: E402
from vitzoo.backends.mindspore.train.data import load_image  # noqa: E402
from vitzoo.errors import DataError  # noqa: E402

from imagefolders import make_colour_folder, make_train_val  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow warns before vitzoo refuses

RAMP = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)


def png_with_size(width: int, height: int) -> bytes:
    """A valid-looking PNG header for a huge RGB image, with almost no pixel data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def encoded(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt)
    return buf.getvalue()


BAD = {
    "corrupt.jpg": b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4,
    "truncated.jpg": (lambda b: b[: len(b) // 2])(encoded(Image.fromarray(RAMP), "JPEG")),
    "truncated.png": (lambda b: b[: len(b) // 2])(encoded(Image.fromarray(RAMP), "PNG")),
    "empty.png": b"",
    "notes.png": b"these are not pixels\n",
    "bomb.png": png_with_size(100_000, 100_000),  # 10^10 pixels: past Pillow's hard limit
    "big.png": png_with_size(12_000, 12_000),  # 1.4e8 pixels: past the warning limit
}


def write_bad(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in BAD.items():
        (folder / name).write_bytes(data)
        paths.append(folder / name)
    return paths


# Decoding ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(BAD))
def test_bad_file_is_a_data_error_naming_it(name, tmp_path):
    path = write_bad(tmp_path)[list(BAD).index(name)]
    with pytest.raises(DataError) as info:
        load_image(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    if name in ("bomb.png", "big.png"):
        assert "pixels" in message


def test_special_files_are_refused_without_blocking(tmp_path):
    """A FIFO named like an image would block a decoder forever; checked in a subprocess so a regression cannot hang the suite."""
    import os
    import subprocess
    import sys

    os.mkfifo(tmp_path / "pipe.png")
    code = (
        "from vitzoo.backends.mindspore.train.data import load_image\n"
        "from vitzoo.errors import DataError\n"
        f"try:\n    load_image({str(tmp_path / 'pipe.png')!r})\nexcept DataError as e:\n    print(e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "not a regular file" in proc.stdout and "pipe.png" in proc.stdout, proc.stdout + proc.stderr


def test_image_modes_become_correct_rgb(tmp_path):
    rgb = Image.fromarray(RAMP)
    grey16 = np.linspace(0, 65535, 256).astype(np.uint16).reshape(16, 16)
    cases = {
        "cmyk.jpg": rgb.convert("CMYK"),
        "rgba.png": rgb.convert("RGBA"),
        "la.png": rgb.convert("LA"),
        "one.png": rgb.convert("1"),
        "grey16.png": Image.fromarray(grey16),
        "grey32.tif": Image.fromarray(grey16.astype(np.int32)),
    }
    for name, image in cases.items():
        image.save(tmp_path / name)
    palette = rgb.convert("P")
    palette.save(tmp_path / "palette.png", transparency=0)
    for name in [*cases, "palette.png"]:
        out = load_image(tmp_path / name)
        assert out.mode == "RGB" and out.size == (16, 16), name
    np.testing.assert_array_equal(np.asarray(load_image(tmp_path / "rgba.png")), RAMP)
    for name in ("grey16.png", "grey32.tif"):  # scaled by 255/65535, not clipped at 255
        got = np.asarray(load_image(tmp_path / name))[..., 0].astype(int)
        assert np.abs(got - np.round(grey16 / 257.0)).max() <= 1, name
    Image.fromarray(np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16)).save(tmp_path / "float.tif")
    with pytest.raises(DataError, match="float.tif.*floating-point"):
        load_image(tmp_path / "float.tif")


# The workflows -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A tiny model with the colour classes (its accuracy does not matter here)."""
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    model = vitzoo.create("vit_ti_16", backend="numpy", img_size=32, num_classes=3, depth=1, embed_dim=32, num_heads=2, mlp_dim=64, patch_size=8)
    vitzoo.save(model, path, class_names=["blue", "green", "red"])
    return path


def test_predict_names_the_bad_file(weights_file, tmp_path):
    good = make_colour_folder(tmp_path / "good", {"red": 2})
    bad = write_bad(tmp_path / "bad")
    for path in bad:
        with pytest.raises(DataError) as info:
            vitzoo.predict([good / "red" / "000.png", path], weights=weights_file)
        assert str(path) in str(info.value)


def test_predict_cli_one_line_error(weights_file, tmp_path, capsys):
    from vitzoo.cli.main import main

    bad = write_bad(tmp_path)
    assert main(["predict", str(bad[1]), "--weights", str(weights_file)]) == 1
    err = capsys.readouterr().err.strip()
    assert str(bad[1]) in err and "\n" not in err


def test_eval_stops_at_a_bad_image_or_skips_and_counts(weights_file, tmp_path):
    data = make_colour_folder(tmp_path / "val", {"blue": 3, "green": 3, "red": 3})
    bad = write_bad(data / "red")
    with pytest.raises(DataError) as info:
        vitzoo.evaluate(data, weights=weights_file, batch_size=4, workers=1)
    assert any(str(p) in str(info.value) for p in bad)
    result = vitzoo.evaluate(data, weights=weights_file, batch_size=4, skip_bad=True, workers=1)
    assert result["images"] == 9 and sorted(result["skipped"]) == sorted(map(str, bad))


def test_eval_cli_reports_how_many_were_skipped(weights_file, tmp_path, capsys):
    from vitzoo.cli.main import main

    data = make_colour_folder(tmp_path / "val", {"blue": 2, "green": 2, "red": 2})
    write_bad(data / "green")
    assert main(["eval", str(data), "--weights", str(weights_file), "--batch-size", "4", "--skip-bad", "--no-progress", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert f"skipped {len(BAD)} unreadable images" in out


def test_train_stops_at_a_bad_image_or_skips_and_counts(tmp_path):
    data = make_train_val(tmp_path / "data", train=6, val=2)
    bad = write_bad(data / "train" / "blue")
    options = dict(img_size=32, patch_size=8, depth=1, embed_dim=32, num_heads=2, batch_size=6, epochs=1,
                   progress=False, workers=1)
    with pytest.raises(DataError) as info:
        vitzoo.train(data, output=tmp_path / "run1", **options)
    assert any(str(p) in str(info.value) for p in bad)
    result = vitzoo.train(data, output=tmp_path / "run2", skip_bad=True, **options)
    assert sorted(set(result.skipped)) == sorted(map(str, bad))
    assert (tmp_path / "run2" / "best.safetensors").exists()
