"""MobileCLIP's ViT-B/16 image tower (timm's ``vit_base_mci_224``: a BatchNorm convolutional stem, no patch projection).

Against the real timm with random weights, BatchNorm running statistics included (drawn away from 0 and 1, so
that a stem reading them wrongly shows); NumPy, PyNative and ``jit=True`` at two sizes, read with the name and
by content, written back for timm; intermediates, layer decay, export, fresh init and training-mode BatchNorm.
"""

from __future__ import annotations

import mindspore as ms
import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
from safetensors.torch import load_file  # noqa: E402

import vitzoo  # noqa: E402
from vitzoo import weights  # noqa: E402
from vitzoo.errors import CheckpointError  # noqa: E402

from family_timm import assert_layer_decay_is_timms, logits, rel, run, save_timm  # noqa: E402
from family_timm import random_timm as _random_timm  # noqa: E402

NAME = "vit_base_mci_224"
SMALL: dict = {}  # timm builds the stem for width 768 whatever embed_dim says: the full width, two blocks
OURS = dict(depth=2)


def random_timm(img_size: int = 64, **kwargs):
    model = _random_timm(NAME, img_size=img_size, **{**SMALL, **kwargs})
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.5)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 2.0)
    return model


def _x(size: int, batch: int = 2) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((batch, 3, size, size)).astype(np.float32)


@pytest.mark.parametrize("size", [64, 96])
def test_equals_timm_on_every_backend(tmp_path, size):
    tm = random_timm(size, num_classes=5)
    path = save_timm(tm, tmp_path)
    x = _x(size)
    ref = logits(tm, x)
    for backend in (dict(backend="numpy"), {}, dict(jit=True)):
        model = vitzoo.create(NAME, pretrained=str(path), img_size=size, num_classes=5, **OURS, **backend)
        assert model.spec.grid_size == size // 16
        assert rel(run(model, x), ref) <= 1e-4, backend


def test_a_file_without_a_name_is_read_by_content_and_written_back_for_timm(tmp_path):
    tm = random_timm(num_classes=3)
    path = save_timm(tm, tmp_path)
    given = dict(norm_eps=1e-6, gelu="exact", num_heads=12, global_pool="token")  # what no tensor shows
    ckpt = weights.read(path, variant=given)
    assert (ckpt.spec.backbone, ckpt.spec.patch_size, ckpt.spec.img_size, ckpt.spec.pos_embed_prefix) == ("convstem", 16, 64, False)
    x = _x(64, batch=1)
    assert rel(run(vitzoo.create(None, pretrained=str(path), backend="numpy", **given), x), logits(tm, x)) <= 1e-4
    weights.write(ckpt, tmp_path / "back.safetensors", format="timm")
    again = random_timm(num_classes=3)
    again.load_state_dict(load_file(str(tmp_path / "back.safetensors")), strict=True)  # num_batches_tracked refilled by torch
    assert rel(logits(again, x), logits(tm, x)) <= 1e-6


def test_a_damaged_stem_is_refused_in_one_sentence(tmp_path):
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in random_timm(num_classes=3).state_dict().items()}
    del state["patch_embed.backbone.1.bn.running_var"]
    save_file(state, str(tmp_path / "bad.safetensors"))
    with pytest.raises(CheckpointError, match="MobileCLIP stem's tensors do not fit together .*running_var"):
        weights.read(tmp_path / "bad.safetensors", variant=dict(num_heads=12, norm_eps=1e-6, gelu="exact"))


def test_intermediates_equal_timms(tmp_path):
    tm = random_timm(num_classes=0)
    path = save_timm(tm, tmp_path)
    x = _x(64, batch=1)
    with torch.no_grad():
        final_ref, maps_ref = tm.forward_intermediates(torch.from_numpy(x), indices=[0, 1], norm=True)
    for backend in (dict(backend="numpy"), {}):
        model = vitzoo.create(NAME, pretrained=str(path), img_size=64, num_classes=0, **OURS, **backend)
        final, maps = model.forward_intermediates(x if backend else ms.Tensor(x), indices=[0, 1], norm=True)
        assert rel(np.asarray(final if backend else final.asnumpy()), final_ref.numpy()) <= 1e-4
        for a, b in zip(maps, maps_ref):
            assert rel(np.asarray(a if backend else a.asnumpy()), b.numpy()) <= 1e-4


def test_drop_path_and_layer_decay_follow_timm():
    from vitzoo.backends.mindspore.model.drop_path import set_drop_path

    ref = timm.create_model(NAME, pretrained=False, depth=2, img_size=64, num_classes=4, drop_path_rate=0.1, **SMALL)
    model = vitzoo.create(NAME, img_size=64, num_classes=4, **OURS)
    assert set_drop_path(model, 0.1) == pytest.approx([getattr(b.drop_path1, "drop_prob", 0.0) for b in ref.blocks])
    assert_layer_decay_is_timms(ref, model)


def test_training_mode_batch_norm_is_torchs(tmp_path):
    """In training mode the stem normalises with the batch's statistics and moves the running ones as torch does."""
    tm = random_timm(num_classes=3).train()
    path = save_timm(tm, tmp_path)
    model = vitzoo.create(NAME, pretrained=str(path), img_size=64, num_classes=3, **OURS)
    model.set_train(True)
    x = _x(64, batch=4)
    with torch.no_grad():
        ref = tm.patch_embed(torch.from_numpy(x)).numpy()
    ours = model.patch_embed(ms.Tensor(x)).asnumpy()
    assert rel(ours, ref) <= 1e-4
    theirs = tm.patch_embed.backbone[0].bn.running_mean.numpy()
    assert np.abs(model.patch_embed.backbone[0].bn.running_mean.asnumpy() - theirs).max() <= 1e-5


def test_export_runs_equal_to_the_model(tmp_path):
    pytest.importorskip("onnxruntime")
    from vitzoo.backends.mindspore.deploy.export import export_model

    path = save_timm(random_timm(num_classes=4), tmp_path)
    model = vitzoo.create(NAME, pretrained=str(path), img_size=64, num_classes=4, **OURS)
    summary = export_model(model, tmp_path / "mci.onnx")  # verify=True: raises above 1e-4 of the output scale
    assert summary["output_shape"] == [1, 4] and summary["max_abs_diff"] is not None


def test_the_registered_model_and_its_fresh_init_are_timms():
    from vitzoo.init import init_state

    ref = timm.create_model(NAME, pretrained=False, device="meta")
    state = init_state(vitzoo.get_spec(NAME))
    expected = {k: tuple(v.shape) for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert expected == {k: v.shape for k, v in state.items()}
    assert float(np.abs(state["patch_embed.backbone.0.bn.running_mean"]).max()) == 0.0
    assert float(state["patch_embed.backbone.1.bn.running_var"].min()) == 1.0
