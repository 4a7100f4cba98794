"""``vitzoo-convert`` and ``vitzoo.weights.convert``: output, exit codes, --force, nothing left behind on failure."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from vitzoo import weights
from vitzoo.cli.convert import main
from vitzoo.errors import CheckpointError, UnknownNameError
from vitzoo.init import init_state
from vitzoo.variants import get_spec

SPEC = get_spec("vit_ti_16", depth=2, img_size=32, patch_size=8, num_classes=5)


@pytest.fixture()
def timm_file(tmp_path) -> Path:
    """A timm-layout state dict (timm names are the canonical names), without vitzoo metadata, beside timm's config.json."""
    path = tmp_path / "src" / "vit.safetensors"
    path.parent.mkdir()
    save_file(init_state(SPEC, seed=3), str(path), metadata={"format": "pt"})
    args = {"depth": 2, "img_size": 32, "patch_size": 8, "num_classes": 5}
    (path.parent / "config.json").write_text(json.dumps({"architecture": "vit_tiny_patch16_224", "model_args": args}))
    return path


def run(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_converts_and_says_what_it_did(tmp_path, timm_file, capsys):
    out = tmp_path / "out" / "vit.safetensors"
    code, lines, err = run(capsys, timm_file, "-o", out)
    assert code == 0 and err == []
    assert lines[0].startswith("Converted timm checkpoint")
    assert "heads 3" in lines[1] and "5 classes" in lines[1] and "eps 1e-06" in lines[1]
    assert "tensors: 32" in lines[2] and lines[3] == "  dropped: nothing"
    ckpt = weights.load_file(out)
    assert ckpt.spec == SPEC
    assert ckpt.meta["source_format"] == "timm" and ckpt.meta["source"] == str(timm_file)
    assert ckpt.meta["source_sha256"] == hashlib.sha256(timm_file.read_bytes()).hexdigest()
    assert all(np.array_equal(ckpt.state[k], v) for k, v in init_state(SPEC, seed=3).items())


def test_reports_registered_variant_and_dropped_entries(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    state = {k: torch.from_numpy(v) for k, v in init_state(get_spec("vit_ti_16")).items()}
    torch.save({"model": state, "optimizer": {"step": 1}, "epoch": 9}, tmp_path / "train.pth")
    report = weights.convert(tmp_path / "train.pth", tmp_path / "out.safetensors", variant="vit_tiny_patch16_224")
    assert report.variant == "vit_tiny_patch16_224" and report.dropped == ["optimizer", "epoch"]
    with pytest.raises(CheckpointError, match="does not match variant vit_s_16"):
        weights.convert(tmp_path / "train.pth", tmp_path / "other.safetensors", variant="vit_s_16")
    save_file(init_state(get_spec("vit_ti_16"), seed=1), str(tmp_path / "full.safetensors"))
    code, lines, _ = run(capsys, tmp_path / "full.safetensors", "-o", tmp_path / "full_out.safetensors")
    assert code == 0 and lines[1].startswith("  variant: vit_ti_16 (")
    code, lines, _ = run(capsys, tmp_path / "train.pth", "-o", tmp_path / "o2.safetensors", "--from", "timm")
    assert code == 0 and lines[3] == "  dropped: 2 entries: optimizer, epoch"


def test_refuses_to_overwrite_without_force(tmp_path, timm_file, capsys):
    out = tmp_path / "out.safetensors"
    out.write_bytes(b"keep me")
    code, lines, err = run(capsys, timm_file, "-o", out)
    assert code == 1 and lines == [] and len(err) == 1 and "--force" in err[0]
    assert out.read_bytes() == b"keep me"
    code, _, err = run(capsys, timm_file, "-o", out, "--force")
    assert code == 0 and err == [] and weights.detect_format(out) == "vitzoo"


@pytest.mark.parametrize(
    "make_src, extra, message",
    [
        (lambda d, f: (f.write_bytes(f.read_bytes()[:-100]), f)[1], [], "truncated"),
        (lambda d, f: save_file({"x": np.zeros(2, np.float32)}, str(d / "foreign.safetensors")) or d / "foreign.safetensors", [], "not a ViT checkpoint"),
        (lambda d, f: d / "missing.safetensors", [], "does not exist"),
        (lambda d, f: f, ["--from", "caffe"], "Unknown source format 'caffe'"),
        (lambda d, f: f, ["--to", "onnx"], "Cannot write format 'onnx'"),
        (lambda d, f: f, ["--variant", "vit_b_17"], "Did you mean"),
        (lambda d, f: f, ["--from", "jax"], ".npz archive"),
        (lambda d, f: f, ["--from", "hf"], "not part of a transformers ViT"),
        (lambda d, f: f, ["--to", "hf", "--variant", "vit_ti_16"], "does not match variant"),
    ],
)
def test_bad_input_is_one_line_and_leaves_nothing(tmp_path, timm_file, capsys, make_src, extra, message):
    src = make_src(timm_file.parent, timm_file)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, lines, err = run(capsys, src, "-o", out_dir / "result", *extra)
    assert code == 1 and lines == []
    assert len(err) == 1 and err[0].startswith("vitzoo-convert: error: ") and message in err[0], err
    assert leftovers(out_dir) == []  # no output, no temporary file


def test_failed_directory_write_leaves_nothing(tmp_path, capsys):
    spec = get_spec("vit_ti_16", depth=1, img_size=32, patch_size=8, reg_tokens=2, global_pool="avg")
    save_file(init_state(spec), str(tmp_path / "reg.safetensors"))
    (tmp_path / "out").mkdir()
    given = ("--num-heads", "3", "--norm-eps", "1e-6", "--gelu", "exact", "--global-pool", "avg")  # a bare file cannot say these
    code, _, err = run(capsys, tmp_path / "reg.safetensors", "-o", tmp_path / "out" / "hf", "--to", "hf", *given)
    assert code == 1 and len(err) == 1 and "Hugging Face" in err[0]
    assert leftovers(tmp_path / "out") == []


def test_every_writable_format_round_trips(tmp_path, timm_file):
    original = weights.read(timm_file)
    for fmt in ("vitzoo", "timm", "hf", "jax"):
        out = tmp_path / f"as_{fmt}"
        report = weights.convert(timm_file, out, to_format=fmt)
        assert report.to_format == fmt and report.bytes > 0 and report.seconds > 0
        back = weights.read(out, variant=original.spec)  # a bare timm state dict no longer has the config beside it
        assert back.spec.replace(norm_eps=1e-6) == original.spec
        assert all(back.state[k].tobytes() == v.tobytes() for k, v in original.state.items()), fmt


def test_notes_numerics_the_output_cannot_record(tmp_path, timm_file, capsys):
    code, lines, _ = run(capsys, timm_file, "-o", tmp_path / "ms.ckpt", "--to", "mindspore")
    assert code == 0 and lines[-1].startswith("  note: the mindspore format cannot record norm_eps 1e-06, gelu 'exact'")
    assert weights.convert(timm_file, tmp_path / "hf", to_format="hf").notes == []  # HF's config records both


def test_fields_the_tensors_cannot_show_are_asked_for_not_guessed(tmp_path, capsys):
    save_file(init_state(SPEC, seed=3), str(tmp_path / "bare.safetensors"))  # no config.json beside it
    code, _, err = run(capsys, tmp_path / "bare.safetensors", "-o", tmp_path / "a.safetensors")
    assert code == 1 and len(err) == 1 and "--num-heads 12 --norm-eps 1e-6 --gelu exact --global-pool token" in err[0], err
    assert not (tmp_path / "a.safetensors").exists()
    given = ("--num-heads", "3", "--norm-eps", "1e-6", "--gelu", "exact", "--global-pool", "token")
    code, lines, _ = run(capsys, tmp_path / "bare.safetensors", "-o", tmp_path / "a.safetensors", *given)
    assert code == 0 and weights.load_file(tmp_path / "a.safetensors").spec == SPEC
    code, _, _ = run(capsys, tmp_path / "bare.safetensors", "-o", tmp_path / "b.safetensors", "--variant", "vit_ti_16", "--num-heads", "3")
    assert code == 1  # the variant's depth 12 does not fit a 2-block file: the check says so


def test_unknown_names_raise_vitzoo_errors(timm_file, tmp_path):
    with pytest.raises(UnknownNameError):
        weights.convert(timm_file, tmp_path / "x", from_format="nope")
    with pytest.raises(UnknownNameError):
        weights.convert(timm_file, tmp_path / "x", to_format="nope")


def test_console_script(tmp_path, timm_file):
    script = Path(sys.executable).with_name("vitzoo-convert")
    if not script.exists():
        pytest.skip("vitzoo is not installed in this interpreter's environment")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    ok = subprocess.run([script, timm_file, "-o", tmp_path / "o.npz", "--to", "jax"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and "Converted timm checkpoint" in ok.stdout
    bad = subprocess.run([script, timm_file, "-o", tmp_path / "o.npz", "--to", "jax"], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and bad.stdout == "" and len(bad.stderr.splitlines()) == 1
    usage = subprocess.run([script, timm_file], capture_output=True, text=True, env=env)
    assert usage.returncode == 2 and len(usage.stderr.splitlines()) == 1 and "-o/--output" in usage.stderr
    assert json.loads(json.dumps(weights.read(tmp_path / "o.npz").spec.to_dict()))["num_heads"] == 3
