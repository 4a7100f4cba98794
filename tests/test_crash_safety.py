"""Crash-safe outputs: a converter killed mid-write (SIGKILL) leaves nothing a later run would take for good.

``vitzoo-convert`` writes to a temporary name beside OUT (``.OUT.<random>.tmp``, a file
or a directory for ``--to hf``) and renames it into place only when complete. The
tests convert a ~150 MB checkpoint in a subprocess, kill it once the temporary
output holds data, and check that OUT does not exist (or, with ``--force``, is still
the old file, bit for bit), that the leftover is not a readable checkpoint and sits
under a name no reader or cache lookup uses, and that the next run succeeds. An
existing OUT is never replaced without ``--force``.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vitzoo import CheckpointError, weights
from vitzoo.canonical import expected_shapes
from vitzoo.fileio import atomic_path
from vitzoo.spec import ViTSpec
from vitzoo.weights import safetensors_io

CONVERT = Path(sys.executable).with_name("vitzoo-convert")
# ~38M parameters (150 MB): big enough that writing takes a while, small enough for the suite
BIG = ViTSpec(img_size=224, patch_size=16, embed_dim=512, depth=12, num_heads=8, mlp_dim=2048, num_classes=10)
TARGETS = {"vitzoo": "out.safetensors", "hf": "out_hf", "jax": "out.npz", "mindspore": "out.ckpt"}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A timm state dict as safetensors; values are cheap to make but distinct per tensor."""
    path = tmp_path_factory.mktemp("src") / "big.safetensors"
    tensors = {name: np.full(shape, 0.01 * (i % 7 + 1), np.float32) for i, (name, shape) in enumerate(expected_shapes(BIG).items())}
    safetensors_io.save(path, tensors, {"format": "pt"})
    return path


def leftovers(folder: Path, target: str) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(f".{target}.") and p.name.endswith(".tmp")]


def size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def kill_while_writing(cmd: list[str], folder: Path, target: str, min_bytes: int = 4 << 20, timeout: float = 300) -> None:
    """Run ``cmd`` and SIGKILL it once its temporary output holds ``min_bytes``; fail if it finishes first."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if any(size_of(p) >= min_bytes for p in leftovers(folder, target)):
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    return
            except FileNotFoundError:  # renamed or removed between listing and stat
                pass
            time.sleep(0.002)
        pytest.fail(f"{cmd} finished (rc {proc.returncode}) before it could be killed mid-write")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("to", list(TARGETS))
def test_convert_killed_mid_write_leaves_no_output(to, source, tmp_path):
    target = TARGETS[to]
    out = tmp_path / target
    kill_while_writing([str(CONVERT), str(source), "-o", str(out), "--to", to], tmp_path, target)
    assert not out.exists()
    left = leftovers(tmp_path, target)
    assert left, "the kill landed mid-write, so the temporary output is still there"
    for stale in left:
        with pytest.raises(CheckpointError):  # never mistaken for a good checkpoint, even when read on purpose
            weights.read(stale, format=to)
    with pytest.raises(CheckpointError, match="does not exist"):
        weights.read(out)
    # the next run is not confused by the leftover: it writes OUT afresh (no --force needed)
    done = subprocess.run([str(CONVERT), str(source), "-o", str(out), "--to", to], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ckpt = weights.read(out)
    i = list(expected_shapes(BIG)).index("blocks.11.mlp.fc2.weight")
    np.testing.assert_array_equal(ckpt.state["blocks.11.mlp.fc2.weight"], np.full((512, 2048), 0.01 * (i % 7 + 1), np.float32))


def test_forced_replace_killed_mid_write_keeps_the_old_output(source, tmp_path):
    out = tmp_path / "out.safetensors"
    old = b"an older output that must survive"
    out.write_bytes(old)
    kill_while_writing([str(CONVERT), str(source), "-o", str(out), "--force"], tmp_path, out.name)
    assert out.read_bytes() == old


def test_existing_output_is_not_replaced_without_force(source, tmp_path):
    out = tmp_path / "out.safetensors"
    out.write_bytes(b"keep me")
    before = out.stat().st_mtime_ns
    proc = subprocess.run([str(CONVERT), str(source), "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "already exists; pass --force" in proc.stderr and proc.stderr.count("\n") == 1
    assert out.read_bytes() == b"keep me" and out.stat().st_mtime_ns == before
    assert not leftovers(tmp_path, out.name)


def test_atomic_path_killed_inside_the_block(tmp_path):
    """The primitive everything uses: a process killed inside ``atomic_path`` leaves the target absent."""
    target = tmp_path / "x.bin"
    code = (
        "import sys, time; from vitzoo.fileio import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    tmp.write_bytes(b'partial'); print('writing', flush=True); time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not target.exists() and len(leftovers(tmp_path, "x.bin")) == 1
    with atomic_path(target) as tmp:  # a later writer is unaffected by the leftover
        tmp.write_bytes(b"complete")
    assert target.read_bytes() == b"complete"
