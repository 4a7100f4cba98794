"""timm's beit.py (BEiT, BEiTv2) against the real timm, random weights.

Each case: timm builds the architecture with two blocks, every parameter drawn at random (the relative
position tables and q/v biases, which timm initialises to zero, included), and saves its state dict;
vitzoo reads the file on the NumPy backend, MindSpore PyNative and ``jit=True`` and gives timm's logits.
A model built at another image size gets its tables resized as timm's checkpoint filter does.
"""

from __future__ import annotations

import mindspore as ms
import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
from safetensors.torch import save_file  # noqa: E402

import vitzoo  # noqa: E402
from vitzoo import rel_pos, weights  # noqa: E402
from vitzoo.variants import get_spec  # noqa: E402

from family_timm import logits, rel, run  # noqa: E402
from family_timm import random_timm as _random_timm  # noqa: E402
from vitzoo.errors import CheckpointError  # noqa: E402


def random_timm(name: str, **kwargs):
    return _random_timm(name, scale={"relative_position_bias_table": 20.0}, **kwargs)


@pytest.mark.parametrize("name", ["beit_base_patch16_224", "beitv2_base_patch16_224"])
def test_equals_timm_on_every_backend(tmp_path, name):
    tm = random_timm(name, num_classes=10)
    path = tmp_path / "model.safetensors"
    save_file(tm.state_dict(), str(path))
    x = np.random.default_rng(1).standard_normal((2, 3, 224, 224)).astype(np.float32)
    ref = logits(tm, x)
    for kwargs in (dict(backend="numpy"), {}, dict(jit=True)):
        model = vitzoo.create(name, pretrained=str(path), depth=2, num_classes=10, **kwargs)
        assert rel(run(model, x), ref) <= 1e-4, (name, kwargs)


def test_a_beit_file_without_a_name_reads_its_architecture_from_the_tensors(tmp_path):
    """The tables fix the grid (so the image size), the names the block and the absence of rotary positions.

    The file also carries each block's integer ``relative_position_index`` buffer, as Microsoft's
    original checkpoints do: it is computed, not read. A two-block file matches no registered BEiT,
    so the refusal asks for exactly what the tensors cannot show.
    """
    tm = random_timm("beit_base_patch16_384", num_classes=5)
    state = dict(tm.state_dict())
    for i in range(2):
        state[f"blocks.{i}.attn.relative_position_index"] = torch.from_numpy(rel_pos.relative_position_index(24).astype(np.int64))
    path = tmp_path / "beit.safetensors"
    save_file(state, str(path))
    with pytest.raises(CheckpointError, match=r"does not say its num_heads, norm_eps, gelu and global_pool \(") as info:
        weights.read(path)
    assert "rope" not in str(info.value)
    given = dict(num_heads=12, norm_eps=1e-6, gelu="exact", global_pool="avg")
    ckpt = weights.read(path, variant=given)
    assert (ckpt.spec.img_size, ckpt.spec.rel_pos_bias, ckpt.spec.rope, ckpt.spec.block) == (384, "block", "none", "eva")
    assert sorted(ckpt.dropped) == ["blocks.0.attn.relative_position_index", "blocks.1.attn.relative_position_index"]
    x = np.random.default_rng(2).standard_normal((1, 3, 384, 384)).astype(np.float32)
    assert rel(run(vitzoo.create(None, pretrained=str(path), backend="numpy", **given), x), logits(tm, x)) <= 1e-4


@pytest.mark.parametrize("name", ["beit_base_patch16_384", "beitv2_large_patch16_224", "beit_large_patch16_512"])
def test_full_size_beit_tensors_need_no_name(name):
    """At full depth the registered BEiTs of these sizes agree on everything the tensors leave open."""
    from vitzoo.canonical import expected_shapes
    from vitzoo.weights.infer import infer_spec

    spec = get_spec(name)
    shapes = {k: np.broadcast_to(np.float32(0), shape) for k, shape in expected_shapes(spec).items()}  # shapes only, no memory
    # layer_scale_init (where a fresh layer scale starts: BEiT-B 0.1, BEiTv2-B 1e-5) is no property of loaded weights
    assert infer_spec(shapes, name).replace(layer_scale_init=spec.layer_scale_init) == spec


@pytest.mark.parametrize("img_size", [160, 288])
def test_another_image_size_resizes_the_tables_as_timm_does(tmp_path, img_size):
    from timm.models.beit import checkpoint_filter_fn

    src = random_timm("beitv2_base_patch16_224", num_classes=10)
    path = tmp_path / "beitv2.safetensors"
    save_file(src.state_dict(), str(path))
    ref_model = timm.create_model("beitv2_base_patch16_224", pretrained=False, depth=2, num_classes=10, img_size=img_size).eval()
    ref_model.load_state_dict(checkpoint_filter_fn(src.state_dict(), ref_model))
    x = np.random.default_rng(3).standard_normal((2, 3, img_size, img_size)).astype(np.float32)
    ref = logits(ref_model, x)
    for kwargs in (dict(backend="numpy"), dict(jit=True)):
        model = vitzoo.create("beitv2_base_patch16_224", pretrained=str(path), depth=2, num_classes=10, img_size=img_size, **kwargs)
        assert rel(run(model, x), ref) <= 1e-4, (img_size, kwargs)


def test_intermediates_equal_timms(tmp_path):
    tm = random_timm("beit_base_patch16_224", num_classes=0)
    path = tmp_path / "m.safetensors"
    save_file(tm.state_dict(), str(path))
    x = np.random.default_rng(4).standard_normal((1, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        ref = [t.numpy() for t in tm.forward_intermediates(torch.from_numpy(x), indices=[0, 1], intermediates_only=True)]
    model = vitzoo.create("beit_base_patch16_224", pretrained=str(path), depth=2, num_classes=0)
    ours = model.forward_intermediates(ms.Tensor(x), indices=[0, 1], intermediates_only=True)
    for a, b in zip(ours, ref):
        assert rel(a.asnumpy(), b) <= 1e-4


def test_a_shared_table_checkpoint_is_refused_in_one_sentence(tmp_path):
    tm = random_timm("beit_base_patch16_224", use_rel_pos_bias=False, use_shared_rel_pos_bias=True)
    path = tmp_path / "pretrain.safetensors"
    save_file(tm.state_dict(), str(path))
    with pytest.raises(CheckpointError, match="shared by all blocks") as info:
        weights.read(path)
    assert "\n" not in str(info.value)


def test_timm_writer_output_loads_in_timm(tmp_path):
    tm = random_timm("beitv2_base_patch16_224", num_classes=3)
    src = tmp_path / "src.safetensors"
    save_file(tm.state_dict(), str(src))
    out = tmp_path / "out.safetensors"
    weights.write(weights.read(src, variant=get_spec("beitv2_base_patch16_224", depth=2, num_classes=3)), out, format="timm")
    back = timm.create_model("beitv2_base_patch16_224", pretrained=False, depth=2, num_classes=3).eval()
    from safetensors.torch import load_file

    back.load_state_dict(load_file(str(out)), strict=True)
    x = np.random.default_rng(5).standard_normal((1, 3, 224, 224)).astype(np.float32)
    assert rel(logits(back, x), logits(tm, x)) <= 1e-6
