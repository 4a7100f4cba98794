"""timm's Sapiens2 ViTs (``vit_*_patch16_sapiens2``) against the real timm, random weights.

Three blocks with the middle one grouped-query (timm: ``num_kv_heads=(4, 2, 4)``; vitzoo reads the layout off
``k_proj``'s rows), per-head RMS q/k norms, attention-only layer scale, DINOv3 RoPE, a class token and 8
registers, at timm's default 1024 × 768 input and at another non-square size.
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
from vitzoo.errors import CheckpointError, SpecError  # noqa: E402
from vitzoo.variants import get_spec  # noqa: E402

from family_timm import assert_layer_decay_is_timms, logits, rel, run, save_timm  # noqa: E402
from family_timm import random_timm as _random_timm  # noqa: E402

NAME = "vit_base_patch16_sapiens2"
SMALL = dict(embed_dim=128, num_heads=4, num_kv_heads=(4, 2, 4))
OURS = dict(depth=3, embed_dim=128, num_heads=4, mlp_dim=512)  # the GQA layout comes from the file


def random_timm(name: str = NAME, **kwargs):
    return _random_timm(name, depth=3, **{**SMALL, **kwargs})


def _x(h: int, w: int, seed: int = 1, batch: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, h, w)).astype(np.float32)


def test_the_registered_models_are_timms():
    """create_model(name) pools the class token (as upstream), 1024 × 768 by default, full heads in 8 blocks at each end."""
    for name, short in (("vit_base_patch16_sapiens2", "sapiens2_b_16"), ("vit_huge_patch16_sapiens2", "sapiens2_h_16")):
        ref = timm.create_model(name, pretrained=False, device="meta")
        spec = get_spec(short)
        assert (spec.global_pool, ref.global_pool) == ("token", "token")
        assert spec.input_size == tuple(ref.pretrained_cfg["input_size"][1:]) == (1024, 768)
        assert [spec.kv_heads(i) for i in range(spec.depth)] == [b.attn.num_kv_heads for b in ref.blocks]


@pytest.mark.parametrize("h, w", [(1024, 768), (96, 160)])
def test_equals_timm_on_every_backend(tmp_path, h, w):
    tm = random_timm(num_classes=5)
    path = save_timm(tm, tmp_path)
    x = _x(h, w)
    ref = logits(tm, x)
    for backend in (dict(backend="numpy"), {}, dict(jit=True)):
        model = vitzoo.create(NAME, pretrained=str(path), num_classes=5, **OURS, **backend)
        assert (model.spec.num_kv_heads, model.spec.num_full_attn_blocks) == (2, 1)
        assert rel(run(model, x), ref) <= 1e-4, backend


def test_a_file_read_with_the_variant_shows_its_layout(tmp_path):
    tm = random_timm(num_classes=0)
    path = save_timm(tm, tmp_path)
    spec = weights.read(path, variant=get_spec(NAME, **OURS)).spec
    assert (spec.num_kv_heads, spec.num_full_attn_blocks, spec.attn_only_layer_scale, spec.qk_norm, spec.norm_type) == (2, 1, True, True, "rms")
    assert (spec.num_heads, spec.reg_tokens, spec.global_pool, spec.input_size) == (4, 8, "token", (1024, 768))


@pytest.mark.parametrize("name", ["sapiens2_b_16", "sapiens2_l_16", "sapiens2_h_16", "sapiens2_g_16", "sapiens2_5b_16"])
def test_the_registered_sizes_read_by_content_alone(name):
    from vitzoo.canonical import expected_shapes
    from vitzoo.weights.infer import infer_spec

    spec = get_spec(name)
    # zero-stride arrays: the full-size tensors' shapes without their memory (inference reads shapes only)
    state = {k: np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), s, (0,) * len(s)) for k, s in expected_shapes(spec).items()}
    assert infer_spec(state, "the file") == spec


def test_another_kv_layout_is_refused_in_one_sentence(tmp_path):
    path = save_timm(random_timm(num_kv_heads=(2, 4, 4)), tmp_path)
    with pytest.raises(CheckpointError, match="not Sapiens2's layout") as info:
        weights.read(path, variant=get_spec(NAME, **OURS))
    assert "\n" not in str(info.value)


def test_bad_specs_are_refused_in_one_sentence():
    with pytest.raises(SpecError, match="divides num_heads"):
        get_spec("sapiens2_l_16", num_kv_heads=5)
    with pytest.raises(SpecError, match="qkv_fused=False"):
        get_spec("sapiens2_l_16", qkv_fused=True)
    with pytest.raises(SpecError, match="attn_only_layer_scale needs layer_scale"):
        get_spec("sapiens2_l_16", layer_scale=False)
    with pytest.raises(SpecError, match="img_width"):
        get_spec("sapiens2_l_16", dynamic_img_size=False)
    assert get_spec("sapiens2_l_16", depth=12).num_kv_heads == 0  # 8 full blocks at each end leave no GQA block


def test_timm_writer_output_loads_in_timm(tmp_path):
    tm = random_timm(num_classes=3)
    src = save_timm(tm, tmp_path, "src")
    out = tmp_path / "out.safetensors"
    weights.write(weights.read(src, variant=get_spec(NAME, num_classes=3, **OURS)), out, format="timm")
    back = random_timm(num_classes=3)
    with torch.no_grad():
        for p in back.parameters():
            p.zero_()
    back.load_state_dict(load_file(str(out)), strict=True)
    x = _x(64, 48)
    assert rel(logits(back, x), logits(tm, x)) <= 1e-6


def test_intermediates_equal_timms(tmp_path):
    tm = random_timm(num_classes=0)
    path = save_timm(tm, tmp_path)
    x = _x(64, 96)
    with torch.no_grad():
        final_ref, maps_ref = tm.forward_intermediates(torch.from_numpy(x), indices=[0, 1, 2], norm=True)
    for backend in (dict(backend="numpy"), {}):
        model = vitzoo.create(NAME, pretrained=str(path), num_classes=0, **OURS, **backend)
        final, maps = model.forward_intermediates(x if backend else ms.Tensor(x), indices=[0, 1, 2], norm=True)
        assert rel(np.asarray(final if backend else final.asnumpy()), final_ref.numpy()) <= 1e-4
        for a, b in zip(maps, maps_ref):
            assert rel(np.asarray(a if backend else a.asnumpy()), b.numpy()) <= 1e-4


def test_drop_path_and_layer_decay_follow_timm():
    from vitzoo.backends.mindspore.model.drop_path import set_drop_path

    ref = timm.create_model(NAME, pretrained=False, depth=3, num_classes=4, drop_path_rate=0.1, **SMALL)
    model = vitzoo.create(NAME, num_classes=4, num_full_attn_blocks=1, num_kv_heads=2, **OURS)
    assert set_drop_path(model, 0.1) == pytest.approx([getattr(b.drop_path1, "drop_prob", 0.0) for b in ref.blocks])
    assert_layer_decay_is_timms(ref, model)


def test_export_runs_equal_to_the_model(tmp_path):
    pytest.importorskip("onnxruntime")
    from vitzoo.backends.mindspore.deploy.export import export_model

    tm = random_timm(num_classes=4)
    path = save_timm(tm, tmp_path)
    model = vitzoo.create(NAME, pretrained=str(path), num_classes=4, img_size=64, img_width=48, **OURS)
    summary = export_model(model, tmp_path / "sapiens2.onnx")  # verify=True: raises above 1e-4 of the output scale
    assert summary["output_shape"] == [1, 4] and summary["max_abs_diff"] is not None


def test_fresh_init_matches_timms_tensors_and_layer_scale():
    """timm: gamma_1 starts at init_values 1.0, the q/k norms' weights at one; the same tensors as timm's model."""
    from vitzoo.init import init_state

    state = init_state(get_spec(NAME, num_full_attn_blocks=1, num_kv_heads=2, **OURS))
    ref = timm.create_model(NAME, pretrained=False, depth=3, device="meta", **SMALL)
    assert {k: tuple(v.shape) for k, v in ref.state_dict().items()} == {k: v.shape for k, v in state.items()}
    assert float(state["blocks.1.gamma_1"].min()) == float(state["blocks.1.gamma_1"].max()) == 1.0
    assert float(state["blocks.1.attn.k_norm.weight"].min()) == 1.0


def _meta_names(state: dict) -> dict:
    """timm's names back to Meta's original ones (the inverse of timm's sapiens2_weights filter), plus the mask token."""
    import re

    out = {"mask_token": torch.zeros(1, state["cls_token"].shape[-1])}
    for k, v in state.items():
        k = re.sub(r"^norm\.", "ln1.", k)
        k = re.sub(r"^(blocks\.\d+)\.gamma_1$", r"\1.attn.gamma.weight", k)
        for new, old in (("storage_tokens", "reg_token"), ("patch_embed.projection.", "patch_embed.proj."), ("attn.wq.", "attn.q_proj."),
                         ("attn.wk.", "attn.k_proj."), ("attn.wv.", "attn.v_proj."), (".ffn.w12.", ".mlp.fc1."), (".ffn.w3.", ".mlp.fc2."),
                         (".ln1.", ".norm1."), (".ln2.", ".norm2.")):
            k = k.replace(old, new)
        out[k] = v.contiguous()
    return out


def test_metas_original_names_read_as_timms_filter_maps_them(tmp_path):
    from timm.models.eva import checkpoint_filter_fn

    tm = random_timm(num_classes=0)
    meta = _meta_names(tm.state_dict())
    assert {k: v.shape for k, v in checkpoint_filter_fn(meta, tm).items()} == {k: v.shape for k, v in tm.state_dict().items()}
    save_file(meta, str(tmp_path / "model.safetensors"))
    x = _x(64, 48)
    for backend in (dict(backend="numpy"), {}):
        model = vitzoo.create(NAME, pretrained=str(tmp_path / "model.safetensors"), num_classes=0, **OURS, **backend)
        assert rel(run(model, x), logits(tm, x)) <= 1e-4, backend
