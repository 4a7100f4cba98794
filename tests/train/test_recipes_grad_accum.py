"""``--grad-accum-steps N``: the same update as one N-times-larger batch, up to float32 rounding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")

import vitzoo  # noqa: E402
from vitzoo.backends.mindspore.model.vit import VisionTransformer  # noqa: E402
from vitzoo.backends.mindspore.train.step import build_optimizer, make_train_step  # noqa: E402
from vitzoo.configs import TrainConfig  # noqa: E402
from vitzoo.errors import VitzooError  # noqa: E402
from vitzoo.init import init_state  # noqa: E402
from vitzoo.spec import ViTSpec  # noqa: E402
from vitzoo.weights import load_file  # noqa: E402

from imagefolders import make_train_val  # noqa: E402

SPEC = ViTSpec(img_size=16, patch_size=8, embed_dim=16, depth=2, num_heads=2, mlp_dim=32, num_classes=3)


def _weights(model: VisionTransformer) -> dict[str, np.ndarray]:
    return {p.name: p.asnumpy().copy() for p in model.get_parameters()}


# SGD (Nesterov momentum) is linear in the gradient, so the weights show the gradients' agreement. Adam divides
# by sqrt(v): for entries whose true gradient is ~0 (the key bias, which cancels in the softmax) it turns
# float32 noise into full-size steps, so weights after Adam are no measure of the accumulated gradient.
@pytest.mark.parametrize("optimizer, n", [("sgd", 2), ("sgd", 4)])
def test_accumulated_step_equals_the_large_batch_step(optimizer: str, n: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 16, 16)).astype(np.float32)
    y = rng.integers(0, 3, 8).astype(np.int32)
    results = []
    for accum in (1, n):
        cfg = TrainConfig("", optimizer=optimizer, lr=0.05, grad_accum_steps=accum, clip_grad=1.0)
        model = VisionTransformer(SPEC, init_state(SPEC, seed=1))
        model.set_train(True)
        step, _ = make_train_step(model, build_optimizer(model, cfg), cfg)
        for _ in range(3):  # three updates: the buffers are emptied between them
            chunks = np.split(np.arange(8), accum)
            for idx in chunks[:-1]:
                step.accumulate(ms.Tensor(x[idx]), ms.Tensor(y[idx]))
            status, _, _ = step(ms.Tensor(x[chunks[-1]]), ms.Tensor(y[chunks[-1]]), ms.Tensor(0.0, ms.float32))
        results.append((float(status.asnumpy()[0]), _weights(model)))
    (loss_big, big), (loss_acc, acc) = results
    assert loss_acc == pytest.approx(loss_big, rel=1e-5)
    start = init_state(SPEC, seed=1)
    for k in big:
        assert np.abs(big[k] - start[k]).max() > 0  # it trained
        np.testing.assert_allclose(acc[k], big[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_training_with_accumulation_matches_the_larger_batch_run(tmp_path: Path) -> None:
    data = make_train_val(tmp_path / "data", train=8, val=2)  # 24 training images
    opts = dict(img_size=32, patch_size=8, depth=1, embed_dim=32, num_heads=2, lr=1e-2, progress=False, workers=1, epochs=2,
                augment="none", optimizer="sgd")
    big = vitzoo.train(data, output=tmp_path / "big", batch_size=12, **opts)  # 2 updates per epoch
    acc = vitzoo.train(data, output=tmp_path / "acc", batch_size=6, grad_accum_steps=2, **opts)  # 4 batches, 2 updates
    a, b = load_file(tmp_path / "big" / "last.safetensors").state, load_file(tmp_path / "acc" / "last.safetensors").state
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) < 1e-5
    assert [r["loss"] for r in acc.history] == pytest.approx([r["loss"] for r in big.history], rel=1e-5)


def test_bad_accumulation_settings_are_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(VitzooError, match="grad_accum_steps must be a positive integer"):
        TrainConfig("data", grad_accum_steps=0)
    data = make_train_val(tmp_path / "data", train=2, val=1)
    with pytest.raises(VitzooError, match="--grad-accum-steps 4 needs at least 4 batches"):
        vitzoo.train(data, output=tmp_path / "o", epochs=1, batch_size=6, grad_accum_steps=4, img_size=32, patch_size=8, depth=1,
                     embed_dim=32, num_heads=2, progress=False, workers=1)
