"""Canonical safetensors: self-describing, bit-exact, strict."""

import json
import os

import numpy as np
import pytest
from safetensors.numpy import save_file as raw_save

import vitzoo
from vitzoo import CheckpointError, weights
from vitzoo.weights import Checkpoint
from weights import safetensors_io

SPEC = vitzoo.get_spec("vit_ti_16", depth=2, img_size=32, patch_size=8, num_classes=5, norm_eps=1e-7, gelu="tanh")


def make_ckpt() -> Checkpoint:
    state = vitzoo.create("vit_ti_16", backend="numpy", **{k: getattr(SPEC, k) for k in ("depth", "img_size", "patch_size", "num_classes")}).state
    meta = {"source_format": "timm", "source": "/tmp/x.safetensors", "source_sha256": "ab" * 32,
            "class_names": list("abcde"), "pretrained_cfg": {"mean": [0.5] * 3, "crop_pct": 0.9}}
    return Checkpoint(state=state, spec=SPEC, meta=meta)


def test_round_trip_is_bit_exact_and_self_describing(tmp_path):
    ckpt = make_ckpt()
    path = tmp_path / "m.safetensors"
    weights.save_file(ckpt, path)
    back = weights.load_file(path)
    assert back.spec == SPEC
    assert back.state.keys() == ckpt.state.keys()
    assert all(np.array_equal(back.state[k], ckpt.state[k]) and back.state[k].dtype == np.float32 for k in ckpt.state)
    assert back.meta == ckpt.meta
    header = safetensors_io.try_read_header(path)["__metadata__"]
    assert header["format"] == "vitzoo" and json.loads(header["spec"])["norm_eps"] == 1e-7
    assert header["vitzoo_version"] == vitzoo.__version__
    assert weights.detect_format(path) == "vitzoo"
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left


def test_create_from_file_rebuilds_the_exact_model(tmp_path):
    ckpt = make_ckpt()
    path = tmp_path / "m.safetensors"
    weights.save_file(ckpt, path)
    model = vitzoo.create_from_file(path, backend="numpy")
    assert model.spec == SPEC and model.pretrained_cfg["class_names"] == list("abcde")
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    direct = vitzoo.backends.get_backend("numpy").build(SPEC, ckpt.state)(x)
    assert np.array_equal(model(x), direct)
    again = tmp_path / "again.safetensors"
    vitzoo.save(model, again)
    assert weights.load_file(again).meta["class_names"] == list("abcde")


def test_named_variant_must_match_file(tmp_path):
    path = tmp_path / "m.safetensors"
    weights.save_file(make_ckpt(), path)
    with pytest.raises(CheckpointError, match=r"do not match the named variant: patch_size 8 \(variant has 16\), embed_dim 192 \(variant has 768\)"):
        vitzoo.create("vit_b_16", pretrained=path, backend="numpy")


def test_foreign_and_broken_files(tmp_path):
    foreign = tmp_path / "foreign.safetensors"
    raw_save({"a": np.zeros(3, np.float32)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a vitzoo checkpoint"):
        weights.load_file(foreign)
    text = tmp_path / "notes.safetensors"
    text.write_text("hello world, not a checkpoint")
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        weights.load_file(text)
    with pytest.raises(CheckpointError, match="does not exist"):
        weights.load_file(tmp_path / "missing.safetensors")
    good = tmp_path / "good.safetensors"
    weights.save_file(make_ckpt(), good)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) - 100])
    with pytest.raises(CheckpointError):
        weights.load_file(truncated)


def test_wrong_shapes_are_named(tmp_path):
    ckpt = make_ckpt()
    state = dict(ckpt.state)
    state["head.weight"] = np.zeros((4, 192), np.float32)
    path = tmp_path / "bad.safetensors"
    safetensors_io.save(path, state, {"format": "vitzoo", "spec": SPEC.to_json()})
    with pytest.raises(CheckpointError, match=r"wrong shape head\.weight \(4, 192\) \(expected \(5, 192\)\)"):
        weights.load_file(path)


def test_failed_write_leaves_nothing(tmp_path):
    ckpt = make_ckpt()
    ckpt.state["blocks.0.norm1.weight"] = np.zeros(3, np.float32)  # invalid: refused before writing
    with pytest.raises(CheckpointError):
        weights.save_file(ckpt, tmp_path / "out.safetensors")
    assert os.listdir(tmp_path) == []


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        weights.save_file(make_ckpt(), tmp_path / "m.safetensors")
    finally:
        os.umask(old)
    assert (tmp_path / "m.safetensors").stat().st_mode & 0o777 == 0o644
