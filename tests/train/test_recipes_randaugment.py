"""``--aa rand-...``: the grammar reads as timm's ``rand_augment_transform``, and every op's pixels equal timm's."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

timm = pytest.importorskip("timm")
from PIL import Image  # noqa: E402
from timm.data import auto_augment as taa  # noqa: E402

from vitzoo.errors import VitzooError  # noqa: E402
from vitzoo.randaugment import RAND_INCREASING_OPS, RAND_OPS, AugmentOp, RandAugment, image_draws, parse_config  # noqa: E402

MEAN = (0.485, 0.456, 0.406)
SIZE = 40


def _hparams(interpolation: object = None) -> dict:
    """timm's transforms_factory hparams for SIZE px and MEAN (and a fixed interpolation when given)."""
    hp = dict(translate_const=int(SIZE * 0.45), img_mean=tuple(min(255, round(255 * x)) for x in MEAN))
    if interpolation is not None:
        hp["interpolation"] = interpolation
    return hp


def _image(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)  # smooth gradients plus noise: every op changes something
    y, x = np.mgrid[0:SIZE, 0:SIZE + 8]
    base = np.stack([x * 5, y * 6, (x + y) * 3], -1) + rng.integers(0, 60, (SIZE, SIZE + 8, 3))
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def test_the_op_sets_are_timms() -> None:
    assert list(RAND_OPS) == list(taa._RAND_TRANSFORMS)
    assert list(RAND_INCREASING_OPS) == list(taa._RAND_INCREASING_TRANSFORMS)


@pytest.mark.parametrize("name", sorted(set(RAND_OPS) | set(RAND_INCREASING_OPS)))
@pytest.mark.parametrize("mstd", [0.0, 0.5, 101.0])
def test_every_op_equals_timms_pixels(name: str, mstd: float) -> None:
    changed = 0
    for magnitude in (0, 3, 7, 9, 10):
        hp = _hparams()
        if mstd:
            hp["magnitude_std"] = float("inf") if mstd > 100 else mstd
        ref = taa.AugmentOp(name, prob=1.0, magnitude=magnitude, hparams=hp)
        ours = AugmentOp(name, 1.0, magnitude, magnitude_std=hp.get("magnitude_std", 0.0), fill=hp["img_mean"])
        for seed in range(4):  # seeds flip the sign, the noise and the (random) interpolation
            img = _image(seed)
            random.seed(seed)  # timm draws from Python's global random
            got = np.asarray(ours(img.copy(), random.Random(seed)))
            try:
                expected = np.asarray(ref(img.copy()))
            except ValueError:  # timm's Posterize (at m < 2.5; Increasing at m = 10) keeps 0 bits, which Pillow >= 10 refuses
                assert name.startswith("Posterize")
                expected = np.zeros_like(got)  # what 0 bits meant in Pillow before 10: nothing kept
            assert np.array_equal(got, expected), (name, magnitude, mstd, seed)
            changed += int(not np.array_equal(got, np.asarray(img)))
    assert changed > 0, name  # the comparison saw the op do something


@pytest.mark.parametrize("interpolation", [Image.BICUBIC, Image.BILINEAR])
def test_fixed_interpolation_equals_timms(interpolation: int) -> None:
    for name in ("Rotate", "ShearX", "TranslateYRel"):
        ref = taa.AugmentOp(name, prob=1.0, magnitude=8, hparams=_hparams(interpolation))
        ours = AugmentOp(name, 1.0, 8, fill=_hparams()["img_mean"], interpolation=interpolation)
        random.seed(3)
        assert np.array_equal(np.asarray(ours(_image(1), random.Random(3))), np.asarray(ref(_image(1))))


@pytest.mark.parametrize("config", ["rand-m9-mstd0.5-inc1", "rand-m7-n3-mstd0.5", "rand-m9-n2-p0.8", "rand-m5-mstd200-mmax8-inc1", "rand"])
def test_whole_randaugment_equals_timms(config: str) -> None:
    ref = taa.rand_augment_transform(config, _hparams())
    cfg = parse_config(config)
    assert [op.name for op in ref.ops] == list(cfg.ops)
    assert ref.num_layers == cfg.num_ops
    assert ref.ops[0].magnitude == cfg.magnitude and ref.ops[0].prob == cfg.prob
    assert ref.ops[0].magnitude_std == cfg.magnitude_std and ref.ops[0].magnitude_max == cfg.magnitude_max
    ours = RandAugment(cfg, SIZE, MEAN)
    compared = 0
    for seed in range(12):
        np.random.seed(seed)  # timm chooses the ops with NumPy's global generator, the rest with Python's
        random.seed(seed)
        try:
            expected = np.asarray(ref(_image(seed)))
        except ValueError:  # timm's 0-bit Posterize on Pillow >= 10 (see above): nothing to compare with
            continue
        compared += 1
        assert np.array_equal(np.asarray(ours(_image(seed), np.random.RandomState(seed), random.Random(seed))), expected), (config, seed)
    assert compared >= 8


@pytest.mark.parametrize("bad", ["augmix-m5", "rand-m9-x3", "rand-mfoo", "rand-tweights", "rand-p1.5", "rand-m9-", "trivialaugment"])
def test_bad_configs_are_one_sentence(bad: str) -> None:
    with pytest.raises(VitzooError) as err:
        parse_config(bad)
    assert "\n" not in str(err.value) and str(err.value).endswith((".", ")."))


def test_draws_depend_on_seed_and_key_only() -> None:
    a, b = image_draws(5, 17), image_draws(5, 17)
    assert a[0].randint(1 << 30) == b[0].randint(1 << 30) and a[1].random() == b[1].random()
    assert image_draws(5, 18)[1].random() != image_draws(5, 17)[1].random()


def test_training_with_randaugment_runs_and_resumes_exactly(tmp_path: Path) -> None:
    pytest.importorskip("mindspore")
    import vitzoo
    from imagefolders import make_train_val

    data = make_train_val(tmp_path / "data", train=8, val=2)
    opts = dict(img_size=32, patch_size=8, depth=1, embed_dim=32, num_heads=2, batch_size=12, lr=3e-3, progress=False, workers=2,
                epochs=2, aa="rand-m9-mstd0.5-inc1", augment="light")
    straight = vitzoo.train(data, output=tmp_path / "a", **opts)
    vitzoo.train(data, output=tmp_path / "b", stop_epoch=1, **opts)
    resumed = vitzoo.train(data, output=tmp_path / "b", resume=True, **opts)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]
    plain = vitzoo.train(data, output=tmp_path / "c", **{**opts, "aa": None})
    assert plain.history[0]["loss"] != straight.history[0]["loss"]  # the augmentation reached the batches
