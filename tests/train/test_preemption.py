"""Long training jobs: a real SIGTERM/SIGINT/SIGKILL to a real `vitzoo train`, resumed mid-epoch; divergence.

A scheduler's SIGTERM (or Ctrl+C's SIGINT) lets the current step finish, saves the whole
state and exits 143 (130) with one line that gives the command to continue. The resumed
run ends with exactly the weights and optimizer state of an uninterrupted one. A run
killed with no warning continues from its last ``--save-every-steps`` save, also exactly.
A learning rate that makes the loss non-finite stops the run with a TrainError that
leaves the last checkpoint as it was, or, with ``--skip-nonfinite``, skips such steps.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mindspore")

import vitzoo  # noqa: E402
from vitzoo.errors import TrainError  # noqa: E402
from vitzoo.weights import load_file, safetensors_io  # noqa: E402

from imagefolders import make_train_val  # noqa: E402

# 16 images per class, batch 4: 12 steps per epoch; random ("light") augmentation, so the replay matters
OPTS = dict(img_size=32, patch_size=8, depth=1, embed_dim=32, num_heads=2, batch_size=4, epochs=2, augment="light", workers=1, lr=3e-3)
VITZOO = str(Path(sys.executable).with_name("vitzoo"))


def cli_args(data: Path, out: Path, **extra: object) -> list[str]:
    opts = dict(OPTS, **extra)
    args = [VITZOO, "train", str(data), "--output", str(out), "--no-progress"]
    for key, value in opts.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_train_val(tmp_path_factory.mktemp("colours"), train=16, val=2)


@pytest.fixture(scope="module")
def straight(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run every interrupted one must reproduce."""
    out = tmp_path_factory.mktemp("straight") / "out"
    vitzoo.train(data, output=out, progress=False, **OPTS)
    return out


def position(out: Path) -> dict:
    return json.loads(safetensors_io.load(out / "last.optim.safetensors")[1]["vitzoo_train"])


def assert_same_run(a: Path, b: Path) -> None:
    """Bit-identical weights and optimizer state (moments, step counts)."""
    wa, wb = load_file(a / "last.safetensors").state, load_file(b / "last.safetensors").state
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    sa, sb = safetensors_io.load(a / "last.optim.safetensors")[0], safetensors_io.load(b / "last.optim.safetensors")[0]
    assert sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)
    ra = [json.loads(line) for line in (a / "metrics.jsonl").read_text().splitlines()]
    rb = [json.loads(line) for line in (b / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["val_top1"], r["nonfinite_steps"]) for r in ra] == [(r["epoch"], r["val_top1"], r["nonfinite_steps"]) for r in rb]


def wait_for(proc: subprocess.Popen, ready, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"training ended (rc {proc.returncode}) before the fault could be injected"
        assert time.monotonic() < deadline, "timed out waiting for training to get going"
        time.sleep(0.01)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_saves_and_resume_is_bit_identical(sig: int, data: Path, straight: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(cli_args(data, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(proc, lambda: (out / "metrics.jsonl").exists())  # epoch 1 is saved: the signal lands in epoch 2
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    # MindSpore's runtime turns a SIGINT that arrives inside a graph call into SIGTERM
    assert proc.returncode in ((143,) if sig == signal.SIGTERM else (130, 143)), err
    last = err.strip().splitlines()[-1]
    assert last.startswith("vitzoo train: stopped by SIG") and "at epoch 2, step" in last and last.endswith(" --resume"), err
    saved = position(out)
    assert saved["epoch"] == 1 and 0 < saved["step"] < 12  # mid-epoch
    # the line's own command continues the run (it only adds --resume)
    command = shlex.split(last.split(": ")[-1])
    assert command[0] == "vitzoo" and command[1:] == cli_args(data, out)[1:] + ["--resume"]
    resumed = subprocess.run([VITZOO, *command[1:]], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming at epoch 2 step {saved['step'] + 1}" in resumed.stderr
    assert_same_run(straight, out)


def test_sigkill_resumes_from_the_last_periodic_save(data: Path, straight: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(cli_args(data, out, save_every_steps=5), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def saved_mid_epoch_2() -> bool:
        try:
            return (out / "last.optim.safetensors").exists() and position(out)["epoch"] == 1 and position(out)["step"] > 0
        except Exception:  # noqa: BLE001 - read between its creation and its first complete write: look again
            return False

    wait_for(proc, saved_mid_epoch_2)
    proc.send_signal(signal.SIGKILL)  # no warning, no chance to save
    proc.communicate(timeout=60)
    assert position(out)["step"] in (3, 8)  # saves after global steps 15 and 20: steps 3 and 8 of epoch 2
    resumed = subprocess.run(cli_args(data, out, save_every_steps=5) + ["--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_run(straight, out)


@pytest.mark.parametrize("killed_after_epoch", [1, 2])
def test_a_kill_between_the_state_and_its_metrics_row_loses_no_row(killed_after_epoch: int, data: Path, straight: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The resumable state carries the finished epochs' rows: a kill before metrics.jsonl is written, and the resume has them."""
    from vitzoo.backends.mindspore.train import trainer

    class Killed(BaseException):
        pass

    real_write = trainer._write_metrics

    def killed_before_the_row(path, rows):  # noqa: ANN001
        if rows and rows[-1]["epoch"] == killed_after_epoch:
            raise Killed
        return real_write(path, rows)

    out = tmp_path / "run"
    monkeypatch.setattr(trainer, "_write_metrics", killed_before_the_row)
    with pytest.raises(Killed):
        vitzoo.train(data, output=out, progress=False, **OPTS)
    monkeypatch.setattr(trainer, "_write_metrics", real_write)
    assert position(out)["epoch"] == killed_after_epoch  # the state of that epoch is saved ...
    written = (out / "metrics.jsonl").read_text().splitlines() if (out / "metrics.jsonl").exists() else []
    assert [json.loads(line)["epoch"] for line in written] == list(range(1, killed_after_epoch))  # ... its row is not
    vitzoo.train(data, output=out, progress=False, resume=True, **OPTS)
    assert_same_run(straight, out)


def test_divergence_stops_with_advice_and_keeps_the_last_good_checkpoint(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    opts = dict(OPTS, augment="none", progress=False)
    vitzoo.train(data, output=out, stop_epoch=1, **opts)
    before = {name: (out / name).read_bytes() for name in ("last.safetensors", "last.optim.safetensors", "best.safetensors")}
    with pytest.raises(TrainError) as err:  # lr 1e12: the first update blows the weights up, the next loss is NaN
        vitzoo.train(data, output=out, resume=True, **dict(opts, lr=1e12))
    message = str(err.value)
    # which early step first gives a NaN loss depends on the kernels' rounding; the message names it
    assert re.search(r"diverged at epoch 2, step [23] of 12", message) and "loss nan" in message
    assert "--lr" in message and "--clip-grad" in message and "\n" not in message
    assert {name: (out / name).read_bytes() for name in before} == before


def test_skip_nonfinite_passes_over_bad_steps_and_counts_them(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    result = vitzoo.train(data, output=out, progress=False, **dict(OPTS, augment="none", epochs=1, lr=1e12, warmup_epochs=0, skip_nonfinite=100))
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert row["nonfinite_steps"] == 11 == result.history[0]["nonfinite_steps"]  # every step after the first
    assert np.isfinite(row["loss"])  # the mean of the steps that counted
    assert all(np.isfinite(v).all() for v in load_file(out / "last.safetensors").state.values())  # skipped steps changed nothing
    assert capsys.readouterr().err.count("warning: skipped epoch 1, step") == 11
    with pytest.raises(TrainError, match=r"epoch 1, step 4 of 12: loss nan \(2 allowed by --skip-nonfinite\)"):
        vitzoo.train(data, output=tmp_path / "strict", progress=False, **dict(OPTS, augment="none", epochs=1, lr=1e12, warmup_epochs=0, skip_nonfinite=2))
