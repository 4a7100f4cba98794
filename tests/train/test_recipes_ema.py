"""``--model-ema``: the EMA equals timm's ``ModelEmaV3`` on the same weight sequence; saved as ``*ema*.safetensors``; resume keeps it bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import vitzoo  # noqa: E402
from vitzoo.backends.mindspore.model.vit import VisionTransformer  # noqa: E402
from vitzoo.backends.mindspore.train.ema import ModelEma  # noqa: E402
from vitzoo.spec import ViTSpec  # noqa: E402
from vitzoo.weights import load_file, safetensors_io  # noqa: E402

from family_models import timm_state  # noqa: E402
from imagefolders import make_train_val  # noqa: E402
from timm_models import tiny_timm  # noqa: E402

TINY = dict(img_size=32, patch_size=8, depth=1, embed_dim=32, num_heads=2, batch_size=12, lr=3e-3, progress=False, workers=1)


@pytest.mark.parametrize("decay, warmup", [(0.9, False), (0.9998, False), (0.99, True), (0.5, True)])
def test_ema_equals_timms_model_ema_v3_on_the_same_weight_sequence(decay: float, warmup: bool) -> None:
    from timm.utils import ModelEmaV3

    ref = tiny_timm(depth=1)
    spec = ViTSpec(img_size=32, patch_size=8, embed_dim=192, depth=1, num_heads=3, mlp_dim=768, num_classes=5)
    ours = VisionTransformer(spec, timm_state(ref))
    ref_ema, our_ema = ModelEmaV3(ref, decay=decay, use_warmup=warmup), ModelEma(ours, decay, warmup)
    rng = np.random.default_rng(0)
    params = {p.name: p for p in ours.get_parameters()}
    for step in range(1, 31):  # the same new weights into both models, then one EMA update each
        new = {k: (v + rng.standard_normal(v.shape).astype(np.float32) * 0.1).astype(np.float32) for k, v in timm_state(ref).items()}
        ref.load_state_dict({k: torch.from_numpy(v) for k, v in new.items()})
        for k, v in new.items():
            ms.ops.assign(params[k], ms.Tensor(v))
        assert our_ema.decay_at(step, decay, warmup) == ref_ema.get_decay(step)
        ref_ema.update(ref, step=step)
        our_ema.update(step)
    expected = {k: v.detach().numpy() for k, v in ref_ema.module.state_dict().items()}
    got = our_ema.state()
    assert set(got) == set(expected)
    for k in expected:  # torch's lerp may fuse its multiply-add: equal to float32 rounding
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-6, atol=1e-6, err_msg=k)
    assert max(float(np.abs(got[k] - new[k]).max()) for k in got) > 1e-3  # an average, not the last weights


def test_swapping_the_ema_in_and_out_restores_the_weights_bit_for_bit() -> None:
    spec = ViTSpec(img_size=16, patch_size=8, embed_dim=16, depth=1, num_heads=2, mlp_dim=32, num_classes=3)
    from vitzoo.init import init_state

    model = VisionTransformer(spec, init_state(spec, seed=0))
    ema = ModelEma(model, 0.5)
    before = {p.name: p.asnumpy().copy() for p in model.get_parameters()}
    for p in model.get_parameters():
        ms.ops.assign(p, p + 1.0)
    ema.update(2)  # decay 0.5: halfway to the new weights
    after = {p.name: p.asnumpy().copy() for p in model.get_parameters()}
    with ema.swapped_in():
        inside = {p.name: p.asnumpy().copy() for p in model.get_parameters()}
    assert all(np.allclose(inside[k], before[k] + 0.5) for k in before)
    assert all(np.array_equal(p.asnumpy(), after[p.name]) for p in model.get_parameters())


def test_training_with_ema_saves_it_evaluates_it_and_resumes_it_bit_identically(tmp_path: Path) -> None:
    data = make_train_val(tmp_path / "data", train=8, val=2)  # 2 steps per epoch
    opts = dict(TINY, epochs=3, model_ema=True, model_ema_decay=0.6, model_ema_warmup=True)
    vitzoo.train(data, output=tmp_path / "a", **opts)
    out = tmp_path / "a"
    assert {"ema.safetensors", "best_ema.safetensors"} <= {p.name for p in out.iterdir()}
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all({"ema_val_top1", "ema_val_top5"} <= set(r) for r in rows)
    ema, last = load_file(out / "ema.safetensors"), load_file(out / "last.safetensors")
    assert ema.class_names == last.class_names and set(ema.state) == set(last.state)
    assert not all(np.array_equal(ema.state[k], last.state[k]) for k in ema.state)
    # the EMA file evaluates to the logged EMA accuracy
    assert vitzoo.evaluate(data / "val", weights=out / "ema.safetensors")["top1"] == pytest.approx(rows[-1]["ema_val_top1"])
    # interrupted after epoch 1, then resumed: the same EMA, bit for bit
    vitzoo.train(data, output=tmp_path / "b", stop_epoch=1, **opts)
    tensors, _ = safetensors_io.load(tmp_path / "b" / "last.optim.safetensors")
    assert any(k.startswith("ema/") for k in tensors)
    vitzoo.train(data, output=tmp_path / "b", resume=True, **opts)
    resumed = load_file(tmp_path / "b" / "ema.safetensors")
    assert all(np.array_equal(resumed.state[k], ema.state[k]) for k in ema.state)


def test_a_run_without_ema_resumes_with_it_refused_in_one_sentence(tmp_path: Path) -> None:
    from vitzoo.errors import VitzooError

    data = make_train_val(tmp_path / "data", train=8, val=2)
    vitzoo.train(data, output=tmp_path / "r", epochs=2, stop_epoch=1, **TINY)
    with pytest.raises(VitzooError, match="started without --model-ema"):
        vitzoo.train(data, output=tmp_path / "r", epochs=2, resume=True, model_ema=True, **TINY)
