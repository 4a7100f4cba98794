"""``--drop-path``: timm's per-block rates and per-sample drop/scale, identity in eval, inside the compiled step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import vitzoo  # noqa: E402
from vitzoo.backends.mindspore.model.drop_path import DropPath, drop_path_rates, set_drop_path  # noqa: E402
from vitzoo.backends.mindspore.model.vit import VisionTransformer  # noqa: E402
from vitzoo.init import init_state  # noqa: E402
from vitzoo.spec import ViTSpec  # noqa: E402
from vitzoo.weights import load_file  # noqa: E402

from imagefolders import make_train_val  # noqa: E402

TINY = dict(img_size=32, patch_size=8, depth=2, embed_dim=32, num_heads=2, batch_size=12, lr=3e-3, progress=False, workers=1)


@pytest.mark.parametrize("rate, depth", [(0.1, 12), (0.2, 7), (0.35, 24), (0.1, 1), (0.05, 2), (0.4, 32), (0.15, 39)])
def test_block_rates_are_timms(rate: float, depth: int) -> None:
    from timm.models.vision_transformer import VisionTransformer as TimmViT

    ref = TimmViT(img_size=16, patch_size=8, embed_dim=8, depth=depth, num_heads=2, num_classes=2, drop_path_rate=rate)
    expected = [getattr(b.drop_path1, "drop_prob", 0.0) for b in ref.blocks]
    assert drop_path_rates(rate, depth) == expected  # exact: the same float32 linspace
    assert expected == [getattr(b.drop_path2, "drop_prob", 0.0) for b in ref.blocks]


@pytest.mark.parametrize("compiled", [False, True])
def test_per_sample_drop_and_scale_match_timms_drop_path(compiled: bool) -> None:
    from timm.layers import drop_path

    rate = 0.3
    x = np.random.default_rng(0).standard_normal((400, 5, 8)).astype(np.float32)
    cell = DropPath(rate, seed=11).set_train(True)
    run = ms.jit(cell.construct) if compiled else cell
    ours = run(ms.Tensor(x)).asnumpy()
    torch.manual_seed(0)
    ref = drop_path(torch.from_numpy(x), rate, training=True).numpy()
    ours_kept = np.abs(ours).reshape(400, -1).max(1) > 0
    ref_kept = np.abs(ref).reshape(400, -1).max(1) > 0
    # Each sample is dropped whole (all zeros) or kept and scaled: bit for bit timm's x * (1 / keep).
    assert np.array_equal(ours[~ours_kept], np.zeros_like(ours[~ours_kept]))
    both = ours_kept & ref_kept
    assert both.sum() > 150 and np.array_equal(ours[both], ref[both])
    assert 0.22 < 1 - ours_kept.mean() < 0.38  # drop probability 0.3 (400 samples: ±0.08 is > 3 sigma)
    second = run(ms.Tensor(x)).asnumpy()
    assert not np.array_equal(np.abs(second).reshape(400, -1).max(1) > 0, ours_kept)  # a fresh mask per call
    cell.set_train(False)
    assert np.array_equal((ms.jit(cell.construct) if compiled else cell)(ms.Tensor(x)).asnumpy(), x)


EVA_ROPE = dict(block="eva", rope="cat", abs_pos_embed=False, layer_scale=True, mlp_type="swiglu_split", k_bias=False)


@pytest.mark.parametrize("family", [{}, EVA_ROPE], ids=["vit", "eva-rope"])
def test_model_with_drop_path_is_unchanged_in_eval_and_drops_in_training(family: dict) -> None:
    spec = ViTSpec(img_size=16, patch_size=8, embed_dim=16, depth=3, num_heads=2, mlp_dim=32, num_classes=4, **family)
    state = init_state(spec, seed=0)
    plain, dropped = VisionTransformer(spec, state), VisionTransformer(spec, state)
    assert set_drop_path(dropped, 0.5, seed=3) == drop_path_rates(0.5, 3)
    x = ms.Tensor(np.random.default_rng(1).standard_normal((64, 3, 16, 16)).astype(np.float32))
    assert np.array_equal(plain(x).asnumpy(), dropped(x).asnumpy())  # eval mode: identity
    assert [n for n, _ in plain.parameters_and_names()] == [n for n, _ in dropped.parameters_and_names()]
    plain.set_train(True)
    dropped.set_train(True)
    a, b = plain(x).asnumpy(), dropped(x).asnumpy()
    tol = 1e-4 * np.abs(a).max()  # relative to the output scale (the EVA init's layer scale makes logits tiny)
    assert not np.all(np.isclose(a, b, rtol=0, atol=tol), axis=1).any()  # every sample lost or rescaled a branch
    set_drop_path(dropped, 0.0)
    assert np.array_equal(plain(x).asnumpy(), dropped(x).asnumpy())  # rate 0: the plain model again


def test_training_with_drop_path_runs_in_the_compiled_step_and_saves_the_plain_architecture(tmp_path: Path) -> None:
    data = make_train_val(tmp_path / "data", train=8, val=2)
    plain = vitzoo.train(data, output=tmp_path / "plain", epochs=1, **TINY)
    dropped = vitzoo.train(data, output=tmp_path / "dp", epochs=1, drop_path=0.5, **TINY)
    assert np.isfinite(dropped.history[0]["loss"]) and dropped.history[0]["loss"] != plain.history[0]["loss"]
    a, b = load_file(tmp_path / "plain" / "last.safetensors"), load_file(tmp_path / "dp" / "last.safetensors")
    assert a.spec == b.spec and set(a.state) == set(b.state)


def test_drop_path_out_of_range_is_one_sentence() -> None:
    from vitzoo.configs import TrainConfig
    from vitzoo.errors import VitzooError

    with pytest.raises(VitzooError, match=r"drop_path must be in \[0, 1\)"):
        TrainConfig("data", drop_path=1.0)
