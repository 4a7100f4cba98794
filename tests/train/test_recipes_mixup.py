"""``--mixup/--cutmix``: with the same random draws, the mixed images and targets are ``timm.data.Mixup``'s; the soft loss is timm's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import vitzoo  # noqa: E402
from vitzoo.backends.mindspore.train.mixup import Mixup, batch_rng  # noqa: E402
from vitzoo.configs import TrainConfig  # noqa: E402
from vitzoo.errors import VitzooError  # noqa: E402

from imagefolders import make_train_val  # noqa: E402

SETTINGS = {
    "mixup": dict(mixup_alpha=0.8),
    "cutmix": dict(mixup_alpha=0.0, cutmix_alpha=1.0),
    "both": dict(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5),
    "minmax": dict(mixup_alpha=0.0, cutmix_minmax=(0.2, 0.8)),
    "both_minmax_half_prob": dict(mixup_alpha=0.4, cutmix_minmax=(0.3, 0.9), prob=0.6, switch_prob=0.7),
}


@pytest.mark.parametrize("mode", ["batch", "pair", "elem"])
@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_mixed_images_and_targets_equal_timms_for_the_same_draws(setting: str, mode: str) -> None:
    from timm.data import Mixup as TimmMixup

    args = dict(SETTINGS[setting], mode=mode, label_smoothing=0.1, num_classes=7)
    ours_mix, ref_mix = Mixup(**args), TimmMixup(**args)
    for seed in range(6):  # several draws: mixup, cutmix and unmixed batches all occur
        x = np.random.default_rng(seed).standard_normal((8, 3, 24, 20)).astype(np.float32)
        y = np.random.default_rng(seed + 100).integers(0, 7, 8)
        np.random.seed(seed)  # timm draws from NumPy's global legacy generator
        ref_x, ref_y = ref_mix(torch.from_numpy(x.copy()), torch.from_numpy(y))
        ours_x, ours_y = ours_mix(x, y, np.random.RandomState(seed))
        assert np.array_equal(ours_x, ref_x.numpy()), (setting, mode, seed)
        assert np.array_equal(ours_y, ref_y.numpy()), (setting, mode, seed)
        assert ours_y.dtype == np.float32 and np.allclose(ours_y.sum(1), 1.0)


def test_soft_target_loss_equals_timms() -> None:
    from timm.loss import SoftTargetCrossEntropy

    from vitzoo.backends.mindspore.train.step import soft_target_cross_entropy

    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 5)).astype(np.float32) * 3
    target = rng.dirichlet(np.ones(5), 6).astype(np.float32)
    ours = float(soft_target_cross_entropy(ms.Tensor(logits), ms.Tensor(target)).asnumpy())
    ref = float(SoftTargetCrossEntropy()(torch.from_numpy(logits), torch.from_numpy(target)))
    assert ours == pytest.approx(ref, rel=1e-6)


def test_batch_draws_depend_on_seed_step_and_rank_only() -> None:
    assert batch_rng(0, 5, 0).rand() == batch_rng(0, 5, 0).rand()
    assert len({batch_rng(*k).rand() for k in [(0, 5, 0), (0, 6, 0), (0, 5, 1), (1, 5, 0)]}) == 4


def test_training_with_mixup_and_cutmix_runs_and_resumes_exactly(tmp_path: Path) -> None:
    data = make_train_val(tmp_path / "data", train=8, val=2)  # 2 steps per epoch
    opts = dict(img_size=32, patch_size=8, depth=1, embed_dim=32, num_heads=2, batch_size=12, lr=3e-3, progress=False, workers=1,
                epochs=2, mixup=0.8, cutmix=1.0, mixup_mode="elem")
    straight = vitzoo.train(data, output=tmp_path / "a", **opts)
    vitzoo.train(data, output=tmp_path / "b", stop_epoch=1, **opts)
    resumed = vitzoo.train(data, output=tmp_path / "b", resume=True, **opts)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]
    plain = vitzoo.train(data, output=tmp_path / "c", **{**opts, "mixup": 0.0, "cutmix": 0.0})
    assert plain.history[0]["loss"] != straight.history[0]["loss"]


@pytest.mark.parametrize("bad, match", [
    (dict(mixup=0.8, batch_size=7), "even batch per worker"),
    (dict(mixup=-1.0), "must be >= 0"),
    (dict(mixup=0.8, mixup_mode="row"), "Unknown mixup_mode"),
    (dict(cutmix_minmax=(0.9, 0.2)), "cutmix_minmax must be"),
    (dict(mixup=0.8, mixup_prob=1.5), r"mixup_prob must be in \[0, 1\]"),
])
def test_bad_mixup_settings_are_one_sentence(bad: dict, match: str) -> None:
    with pytest.raises(VitzooError, match=match):
        TrainConfig("data", **bad)
