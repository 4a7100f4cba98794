"""Data parallel under msrun when things go wrong: a killed worker, a bad image on one rank, a node that never joins.

Also two msrun launches on 127.0.0.1 acting as two nodes (``--nodes 2 --node-rank R``):
their replicas stay identical and match one process with the same global batch.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mindspore")

import vitzoo  # noqa: E402
from vitzoo.weights import load_file  # noqa: E402

from imagefolders import make_train_val  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (shutil.which("msrun", path=os.path.dirname(sys.executable)) or shutil.which("msrun")), reason="msrun not installed"
)
VITZOO = str(Path(sys.executable).with_name("vitzoo"))
# augment="none": per-image random crops would differ between one process and two shards
OPTS = dict(img_size=32, patch_size=8, depth=1, embed_dim=32, num_heads=2, batch_size=6, lr=3e-3, epochs=3, augment="none", workers=1)


def cli(data: Path, out: Path, *extra: str, **opts: object) -> list[str]:
    args = [VITZOO, "train", str(data), "--output", str(out), "--no-progress"]
    for key, value in dict(OPTS, **opts).items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args + list(extra)


def same_weights(a: Path, b: Path, atol: float) -> bool:
    wa, wb = load_file(a / "last.safetensors").state, load_file(b / "last.safetensors").state
    return max(float(np.abs(wa[k] - wb[k]).max()) for k in wa) <= atol


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_train_val(tmp_path_factory.mktemp("colours"), train=4, val=2)  # 12 images: 2 global batches of 6


@pytest.fixture(scope="module")
def single(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("single") / "out"
    vitzoo.train(data, output=out, progress=False, **OPTS)
    return out


def test_killed_worker_ends_the_job_naming_it_and_resume_continues(data: Path, single: Path, tmp_path: Path) -> None:
    out = tmp_path / "dp"
    proc = subprocess.Popen(cli(data, out, devices=2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (out / "metrics.jsonl").exists():  # epoch 1 saved
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-2000:]
        time.sleep(0.05)
    log = (out / "msrun" / "worker_1.log").read_text()
    pid = int(re.search(r"vitzoo worker: rank 1 of 2, pid (\d+)", log).group(1))
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    _, err = proc.communicate(timeout=60)  # never hangs: the whole job ends well within a minute
    print(f"a killed rank ended the job in {time.monotonic() - killed:.1f} s")
    assert proc.returncode == 1
    line = err.strip().splitlines()[-1]
    assert f"rank 1 (pid {pid}) was killed by SIGKILL" in line and str(out / "msrun" / "worker_1.log") in line and "--resume" in line
    assert not [p for p in (out / "msrun").glob("*.log") if _alive_in(p)]  # no worker left running

    resumed = subprocess.run(cli(data, out, "--resume", devices=2), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3] and all(r["replica_max_diff"] == 0.0 for r in rows)
    assert same_weights(single, out, atol=1e-4)  # same global batch: the single-process result


def _alive_in(log: Path) -> bool:
    """Whether the worker that wrote ``log`` still runs (a zombie has ended)."""
    found = re.search(r"vitzoo worker: rank \d+ of \d+, pid (\d+)", log.read_text(errors="replace"))
    status = Path(f"/proc/{found.group(1)}/status") if found else None
    try:
        return status is not None and "zombie" not in status.read_text()
    except OSError:
        return False


def test_bad_image_on_one_rank_stops_every_rank(tmp_path: Path) -> None:
    data = make_train_val(tmp_path / "data", train=4, val=2)
    bad = data / "train" / "green" / "002.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(vitzoo.BackendError) as err:
        vitzoo.train(data, output=tmp_path / "dp", devices=2, progress=False, **dict(OPTS, epochs=1))
    message = str(err.value)
    assert re.search(r"rank [01] \(pid \d+\) failed: vitzoo\.errors\.DataError: Cannot read image .*002\.png", message), message
    assert "worker_" in message and "\n" not in message


def test_two_nodes_on_one_host_match_one_process(data: Path, single: Path, tmp_path: Path) -> None:
    from vitzoo.backends.mindspore.train.distributed import free_port

    out, port = tmp_path / "nodes", free_port()

    def node(rank: int) -> subprocess.Popen:
        return subprocess.Popen(cli(data, out, devices=1, nodes=2, node_rank=rank, master_addr="127.0.0.1", master_port=port, join_timeout=120),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # node 0 first: on one host node 1's msrun also thinks it is the master, and its scheduler must find the port taken
    nodes = [node(0)]
    deadline = time.monotonic() + 120
    while not _listening(port):
        assert nodes[0].poll() is None and time.monotonic() < deadline, nodes[0].communicate()[1][-2000:]
        time.sleep(0.2)
    nodes.append(node(1))
    results = [p.communicate(timeout=400) for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0], results[0][1][-1500:] + results[1][1][-1500:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(r["replica_max_diff"] == 0.0 for r in rows)
    assert same_weights(single, out, atol=1e-4)
    assert "best val top-1" in results[0][0] and "best val top-1" not in results[1][0]  # node 0 reports and writes
    assert (out / "msrun" / "node_1" / "worker_1.log").exists()  # msrun names logs by global rank


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_a_node_that_never_joins_ends_the_other_with_a_clear_error(data: Path, tmp_path: Path) -> None:
    from vitzoo.backends.mindspore.train.distributed import free_port

    started = time.monotonic()
    proc = subprocess.run(cli(data, tmp_path / "alone", devices=1, nodes=2, node_rank=0, master_port=free_port(), join_timeout=15),
                          capture_output=True, text=True, timeout=180)
    print(f"node 0 alone gave up after {time.monotonic() - started:.1f} s (join timeout 15 s)")
    assert proc.returncode == 1
    line = proc.stderr.strip().splitlines()[-1]
    assert "not every worker joined within --join-timeout 15 s" in line and "--master-addr" in line, proc.stderr[-2000:]
