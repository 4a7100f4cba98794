"""``--reprob/--remode/--recount``: with the same choices and noise, the erased pixels are ``timm.data.RandomErasing``'s."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import vitzoo  # noqa: E402
from vitzoo.backends.mindspore.train.erasing import RandomErasing, batch_draws  # noqa: E402
from vitzoo.configs import TrainConfig  # noqa: E402
from vitzoo.errors import VitzooError  # noqa: E402

from imagefolders import make_train_val  # noqa: E402


def _torch_noise(shape: tuple[int, ...]) -> np.ndarray:
    return torch.empty(shape, dtype=torch.float32).normal_().numpy()  # the draw timm's _get_pixels makes


@pytest.mark.parametrize("count", [1, 3])
@pytest.mark.parametrize("mode", ["pixel", "const", "rand"])
def test_erased_batches_equal_timms_for_the_same_draws(mode: str, count: int) -> None:
    from timm.data.random_erasing import RandomErasing as TimmErasing

    ref = TimmErasing(0.6, mode=mode, max_count=count, device="cpu")
    ours = RandomErasing(0.6, mode=mode, max_count=count)
    erased = 0
    for seed in range(5):
        x = np.random.default_rng(seed).standard_normal((6, 3, 20, 28)).astype(np.float32)
        random.seed(seed)  # timm draws its choices from Python's global random
        torch.manual_seed(seed)
        expected = ref(torch.from_numpy(x.copy())).numpy()
        torch.manual_seed(seed)
        got = ours(x, random.Random(seed), _torch_noise)
        assert np.array_equal(got, expected), (mode, count, seed)
        erased += int((got != x).any(axis=(1, 2, 3)).sum())
    assert 6 < erased < 30  # probability 0.6 over 30 images: some erased, some not


def test_batch_draws_depend_on_seed_step_and_rank_only() -> None:
    assert batch_draws(0, 3, 1)[0].random() == batch_draws(0, 3, 1)[0].random()
    assert np.array_equal(batch_draws(0, 3, 1)[1]((4,)), batch_draws(0, 3, 1)[1]((4,)))
    assert len({batch_draws(*k)[0].random() for k in [(0, 3, 1), (0, 4, 1), (0, 3, 0), (1, 3, 1)]}) == 4


def test_training_with_erasing_runs_and_resumes_exactly(tmp_path: Path) -> None:
    data = make_train_val(tmp_path / "data", train=8, val=2)
    opts = dict(img_size=32, patch_size=8, depth=1, embed_dim=32, num_heads=2, batch_size=12, lr=3e-3, progress=False, workers=1,
                epochs=2, reprob=0.5, remode="pixel", recount=2, augment="none")
    straight = vitzoo.train(data, output=tmp_path / "a", **opts)
    vitzoo.train(data, output=tmp_path / "b", stop_epoch=1, **opts)
    resumed = vitzoo.train(data, output=tmp_path / "b", resume=True, **opts)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]
    plain = vitzoo.train(data, output=tmp_path / "c", **{**opts, "reprob": 0.0})
    assert plain.history[0]["loss"] != straight.history[0]["loss"]


@pytest.mark.parametrize("bad, match", [(dict(reprob=1.5), r"reprob must be in \[0, 1\]"), (dict(remode="noise"), "Unknown remode"),
                                        (dict(recount=0), "recount must be a positive integer")])
def test_bad_erasing_settings_are_one_sentence(bad: dict, match: str) -> None:
    with pytest.raises(VitzooError, match=match):
        TrainConfig("data", **bad)
