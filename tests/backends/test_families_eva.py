"""timm's eva.py families (EVA-01/EVA-02, DINOv3, PE, RoPE-ViT) against the real timm, random weights.

Each case: timm builds the architecture (two blocks, every parameter drawn at random, so zero-initialised
biases and layer scales count), saves its state dict; ``vitzoo.create(TIMM_NAME, pretrained=FILE, depth=2)``
on the NumPy backend, MindSpore PyNative and MindSpore ``jit=True`` gives timm's ``model(x)``, at the native
size and, for the models timm builds with ``dynamic_img_size`` (DINOv3), at 160×256 px too.
"""

from __future__ import annotations

import json

import mindspore as ms
import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
from safetensors.torch import save_file  # noqa: E402

import vitzoo  # noqa: E402
from vitzoo import rotary, weights  # noqa: E402
from vitzoo.errors import CheckpointError  # noqa: E402
from vitzoo.variants import get_spec  # noqa: E402

from family_timm import rel, run  # noqa: E402

# One architecture per combination of options the family files use.
CASES = [
    "vit_small_patch16_dinov3",  # DINOv3: dinov3 RoPE (rotate-half), 4 registers, no pos_embed, no qkv bias
    "vit_small_plus_patch16_dinov3_qkvb",  # + q/v bias, split SwiGLU aligned to 8
    "eva02_tiny_patch14_224",  # EVA-02: cat RoPE over ref grid 16, packed SwiGLU, q/v bias, avg + fc_norm
    "eva02_base_patch16_clip_224",  # EVA-CLIP: q/k/v apart, inner attention and MLP norms, token pool
    "vit_pe_core_tiny_patch16_384",  # PE-Core: pre-norm, RoPE offset 1 'xy', MAP pool of 8 heads over all tokens
    "vit_pe_spatial_tiny_patch16_512",  # PE-Spatial: no norm at the end
    "vit_small_patch16_rope_ape_224",  # naver RoPE-ViT: axial RoPE plus an absolute embedding without the class token
    "vit_medium_patch16_rope_reg1_gap_256",  # timm's RoPE ViT: one register, no class token
]


def random_timm(name: str, depth: int = 2):
    torch.manual_seed(0)
    spec = get_spec(name)
    model = timm.create_model(name, pretrained=False, depth=depth, num_classes=spec.num_classes).eval()
    with torch.no_grad():
        for pname, p in model.named_parameters():
            p.normal_(0, 0.05)
            if p.ndim == 1 and (pname.endswith("weight") or "gamma" in pname):
                p.add_(1.0)  # norms and layer scales near one, so every block matters
    return model


def saved(tmp_path, name: str):
    model = random_timm(name)
    path = tmp_path / f"{name}.safetensors"
    save_file(model.state_dict(), str(path))
    return model, path


@pytest.mark.parametrize("name", CASES)
def test_equals_timm_on_every_backend(tmp_path, name):
    tm, path = saved(tmp_path, name)
    spec = get_spec(name)
    sizes = [(spec.img_size, spec.img_size)] + ([(160, 256)] if spec.dynamic_img_size else [])
    models = [vitzoo.create(name, pretrained=str(path), depth=2, backend="numpy"),
              vitzoo.create(name, pretrained=str(path), depth=2),
              vitzoo.create(name, pretrained=str(path), depth=2, jit=True)]
    for h, w in sizes:
        x = np.random.default_rng(1).standard_normal((2, 3, h, w)).astype(np.float32)
        with torch.no_grad():
            ref = tm(torch.from_numpy(x)).numpy()
        for model in models:
            assert rel(run(model, x), ref) <= 1e-4, (name, h, w)


def test_written_back_loads_in_timm(tmp_path):
    """The timm writer gives back timm's own EVA names: ``load_state_dict(strict=True)`` takes them."""
    tm, path = saved(tmp_path, "eva02_base_patch16_clip_224")
    ckpt = weights.read(path, variant=get_spec("eva02_base_patch16_clip_224", depth=2))
    weights.write(ckpt, tmp_path / "back.safetensors", format="timm")
    from safetensors.torch import load_file

    back = load_file(str(tmp_path / "back.safetensors"))
    assert set(back) == set(tm.state_dict())
    tm.load_state_dict(back, strict=True)


def test_dinov3_intermediates_match_timm(tmp_path):
    tm, path = saved(tmp_path, "vit_small_patch16_dinov3")
    x = np.random.default_rng(2).standard_normal((1, 3, 160, 224)).astype(np.float32)
    with torch.no_grad():
        ref_final, ref_maps = tm.forward_intermediates(torch.from_numpy(x), indices=2, return_prefix_tokens=True)
    for model in (vitzoo.create("vit_small_patch16_dinov3", pretrained=str(path), depth=2, backend="numpy"),
                  vitzoo.create("vit_small_patch16_dinov3", pretrained=str(path), depth=2)):
        final, maps = model.forward_intermediates(x if model.__class__.__name__ == "NumpyViT" else ms.Tensor(x), indices=2,
                                                  return_prefix_tokens=True)
        as_np = (lambda t: t) if isinstance(final, np.ndarray) else (lambda t: t.asnumpy())
        assert rel(as_np(final), ref_final.numpy()) <= 1e-4
        for (spatial, prefix), (ref_spatial, ref_prefix) in zip(maps, ref_maps):
            assert as_np(spatial).shape == tuple(ref_spatial.shape) == (1, 384, 10, 14)
            assert rel(as_np(spatial), ref_spatial.numpy()) <= 1e-4
            assert rel(as_np(prefix), ref_prefix.numpy()) <= 1e-4


def test_rotary_tables_equal_timms(tmp_path):
    """vitzoo.rotary (the NumPy reference) against timm's own embedding modules, non-square grids."""
    from timm.layers.pos_embed_sincos import RotaryEmbeddingCat, RotaryEmbeddingDinoV3

    dinov3 = get_spec("vit_small_patch16_dinov3")
    ref = RotaryEmbeddingDinoV3(dim=dinov3.head_dim, temperature=100, rotate_half=True).get_embed((5, 7))
    cos, sin = rotary.tables(dinov3, 5, 7, prefix=0)
    assert np.abs(np.concatenate([sin, cos], -1) - ref.numpy()).max() < 1e-6
    pe = get_spec("vit_pe_core_tiny_patch16_384")
    ref = RotaryEmbeddingCat(dim=pe.head_dim, temperature=10000, in_pixels=False, ref_feat_shape=(24, 24), grid_offset=1.0,
                             grid_indexing="xy").get_embed((6, 9))
    cos, sin = rotary.tables(pe, 6, 9, prefix=0)
    assert np.abs(np.concatenate([sin, cos], -1) - ref.numpy()).max() < 1e-5


def test_folder_with_timms_config_needs_no_name(tmp_path):
    """A hub-layout folder: config.json's architecture settles what the tensors cannot show (rotary form, size)."""
    tm, _ = saved(tmp_path, "vit_small_patch16_dinov3")
    folder = tmp_path / "repo"
    folder.mkdir()
    save_file(tm.state_dict(), str(folder / "model.safetensors"))
    cfg = {"architecture": "vit_small_patch16_dinov3", "num_classes": 0, "model_args": {"depth": 2},
           "pretrained_cfg": {"input_size": [3, 256, 256]}}
    (folder / "config.json").write_text(json.dumps(cfg))
    model = vitzoo.create(pretrained=str(folder), backend="numpy")
    assert model.spec.rope == "dinov3" and model.spec.img_size == 256 and model.spec.depth == 2
    x = np.random.default_rng(3).standard_normal((1, 3, 256, 256)).astype(np.float32)
    with torch.no_grad():
        assert rel(model(x), tm(torch.from_numpy(x)).numpy()) <= 1e-4


def test_unnamed_file_whose_registered_variants_disagree_is_refused(tmp_path):
    """DINOv3-S with q/v bias and LingBot-S share every tensor but pool and size differently: no guess."""
    path = tmp_path / "dinov3.safetensors"
    save_file(random_timm("vit_small_patch16_dinov3_qkvb", depth=12).state_dict(), str(path))
    with pytest.raises(CheckpointError, match="img_size.*dinov3_s_16_qkvb.*lingbot_s_16"):
        vitzoo.create(pretrained=str(path), backend="numpy")
    with pytest.raises(CheckpointError, match="global_pool"):
        vitzoo.create(pretrained=str(path), backend="numpy", img_size=256)
    model = vitzoo.create(pretrained=str(path), backend="numpy", global_pool="avg", img_size=256)
    assert model.spec.rope == "dinov3" and model.spec.rope_half  # the rest: the variants agree


def test_deit3_old_layer_scale_names_are_still_read_with_the_name(tmp_path):
    """``gamma_1`` is DeiT-III's old name and the EVA block's name: the variant named decides which."""
    from safetensors.numpy import save_file as save_np

    spec = get_spec("deit3_small_patch16_224", depth=1)
    state = vitzoo.backends.numpy.NumpyViT(spec, vitzoo.init.init_state(spec)).state
    old = {k.replace("ls1.gamma", "gamma_1").replace("ls2.gamma", "gamma_2"): v for k, v in state.items()}
    save_np(old, str(tmp_path / "old.safetensors"))
    model = vitzoo.create("deit3_small_patch16_224", pretrained=str(tmp_path / "old.safetensors"), depth=1, backend="numpy")
    assert model.spec.block == "vit" and "blocks.0.ls1.gamma" in model.state
