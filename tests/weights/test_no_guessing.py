"""No guessed fields: what a checkpoint's tensors cannot show comes from the file, its config, the caller or an agreeing registry.

The head count, LayerNorm eps, GELU form and (with a class token) the pooling are
invisible in the tensors. Each reader resolves them from, in order: the file's own
metadata and a config file beside it (with the source format's fixed values), the
name and overrides the caller gives, the registered variants of the same
architecture when they all agree; otherwise the read is refused in one sentence.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
from safetensors.torch import save_file  # noqa: E402

import vitzoo  # noqa: E402
from vitzoo import weights  # noqa: E402
from vitzoo.backends import get_backend  # noqa: E402
from vitzoo.errors import CheckpointError  # noqa: E402
from vitzoo.init import init_state  # noqa: E402
from vitzoo.weights import Checkpoint  # noqa: E402
from timm_models import randomise_  # noqa: E402

X = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)


def _timm_out(model: "torch.nn.Module") -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(X)).numpy()


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_quickgelu_clip_file_without_config_is_refused_then_named(tmp_path: Path) -> None:
    """The issue's case: registered CLIP towers of these sizes disagree on the GELU form, so a bare timm file cannot say it."""
    spec = vitzoo.get_spec("clip_b_16_quickgelu")
    weights.write(Checkpoint(state=init_state(spec, seed=1), spec=spec), tmp_path / "clip.safetensors", format="timm")
    with pytest.raises(CheckpointError) as err:
        vitzoo.create_from_file(tmp_path / "clip.safetensors", backend="numpy")
    text = _one_line(err)
    assert "does not say its gelu (" in text and "clip_b_16_quickgelu (gelu='quick')" in text and "gelu='exact'" in text
    # the variant's name settles it; overrides apply before the architecture check (depth=2 loads a 2-block file)
    ref = randomise_(timm.create_model("vit_base_patch16_clip_quickgelu_224", depth=2, img_size=32, num_classes=5), scale=0.3)
    save_file(ref.state_dict(), tmp_path / "small.safetensors")
    with pytest.raises(CheckpointError, match="num_heads, norm_eps, gelu and global_pool"):
        vitzoo.create_from_file(tmp_path / "small.safetensors", backend="numpy")
    ours = vitzoo.create("vit_base_patch16_clip_quickgelu_224", pretrained=tmp_path / "small.safetensors", backend="numpy", depth=2, img_size=32)
    assert ours.spec.gelu == "quick"
    want = _timm_out(ref)
    assert np.abs(ours(X) - want).max() <= 1e-4 * max(1.0, np.abs(want).max())


def test_registered_variants_that_agree_settle_a_bare_file(tmp_path: Path) -> None:
    """A bare timm file of ViT-Ti/16's sizes: every registered variant of that architecture says 3 heads, eps 1e-6, exact GELU, token pooling."""
    ref = randomise_(timm.create_model("vit_tiny_patch16_224", num_classes=5))
    save_file(ref.state_dict(), tmp_path / "ti.safetensors")
    spec = weights.read(tmp_path / "ti.safetensors").spec
    assert (spec.num_heads, spec.norm_eps, spec.gelu, spec.global_pool) == (3, 1e-6, "exact", "token")


def test_overrides_alone_give_the_unseen_fields(tmp_path: Path) -> None:
    ref = randomise_(timm.create_model("vit_tiny_patch16_224", depth=2, img_size=32, patch_size=8, embed_dim=64, num_heads=4, num_classes=5))
    save_file(ref.state_dict(), tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError) as err:
        vitzoo.create_from_file(tmp_path / "w.safetensors", backend="numpy")
    text = _one_line(err)
    assert "no registered variant has this architecture" in text and "num_heads=12" in text and "--variant NAME" in text
    model = vitzoo.create_from_file(tmp_path / "w.safetensors", backend="numpy", num_heads=4, norm_eps=1e-6, gelu="exact", global_pool="token")
    assert np.abs(model(X) - _timm_out(ref)).max() <= 1e-4
    with pytest.raises(CheckpointError, match="does not describe a valid ViT"):  # a given head count must still fit the width
        vitzoo.create_from_file(tmp_path / "w.safetensors", backend="numpy", num_heads=5, norm_eps=1e-6, gelu="exact", global_pool="token")


def test_open_clip_file_without_config(tmp_path: Path) -> None:
    spec = vitzoo.get_spec("clip_b_32")
    state = init_state(spec, seed=2)
    state["head.bias"] = np.zeros_like(state["head.bias"])  # open_clip's projection has no bias
    folder = tmp_path / "oc"
    folder.mkdir()
    weights.write(Checkpoint(state=state, spec=spec), folder / "open_clip_model.safetensors", format="open_clip")
    with pytest.raises(CheckpointError) as err:
        weights.read(folder / "open_clip_model.safetensors")
    text = _one_line(err)
    assert "does not say its gelu (" in text and "clip_b_32 (gelu='exact'), clip_b_32_quickgelu (gelu='quick')" in text
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": {"quick_gelu": True, "vision_cfg": {"width": 768, "patch_size": 32}}}))
    read = weights.read(folder).spec
    assert (read.gelu, read.num_heads, read.norm_eps, read.global_pool) == ("quick", 12, 1e-5, "token")
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": {"vision_cfg": {"head_width": 100}}}))
    with pytest.raises(CheckpointError, match="head_width 100 does not divide"):
        weights.read(folder)


def test_transformers_config_without_a_field_gets_the_config_class_default(tmp_path: Path) -> None:
    """transformers builds a config.json that omits num_attention_heads with ViTConfig's 12: so does vitzoo, exactly."""
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTConfig(hidden_size=48, num_hidden_layers=2, intermediate_size=96, image_size=32, patch_size=8, num_attention_heads=12)
    model = randomise_(transformers.ViTModel(config, add_pooling_layer=False))
    model.save_pretrained(tmp_path / "hf")
    cfg = json.loads((tmp_path / "hf" / "config.json").read_text())
    del cfg["num_attention_heads"], cfg["layer_norm_eps"]
    (tmp_path / "hf" / "config.json").write_text(json.dumps(cfg))
    reloaded = transformers.ViTModel.from_pretrained(tmp_path / "hf", add_pooling_layer=False).eval()
    assert reloaded.config.num_attention_heads == 12
    ckpt = weights.read(tmp_path / "hf")
    assert (ckpt.spec.num_heads, ckpt.spec.norm_eps) == (12, 1e-12)
    with torch.no_grad():
        want = reloaded(pixel_values=torch.from_numpy(X)).last_hidden_state.numpy()
    got = get_backend("numpy").build(ckpt.spec, ckpt.state).forward_features(X)
    assert np.abs(got - want).max() <= 1e-4


def test_mindspore_official_layout_refuses_an_unknown_head_count(tmp_path: Path) -> None:
    spec = vitzoo.get_spec("vit_ti_16", depth=2, img_size=32, patch_size=8, embed_dim=64, num_heads=4, mlp_dim=128, num_classes=3)
    spec = spec.replace(norm_eps=1e-7, gelu="tanh")
    weights.write(Checkpoint(state=init_state(spec), spec=spec), tmp_path / "vit.ckpt", format="mindspore")
    with pytest.raises(CheckpointError) as err:
        weights.read(tmp_path / "vit.ckpt")
    assert "does not say its num_heads (" in _one_line(err)
    assert weights.read(tmp_path / "vit.ckpt", variant={"num_heads": 4}).spec == spec  # eps 1e-7 and tanh: what MindSpore's ViT computes


def test_vitzoo_ckpt_without_its_spec_entry_asks_for_every_unseen_field(tmp_path: Path) -> None:
    spec = vitzoo.get_spec("vit_ti_16", depth=2, img_size=32, patch_size=8, embed_dim=64, num_heads=4, mlp_dim=128, num_classes=3)
    from vitzoo.weights import ms_checkpoint

    ms_checkpoint.write_ckpt(tmp_path / "bare.ckpt", dict(init_state(spec)))  # canonical names, as a MindSpore loop saves them
    with pytest.raises(CheckpointError, match="does not say its num_heads, norm_eps, gelu and global_pool"):
        weights.read(tmp_path / "bare.ckpt")
    given = {"num_heads": 4, "norm_eps": 1e-6, "gelu": "exact", "global_pool": "token"}
    assert weights.read(tmp_path / "bare.ckpt", variant=given).spec == spec
