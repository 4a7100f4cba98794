"""open_clip models whose image tower is timm's (EVA-CLIP, PE-Core, SigLIP 2) as whole models, against open_clip.

Each is open_clip's own ``CustomTextCLIP`` built from a config naming the timm architecture
(``timm_model_name``), with the trunk made small (2 blocks, a few patches) by timm itself from
the same architecture name, random weights, saved as ``open_clip_model.safetensors`` beside an
``open_clip_config.json``. ``encode_image``, ``encode_text`` and the logits must equal
open_clip's to 1e-4 of the output scale on NumPy, MindSpore and ``jit=True``.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
open_clip = pytest.importorskip("open_clip")
from safetensors.torch import save_file as save_torch_file  # noqa: E402

import vitzoo  # noqa: E402
from family_models import max_rel_diff  # noqa: E402
from text_models import CORPUS, gemma_tokenizer_files  # noqa: E402
from timm_models import randomise_  # noqa: E402
from vitzoo.errors import CheckpointError  # noqa: E402
from vitzoo.variants import get_spec  # noqa: E402
from vitzoo.zero_shot import to_numpy  # noqa: E402

TOL = 1e-4
RUNS = [("numpy", False), ("mindspore", False), ("mindspore", True)]
CLIP_TEXT = dict(context_length=12, vocab_size=49408, width=32, heads=4, layers=2)
# name: (timm architecture, pool, proj, image size, patch, trunk kwargs, text config, logit bias)
CASES = {
    "eva02_clip": ("eva02_base_patch16_clip_224", "token", None, 32, 16, {}, CLIP_TEXT, None),
    "eva02_linear_proj": ("eva02_tiny_patch14_224", "token", "linear", 28, 14, {}, CLIP_TEXT, None),
    "pe_core": ("vit_pe_core_tiny_patch16_384", "map", None, 32, 16, {}, dict(CLIP_TEXT, context_length=10), None),
    "siglip2": ("vit_base_patch16_siglip_224", "map", "none", 32, 16, {}, None, -10.0),
}


def siglip2_text(vocab: int) -> dict:
    """open_clip's ViT-B-16-SigLIP2 text settings, small."""
    return dict(context_length=12, vocab_size=vocab, width=32, heads=4, layers=2, hf_tokenizer_name="x", tokenizer_kwargs={"clean": "canonicalize"},
                no_causal_mask=True, proj_bias=True, pool_type="last", norm_kwargs={"eps": 1e-6}, act_kwargs={"approximate": "tanh"})


@pytest.fixture(scope="module", params=list(CASES))
def oc_timm(request, tmp_path_factory):
    arch, pool, proj, size, patch, _, text_cfg, bias = CASES[request.param]
    folder = tmp_path_factory.mktemp(request.param)
    if text_cfg is None:
        gemma = gemma_tokenizer_files(tmp_path_factory.mktemp("gemma"))
        for f in gemma.iterdir():
            shutil.copy(f, folder / f.name)
        from transformers import AutoTokenizer

        text_cfg = siglip2_text(len(AutoTokenizer.from_pretrained(folder)))
    embed = 24 if proj != "none" else 16 * get_spec(arch).num_heads
    vision_cfg = dict(image_size=size, timm_model_name=arch, timm_model_pretrained=False, timm_pool=pool, timm_proj=proj, timm_proj_bias=True)
    cfg = dict(embed_dim=embed, vision_cfg=vision_cfg, text_cfg=text_cfg, custom_text=True, **({"init_logit_bias": bias} if bias else {}))
    build_cfg = json.loads(json.dumps(cfg))
    build_cfg["text_cfg"].pop("hf_tokenizer_name", None)
    build_cfg["text_cfg"].pop("tokenizer_kwargs", None)
    build_cfg["vision_cfg"]["timm_model_name"] = "vit_tiny_patch16_224"  # replaced below by the small trunk of the real architecture
    build_cfg.pop("custom_text")
    model = open_clip.CustomTextCLIP(**build_cfg)
    # the trunk open_clip would build, at test size: same architecture name and head count, 2 blocks, 16-wide heads
    heads = get_spec(arch).num_heads
    width = 16 * heads
    extra = dict(num_classes=0 if proj in ("none", "linear") else embed, global_pool=pool)
    model.visual.trunk = timm.create_model(arch, pretrained=False, img_size=size, depth=2, embed_dim=width, num_heads=heads, **extra)
    if proj == "linear":
        model.visual.head = torch.nn.Sequential()
        model.visual.head.add_module("drop", torch.nn.Dropout(0.0))
        model.visual.head.add_module("proj", torch.nn.Linear(width, embed, bias=True))
    randomise_(model, scale=0.3)
    with torch.no_grad():
        model.logit_scale.fill_(1.5)
    save_torch_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg}))
    return request.param, folder, model, size


@pytest.mark.parametrize("backend,jit", RUNS)
def test_open_clip_timm_tower_matches_open_clip(oc_timm, backend, jit):
    kind, folder, model, size = oc_timm
    clip = vitzoo.create_clip(None, pretrained=folder, backend=backend, jit=jit)
    ids = clip.tokenize(CORPUS[:5])
    if kind == "siglip2":
        ref_ids = open_clip.tokenizer.HFTokenizer(str(folder), context_length=12, clean="canonicalize")(CORPUS[:5]).numpy()
        assert clip.spec.family == "siglip"
    else:
        ref_ids = open_clip.get_tokenizer("ViT-B-16", context_length=clip.spec.text.context_length)(CORPUS[:5]).numpy()
    np.testing.assert_array_equal(ids, ref_ids)
    x = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        tx, tt = torch.from_numpy(x), torch.from_numpy(ids)
        image, text = model.encode_image(tx).numpy(), model.encode_text(tt).numpy()
        logits = model.get_logits(tx, tt)[0].numpy()
    diffs = [max_rel_diff(to_numpy(clip.encode_image(x)), image), max_rel_diff(to_numpy(clip.encode_text(ids)), text),
             max_rel_diff(to_numpy(clip(x, ids)), logits)]
    print(f"{kind} {backend} jit={jit}", [f"{d:.1e}" for d in diffs])
    assert max(diffs) <= TOL, diffs


def test_timm_tower_without_a_config_is_refused(oc_timm, tmp_path):
    kind, folder, _, _ = oc_timm
    shutil.copy(folder / "open_clip_model.safetensors", tmp_path / "open_clip_model.safetensors")
    with pytest.raises(CheckpointError, match="open_clip model name"):
        vitzoo.create_clip(None, pretrained=tmp_path / "open_clip_model.safetensors", backend="numpy")


def test_bundled_open_clip_configs_build_specs():
    from vitzoo.weights.open_clip_models import clip_spec_from_config, open_clip_model_config

    eva = clip_spec_from_config(open_clip_model_config("EVA02-B-16"))
    assert (eva.vision.block, eva.vision.global_pool, eva.vision.num_classes, eva.text.causal) == ("eva", "token", 512, True)
    siglip2 = clip_spec_from_config(open_clip_model_config("ViT-B-16-SigLIP2"))
    assert (siglip2.family, siglip2.vision.num_classes, siglip2.text.pool, siglip2.text.gelu, siglip2.text.proj_bias) == ("siglip", 0, "last", "tanh", True)
    pe = clip_spec_from_config(open_clip_model_config("PE-Core-B-16"))
    assert (pe.vision.global_pool, pe.vision.num_classes, pe.text.context_length) == ("map", 1024, 32)


def test_random_pe_core_by_name():
    clip = vitzoo.create_clip("PE-Core-T-16-384", backend="numpy")  # random weights, open_clip's tokenizer at context 32
    ids = clip.tokenize(["a photo of a dog"])
    np.testing.assert_array_equal(ids, open_clip.get_tokenizer("ViT-B-16", context_length=32)(["a photo of a dog"]).numpy())
    assert clip(np.zeros((1, 3, 384, 384), np.float32), ids).shape == (1, 1)


def test_real_size_pe_core_bare_file_with_its_name(tmp_path):
    """open_clip's own PE-Core-T-16-384 (timm's vit_pe_core_tiny_patch16_384), a bare file read with the open_clip name."""
    model = randomise_(open_clip.create_model("PE-Core-T-16-384", pretrained=None), scale=0.05)
    path = tmp_path / "open_clip_model.safetensors"
    save_torch_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    clip = vitzoo.create_clip("PE-Core-T-16-384", pretrained=path, backend="numpy")
    texts = CORPUS[:4]
    ids = clip.tokenize(texts)
    np.testing.assert_array_equal(ids, open_clip.get_tokenizer("PE-Core-T-16-384")(texts).numpy())
    x = np.random.default_rng(1).standard_normal((1, 3, 384, 384)).astype(np.float32)
    with torch.no_grad():
        image, text = model.encode_image(torch.from_numpy(x)).numpy(), model.encode_text(torch.from_numpy(ids)).numpy()
    assert max_rel_diff(clip.encode_image(x), image) <= TOL and max_rel_diff(clip.encode_text(ids), text) <= TOL
