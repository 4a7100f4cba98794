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
GIVEN = ["--num-heads", "8", "--norm-eps", "1e-6", "--gelu", "exact", "--global-pool", "token"]  # what a bare state dict cannot show
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
    kill_while_writing([str(CONVERT), str(source), "-o", str(out), "--to", to, *GIVEN], tmp_path, target)
    assert not out.exists()
    left = leftovers(tmp_path, target)
    assert left, "the kill landed mid-write, so the temporary output is still there"
    for stale in left:
        with pytest.raises(CheckpointError):  # never mistaken for a good checkpoint, even when read on purpose
            weights.read(stale, format=to)
    with pytest.raises(CheckpointError, match="does not exist"):
        weights.read(out)
    # the next run is not confused by the leftover: it writes OUT afresh (no --force needed)
    done = subprocess.run([str(CONVERT), str(source), "-o", str(out), "--to", to, *GIVEN], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ckpt = weights.read(out)
    i = list(expected_shapes(BIG)).index("blocks.11.mlp.fc2.weight")
    np.testing.assert_array_equal(ckpt.state["blocks.11.mlp.fc2.weight"], np.full((512, 2048), 0.01 * (i % 7 + 1), np.float32))


def test_forced_replace_killed_mid_write_keeps_the_old_output(source, tmp_path):
    out = tmp_path / "out.safetensors"
    old = b"an older output that must survive"
    out.write_bytes(old)
    kill_while_writing([str(CONVERT), str(source), "-o", str(out), "--force", *GIVEN], tmp_path, out.name)
    assert out.read_bytes() == old


def test_existing_output_is_not_replaced_without_force(source, tmp_path):
    out = tmp_path / "out.safetensors"
    out.write_bytes(b"keep me")
    before = out.stat().st_mtime_ns
    proc = subprocess.run([str(CONVERT), str(source), "-o", str(out), *GIVEN], capture_output=True, text=True, timeout=300)
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


def test_training_killed_while_saving_leaves_only_whole_files(tmp_path):
    """``vitzoo train`` killed while writing a checkpoint: each output file is whole or absent, never half-written.

    A kill between the weights and the optimizer-state writes leaves a valid but mismatched
    pair; ``--resume`` must then refuse it with a clear error rather than train on.
    """
    pytest.importorskip("mindspore")
    from imagefolders import make_train_val

    from vitzoo.weights import load_file

    data = make_train_val(tmp_path / "data", train=6, val=2)
    out = tmp_path / "run"
    # ~3M parameters: writing the weights and AdamW state takes long enough to land a kill inside it
    args = [str(data), "--img-size", "32", "--patch-size", "8", "--depth", "4", "--embed-dim", "256", "--num-heads", "4",
            "--batch-size", "6", "--epochs", "40", "--output", str(out), "--no-progress", "--workers", "1"]
    vitzoo_cli = str(Path(sys.executable).with_name("vitzoo"))
    proc = subprocess.Popen([vitzoo_cli, "train", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 400
    killed = False
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            # armed once one epoch is fully saved, so an earlier whole checkpoint exists to resume from
            armed = (out / "last.optim.safetensors").exists()
            if armed and any(p.name.endswith(".tmp") and size_of(p) > (1 << 20) for p in out.iterdir()):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed = True
                break
            time.sleep(0.001)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert killed, "training finished before a checkpoint write could be interrupted"
    names = {p.name for p in out.iterdir() if not p.name.endswith(".tmp")}
    for name in names & {"last.safetensors", "best.safetensors"}:
        assert load_file(out / name).spec.embed_dim == 256  # whole, or it would not be there
    if "last.optim.safetensors" in names:
        safetensors_io.load(out / "last.optim.safetensors")
    if "metrics.jsonl" in names:
        import json

        assert all(json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines())
    resumed = subprocess.run([vitzoo_cli, "train", *args, "--resume", "--stop-epoch", "2"], capture_output=True, text=True, timeout=400)
    last_line = resumed.stderr.strip().splitlines()[-1] if resumed.stderr.strip() else ""
    # resumed from the whole pair, or refused the mismatched one in one clear line
    assert resumed.returncode == 0 or "a save was interrupted" in last_line, resumed.stderr[-2000:]
