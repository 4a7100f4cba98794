"""timm's vision_transformer_hybrid.py (BiT ResNetV2 stems) against the real timm, random weights.

Each case: timm builds the architecture with two ViT blocks (the stem alone, or timm's own builder
with a shorter ResNetV2: the same code as ResNet-26/50, fewer blocks), every parameter drawn at random,
at a small image size, and saves its state dict; vitzoo reads the file on the NumPy backend, MindSpore PyNative and ``jit=True`` and gives
timm's logits. Written back with ``format="timm"`` it loads strict in timm.
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

from family_timm import logits, random_timm, rel, run  # noqa: E402

BACKENDS = (dict(backend="numpy"), {}, dict(jit=True))


def small_hybrid(layers: tuple, size: int, **kwargs):
    """timm's own hybrid builder with a shorter ResNetV2 (its _resnetv2) and a narrow ViT: the same code, smaller."""
    from timm.models.vision_transformer_hybrid import _create_vision_transformer_hybrid, _resnetv2

    torch.manual_seed(0)
    model = _create_vision_transformer_hybrid("vit_small_r26_s32_224", backbone=_resnetv2(layers), img_size=size, embed_dim=64,
                                              depth=2, num_heads=2, **kwargs).eval()
    with torch.no_grad():
        for pname, p in model.named_parameters():
            p.normal_(0, 0.05)
            if p.ndim == 1 and pname.endswith("weight"):
                p.add_(1.0)
    return model


SMALL = dict(embed_dim=64, num_heads=2, mlp_dim=256, depth=2)


@pytest.mark.parametrize("layers, size", [
    ((1, 1), 64),  # two stages: the downsampling first blocks, a 1×1 projection
    ((1, 1, 1), 80),  # 80 px: SAME padding rounds up (80 → 40 → 20 → 20 → 10 → 5)
])
def test_equals_timm_on_every_backend(tmp_path, layers, size):
    tm = small_hybrid(layers, size, num_classes=5)
    path = tmp_path / "model.safetensors"
    save_file(tm.state_dict(), str(path))
    x = np.random.default_rng(1).standard_normal((2, 3, size, size)).astype(np.float32)
    ref = logits(tm, x)
    for backend in BACKENDS:
        model = vitzoo.create("vit_small_r26_s32_224", pretrained=str(path), backbone_layers=layers, img_size=size, num_classes=5,
                              **SMALL, **backend)
        assert rel(run(model, x), ref) <= 1e-4, (layers, backend)


def test_the_stem_alone_equals_timm(tmp_path):
    """vit_tiny_r_s16_p8: timm's create_resnetv2_stem (backbone.conv/norm/pool), 8×8 patches of its map."""
    tm = random_timm("vit_tiny_r_s16_p8_224", num_classes=5, img_size=64)
    path = tmp_path / "model.safetensors"
    save_file(tm.state_dict(), str(path))
    x = np.random.default_rng(1).standard_normal((2, 3, 64, 64)).astype(np.float32)
    ref = logits(tm, x)
    for backend in BACKENDS:
        model = vitzoo.create("vit_tiny_r_s16_p8_224", pretrained=str(path), depth=2, num_classes=5, img_size=64, **backend)
        assert rel(run(model, x), ref) <= 1e-4, backend


def test_a_hybrid_file_without_a_name_reads_its_architecture_from_the_tensors(tmp_path):
    """The stage and block names give the backbone's layers, the stem conv the input channels, pos_embed the size (stride included)."""
    tm = small_hybrid((2, 1, 1), 64, num_classes=4)
    path = tmp_path / "hybrid.safetensors"
    save_file(tm.state_dict(), str(path))
    given = dict(norm_eps=1e-6, gelu="exact", global_pool="token", num_heads=2)
    spec = weights.read(path, variant=given).spec
    assert (spec.backbone, spec.backbone_layers, spec.in_chans, spec.patch_size, spec.img_size) == ("resnetv2", (2, 1, 1), 3, 1, 64)
    x = np.random.default_rng(3).standard_normal((1, 3, 64, 64)).astype(np.float32)
    assert rel(run(vitzoo.create(None, pretrained=str(path), backend="numpy", **given), x), logits(tm, x)) <= 1e-4


def test_a_damaged_hybrid_file_is_refused_in_one_sentence(tmp_path):
    from vitzoo.errors import CheckpointError

    state = small_hybrid((1, 1, 1), 64).state_dict()
    gap = {k: v for k, v in state.items() if ".stages.1.blocks.0." not in k}
    stemless = {k: v for k, v in state.items() if not k.startswith("patch_embed.backbone.stem.conv")}
    for broken, match in ((gap, "gaps"), (stemless, "no 'patch_embed.backbone.stem.conv.weight'")):
        path = tmp_path / "damaged.safetensors"
        save_file(broken, str(path))
        with pytest.raises(CheckpointError, match=match) as info:
            weights.read(path, variant=dict(num_heads=2))
        assert "\n" not in str(info.value)


def test_intermediates_equal_timms(tmp_path):
    tm = random_timm("vit_tiny_r_s16_p8_224", num_classes=0, img_size=64)
    path = tmp_path / "m.safetensors"
    save_file(tm.state_dict(), str(path))
    x = np.random.default_rng(4).standard_normal((1, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        final_ref, maps_ref = tm.forward_intermediates(torch.from_numpy(x), indices=[0, 1], norm=True)
    for backend in (dict(backend="numpy"), {}):
        model = vitzoo.create("vit_tiny_r_s16_p8_224", pretrained=str(path), depth=2, num_classes=0, img_size=64, **backend)
        final, maps = model.forward_intermediates(x if backend else ms.Tensor(x), indices=[0, 1], norm=True)
        assert rel(np.asarray(final if backend else final.asnumpy()), final_ref.numpy()) <= 1e-4
        for a, b in zip(maps, maps_ref):
            assert a.shape == tuple(b.shape) == (1, 192, 2, 2)
            assert rel(np.asarray(a if backend else a.asnumpy()), b.numpy()) <= 1e-4


def test_timm_writer_output_loads_in_timm(tmp_path):
    name = "vit_tiny_r_s16_p8_224"
    tm = random_timm(name, num_classes=3, img_size=64)
    src = tmp_path / "src.safetensors"
    save_file(tm.state_dict(), str(src))
    out = tmp_path / "out.safetensors"
    weights.write(weights.read(src, variant=get_spec(name, depth=2, num_classes=3, img_size=64)), out, format="timm")
    back = timm.create_model(name, pretrained=False, depth=2, num_classes=3, img_size=64).eval()
    back.load_state_dict(load_file(str(out)), strict=True)
    x = np.random.default_rng(5).standard_normal((1, 3, 64, 64)).astype(np.float32)
    assert rel(logits(back, x), logits(tm, x)) <= 1e-6


def test_onnx_export_runs_equal_to_the_model(tmp_path):
    pytest.importorskip("onnxruntime")
    from vitzoo.backends.mindspore.deploy.export import export_model

    tm = random_timm("vit_tiny_r_s16_p8_224", num_classes=4, img_size=64)
    path = tmp_path / "m.safetensors"
    save_file(tm.state_dict(), str(path))
    model = vitzoo.create("vit_tiny_r_s16_p8_224", pretrained=str(path), depth=2, num_classes=4, img_size=64)
    summary = export_model(model, tmp_path / "hybrid.onnx")  # verify=True: raises above 1e-4 of the output scale
    assert summary["output_shape"] == [1, 4] and summary["max_abs_diff"] is not None


def test_the_spec_refuses_what_timms_hybrid_does_not_build():
    from vitzoo.errors import SpecError

    spec = get_spec("vit_small_r26_s32_224")
    for bad, match in ((dict(backbone_layers=(2, 0)), "positive block counts"), (dict(backbone="resnet"), "Unknown backbone"),
                       (dict(dynamic_img_size=True), "fixed input size"), (dict(backbone="none"), "needs a backbone"),
                       (dict(img_size=16, patch_size=2), "feature map")):
        with pytest.raises(SpecError, match=match):
            spec.replace(**bad)


def test_fresh_init_is_timms():
    """ResNetV2.init_weights: convs normal √(2/fan_out), each block's norm3 weight zero; the projection PyTorch's uniform."""
    from vitzoo.init import init_state

    state = init_state(get_spec("vit_small_r26_s32_224", depth=1))
    ref = timm.create_model("vit_small_r26_s32_224", pretrained=False, depth=1).state_dict()
    conv = "patch_embed.backbone.stages.0.blocks.0.conv1.weight"
    for drawn in (state[conv], ref[conv].numpy()):
        assert abs(drawn.std() - (2 / 64) ** 0.5) < 0.01
    assert not state["patch_embed.backbone.stages.1.blocks.1.norm3.weight"].any() and not ref["patch_embed.backbone.stages.1.blocks.1.norm3.weight"].any()
    assert np.abs(state["patch_embed.proj.bias"]).max() <= 2048**-0.5


def test_a_file_at_another_image_size_resamples_pos_embed_as_timm(tmp_path):
    """A 64-px file made for 96 px: pos_embed resampled over the 2×2 → 3×3 patch grid, as timm's checkpoint filter does."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    tm = random_timm("vit_tiny_r_s16_p8_224", num_classes=3, img_size=64)
    path = tmp_path / "m.safetensors"
    save_file(tm.state_dict(), str(path))
    big = timm.create_model("vit_tiny_r_s16_p8_224", pretrained=False, depth=2, num_classes=3, img_size=96).eval()
    big.load_state_dict(checkpoint_filter_fn(tm.state_dict(), big), strict=True)
    x = np.random.default_rng(6).standard_normal((1, 3, 96, 96)).astype(np.float32)
    model = vitzoo.create("vit_tiny_r_s16_p8_224", pretrained=str(path), depth=2, num_classes=3, img_size=96, backend="numpy")
    assert model.spec.grid_size == 3 and rel(run(model, x), logits(big, x)) <= 1e-4
