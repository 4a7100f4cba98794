"""Writes on a real full disk and a real read-only file system; leftovers of killed writers.

Each test mounts a small tmpfs (root only: skipped with the reason otherwise) and
checks, for every kind of output (the atomic-write primitive, vitzoo-convert to a file
and to a directory, the weights cache, the trainer): one WriteError line naming the
path and the space needed, the previous file intact, and nothing else left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from vitzoo.errors import WriteError
from vitzoo.fileio import STALE_AFTER_S, atomic_path, remove_stale_temporaries

CONVERT = str(Path(sys.executable).with_name("vitzoo-convert"))


def _mount(folder: Path, size: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'not root'}); the full-disk tests need one")


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB file system of its own."""
    folder = tmp_path / "disk"
    _mount(folder, "1m")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` up to ``leave`` free bytes."""
    stat = os.statvfs(disk)
    (disk / "filler").write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))


def remount_read_only(disk: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)


def test_atomic_path_on_a_full_disk(small_disk: Path) -> None:
    target = small_disk / "out.bin"
    target.write_bytes(b"previous")
    with pytest.raises(WriteError) as err:
        with atomic_path(target, size=3 << 20) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(os.urandom(3 << 20))
    message = str(err.value)
    assert str(target) in message and "disk is full" in message and "needs 3.0 MiB" in message and "\n" not in message
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in small_disk.iterdir()) == ["out.bin"]  # no partial temporary


def test_atomic_path_without_a_size_says_how_far_it_got(small_disk: Path) -> None:
    with pytest.raises(WriteError, match=r"needs more than .* \(the disk filled after"):
        with atomic_path(small_disk / "x.txt") as tmp:
            tmp.write_bytes(b"x" * (2 << 20))
    assert list(small_disk.iterdir()) == []


@pytest.mark.parametrize("to", ["vitzoo", "hf"])
def test_convert_onto_a_full_disk(to: str, small_disk: Path, tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    from vitzoo.init import init_state
    from vitzoo.variants import get_spec

    src = tmp_path / "src.safetensors"
    save_file(init_state(get_spec("vit_ti_16", depth=2, num_classes=10), seed=0), str(src), metadata={"format": "pt"})  # ~3 MB
    out = small_disk / ("out" if to == "hf" else "out.safetensors")
    given = ["--num-heads", "3", "--norm-eps", "1e-6", "--gelu", "exact", "--global-pool", "token"]  # a bare state dict cannot say these
    proc = subprocess.run([CONVERT, str(src), "-o", str(out), "--to", to, *given], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and str(out) in proc.stderr and "disk is full" in proc.stderr, proc.stderr
    assert list(small_disk.iterdir()) == []


def test_cache_write_onto_a_full_disk(small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors.numpy import save_file

    from vitzoo import hub
    from vitzoo.init import init_state
    from vitzoo.pretrained import WeightSet
    from vitzoo.variants import get_spec

    monkeypatch.setenv("VITZOO_CACHE", str(small_disk))
    src = tmp_path / "timm.safetensors"
    save_file(init_state(get_spec("vit_ti_16", depth=2, num_classes=10), seed=0), str(src), metadata={"format": "pt"})
    from vitzoo import weights

    ws = WeightSet(name="vit_ti_16.full_disk", source_format="timm", license="apache-2.0", label_set="none", num_classes=10,
                   url="https://example.invalid/x.safetensors")
    monkeypatch.setattr(hub.download, "fetch", lambda *a, **k: src)  # the download is not what is tested here, the cache write is
    monkeypatch.setattr(hub.download, "_convert", lambda ws, source: weights.read(source, format="timm", variant=get_spec("vit_ti_16", depth=2, num_classes=10)))
    with pytest.raises(WriteError, match="vit_ti_16.full_disk.safetensors.*disk is full"):
        hub.load(ws)
    assert not list((small_disk / "weights").iterdir())


def test_trainer_on_a_full_disk_keeps_the_last_checkpoint(tmp_path: Path) -> None:
    pytest.importorskip("mindspore")
    import vitzoo
    from imagefolders import make_train_val

    disk = tmp_path / "disk"
    _mount(disk, "2m")
    try:
        data = make_train_val(tmp_path / "data", train=4, val=2)
        opts = dict(img_size=32, patch_size=8, depth=1, embed_dim=32, num_heads=2, batch_size=6, epochs=2, progress=False, workers=1)
        out = disk / "run"
        vitzoo.train(data, output=out, stop_epoch=1, **opts)
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        fill(disk, 20_000)  # less than the resumable state needs
        with pytest.raises(WriteError) as err:
            vitzoo.train(data, output=out, resume=True, **opts)
        assert "run/last.safetensors" in str(err.value) and "disk is full" in str(err.value) and "needs" in str(err.value)  # a save writes last.safetensors first
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing partial, nothing changed
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_read_only_output(small_disk: Path, tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    target = small_disk / "out.safetensors"
    target.write_bytes(b"previous")
    remount_read_only(small_disk)
    with pytest.raises(WriteError, match=r"Cannot write .*out\.safetensors.*read-only file system"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"new")
    src = tmp_path / "src.safetensors"
    save_file({"w": np.ones(2, np.float32)}, str(src))
    proc = subprocess.run([CONVERT, str(src), "-o", str(small_disk / "new.safetensors")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert target.read_bytes() == b"previous" and sorted(p.name for p in small_disk.iterdir()) == ["out.safetensors"]


def test_leftovers_of_killed_writers_are_removed_by_the_next_write(tmp_path: Path) -> None:
    """A writer killed mid-write leaves its temporary; the next write to the folder removes it once the writer is gone."""
    target = tmp_path / "x.bin"
    code = (
        "import time; from vitzoo.fileio import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    tmp.write_bytes(b'partial'); print('writing', flush=True); time.sleep(600)\n"
    )
    writers = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in writers:
        assert proc.stdout.readline().strip() == "writing"
    dead, alive = writers
    os.kill(dead.pid, signal.SIGKILL)
    dead.wait()
    temps = {p.name: p for p in tmp_path.iterdir() if p.name.endswith(".tmp")}
    assert len(temps) == 2 and all(f".{os.getpid()}-" not in name for name in temps)
    mine = next(p for n, p in temps.items() if f".{dead.pid}-" in n)
    theirs = next(p for n, p in temps.items() if f".{alive.pid}-" in n)
    try:
        with atomic_path(tmp_path / "other.bin") as tmp:  # a young leftover is kept: its writer might be on another host
            tmp.write_bytes(b"1")
        assert mine.exists() and theirs.exists()
        old = time.time() - STALE_AFTER_S - 1
        for p in (mine, theirs):
            os.utime(p, (old, old))
        with atomic_path(tmp_path / "other.bin") as tmp:
            tmp.write_bytes(b"2")
        assert not mine.exists()  # writer gone and old enough: removed
        assert theirs.exists()  # writer still running: kept, however old
        assert remove_stale_temporaries(tmp_path) == []
        assert not target.exists()  # and never taken for the target
    finally:
        alive.kill()
        alive.wait()
