"""Family checkpoints from transformers, open_clip and the original DINOv2 files, against the real libraries.

Each source model is built tiny from its own library with random weights, saved the way
that library saves it, converted by vitzoo, and run through both backends: the output
the contract names (``.logits``, ``.pooler_output``, ``.image_embeds``, open_clip's
``encode_image``) must match to 1e-4 of the output scale. Writers must give back what
was read, bit for bit, in files the source library loads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
T = pytest.importorskip("transformers")
from safetensors.numpy import load_file  # noqa: E402
from safetensors.torch import load_file as load_torch_file  # noqa: E402
from safetensors.torch import save_file as save_torch_file  # noqa: E402

import vitzoo  # noqa: E402
from family_models import max_rel_diff  # noqa: E402
from timm_models import randomise_  # noqa: E402
from vitzoo import weights  # noqa: E402
from vitzoo.errors import CheckpointError  # noqa: E402

TOL = 1e-4
X = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
BACKENDS = ["numpy", "mindspore"]
SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=16, patch_size=4)
WIDE = dict(SMALL, hidden_size=128)  # 64-wide heads, as DINOv2's releases
# What a file without a config cannot show about a WIDE DINOv2: the caller gives it (create(..., num_heads=2)).
DINOV2_GIVEN = {"num_heads": WIDE["num_attention_heads"], "norm_eps": 1e-6, "gelu": "exact"}
TEXT = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)


def _pooled(model, x):
    return model(pixel_values=x).pooler_output


def _image_features(model, x):
    return model.get_image_features(pixel_values=x).pooler_output


# name -> (build the transformers model, its output vitzoo must give, what a written directory loads as)
HF_CASES = {
    "deit_teacher": (lambda: T.DeiTForImageClassificationWithTeacher(T.DeiTConfig(**SMALL, num_labels=3)),
                     lambda m, x: m(pixel_values=x).logits, "DeiTForImageClassificationWithTeacher"),
    "dinov2": (lambda: T.Dinov2Model(T.Dinov2Config(**SMALL)), _pooled, "Dinov2Model"),
    "dinov2_swiglu": (lambda: T.Dinov2Model(T.Dinov2Config(**SMALL, use_swiglu_ffn=True)), _pooled, "Dinov2Model"),
    "dinov2_registers": (lambda: T.Dinov2WithRegistersModel(T.Dinov2WithRegistersConfig(**SMALL, num_register_tokens=4)),
                         _pooled, "Dinov2WithRegistersModel"),
    "clip_projection": (lambda: T.CLIPVisionModelWithProjection(T.CLIPVisionConfig(**SMALL, projection_dim=24)),
                        lambda m, x: m(pixel_values=x).image_embeds, "CLIPVisionModelWithProjection"),
    "clip_vision_exact_gelu": (lambda: T.CLIPVisionModel(T.CLIPVisionConfig(**SMALL, hidden_act="gelu")), _pooled, "CLIPVisionModel"),
    "clip_model": (lambda: T.CLIPModel(T.CLIPConfig(vision_config=SMALL, text_config=TEXT, projection_dim=24)),
                   _image_features, "CLIPVisionModelWithProjection"),
    "siglip_vision": (lambda: T.SiglipVisionModel(T.SiglipVisionConfig(**SMALL)), _pooled, "SiglipVisionModel"),
    "siglip_model": (lambda: T.SiglipModel(T.SiglipConfig(vision_config=SMALL, text_config=dict(TEXT, vocab_size=64))),
                     _image_features, "SiglipVisionModel"),
}  # fmt: skip


def torch_out(fn, model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return fn(model, torch.from_numpy(x)).numpy()


def vitzoo_out(path: Path, backend: str, x: np.ndarray = X) -> np.ndarray:
    model = vitzoo.create_from_file(path, backend=backend)
    if backend == "mindspore":
        import mindspore as ms

        return model(ms.Tensor(x)).asnumpy()
    return np.asarray(model(x))


@pytest.fixture(scope="module")
def hf_sources(tmp_path_factory):
    """case -> (saved directory, reference output) for every transformers case."""
    root = tmp_path_factory.mktemp("hf")
    out = {}
    for i, (name, (build, output, _)) in enumerate(HF_CASES.items()):
        model = randomise_(build(), seed=i)
        model.save_pretrained(root / name)
        out[name] = (root / name, torch_out(output, model, X))
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(HF_CASES))
def test_transformers_family_matches(name, backend, hf_sources, tmp_path):
    src, ref = hf_sources[name]
    assert weights.detect_format(src) == "hf"
    report = weights.convert(src, tmp_path / "c.safetensors")
    # the contract's create_from_file(DIR) on the save_pretrained folder, and the converted canonical file
    diff = max_rel_diff(vitzoo_out(src if backend == "mindspore" else tmp_path / "c.safetensors", backend), ref)
    print(f"max rel diff {name} {backend}: {diff:.2e}")
    assert diff <= TOL, diff
    if name.endswith("_model"):  # whole two-tower models: the text tower is dropped and said so
        assert any(n.startswith("text_model.") for n in report.dropped)
        assert any("text tower" in n for n in report.notes)


@pytest.mark.parametrize("name", list(HF_CASES))
def test_transformers_round_trip_is_bit_exact_and_loads(name, hf_sources, tmp_path):
    src, ref = hf_sources[name]
    ckpt = weights.read(src)
    weights.write(ckpt, tmp_path / "back", format="hf")
    again = weights.read(tmp_path / "back")
    assert again.spec == ckpt.spec and sorted(again.state) == sorted(ckpt.state)
    for key, value in ckpt.state.items():
        np.testing.assert_array_equal(again.state[key], value, err_msg=key)
    if not name.endswith("_model") and name != "dinov2_registers":  # same layout: the very same tensors come back
        original, written = load_file(src / "model.safetensors"), load_file(tmp_path / "back" / "model.safetensors")
        for key, value in written.items():
            np.testing.assert_array_equal(original[key], value, err_msg=key)
    cls_name = HF_CASES[name][2]
    loaded = getattr(T, cls_name).from_pretrained(tmp_path / "back").eval()
    output = HF_CASES[name][1] if not name.endswith("_model") else (
        (lambda m, x: m(pixel_values=x).image_embeds) if cls_name.startswith("CLIP") else _pooled)
    assert max_rel_diff(torch_out(output, loaded, X), ref) <= TOL


def test_transformers_in_memory_names_and_siglip2(tmp_path):
    """A bare state_dict (transformers 5's in-memory names, SwiGLU split in gate/up) and SigLIP 2's Linear patch embedding."""
    model = randomise_(T.Dinov2Model(T.Dinov2Config(**WIDE, use_swiglu_ffn=True)))
    save_torch_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "dinov2.safetensors"))
    diff = max_rel_diff(vitzoo_out(_converted(tmp_path / "dinov2.safetensors", tmp_path / "a.safetensors", DINOV2_GIVEN), "numpy"),
                        torch_out(_pooled, model, X))
    assert diff <= TOL, diff
    s2 = {k: v for k, v in SMALL.items() if k != "image_size"}
    model = randomise_(T.Siglip2VisionModel(T.Siglip2VisionConfig(**s2, num_patches=16)))
    model.save_pretrained(tmp_path / "siglip2")
    b, c, p = X.shape[0], X.shape[1], SMALL["patch_size"]
    patches = X.reshape(b, c, 4, p, 4, p).transpose(0, 2, 4, 3, 5, 1).reshape(b, 16, p * p * c)  # channel-last patches
    with torch.no_grad():
        ref = model(pixel_values=torch.from_numpy(patches), pixel_attention_mask=torch.ones(b, 16, dtype=torch.long),
                    spatial_shapes=torch.tensor([[4, 4]] * b)).pooler_output.numpy()
    assert max_rel_diff(vitzoo_out(_converted(tmp_path / "siglip2", tmp_path / "b.safetensors"), "numpy"), ref) <= TOL


def _converted(src: Path, dst: Path, given: "dict | None" = None) -> Path:
    weights.convert(src, dst, variant=given)
    return dst


def test_deit_model_and_single_head_classifier_are_read_with_reports(tmp_path):
    model = randomise_(T.DeiTForImageClassification(T.DeiTConfig(**SMALL, num_labels=3)))
    model.save_pretrained(tmp_path / "deit")
    report = weights.convert(tmp_path / "deit", tmp_path / "c.safetensors")
    assert report.spec.dist_token and report.spec.num_classes == 0 and "classifier.weight" in report.dropped
    assert any("DeiTForImageClassification" in n for n in report.notes)
    with torch.no_grad():  # the pooled features: the mean of the class and distillation tokens after the norm
        hidden = model.deit(pixel_values=torch.from_numpy(X)).last_hidden_state.numpy()
    assert max_rel_diff(vitzoo_out(tmp_path / "c.safetensors", "numpy"), (hidden[:, 0] + hidden[:, 1]) / 2) <= TOL


def test_writers_refuse_what_the_layout_cannot_hold(hf_sources, tmp_path):
    ckpt = weights.read(hf_sources["clip_projection"][0])
    ckpt.state["head.bias"] = ckpt.state["head.bias"] + 1
    with pytest.raises(CheckpointError, match="projection without bias"):
        weights.write(ckpt, tmp_path / "hf", format="hf")
    with pytest.raises(CheckpointError, match="projection without bias"):
        weights.write(ckpt, tmp_path / "oc.safetensors", format="open_clip")
    assert not (tmp_path / "hf").exists() and not (tmp_path / "oc.safetensors").exists()
    dinov2 = weights.read(hf_sources["dinov2"][0])
    with pytest.raises(CheckpointError, match="open_clip's VisionTransformer needs"):
        weights.write(dinov2, tmp_path / "oc.safetensors", format="open_clip")
    siglip = weights.read(hf_sources["siglip_vision"][0])
    with pytest.raises(CheckpointError, match="DINOv2 layout"):
        weights.write(siglip, tmp_path / "d.pth", format="dinov2")


def test_unknown_model_type_names_the_supported_ones(hf_sources, tmp_path):
    src = tmp_path / "convnext"
    src.mkdir()
    (src / "model.safetensors").write_bytes((hf_sources["dinov2"][0] / "model.safetensors").read_bytes())
    (src / "config.json").write_text(json.dumps({"model_type": "convnext"}))  # not a ViT (BEiT, the old example, is read now)
    with pytest.raises(CheckpointError, match=r"model_type 'convnext'; vitzoo reads transformers' aimv2, .*beit, .*clip, .*deit, dinov2, .*siglip, .*vit\.") as info:
        weights.read(src, format="hf")
    assert str(src) in str(info.value) and "\n" not in str(info.value)


# open_clip ------------------------------------------------------------------------------------
open_clip = pytest.importorskip("open_clip")
OPEN_CLIP_CFG = dict(embed_dim=24, vision_cfg=dict(image_size=16, layers=2, width=32, head_width=16, patch_size=4, mlp_ratio=2.0),
                     text_cfg=dict(context_length=8, vocab_size=64, width=32, heads=2, layers=1))


def open_clip_model(quick_gelu: bool, layer_scale: bool = False):
    cfg = json.loads(json.dumps(OPEN_CLIP_CFG))
    if layer_scale:
        cfg["vision_cfg"]["ls_init_value"] = 0.5
    return randomise_(open_clip.CLIP(**cfg, quick_gelu=quick_gelu), scale=0.3), cfg  # large enough that the GELU form shows


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("quick_gelu", [True, False])
def test_open_clip_checkpoint_matches_encode_image(quick_gelu, backend, tmp_path):
    model, cfg = open_clip_model(quick_gelu, layer_scale=quick_gelu)
    folder = tmp_path / "hub"
    folder.mkdir()
    save_torch_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": {**cfg, "quick_gelu": quick_gelu}}))
    assert weights.detect_format(folder) == "open_clip"
    report = weights.convert(folder, tmp_path / "c.safetensors")
    assert report.spec.gelu == ("quick" if quick_gelu else "exact") and report.spec.num_heads == 2
    assert "logit_scale" in report.dropped and any("text tower" in n for n in report.notes)
    with torch.no_grad():
        ref = model.encode_image(torch.from_numpy(X)).numpy()
    diff = max_rel_diff(vitzoo_out(tmp_path / "c.safetensors", backend), ref)
    print(f"max rel diff open_clip quick_gelu={quick_gelu} {backend}: {diff:.2e}")
    assert diff <= TOL, diff
    notes = weights.convert(tmp_path / "c.safetensors", tmp_path / "oc.safetensors", to_format="open_clip").notes
    assert any("cannot record gelu 'quick'" in n for n in notes) == quick_gelu  # QuickGELU lives in open_clip's config


def test_open_clip_training_checkpoint_round_trip(tmp_path):
    """A DDP training checkpoint (.pt, ``state_dict`` with ``module.``): read, written back, loaded by open_clip."""
    model, cfg = open_clip_model(quick_gelu=True)
    sd = model.state_dict()
    torch.save({"epoch": 2, "state_dict": {"module." + k: v for k, v in sd.items()}, "optimizer": {"state": {}}}, tmp_path / "epoch_2.pt")
    with pytest.raises(CheckpointError, match="does not say its num_heads, norm_eps, gelu and global_pool"):
        weights.read(tmp_path / "epoch_2.pt")  # the file cannot say, and no registered CLIP has these sizes
    ckpt = weights.read(tmp_path / "epoch_2.pt", variant={"num_heads": 2, "norm_eps": 1e-5, "gelu": "quick", "global_pool": "token"})
    assert ckpt.spec.gelu == "quick"
    weights.write(ckpt, tmp_path / "visual.bin", format="open_clip")
    back = torch.load(tmp_path / "visual.bin", weights_only=True)
    assert sorted(back) == sorted(k for k in sd if k.startswith("visual."))
    for key, value in back.items():
        assert torch.equal(value, sd[key]), key
    fresh = open_clip.CLIP(**cfg, quick_gelu=True)
    assert not fresh.load_state_dict(back, strict=False).unexpected_keys


# The original DINOv2 files -------------------------------------------------------------------


def original_dinov2_layout(hf_dir: Path) -> dict:
    """A save_pretrained DINOv2 renamed to facebookresearch/dinov2's names (the inverse of transformers' conversion script)."""
    out = {}
    for key, value in load_torch_file(str(hf_dir / "model.safetensors")).items():
        key = re.sub(r"^embeddings\.(cls_token|mask_token|register_tokens)$", r"\1", key)
        key = key.replace("embeddings.position_embeddings", "pos_embed").replace("embeddings.patch_embeddings.projection", "patch_embed.proj")
        key = key.replace("encoder.layer.", "blocks.").replace("layer_scale1.lambda1", "ls1.gamma").replace("layer_scale2.lambda1", "ls2.gamma")
        key = key.replace("attention.output.dense", "attn.proj").replace("mlp.weights_in", "mlp.w12").replace("mlp.weights_out", "mlp.w3")
        out[re.sub(r"^layernorm\.", "norm.", key)] = value
    for i in range(WIDE["num_hidden_layers"]):
        for kind in ("weight", "bias"):
            parts = [out.pop(f"blocks.{i}.attention.attention.{w}.{kind}") for w in ("query", "key", "value")]
            out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat(parts)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["plain", "swiglu", "registers"])
def test_original_dinov2_file_matches_and_round_trips(kind, backend, tmp_path):
    if kind == "registers":
        model = T.Dinov2WithRegistersModel(T.Dinov2WithRegistersConfig(**WIDE, num_register_tokens=4))
    else:
        model = T.Dinov2Model(T.Dinov2Config(**WIDE, use_swiglu_ffn=kind == "swiglu"))
    model = randomise_(model)
    model.save_pretrained(tmp_path / "hf")
    torch.save(original_dinov2_layout(tmp_path / "hf"), tmp_path / "dinov2_vits14_pretrain.pth")
    src = tmp_path / "dinov2_vits14_pretrain.pth"
    assert weights.detect_format(src) == "dinov2"
    with pytest.raises(CheckpointError, match=r"does not say its num_heads \("):  # DINOv2's code fixes the rest
        weights.read(src)
    report = weights.convert(src, tmp_path / "c.safetensors", variant={"num_heads": 2})
    assert report.dropped == ["mask_token"] and report.spec.mlp_type == ("swiglu" if kind == "swiglu" else "mlp")
    diff = max_rel_diff(vitzoo_out(tmp_path / "c.safetensors", backend), torch_out(_pooled, model, X))
    print(f"max rel diff dinov2 original {kind} {backend}: {diff:.2e}")
    assert diff <= TOL, diff
    ckpt = weights.load_file(tmp_path / "c.safetensors")
    weights.write(ckpt, tmp_path / "back.pth", format="dinov2")
    back, original = torch.load(tmp_path / "back.pth", weights_only=True), torch.load(src, weights_only=True)
    assert sorted(back) == sorted(original)
    again = weights.read(tmp_path / "back.pth", variant={"num_heads": 2})
    for key, value in ckpt.state.items():
        np.testing.assert_array_equal(again.state[key], value, err_msg=key)
    if kind != "registers":  # registers: the class token's position row is folded in (same values, see dinov2_format)
        for key in original:
            if key != "mask_token":
                assert torch.equal(back[key], original[key]), key


def test_convert_cli_names_the_new_sources(tmp_path, capsys):
    from vitzoo.cli.convert import main

    model = randomise_(T.Dinov2Model(T.Dinov2Config(**WIDE)))
    model.save_pretrained(tmp_path / "hf")
    torch.save(original_dinov2_layout(tmp_path / "hf"), tmp_path / "d.pth")
    capsys.readouterr()  # save_pretrained's progress bars
    assert main([str(tmp_path / "d.pth"), "-o", str(tmp_path / "c.safetensors"), "--from", "dinov2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not say its num_heads" in err[0], err
    assert main([str(tmp_path / "d.pth"), "-o", str(tmp_path / "c.safetensors"), "--from", "dinov2", "--num-heads", "2"]) == 0
    assert "dinov2 checkpoint" in capsys.readouterr().out
    assert main([str(tmp_path / "d.pth"), "-o", str(tmp_path / "x.safetensors"), "--from", "open_clip"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds no open_clip image tower" in err[0], err


# timm's own conversions and timm weights written for transformers ---------------------------------
timm = pytest.importorskip("timm")


def test_canonical_tensors_equal_timms_own_conversions(tmp_path):
    """timm converts open_clip and original DINOv2 state dicts itself (checkpoint_filter_fn): vitzoo's tensors are the same."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    model, _ = open_clip_model(quick_gelu=True)  # no layer scale: timm's conversion does not rename open_clip's ls_1/ls_2
    sd = model.state_dict()
    torch.save(sd, tmp_path / "oc.pt")
    target = timm.create_model("vit_base_patch16_clip_quickgelu_224", pretrained=False, img_size=16, patch_size=4, embed_dim=32,
                               depth=2, num_heads=2, mlp_ratio=2.0, num_classes=24)
    clip_given = {"num_heads": 2, "norm_eps": 1e-5, "gelu": "quick", "global_pool": "token"}
    sources = [(weights.read(tmp_path / "oc.pt", variant=clip_given), checkpoint_filter_fn(dict(sd), target))]
    for registers in (False, True):
        hf = (T.Dinov2WithRegistersModel(T.Dinov2WithRegistersConfig(**WIDE, num_register_tokens=4)) if registers
              else T.Dinov2Model(T.Dinov2Config(**WIDE, use_swiglu_ffn=True)))
        randomise_(hf).save_pretrained(tmp_path / f"hf{registers}")
        original = original_dinov2_layout(tmp_path / f"hf{registers}")
        torch.save(original, tmp_path / f"d{registers}.pth")
        arch = "vit_small_patch14_reg4_dinov2" if registers else "vit_giant_patch14_dinov2"
        target = timm.create_model(arch, pretrained=False, img_size=16, patch_size=4, embed_dim=128, depth=2, num_heads=2)
        sources.append((weights.read(tmp_path / f"d{registers}.pth", variant={"num_heads": 2}), checkpoint_filter_fn(dict(original), target)))
    for ckpt, theirs in sources:
        assert sorted(ckpt.state) == sorted(theirs)
        for key, value in theirs.items():
            np.testing.assert_array_equal(ckpt.state[key], value.numpy(), err_msg=key)


WRITABLE_AS_HF = {  # timm family (tests/family_models.py) -> the transformers class --to hf writes, and its output
    "deit_distilled": ("DeiTForImageClassificationWithTeacher", lambda m, x: m(pixel_values=x).logits),
    "dinov2": ("Dinov2Model", _pooled),
    "dinov2_reg4": ("Dinov2WithRegistersModel", _pooled),
    "clip_quickgelu": ("CLIPVisionModelWithProjection", lambda m, x: m(pixel_values=x).image_embeds),
    "siglip": ("SiglipVisionModel", _pooled),
}


@pytest.mark.parametrize("family", list(WRITABLE_AS_HF))
def test_timm_weights_written_for_transformers_give_timms_output(family, tmp_path):
    from family_models import FAMILIES, family_timm, image, timm_state

    model = family_timm(family)
    if FAMILIES[family].spec.pre_norm:  # CLIP: the head is a projection without bias, as from open_clip
        torch.nn.init.zeros_(model.head.bias)
    x = image()
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    ckpt = weights.Checkpoint(state=timm_state(model), spec=FAMILIES[family].spec)
    weights.write(ckpt, tmp_path / "hf", format="hf")
    cls_name, output = WRITABLE_AS_HF[family]
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["architectures"] == [cls_name]
    loaded = getattr(T, cls_name).from_pretrained(tmp_path / "hf").eval()
    diff = max_rel_diff(torch_out(output, loaded, x), ref)
    print(f"max rel diff timm {family} -> transformers {cls_name}: {diff:.2e}")
    assert diff <= TOL, diff
    assert weights.read(tmp_path / "hf").state.keys() == ckpt.state.keys()


def test_create_by_name_from_a_whole_open_clip_checkpoint(tmp_path):
    """The contract's case at full size: a registered CLIP name plus an open_clip file gives ``encode_image``."""
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32-quickgelu", pretrained=None).eval()  # ViT-B/32: only 50 tokens at 224 px
    torch.save(model.state_dict(), tmp_path / "open_clip_pytorch_model.bin")
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        ref = model.encode_image(torch.from_numpy(x)).numpy()
    del model
    ours = vitzoo.create("clip_b_32_quickgelu", pretrained=tmp_path / "open_clip_pytorch_model.bin", backend="numpy")
    assert ours.spec.gelu == "quick" and ours.spec.num_heads == 12  # from the name: the file cannot say
    diff = max_rel_diff(np.asarray(ours(x)), ref)
    print(f"max rel diff open_clip ViT-B-32-quickgelu via create(name): {diff:.2e}")
    assert diff <= TOL, diff
