"""The CLIP weight-tag table (vitzoo/data/pretrained_clip.json) against the installed open_clip, and its lookups."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import vitzoo
from vitzoo.errors import UnknownNameError
from vitzoo.pretrained.clip_tags import get_clip_weight_set, list_pretrained_clip, split_clip_name
from vitzoo.weights.open_clip_models import open_clip_model_config

ROOT = Path(__file__).resolve().parents[2]


def test_table_is_what_the_script_writes_from_installed_open_clip():
    pytest.importorskip("open_clip")
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_clip_pretrained_table.py"), "--check"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_entry_is_open_clips_own_cfg_and_a_model_vitzoo_builds():
    open_clip = pytest.importorskip("open_clip")
    names = list_pretrained_clip()
    assert "ViT-B-16.laion2b_s34b_b88k" in names and "ViT-B-16-quickgelu.openai" in names and len(names) > 90
    for name in names:
        model, tag = split_clip_name(name)
        ws = get_clip_weight_set(model, tag)
        cfg = open_clip.get_pretrained_cfg(model, tag)
        assert cfg["hf_hub"] == ws.hub_repo + "/"
        assert (list(cfg["mean"]), list(cfg["std"]), cfg["interpolation"], cfg["resize_mode"]) == (list(ws.mean), list(ws.std), ws.interpolation, ws.resize_mode)
        assert open_clip_model_config(model) is not None
        assert bool(cfg.get("quick_gelu")) == bool(open_clip_model_config(model).get("quick_gelu"))


def test_names_defaults_and_preprocessing():
    ws = get_clip_weight_set("ViT-B-16", "laion2b_s34b_b88k")
    assert ws.hub_repo == "laion/CLIP-ViT-B-16-laion2B-s34B-b88K"
    assert get_clip_weight_set("ViT-B-16", "LAION2B-s34b-b88k") == ws  # open_clip's tag cleaning
    assert get_clip_weight_set("ViT-B-16").tag == "laion400m_e31"  # open_clip's first listed
    assert vitzoo.list_pretrained_clip("ViT-B-16.laion2b*") == ["ViT-B-16.laion2b_s34b_b88k"]
    siglip = get_clip_weight_set("ViT-B-16-SigLIP2-256", "webli").pretrained_cfg(256)
    assert siglip["crop_mode"] == "squash" and siglip["mean"] == [0.5, 0.5, 0.5]
    pe = get_clip_weight_set("PE-Core-T-16-384").pretrained_cfg(384)
    assert pe["interpolation"] == "bilinear" and pe["input_size"] == [3, 384, 384]


@pytest.mark.parametrize("call, words", [
    (lambda: vitzoo.create_clip("ViT-B-16", pretrained="openai"), "ViT-B-16-quickgelu.openai"),
    (lambda: vitzoo.create_clip("ViT-B-16.laion2b", backend="numpy"), "ViT-B-16.laion2b_s34b_b88k"),
    (lambda: vitzoo.create_clip("ViT-B-61", pretrained=True), "did you mean ViT-B-16"),
    (lambda: vitzoo.create_clip("ViT-S-32", pretrained="webli"), "has no pretrained CLIP weight tags"),
])
def test_unknown_tag_or_model_is_one_sentence_naming_close_ones(call, words):
    with pytest.raises(UnknownNameError, match=words.replace(".", r"\.")):
        call()


def test_a_tagged_name_with_a_file_too_is_refused(tmp_path):
    with pytest.raises(vitzoo.VitzooError, match="names its weight tag already"):
        vitzoo.create_clip("ViT-B-16.laion2b_s34b_b88k", pretrained=str(tmp_path / "x.safetensors"))


def test_list_command_prints_the_clip_tags(capsys):
    from vitzoo.cli.main import main

    assert main(["list", "--clip", "ViT-B-16.laion*"]) == 0
    out = capsys.readouterr()
    assert out.out.split() == ["ViT-B-16.laion2b_s34b_b88k", "ViT-B-16.laion400m_e31", "ViT-B-16.laion400m_e32"]
    assert "3 CLIP weight tags for 1 open_clip models" in out.err
