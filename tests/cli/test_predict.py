"""`vitzoo predict`: the README's demo command, files/directories/globs, top-k and JSON output."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mindspore")

import vitzoo  # noqa: E402
from vitzoo.errors import DataError, VitzooError  # noqa: E402
from vitzoo.workflows.tasks import demo_images, demo_weights, expand_images  # noqa: E402


def test_demo_assets_are_small_and_self_describing() -> None:
    from vitzoo.weights import load_file

    assert os.path.getsize(demo_weights()) < 5_000_000
    ckpt = load_file(demo_weights())
    assert ckpt.class_names == [str(d) for d in range(10)]
    assert (ckpt.spec.img_size, ckpt.spec.patch_size, ckpt.spec.depth, ckpt.spec.embed_dim) == (32, 4, 4, 64)
    assert [Path(p).name for p in demo_images()] == [f"{d}.png" for d in range(10)]


def test_demo_command_prints_the_right_digits() -> None:
    """The README's first command, as a user runs it: offline, no other input."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", GLOG_v="3")
    proc = subprocess.run([sys.executable, "-m", "vitzoo", "predict", "--demo", "--top", "1"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = re.findall(r"^(.*?)(\d)\.png: (\S+) \(([\d.]+)%\)$", proc.stdout, flags=re.M)
    assert len(lines) == 10, proc.stdout
    for _, digit, predicted, percent in lines:
        assert predicted == digit
        assert 50.0 < float(percent) <= 100.0


def test_files_directories_and_globs(tmp_path: Path) -> None:
    for p in demo_images()[:3]:
        shutil.copy(p, tmp_path / Path(p).name)
    (tmp_path / "sub").mkdir()
    shutil.copy(demo_images()[3], tmp_path / "sub" / "3.png")
    (tmp_path / "notes.txt").write_text("not an image")
    assert [Path(p).name for p in expand_images([str(tmp_path)])] == ["0.png", "1.png", "2.png", "3.png"]
    assert [Path(p).name for p in expand_images([str(tmp_path / "[12].png"), str(tmp_path / "sub" / "3.png")])] == ["1.png", "2.png", "3.png"]
    with pytest.raises(DataError, match="No image file matches"):
        expand_images([str(tmp_path / "*.jpg")])
    results = vitzoo.predict(str(tmp_path / "*.png"), weights=demo_weights(), top_k=3)
    assert [Path(r["image"]).name for r in results] == ["0.png", "1.png", "2.png"]
    for r in results:
        probs = [t["prob"] for t in r["top"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-6
        assert r["top"][0]["label"] == Path(r["image"]).stem


def test_cli_json_and_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from vitzoo.cli.main import main

    assert main(["predict", demo_images()[7], "--json", "--top", "2"]) == 0
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert payload["predictions"][0]["top"][0]["label"] == "7" and len(payload["predictions"][0]["top"]) == 2
    assert main(["predict"]) == 1
    assert "--demo" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    assert main(["predict", str(bad)]) == 1
    assert str(bad) in capsys.readouterr().err


def test_model_without_head_is_refused() -> None:
    model = vitzoo.create("vit_ti_16", img_size=32, patch_size=8, depth=1, num_classes=0)
    with pytest.raises(VitzooError, match="no classifier head.*vitzoo embed"):
        vitzoo.predict(demo_images()[0], model)


def test_embedding_models_point_to_embed_instead_of_printing_classes(tmp_path, capsys) -> None:
    from vitzoo.cli.main import main

    tiny = dict(img_size=32, patch_size=8, depth=1)
    dinov2 = vitzoo.create("dinov2_s_14", **tiny)
    clip = vitzoo.create("clip_b_16_quickgelu", **tiny)  # 512-wide image projection, no class names
    for model, words in ((dinov2, "no classifier head"), (clip, "embedding projection \\(512 values\\)")):
        with pytest.raises(DataError, match=words + ".*image embeddings, not classes.*vitzoo embed"):
            vitzoo.predict(demo_images()[0], model)
    clip.pretrained_cfg = {"pretrained_cfg": {"label_set": "none"}}
    clip.reset_classifier(1000)  # a projection whatever its width, when the weights say so
    with pytest.raises(DataError, match="embedding projection"):
        vitzoo.predict(demo_images()[0], clip)
    clip.pretrained_cfg = {}  # a fine-tuned CLIP with an ImageNet-1k classifier does predict
    assert len(vitzoo.predict(demo_images()[0], clip, top_k=2)[0]["top"]) == 2
    vitzoo.save(dinov2, tmp_path / "dinov2.safetensors")
    assert main(["predict", demo_images()[0], "--weights", str(tmp_path / "dinov2.safetensors")]) == 1
    err = capsys.readouterr().err.strip()
    assert "vitzoo embed" in err and len(err.splitlines()) == 1
