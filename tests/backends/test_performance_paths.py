"""The fast paths keep their promises: runtime settings, deferred header values, no aliasing of mapped files.

Timings live in benchmarks/; these tests check behaviour only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vitzoo.errors import CheckpointError
from vitzoo.weights import safetensors_io

_PROBE = """
import json, os
import vitzoo.backends.mindspore  # applies the CPU runtime settings on import
from mindspore._c_expression import RuntimeConf
print(json.dumps(RuntimeConf.get_instance().is_launch_blocking()))
"""


@pytest.mark.parametrize("async_env, blocking", [("", True), ("1", False)])
def test_cpu_backend_switches_to_synchronous_launches_unless_asked_not_to(async_env, blocking):
    pytest.importorskip("mindspore")
    env = dict(os.environ, GLOG_v="3", VITZOO_MS_ASYNC=async_env)
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) is blocking


def test_deferred_metadata_is_filled_in_after_the_tensors(tmp_path):
    path = tmp_path / "d.safetensors"
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(5, np.float32)}
    calls = []

    def digest() -> str:
        calls.append(path.exists())  # still the temporary file: the value lands before the rename
        return "f" * 64

    safetensors_io.save(path, tensors, {"format": "pt", "sha": safetensors_io.Deferred(64, digest), "after": "x"})
    loaded, meta = safetensors_io.load_mmap(path)
    assert calls == [False]
    assert meta == {"format": "pt", "sha": "f" * 64, "after": "x"}
    assert all(np.array_equal(loaded[k], v) for k, v in tensors.items())


def test_a_deferred_value_longer_than_reserved_leaves_no_file(tmp_path):
    path = tmp_path / "d.safetensors"
    with pytest.raises(CheckpointError, match="outgrew"):
        safetensors_io.save(path, {"a": np.ones(3, np.float32)}, {"sha": safetensors_io.Deferred(4, lambda: "0123456789" * 4)})
    assert list(tmp_path.iterdir()) == []


def test_model_from_a_mapped_canonical_file_owns_its_weights(tmp_path):
    """Canonical files are read as read-only maps; the model copies once and never writes to (or aliases) the file."""
    ms = pytest.importorskip("mindspore")
    import vitzoo
    from vitzoo.backends import get_backend

    model = vitzoo.create("vit_ti_16", depth=1, num_classes=3, img_size=32)
    path = tmp_path / "m.safetensors"
    vitzoo.save(model, path)
    before = path.read_bytes()
    again = vitzoo.create_from_file(path)
    ms.ops.assign(again.head.weight, ms.Tensor(np.full((3, 192), 7.0, np.float32)))  # an optimizer-style in-place update
    assert path.read_bytes() == before
    state = get_backend("mindspore").state_dict(again)
    assert np.all(state["head.weight"] == 7.0)
    assert np.array_equal(state["pos_embed"], get_backend("mindspore").state_dict(model)["pos_embed"])


def test_random_init_model_adopts_fresh_arrays_without_sharing_between_models():
    pytest.importorskip("mindspore")
    import mindspore as ms

    import vitzoo
    from vitzoo.backends import get_backend

    a = vitzoo.create("vit_ti_16", depth=1, num_classes=3, img_size=32)
    b = vitzoo.create("vit_ti_16", depth=1, num_classes=3, img_size=32)
    ms.ops.assign(a.pos_embed, ms.Tensor(np.zeros(tuple(a.pos_embed.shape), np.float32)))
    sb = get_backend("mindspore").state_dict(b)
    assert np.abs(sb["pos_embed"]).max() > 0  # same seed, separate buffers


def _generators(dataset):
    """Every GeneratorDataset node of a mindspore.dataset pipeline."""
    import mindspore.dataset as ds

    found, todo = [], [dataset]
    while todo:
        node = todo.pop()
        found += [node] if isinstance(node, ds.GeneratorDataset) else []
        todo += list(node.children)
    return found


@pytest.mark.parametrize("workers", [1, 2])
def test_data_pipelines_keep_one_generator_worker_and_the_folder_order(tmp_path, workers):
    """A multi-worker GeneratorDataset polls with 100 ms sleeps; decoding threads live in a map instead."""
    pytest.importorskip("mindspore")
    from imagefolders import make_colour_folder
    from vitzoo.backends.mindspore.train import data as D
    from vitzoo.transforms import transforms_for

    folder = D.scan_image_folder(make_colour_folder(tmp_path, {"blue": 5, "red": 6}))
    tf = transforms_for({"input_size": (3, 32, 32), "crop_pct": 1.0})
    pipe = D.eval_dataset(folder, tf, batch_size=4, workers=workers)
    train = D.train_dataset(folder, img_size=32, mean=[0.5] * 3, std=[0.5] * 3, augment="light", batch_size=4, seed=0, workers=workers)
    assert [g.num_parallel_workers for p in (pipe, train) for g in _generators(p.dataset)] == [1, 1]
    images, labels = zip(*pipe)
    assert np.concatenate(labels).tolist() == [label for _, label in folder.samples]
    from vitzoo.backends.mindspore.train.data import load_image

    expected = np.stack([tf(load_image(path)) for path, _ in folder.samples])
    assert np.array_equal(np.concatenate(images), expected)


def test_training_redraws_the_curves_at_most_every_plot_interval_and_after_the_last_epoch(tmp_path, monkeypatch):
    pytest.importorskip("mindspore")
    import vitzoo
    from imagefolders import make_train_val
    from vitzoo.backends.mindspore.train import trainer as training

    drawn = []
    monkeypatch.setattr(training, "_plot", lambda path, rows: drawn.append(len(rows)))
    data = make_train_val(tmp_path / "data", train=4, val=2)
    tiny = dict(img_size=16, patch_size=8, depth=1, embed_dim=16, num_heads=2, batch_size=6, progress=False, workers=1)
    monkeypatch.setattr(training, "PLOT_EVERY_S", 1e9)
    vitzoo.train(data, output=tmp_path / "slow", epochs=3, **tiny)
    assert drawn == [3]
    drawn.clear()
    monkeypatch.setattr(training, "PLOT_EVERY_S", 0.0)
    vitzoo.train(data, output=tmp_path / "every", epochs=3, **tiny)
    assert drawn == [1, 2, 3]
