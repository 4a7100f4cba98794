"""The family variants against timm's own architectures, and the families vitzoo refuses."""

from __future__ import annotations

import re

import numpy as np

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import vitzoo  # noqa: E402
from vitzoo.variants import clip_siglip, deit_dinov2  # noqa: E402
from vitzoo.errors import UnknownNameError  # noqa: E402
from vitzoo.variants import aliases_of, get_spec  # noqa: E402

FAMILY = re.compile(r"(deit|vit_.*(dinov2|clip|siglip))")
# timm tags this MobileCLIP image tower "clip"; its convolutional stem makes it a hybrid (vitzoo/variants/hybrid.py,
# tests/backends/test_families_mci.py), not one of the CLIP family's variants counted here.
NOT_A_VIT = {"vit_base_mci_224"}
FAMILY_MODULES = (deit_dinov2, clip_siglip)
FAMILY_VARIANTS = sorted(n for m in FAMILY_MODULES for n, f in vars(m).items() if callable(f) and f.__module__ == m.__name__ and not n.startswith("_"))


def timm_architectures() -> list[str]:
    return sorted({n.split(".")[0] for n in timm.list_pretrained() if FAMILY.match(n)} - NOT_A_VIT)


def test_every_pretrained_family_architecture_is_registered():
    archs = timm_architectures()
    assert len(archs) == 84
    missing = [a for a in archs if a not in vitzoo.list_models()]
    assert not missing
    assert sorted(a for v in FAMILY_VARIANTS for a in ([v] if v.startswith("vit_") else aliases_of(v))) == archs


def _timm_fields(arch: str, monkeypatch) -> dict:
    """What timm builds for ``arch``: one block on the meta device (no memory, no init), the depth it asked for."""
    import timm.models.deit as deit
    import timm.models.vision_transformer as vit

    asked = {}

    def one_block(build, *args, **kwargs):
        asked.update(kwargs)
        return build(*args, **{**kwargs, "depth": 1})

    for module in (vit, deit):
        monkeypatch.setattr(module, "build_model_with_cfg", lambda *a, _b=module.build_model_with_cfg, **k: one_block(_b, *a, **k))
    with torch.device("meta"):
        m = timm.create_model(arch, pretrained=False)
    block = m.blocks[0]
    act = type(block.mlp.act).__name__
    pool = m.attn_pool if getattr(m, "attn_pool", None) is not None else None
    return dict(
        embed_dim=m.embed_dim, depth=asked["depth"], num_heads=block.attn.num_heads, mlp_dim=block.mlp.fc2.in_features,
        mlp_type="swiglu" if type(block.mlp).__name__ == "GluMlp" else "mlp",
        patch_size=m.patch_embed.patch_size[0], img_size=m.patch_embed.img_size[0], patch_bias=m.patch_embed.proj.bias is not None,
        qkv_bias=block.attn.qkv.bias is not None, class_token=m.cls_token is not None, dist_token=hasattr(m, "dist_token"),
        reg_tokens=m.num_reg_tokens, pos_embed_prefix=not m.no_embed_class, global_pool=m.global_pool,
        norm_eps=block.norm1.eps, gelu={"GELU": "exact", "GELUTanh": "tanh", "QuickGELU": "quick", "SiLU": "exact"}[act],
        pre_norm=type(m.norm_pre).__name__ == "LayerNorm", layer_scale=type(block.ls1).__name__ == "LayerScale",
        fc_norm=type(m.fc_norm).__name__ == "LayerNorm", num_classes=m.num_classes,
        pool_mlp=None if pool is None else pool.mlp.fc1.out_features,
    )


@pytest.mark.parametrize("arch", timm_architectures())
def test_variant_spec_is_timms_architecture(arch, monkeypatch):
    spec = get_spec(arch)
    want = _timm_fields(arch, monkeypatch)
    pool_mlp = want.pop("pool_mlp")
    assert {k: getattr(spec, k) for k in want} == want
    assert pool_mlp in (None, spec.mlp_dim)


@pytest.mark.parametrize("name", ["samvit_base_patch16"])
def test_unsupported_family_names_list_the_supported_families(name):
    with pytest.raises(UnknownNameError, match=r"DeiT, DeiT-III, DINOv2, CLIP, SigLIP, EVA/EVA-02, DINOv3, PE, RoPE-ViT, BEiT/BEiTv2, AIMv2, CaiT, NaFlex ViT \(SigLIP 2 NaFlex, C-RADIO\), XCiT, Qwen3 ViT, DeepSeek-V4 ViT, Sapiens2, parallel-block ViTs, relative-position ViTs, ResNetV2 hybrid ViTs and MobileCLIP") as info:
        vitzoo.create(name)
    assert "\n" not in str(info.value) and name in str(info.value) and "does not support yet" in str(info.value)


@pytest.mark.parametrize("module, at_least", [("vitzoo.variants.eva", 53), ("vitzoo.variants.beit", 7), ("vitzoo.variants.aimv2", 12),
                                               ("vitzoo.variants.cait", 10), ("vitzoo.variants.beit3", 2),
                                               ("vitzoo.variants.relpos", 14), ("vitzoo.variants.hybrid", 9)])
def test_every_family_variant_has_timms_tensors(module, at_least):
    """Every architecture registered from timm's eva.py / beit.py holds exactly the tensors timm's model holds (built on the meta device)."""
    from vitzoo.canonical import expected_shapes
    from vitzoo.variants.registry import _ALIASES, _VARIANTS

    checked = 0
    for alias, short in _ALIASES.items():
        if _VARIANTS[short].__module__ != module:
            continue
        spec = vitzoo.get_spec(short)
        model = timm.create_model(alias, pretrained=False, device="meta", num_classes=spec.num_classes)
        assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected_shapes(spec), alias
        assert spec.dynamic_img_size == bool(getattr(model, "dynamic_img_size", False)), alias
        checked += 1
    assert checked >= at_least
    if module.endswith(("beit", "cait")):  # every architecture of timm's beit.py / cait.py
        assert checked == len(timm.list_models(module=module.rsplit(".", 1)[1]))
    if module.endswith("relpos"):  # vision_transformer_relpos.py's all but test_vit_relpos, plus vit_base_patch16_rpn_224
        assert checked == len(timm.list_models(module="vision_transformer_relpos"))


def _timm_full_width(arch: str, img_size: int) -> "torch.nn.Module":
    """timm's ``arch`` at full width and depth, at a small image size, with fan-in-scaled random weights."""
    with torch.device("meta"):  # skip timm's own init: the weights are drawn below
        model = timm.create_model(arch, pretrained=False, img_size=img_size)
    model = model.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if p.ndim == 1 and (name.endswith("gamma") or "norm" in name) and name.endswith(("weight", "gamma")):
                p.copy_(1 + 0.1 * noise)
            elif p.ndim == 1 or p.shape[:2] == (1, 1) or name.startswith(("pos_embed", "reg_token")):
                p.copy_(0.1 * noise)
            else:
                p.copy_(noise / float(np.prod(p.shape[1:])) ** 0.5)
    return model.eval()


@pytest.mark.parametrize(
    "arch, img_size",
    [
        ("deit_tiny_distilled_patch16_224", 32),  # logits: the mean of both heads
        ("vit_small_patch14_reg4_dinov2", 28),  # no classifier: the class token after the norm
        ("vit_base_patch32_clip_quickgelu_224", 64),  # the image projection; QuickGELU from the name alone
    ],
)
def test_create_from_a_file_timm_saved_gives_timms_output(tmp_path, arch, img_size):
    import mindspore as ms
    from safetensors.torch import save_file

    model = _timm_full_width(arch, img_size)
    save_file(model.state_dict(), tmp_path / "model.safetensors")
    x = np.random.default_rng(0).standard_normal((2, 3, img_size, img_size)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    ours = vitzoo.create(arch, pretrained=tmp_path / "model.safetensors", img_size=img_size)
    assert ours.spec == get_spec(arch, img_size=img_size)
    out = ours(ms.Tensor(x)).asnumpy()
    assert out.shape == ref.shape and np.abs(out - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())


def test_weights_of_another_family_do_not_pass_for_a_named_variant():
    from vitzoo.api import _check_same_architecture
    from vitzoo.errors import CheckpointError

    for variant, found, words in [
        ("siglip_b_16", "siglip_b_16_gap", "global_pool 'avg'"),
        ("deit_b_16_distilled", "deit_b_16", "dist_token False"),
        ("dinov2_g_14", "clip_g_14", "mlp_type"),
    ]:
        with pytest.raises(CheckpointError, match=words):
            _check_same_architecture(get_spec(variant), get_spec(found), "'w.safetensors'")


def test_fresh_layer_scales_start_where_timms_do():
    """Every variant with a timm name and layer scale starts it at timm's ``init_values`` (DeiT-III 1e-6, BEiT-B 0.1, ...).

    Read off timm's LayerScale modules on the meta device; EVA-block models keep init_values only as the tensor's value,
    and scripts/make_eva_variants.py takes those from timm's arguments.
    """
    from vitzoo.variants.registry import list_models

    timm_names, compared = set(timm.list_models()), 0
    for name in list_models():
        spec = get_spec(name)
        if name not in timm_names or not spec.layer_scale or spec.attn_only_layer_scale:  # Sapiens2: tested in its own file
            continue
        ref = timm.create_model(name, pretrained=False, depth=1, device="meta")
        init = [m.init_values for m in ref.modules() if isinstance(getattr(m, "init_values", None), float)]
        if init:
            compared += 1
            assert spec.layer_scale_init == pytest.approx(init[0], rel=1e-12), name
    assert compared >= 90
