"""Data parallel on msrun: 2 CPU workers keep identical replicas and match one process with the same global batch."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mindspore")

import vitzoo  # noqa: E402
from vitzoo.weights import load_file  # noqa: E402

from imagefolders import make_train_val  # noqa: E402

# augment="none": per-image random crops would differ between one process and two shards
OPTS = dict(img_size=32, patch_size=8, depth=1, embed_dim=32, num_heads=2, batch_size=12, lr=3e-3, epochs=2, augment="none", progress=False, workers=1)


@pytest.mark.skipif(
    not (shutil.which("msrun", path=os.path.dirname(sys.executable)) or shutil.which("msrun")), reason="msrun not installed"
)
def test_two_msrun_workers_match_one_process(tmp_path: Path) -> None:
    data = make_train_val(tmp_path / "data", train=8, val=4)  # 24 images: 2 global batches of 12 per epoch
    single = vitzoo.train(data, output=tmp_path / "single", **OPTS)
    double = vitzoo.train(data, output=tmp_path / "double", devices=2, **OPTS)

    # replicas: the ranks' parameters agree exactly after every epoch
    rows = [json.loads(line) for line in (tmp_path / "double" / "metrics.jsonl").read_text().splitlines()]
    assert [r["replica_max_diff"] for r in rows] == [0.0, 0.0]
    # same global batch => same training, up to the all-reduce's summation order
    a, b = load_file(tmp_path / "single" / "last.safetensors").state, load_file(tmp_path / "double" / "last.safetensors").state
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) <= 1e-4
    assert [r["loss"] for r in double.history] == pytest.approx([r["loss"] for r in single.history], abs=1e-5)
    assert double.best_epoch in (1, 2)
    # only rank 0 wrote outputs; both workers logged
    written = {p.name for p in (tmp_path / "double").iterdir()}
    assert written == {"last.safetensors", "best.safetensors", "last.optim.safetensors", "metrics.jsonl", "curves.png", "config.json", "msrun"}
    assert (tmp_path / "double" / "msrun" / "worker_1.log").exists()


def test_global_batch_must_split_evenly(tmp_path: Path) -> None:
    with pytest.raises(vitzoo.VitzooError, match="divisible"):
        vitzoo.train(tmp_path, output=tmp_path / "o", **dict(OPTS, batch_size=5, devices=2))


@pytest.mark.skipif(
    not (shutil.which("msrun", path=os.path.dirname(sys.executable)) or shutil.which("msrun")), reason="msrun not installed"
)
def test_msrun_by_hand_on_the_vitzoo_script(tmp_path: Path) -> None:
    """`msrun ... vitzoo train ...`: each worker (and msrun's scheduler) joins the group instead of training alone."""
    import subprocess

    from vitzoo.backends.mindspore.train.distributed import free_port

    data = make_train_val(tmp_path / "data", train=4, val=2)
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    cmd = [
        shutil.which("msrun", path=bindir) or "msrun", "--worker_num=2", "--local_worker_num=2", f"--master_port={free_port()}", "--join=True",
        f"--log_dir={tmp_path / 'logs'}", os.path.join(bindir, "vitzoo"), "train", str(data), "--img-size", "32", "--patch-size", "8",
        "--depth", "1", "--embed-dim", "32", "--num-heads", "2", "--epochs", "1", "--batch-size", "6", "--augment", "none",
        "--no-progress", "--output", str(tmp_path / "out"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (tmp_path / "logs" / "worker_0.log").read_text()[-2000:]
    row = json.loads((tmp_path / "out" / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["replica_max_diff"] == 0.0
    assert "2 device(s)" in (tmp_path / "logs" / "worker_0.log").read_text()
    assert "best val top-1" in (tmp_path / "logs" / "worker_0.log").read_text()
    assert "best val top-1" not in (tmp_path / "logs" / "worker_1.log").read_text()  # rank 0 reports
