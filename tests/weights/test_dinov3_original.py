"""The original DINOv3 release files (facebookresearch/dinov3's torch-hub ``.pth``) against timm, random weights.

The reference is timm's own reading of those files (``eva.checkpoint_filter_fn``, which loads the
release's ``.pth`` into ``vit_*_dinov3``). Each test writes a file in the release's layout from a
random timm model, with a random key bias that the release's mask zeroes; timm loads it through its
filter, vitzoo reads it by content with no name given, and the outputs agree on NumPy, MindSpore and
``jit=True``, at 64 px and at a non-square size.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import vitzoo  # noqa: E402
from vitzoo import weights  # noqa: E402
from vitzoo.errors import CheckpointError  # noqa: E402

from family_timm import random_timm, rel, run  # noqa: E402

ARCHS = {"mlp": "vit_small_patch16_dinov3_qkvb", "swiglu": "vit_small_plus_patch16_dinov3_qkvb"}  # S/16 and S+/16 (w1, w2, w3)


def timm_model(arch: str):
    return random_timm(arch, num_classes=0, global_pool="token")


def release_layout(model) -> dict:
    """The release's names for a timm DINOv3 state dict, written here from the release's module tree."""
    rng = np.random.default_rng(5)
    swiglu = any(".mlp.fc1_g." in k for k in model.state_dict())
    out = {}
    for k, v in model.state_dict().items():
        if k.endswith("attn.v_bias") or "rope" in k:
            continue
        if k.endswith("attn.q_bias"):
            q, v2 = v, model.state_dict()[k.replace("q_bias", "v_bias")]
            key = torch.from_numpy(rng.standard_normal(q.shape[0]).astype(np.float32))  # the release's mask zeroes it
            out[k.replace("q_bias", "qkv.bias")] = torch.cat([q, key, v2])
            out[k.replace("q_bias", "qkv.bias_mask")] = torch.cat([torch.ones_like(q), torch.zeros_like(q), torch.ones_like(q)])
            continue
        k = k.replace("reg_token", "storage_tokens").replace("gamma_1", "ls1.gamma").replace("gamma_2", "ls2.gamma")
        if swiglu:
            k = k.replace("mlp.fc1_g", "mlp.w1").replace("mlp.fc1_x", "mlp.w2").replace("mlp.fc2", "mlp.w3")
        out[k] = v
    d_head = model.embed_dim // model.blocks[0].attn.num_heads
    out["rope_embed.periods"] = 100.0 ** (2 * torch.arange(d_head // 4, dtype=torch.float32) / (d_head // 2))  # as the release computes them
    out["mask_token"] = torch.from_numpy(rng.standard_normal((1, model.embed_dim)).astype(np.float32))
    return out


def release_file(tmp_path, kind: str):
    model = timm_model(ARCHS[kind])
    path = tmp_path / f"dinov3_{kind}_pretrain_lvd1689m.pth"
    torch.save(release_layout(model), path)
    return model, path


def timm_reads(arch: str, path):
    """timm's own loader for the release file (its checkpoint filter renames and splits the q/k/v bias)."""
    return timm.create_model(arch, pretrained=True, depth=2, num_classes=0, global_pool="token",
                             pretrained_cfg_overlay=dict(file=str(path), num_classes=0)).eval()


@pytest.mark.parametrize("kind", list(ARCHS))
def test_a_release_file_equals_timms_reading_of_it_on_every_backend(tmp_path, kind):
    _, path = release_file(tmp_path, kind)
    ref = timm_reads(ARCHS[kind], path)
    assert weights.detect_format(path) == "dinov3"
    ckpt = weights.read(path)
    spec = ckpt.spec
    assert (spec.num_heads, spec.rope, spec.rope_temperature, spec.reg_tokens, spec.norm_eps, spec.global_pool, spec.k_bias) == (
        6, "dinov3", 100.0, 4, 1e-5, "token", False)
    assert spec.mlp_type == ("swiglu_split" if kind == "swiglu" else "mlp")
    assert sorted(ckpt.dropped) == ["mask_token", "rope_embed.periods"]
    models = [vitzoo.create(None, pretrained=str(path), backend="numpy"), vitzoo.create(None, pretrained=str(path)),
              vitzoo.create(None, pretrained=str(path), jit=True)]
    for h, w in ((64, 64), (48, 80)):
        x = np.random.default_rng(1).standard_normal((2, 3, h, w)).astype(np.float32)
        with torch.no_grad():
            expected = ref(torch.from_numpy(x)).numpy()
        for model in models:
            assert rel(run(model, x), expected) <= 1e-4, (kind, h, w)


@pytest.mark.parametrize("kind", list(ARCHS))
def test_written_in_the_release_layout_it_round_trips_bit_exact_and_loads_in_timm(tmp_path, kind):
    _, path = release_file(tmp_path, kind)
    ckpt = weights.read(path)
    weights.write(ckpt, tmp_path / "back.pth", format="dinov3")
    raw = torch.load(tmp_path / "back.pth", weights_only=True)
    block = {"norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.qkv.bias_mask", "attn.proj.weight", "attn.proj.bias",
             "ls1.gamma", "norm2.weight", "norm2.bias", "ls2.gamma"}
    block |= {f"mlp.{n}.{k}" for n in (("w1", "w2", "w3") if kind == "swiglu" else ("fc1", "fc2")) for k in ("weight", "bias")}
    expected = {"cls_token", "storage_tokens", "mask_token", "rope_embed.periods", "patch_embed.proj.weight", "patch_embed.proj.bias",
                "norm.weight", "norm.bias"} | {f"blocks.{i}.{n}" for i in range(2) for n in block}
    assert set(raw) == expected  # the release's DinoVisionTransformer state dict, which torch hub loads strictly
    assert tuple(raw["mask_token"].shape) == (1, 384) and tuple(raw["rope_embed.periods"].shape) == (16,)
    back = weights.read(tmp_path / "back.pth")
    assert back.spec == ckpt.spec and set(back.state) == set(ckpt.state)
    assert all(np.array_equal(back.state[k], ckpt.state[k]) for k in ckpt.state)
    x = np.random.default_rng(2).standard_normal((1, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        a = timm_reads(ARCHS[kind], path)(torch.from_numpy(x)).numpy()
        b = timm_reads(ARCHS[kind], tmp_path / "back.pth")(torch.from_numpy(x)).numpy()
    assert rel(b, a) <= 1e-6


def test_a_caller_size_is_the_default_input_and_local_crop_norms_are_dropped(tmp_path):
    model = timm_model(ARCHS["mlp"])
    state = release_layout(model)
    state["local_cls_norm.weight"], state["local_cls_norm.bias"] = torch.ones(384), torch.zeros(384)  # 7B / SAT-493M L
    torch.save(state, tmp_path / "7b_like.pth")
    ckpt = weights.read(tmp_path / "7b_like.pth", variant={"img_size": 96})
    assert ckpt.spec.img_size == 96 and "local_cls_norm.weight" in ckpt.dropped
    assert weights.read(tmp_path / "7b_like.pth").spec.img_size == 224


def _damaged(tmp_path, change) -> str:
    state = release_layout(timm_model(ARCHS["mlp"]))
    change(state)
    path = tmp_path / "damaged.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        weights.read(path)
    return str(err.value)


def test_damaged_release_files_get_one_sentence(tmp_path):
    def nan_mask(s):
        s["blocks.0.attn.qkv.bias_mask"] = torch.full_like(s["blocks.0.attn.qkv.bias_mask"], float("nan"))  # saved before init

    def other_mask(s):
        s["blocks.1.attn.qkv.bias_mask"] = torch.ones_like(s["blocks.1.attn.qkv.bias_mask"])

    def periods(s):
        s["rope_embed.periods"] = s["rope_embed.periods"].flip(0)

    def untied(s):
        s["cls_norm.weight"] = torch.ones(384)  # untie_cls_and_patch_norms: a second final norm vitzoo does not build

    assert "'blocks.0.attn.qkv.bias_mask' holds NaN" in _damaged(tmp_path, nan_mask)
    assert "neither all ones nor ones on q and v" in _damaged(tmp_path, lambda s: s["blocks.0.attn.qkv.bias_mask"].fill_(0.5))
    assert "mask the key bias and others do not" in _damaged(tmp_path, other_mask)
    assert "rope_embed.periods" in _damaged(tmp_path, periods)
    assert "not part of a DINOv3 backbone: cls_norm.weight" in _damaged(tmp_path, untied)


def test_the_writer_refuses_what_the_release_layout_cannot_hold(tmp_path):
    ckpt = weights.read(release_file(tmp_path, "mlp")[1])
    plain = vitzoo.get_spec("vit_small_patch16_224", depth=2, num_classes=0)
    from vitzoo.weights import Checkpoint
    from vitzoo.canonical import expected_shapes

    other = Checkpoint(state={k: np.ones(s, np.float32) for k, s in expected_shapes(plain).items()}, spec=plain)
    with pytest.raises(CheckpointError, match="DINOv3's rotary positions only"):
        weights.write(other, tmp_path / "no.pth", format="dinov3")
    assert not (tmp_path / "no.pth").exists()
    assert ckpt.spec.layer_scale
