"""Loading a checkpoint never runs code from it, whatever its name and through every entry point.

Each hostile file holds a pickle whose ``__reduce__`` creates a marker file when
unpickled (through ``os.system`` or ``builtins.open``). A control run proves the
payload works: plain ``pickle.load`` does create the marker. Then the file, under
every name a checkpoint can have (.pth, .bin, .npz, .safetensors, .ckpt, an HF
directory's pytorch_model.bin), is handed to ``vitzoo.weights.read`` (detection and
each explicit format), to ``vitzoo-convert`` in a subprocess and to
``vitzoo.create(pretrained=FILE)``: each must raise (or exit with) a one-line
VitzooError, and the marker must never appear.
"""

import io
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import vitzoo
from vitzoo import VitzooError, weights

CONVERT = Path(sys.executable).with_name("vitzoo-convert")
FORMATS = ["timm", "hf", "jax", "vitzoo", "mindspore", "mindcv", "vitzoo_ckpt", "open_clip", "dinov2"]


class TouchWithSystem:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


class TouchWithOpen:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def state_with(payload):
    """A plausible state dict with the payload hidden among real tensors."""
    return {"patch_embed.proj.weight": torch.zeros(8, 3, 4, 4), "pos_embed": torch.zeros(1, 5, 8), "blocks.0.x": payload}


def hostile_files(root: Path, payload_type):
    """(name, path, marker): every container a pickle can hide in, each with its own marker."""
    out = []

    def marker(name):
        return root / f"ran-{name}"

    def add(name, write):
        path = root / name
        write(path, payload_type(marker(name)))
        out.append((name, path, marker(name)))

    def torch_zip(path, payload):
        torch.save(state_with(payload), path)

    def torch_legacy(path, payload):
        torch.save(state_with(payload), path, _use_new_zipfile_serialization=False)

    def raw_pickle(path, payload):
        path.write_bytes(pickle.dumps(state_with(payload)))

    def npz(path, payload):
        with open(path, "wb") as fh:  # np.savez would append .npz to the name
            np.savez(fh, **{"embedding/kernel": np.zeros((4, 4, 3, 8), np.float32), "cls": np.array([payload], dtype=object)})

    def hf_dir(path, payload):
        path.mkdir()
        (path / "config.json").write_text('{"model_type": "vit", "num_attention_heads": 2}')
        torch.save({"vit.embeddings.patch_embeddings.projection.weight": torch.zeros(8, 3, 4, 4), "x": payload},
                   path / "pytorch_model.bin")

    add("model.pth", torch_zip)
    add("pytorch_model.bin", torch_legacy)
    add("raw.pth", raw_pickle)
    add("vit.npz", npz)
    add("renamed.safetensors", torch_zip)
    add("raw.safetensors", raw_pickle)
    add("vit.ckpt", torch_zip)
    add("raw.ckpt", raw_pickle)
    add("legacy.ckpt", torch_legacy)
    add("hf_model", hf_dir)
    return out


@pytest.fixture(params=[TouchWithSystem, TouchWithOpen], ids=["os.system", "open"])
def files(request, tmp_path):
    return hostile_files(tmp_path, request.param)


def test_the_payload_really_runs_when_unpickled(files, tmp_path):
    """The control: an ordinary unpickler does run it, so the tests below can fail."""
    name, path, marker = next(f for f in files if f[0] == "raw.pth")
    subprocess.run([sys.executable, "-c", f"import pickle; pickle.load(open({str(path)!r}, 'rb'))"], check=True)
    assert marker.exists()
    name, path, marker = next(f for f in files if f[0] == "model.pth")
    subprocess.run([sys.executable, "-c", f"import torch; torch.load({str(path)!r}, weights_only=False)"], check=True)
    assert marker.exists()


def test_weights_read_runs_nothing(files):
    for name, path, marker in files:
        for fmt in ["auto"] + FORMATS:
            with pytest.raises(VitzooError) as info:
                weights.read(path, format=fmt)
            assert "\n" not in str(info.value) and str(path) in str(info.value), (name, fmt, str(info.value))
        assert not marker.exists(), f"{name}: code in the file ran"


def test_create_runs_nothing(files):
    for name, path, marker in files:
        for variant in (None, "vit_ti_16"):
            with pytest.raises(VitzooError):
                vitzoo.create(variant, pretrained=path, backend="numpy")
        assert not marker.exists(), f"{name}: code in the file ran"


CLI_CASES = [("model.pth", []), ("pytorch_model.bin", []), ("vit.npz", []), ("vit.npz", ["--from", "timm"]),
             ("renamed.safetensors", []), ("raw.safetensors", ["--from", "jax"]), ("raw.ckpt", ["--from", "mindspore"]),
             ("hf_model", [])]


def test_convert_cli_runs_nothing(tmp_path):
    assert CONVERT.exists()
    files = {name: (path, marker) for name, path, marker in hostile_files(tmp_path, TouchWithSystem)}
    for name, extra in CLI_CASES:
        path, marker = files[name]
        out = tmp_path / f"out-{name}.safetensors"
        proc = subprocess.run([str(CONVERT), str(path), "-o", str(out), *extra], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 1, (name, proc.stdout, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "vitzoo-convert: error:" in proc.stderr, proc.stderr
        assert not out.exists()
        assert not marker.exists(), f"{name}: code in the file ran"


def test_weights_only_is_not_the_only_guard(tmp_path):
    """Pickles torch's weights-only unpickler would accept, but that would make it allocate gigabytes, are refused too."""

    class Bomb:
        def __reduce__(self):
            return bytearray, (2**34,)

    buf = io.BytesIO()
    torch.save({"patch_embed.proj.weight": torch.zeros(2), "blob": Bomb()}, buf)
    path = tmp_path / "bomb.pth"
    path.write_bytes(buf.getvalue())
    with zipfile.ZipFile(path) as zf:
        assert any(n.endswith("data.pkl") for n in zf.namelist())
    with pytest.raises(VitzooError, match="calls builtins.bytearray"):
        weights.read(path)
