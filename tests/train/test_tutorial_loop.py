"""MindSpore's own training loop around a vitzoo model, as the ViT tutorial writes it.

``mindspore.train.Model`` with a label-smoothed cross entropy, ``nn.Adam`` over
``nn.cosine_decay_lr``, ``LossMonitor``/``TimeMonitor``/``ModelCheckpoint``,
``model.train(..., dataset_sink_mode=False)`` and ``model.eval(metrics={"acc"})``;
then the checkpoint that loop wrote, loaded back with vitzoo.
"""

from __future__ import annotations

import logging
from pathlib import Path

import mindspore as ms
import mindspore.dataset as ds
import numpy as np
import pytest
from mindspore import nn
from mindspore.train import LossMonitor, Model, ModelCheckpoint, TimeMonitor

import vitzoo

EPOCHS, BATCH, SAMPLES = 2, 8, 32
ARCH = dict(img_size=32, patch_size=8, depth=2, embed_dim=64, num_heads=4, mlp_dim=128, num_classes=10)


def _dataset() -> ds.Dataset:
    rng = np.random.default_rng(0)
    images = rng.standard_normal((SAMPLES, 3, 32, 32)).astype(np.float32)
    labels = rng.integers(0, 10, SAMPLES).astype(np.int32)
    return ds.NumpySlicesDataset((images, labels), column_names=["image", "label"], shuffle=False).batch(BATCH)


def _train(tmp_path: Path, config: "ms.train.CheckpointConfig | None") -> tuple[nn.Cell, Path, dict]:
    net = vitzoo.create("vit_ti_16", **ARCH)
    data = _dataset()
    steps = data.get_dataset_size()
    lr = nn.cosine_decay_lr(min_lr=1e-5, max_lr=1e-3, total_step=EPOCHS * steps, step_per_epoch=steps, decay_epoch=EPOCHS)
    optimizer = nn.Adam(net.trainable_params(), learning_rate=lr)
    loss = nn.CrossEntropyLoss(label_smoothing=0.1)
    model = Model(net, loss_fn=loss, optimizer=optimizer, metrics={"acc"})
    config = config or ms.train.CheckpointConfig(save_checkpoint_steps=steps, keep_checkpoint_max=1)
    ckpt_cb = ModelCheckpoint(prefix="vit_digits", directory=str(tmp_path), config=config)
    model.train(EPOCHS, data, callbacks=[LossMonitor(steps), TimeMonitor(steps), ckpt_cb], dataset_sink_mode=False)
    metrics = model.eval(_dataset(), dataset_sink_mode=False)
    files = sorted(tmp_path.glob("vit_digits-*.ckpt"))
    assert files, "ModelCheckpoint wrote no checkpoint"
    return net, files[-1], metrics


def _probe() -> ms.Tensor:
    return ms.Tensor(np.random.default_rng(1).standard_normal((4, 3, 32, 32)).astype(np.float32))


def test_tutorial_checkpoint_with_vitzoo_config_loads_back_exactly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    net = vitzoo.create("vit_ti_16", **ARCH)
    trained, path, metrics = _train(tmp_path, vitzoo.checkpoint_config(net, save_checkpoint_steps=SAMPLES // BATCH, keep_checkpoint_max=1))
    assert 0.0 <= metrics["acc"] <= 1.0
    with caplog.at_level(logging.WARNING, logger="vitzoo"):
        loaded = vitzoo.create(pretrained=path)  # no name: the file says what it is
    assert loaded.spec == trained.spec
    np.testing.assert_array_equal(loaded(_probe()).asnumpy(), trained(_probe()).asnumpy())
    lines = [r.getMessage() for r in caplog.records if r.name == "vitzoo"]
    assert len(lines) == 1 and "moment1" in lines[0] and "optimizer" in lines[0], lines


def test_tutorial_checkpoint_without_spec_is_refused_then_loads_with_the_fields(tmp_path: Path) -> None:
    trained, path, _ = _train(tmp_path, None)
    with pytest.raises(vitzoo.CheckpointError, match=r"num_heads.*num_heads=") as err:
        vitzoo.create(pretrained=path)
    assert "\n" not in str(err.value)
    # the fields the tensors cannot show, given as overrides: exact
    given = vitzoo.create(pretrained=path, num_heads=4, norm_eps=1e-6, gelu="exact", global_pool="token")
    np.testing.assert_array_equal(given(_probe()).asnumpy(), trained(_probe()).asnumpy())
    # or the variant it was built from, with the same overrides as at build time
    named = vitzoo.create("vit_ti_16", pretrained=path, **{k: v for k, v in ARCH.items() if k != "num_classes"})
    np.testing.assert_array_equal(named(_probe()).asnumpy(), trained(_probe()).asnumpy())
