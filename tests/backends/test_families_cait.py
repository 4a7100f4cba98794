"""timm's cait.py (CaiT) against the real timm, random weights.

Each case: timm builds the architecture with two talking-heads blocks (and its two class-attention
blocks), every parameter drawn at random (layer scales near one, so every block matters), and saves
its state dict; vitzoo reads the file on the NumPy backend, MindSpore PyNative and ``jit=True`` and
gives timm's logits. Written back with ``format="timm"`` it loads strict in timm.
"""

from __future__ import annotations

import mindspore as ms
import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
from safetensors.torch import load_file, save_file  # noqa: E402

import vitzoo  # noqa: E402
from vitzoo import weights  # noqa: E402
from vitzoo.variants import get_spec  # noqa: E402

from family_timm import logits, rel, run  # noqa: E402
from family_timm import random_timm as _random_timm  # noqa: E402


def random_timm(name: str, **kwargs):
    return _random_timm(name, scale={"proj_l": 10.0, "proj_w": 10.0}, **kwargs)


@pytest.mark.parametrize("name, kwargs", [("cait_xxs24_224", {}), ("cait_xs24_384", dict(img_size=96, global_pool="avg"))])
def test_equals_timm_on_every_backend(tmp_path, name, kwargs):
    tm = random_timm(name, num_classes=10, **kwargs)
    path = tmp_path / "model.safetensors"
    save_file(tm.state_dict(), str(path))
    size = kwargs.get("img_size", get_spec(name).img_size)
    x = np.random.default_rng(1).standard_normal((2, 3, size, size)).astype(np.float32)
    ref = logits(tm, x)
    for backend in (dict(backend="numpy"), {}, dict(jit=True)):
        model = vitzoo.create(name, pretrained=str(path), depth=2, num_classes=10, **kwargs, **backend)
        assert rel(run(model, x), ref) <= 1e-4, (name, backend)


def test_a_cait_file_without_a_name_reads_its_architecture_from_the_tensors(tmp_path):
    """blocks_token_only.* and attn.proj_l name the family; proj_l's [H, H] shows the head count."""
    tm = random_timm("cait_s24_224", num_classes=5, img_size=64)
    path = tmp_path / "cait.safetensors"
    save_file(tm.state_dict(), str(path))
    given = dict(norm_eps=1e-6, gelu="exact", global_pool="token")
    ckpt = weights.read(path, variant=given)
    spec = ckpt.spec
    assert (spec.block, spec.num_heads, spec.depth_token_only, spec.pos_embed_prefix, spec.img_size) == ("cait", 8, 2, False, 64)
    x = np.random.default_rng(2).standard_normal((1, 3, 64, 64)).astype(np.float32)
    assert rel(run(vitzoo.create(None, pretrained=str(path), backend="numpy", **given), x), logits(tm, x)) <= 1e-4


def test_intermediates_equal_timms(tmp_path):
    tm = random_timm("cait_xxs24_224", num_classes=0, img_size=64)
    path = tmp_path / "m.safetensors"
    save_file(tm.state_dict(), str(path))
    x = np.random.default_rng(4).standard_normal((1, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        final_ref, maps_ref = tm.forward_intermediates(torch.from_numpy(x), indices=[0, 1], norm=True)
    for backend in (dict(backend="numpy"), {}):
        model = vitzoo.create("cait_xxs24_224", pretrained=str(path), depth=2, num_classes=0, img_size=64, **backend)
        final, maps = model.forward_intermediates(x if backend else ms.Tensor(x), indices=[0, 1], norm=True)
        assert rel(np.asarray(final if backend else final.asnumpy()), final_ref.numpy()) <= 1e-4
        for a, b in zip(maps, maps_ref):
            assert rel(np.asarray(a if backend else a.asnumpy()), b.numpy()) <= 1e-4


def test_timm_writer_output_loads_in_timm(tmp_path):
    tm = random_timm("cait_xxs24_224", num_classes=3)
    src = tmp_path / "src.safetensors"
    save_file(tm.state_dict(), str(src))
    out = tmp_path / "out.safetensors"
    weights.write(weights.read(src, variant=get_spec("cait_xxs24_224", depth=2, num_classes=3)), out, format="timm")
    back = timm.create_model("cait_xxs24_224", pretrained=False, depth=2, num_classes=3).eval()
    back.load_state_dict(load_file(str(out)), strict=True)
    x = np.random.default_rng(5).standard_normal((1, 3, 224, 224)).astype(np.float32)
    assert rel(logits(back, x), logits(tm, x)) <= 1e-6


def test_drop_path_rates_are_timms_uniform_ones():
    """timm's Cait gives every main block drop_path_rate itself (no linear ramp) and the class-attention blocks none."""
    from vitzoo.backends.mindspore.model.drop_path import set_drop_path

    ref = timm.create_model("cait_xxs24_224", pretrained=False, depth=3, drop_path_rate=0.1)
    model = vitzoo.create("cait_xxs24_224", img_size=32, depth=3, num_classes=2)
    rates = set_drop_path(model, 0.1)
    assert rates == pytest.approx([b.drop_path.drop_prob for b in ref.blocks])
    assert all(isinstance(b.drop_path, torch.nn.Identity) for b in ref.blocks_token_only)
    assert not any("drop_path" in name for name, _ in model.blocks_token_only.cells_and_names())


@pytest.mark.parametrize("suffix", [".mindir", ".onnx"])
def test_export_runs_equal_to_the_model(tmp_path, suffix):
    """The export copy swaps Unstack and Erf (ONNX has neither); the written file, run again, equals the model."""
    pytest.importorskip("onnxruntime") if suffix == ".onnx" else None
    from vitzoo.backends.mindspore.deploy.export import export_model

    tm = random_timm("cait_xxs24_224", num_classes=4, img_size=32)
    path = tmp_path / "m.safetensors"
    save_file(tm.state_dict(), str(path))
    model = vitzoo.create("cait_xxs24_224", pretrained=str(path), depth=2, num_classes=4, img_size=32)
    summary = export_model(model, tmp_path / f"cait{suffix}")  # verify=True: raises above 1e-4 of the output scale
    assert summary["output_shape"] == [1, 4] and summary["max_abs_diff"] is not None


def test_embed_layers_pool_the_patch_tokens(tmp_path):
    """CaiT's blocks carry no class token: per-block features are the patch tokens' mean; pool='cls' with layers is refused."""
    from vitzoo.errors import DataError
    from vitzoo.workflows.tasks import demo_images

    tm = random_timm("cait_xxs24_224", num_classes=0, img_size=32)
    path = tmp_path / "m.safetensors"
    save_file(tm.state_dict(), str(path))
    model = vitzoo.create("cait_xxs24_224", pretrained=str(path), depth=2, num_classes=0, img_size=32)
    out = vitzoo.embed(demo_images()[:1], model, layers=[0, 1])
    assert set(out["layers"]) == {0, 1} and out["layers"][1].shape == (1, 192)
    with pytest.raises(DataError, match="patch tokens") as info:
        vitzoo.embed(demo_images()[:1], model, layers=[1], pool="cls")
    assert "\n" not in str(info.value)


def test_the_spec_refuses_what_timms_cait_does_not_build():
    from vitzoo.errors import SpecError

    spec = get_spec("cait_xxs24_224")
    for bad, match in ((dict(depth_token_only=0), "go together"), (dict(pos_embed_prefix=True), "patch tokens only"),
                       (dict(dynamic_img_size=True), "fixed input size"), (dict(global_pool="map"), "'token' or 'avg'"),
                       (dict(block="vit"), "go together")):
        with pytest.raises(SpecError, match=match):
            spec.replace(**bad)


def test_a_damaged_cait_file_is_refused_in_one_sentence(tmp_path):
    from vitzoo.errors import CheckpointError

    state = {k: v for k, v in random_timm("cait_xxs24_224").state_dict().items() if not k.startswith("blocks_token_only.0.")}
    path = tmp_path / "damaged.safetensors"
    save_file(state, str(path))
    with pytest.raises(CheckpointError, match="incomplete or damaged") as info:
        weights.read(path)
    assert "\n" not in str(info.value)


def test_fresh_init_draws_the_class_token_as_timm():
    """timm's Cait draws its class token from a truncated normal of std 0.02 (a plain ViT's is 1e-6)."""
    from vitzoo.init import init_state

    cls = init_state(get_spec("cait_s24_224", depth=1))["cls_token"]
    ref = timm.create_model("cait_s24_224", pretrained=False, depth=1).cls_token.detach().numpy()
    assert 0.012 < cls.std() < 0.025 and 0.012 < ref.std() < 0.025 and np.abs(cls).max() <= 0.04
