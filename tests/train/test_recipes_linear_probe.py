"""``--linear-probe`` on cached features: the head equals torch's AdamW on the same features, whole-model checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
torch = pytest.importorskip("torch")

import vitzoo  # noqa: E402
from vitzoo.backends.mindspore.train import data as D  # noqa: E402
from vitzoo.backends.mindspore.train.step import lr_at  # noqa: E402
from vitzoo.backends.mindspore.train.trainer import epoch_seed  # noqa: E402
from vitzoo.configs import TrainConfig  # noqa: E402
from vitzoo.errors import TrainError  # noqa: E402
from vitzoo.transforms import transforms_for  # noqa: E402
from vitzoo.weights import load_file  # noqa: E402

from imagefolders import make_train_val  # noqa: E402

TINY = dict(img_size=32, patch_size=8, depth=1, embed_dim=32, num_heads=2, batch_size=12, lr=3e-3, progress=False, workers=1)
RUN = dict(batch_size=12, progress=False, workers=1)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pre")
    data = make_train_val(root / "data", train=16, val=4)
    vitzoo.train(data, output=root / "run", epochs=1, **TINY)
    return data, root / "run" / "last.safetensors"


def test_head_on_cached_features_equals_torch_adamw_on_the_models_features(pretrained: tuple[Path, Path], tmp_path: Path) -> None:
    data, weights = pretrained
    epochs, lr = 2, 1e-2
    result = vitzoo.train(data, output=tmp_path / "lp", pretrained=str(weights), linear_probe=True, epochs=epochs, lr=lr, **RUN)
    tuned = vitzoo.create_from_file(tmp_path / "lp" / "last.safetensors")
    # the reference features: the model's own forward (PyNative) on the run's eval transform, folder order
    folder = D.scan_image_folder(data / "train")
    transform = transforms_for(tuned)
    images = np.stack([transform(D.load_image(p)) for p, _ in folder.samples])
    feats = tuned.forward_head(tuned.forward_features(ms.Tensor(images)), pre_logits=True).asnumpy()
    labels = np.array([y for _, y in folder.samples])
    start = vitzoo.create(None, pretrained=str(weights), num_classes=3)  # the head the run started from (as build_model)
    head = torch.nn.Linear(feats.shape[1], 3)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(start.head.weight.asnumpy()))
        head.bias.copy_(torch.from_numpy(start.head.bias.asnumpy()))
    opt = torch.optim.AdamW([{"params": [head.weight], "weight_decay": 0.05}, {"params": [head.bias], "weight_decay": 0.0}], lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    steps = len(feats) // 12
    total, warmup = steps * epochs, int(round(0.1 * epochs * steps))
    losses = []
    for epoch in range(epochs):
        order = np.random.default_rng(epoch_seed(0, epoch)).permutation(len(feats))
        epoch_losses = []
        for b in range(steps):
            rows = order[b * 12:(b + 1) * 12]
            for g in opt.param_groups:
                g["lr"] = lr_at(epoch * steps + b, total, warmup, lr, 0.0)
            opt.zero_grad()
            loss = loss_fn(head(torch.from_numpy(feats[rows])), torch.from_numpy(labels[rows]).long())
            loss.backward()
            opt.step()
            epoch_losses.append(float(loss.detach()))
        losses.append(np.mean(epoch_losses))
    np.testing.assert_allclose(tuned.head.weight.asnumpy(), head.weight.detach().numpy(), atol=2e-5)
    np.testing.assert_allclose(tuned.head.bias.asnumpy(), head.bias.detach().numpy(), atol=2e-5)
    np.testing.assert_allclose([r["loss"] for r in result.history], losses, rtol=1e-5)
    assert np.abs(tuned.head.weight.asnumpy() - start.head.weight.asnumpy()).max() > 1e-3  # it trained
    # the checkpoint is the whole model: the pretrained backbone, bit for bit, and the new head
    base, saved = load_file(weights).state, load_file(tmp_path / "lp" / "last.safetensors").state
    assert set(base) == set(saved) and all(np.array_equal(base[k], saved[k]) for k in base if not k.startswith("head"))
    # its val accuracy is the one the run reported from the cached val features
    assert vitzoo.evaluate(data / "val", weights=str(tmp_path / "lp" / "last.safetensors"))["top1"] == pytest.approx(result.history[-1]["val_top1"])


def test_linear_probe_resumes_exactly(pretrained: tuple[Path, Path], tmp_path: Path) -> None:
    data, weights = pretrained
    opts = dict(pretrained=str(weights), linear_probe=True, epochs=2, lr=1e-2, model_ema=True, **RUN)
    straight = vitzoo.train(data, output=tmp_path / "a", **opts)
    vitzoo.train(data, output=tmp_path / "b", stop_epoch=1, **opts)
    resumed = vitzoo.train(data, output=tmp_path / "b", resume=True, **opts)
    # The same batches and state; the losses agree to float32 rounding (the resumed process's head-only
    # graph rounds differently in the last bits: see the module docstring of linear_probe.py)
    np.testing.assert_allclose([r["loss"] for r in resumed.history], [r["loss"] for r in straight.history], rtol=1e-6)
    assert [r["ema_val_top1"] for r in resumed.history] == [r["ema_val_top1"] for r in straight.history]


@pytest.mark.parametrize("recipe", ["deit", "finetune", "linear-probe"])
def test_every_preset_runs_end_to_end(recipe: str, pretrained: tuple[Path, Path], tmp_path: Path) -> None:
    data, weights = pretrained
    result = vitzoo.train(data, output=tmp_path / recipe, pretrained=str(weights), recipe=recipe, epochs=1, **RUN)
    assert np.isfinite(result.history[0]["loss"]) and (tmp_path / recipe / "best.safetensors").exists()
    assert load_file(tmp_path / recipe / "last.safetensors").state.keys() == load_file(weights).state.keys()


@pytest.mark.parametrize("extra, named", [(dict(mixup=0.8), "--mixup"), (dict(cutmix=1.0), "--cutmix"), (dict(aa="rand-m9"), "--aa"),
                                          (dict(reprob=0.25), "--reprob"), (dict(mixup=0.5, aa="rand-m9"), "--mixup, --aa")])
def test_image_augmentations_with_linear_probe_are_one_sentence(extra: dict, named: str) -> None:
    with pytest.raises(TrainError, match=f"so {named} cannot apply") as err:
        TrainConfig("data", linear_probe=True, pretrained="x.safetensors", **extra)
    assert "\n" not in str(err.value)
