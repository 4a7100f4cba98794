"""The recipe options together, with AMP and on two msrun workers: they run, stay finite and keep the replicas identical."""

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

ALL = dict(img_size=32, patch_size=8, depth=2, embed_dim=32, num_heads=2, batch_size=12, lr=3e-3, progress=False, workers=1,
           drop_path=0.2, layer_decay=0.75, mixup=0.8, cutmix=1.0, reprob=0.25, model_ema=True, model_ema_decay=0.9)
_MSRUN = shutil.which("msrun", path=os.path.dirname(sys.executable)) or shutil.which("msrun")


def test_every_recipe_option_at_once_with_amp(tmp_path: Path) -> None:
    data = make_train_val(tmp_path / "data", train=8, val=2)
    result = vitzoo.train(data, output=tmp_path / "o", epochs=1, amp=True, grad_accum_steps=2, batch_size=6,
                          **{k: v for k, v in ALL.items() if k != "batch_size"})
    row = result.history[0]
    assert np.isfinite(row["loss"]) and "ema_val_top1" in row
    assert load_file(tmp_path / "o" / "ema.safetensors").state["head.weight"].dtype == np.float32


@pytest.mark.skipif(not _MSRUN, reason="msrun not installed")
def test_recipe_options_on_two_msrun_workers_keep_the_replicas_identical(tmp_path: Path) -> None:
    data = make_train_val(tmp_path / "data", train=8, val=2)
    vitzoo.train(data, output=tmp_path / "dp", epochs=1, devices=2, augment="none", **ALL)
    rows = [json.loads(line) for line in (tmp_path / "dp" / "metrics.jsonl").read_text().splitlines()]
    # each rank mixes, erases and drops paths for its own samples, yet the all-reduced updates agree exactly
    assert rows[0]["replica_max_diff"] == 0.0 and np.isfinite(rows[0]["loss"])
    assert {"ema.safetensors", "config.json"} <= {p.name for p in (tmp_path / "dp").iterdir()}
