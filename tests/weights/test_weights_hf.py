"""Hugging Face transformers ViT: parity with transformers, config fields, shards, round trips, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from safetensors.numpy import load_file  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import ViTConfig, ViTForImageClassification, ViTModel  # noqa: E402

import vitzoo  # noqa: E402
from vitzoo import weights  # noqa: E402
from vitzoo.errors import CheckpointError  # noqa: E402
from vitzoo.init import init_state  # noqa: E402

X = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
BACKENDS = ["numpy"] + (["mindspore"] if (Path(__file__).parents[2] / "backends/mindspore/__init__.py").exists() else [])
LABELS = ["cat", "dog", "fish", "bird", "frog"]


def hf_model(cls=ViTForImageClassification, seed: int = 0, **overrides):
    """A 2-layer, 64-wide HF ViT at 32 px with every parameter random."""
    cfg = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, image_size=32, patch_size=8)
    cfg.update(overrides)
    if cls is ViTForImageClassification:
        cfg.setdefault("id2label", dict(enumerate(LABELS)))
    model = cls(ViTConfig(**cfg)).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen) * 0.1
            p.copy_(1 + noise if "layernorm" in name and name.endswith("weight") else noise)
    return model


def hf_out(model) -> np.ndarray:
    with torch.no_grad():
        out = model(pixel_values=torch.from_numpy(X))
    return (out.logits if hasattr(out, "logits") else out.pooler_output).numpy()


def vitzoo_out(path: Path, backend: str = "numpy") -> np.ndarray:
    model = vitzoo.create_from_file(path, backend=backend)
    if backend == "mindspore":
        import mindspore as ms

        return model(ms.Tensor(X)).asnumpy()
    return model(X)


def saved(model, path: Path, **kwargs) -> Path:
    model.save_pretrained(path, **kwargs)
    return path


@pytest.mark.parametrize("backend", BACKENDS)
def test_classifier_logits_match(tmp_path, backend):
    model = hf_model()
    src = saved(model, tmp_path / "hf")
    assert weights.detect_format(src) == "hf"
    report = weights.convert(src, tmp_path / "c.safetensors")
    assert report.source_format == "hf" and report.tensors == 32
    ckpt = weights.load_file(tmp_path / "c.safetensors")
    assert ckpt.class_names == LABELS and ckpt.spec.norm_eps == 1e-12 and ckpt.spec.num_heads == 4
    assert len(ckpt.meta["source_sha256"]) == 64
    diff = np.abs(vitzoo_out(tmp_path / "c.safetensors", backend) - hf_out(model)).max()
    assert diff <= 1e-4, diff


@pytest.mark.parametrize("backend", BACKENDS)
def test_vit_model_pooler_is_pre_logits(tmp_path, backend):
    model = hf_model(ViTModel)
    ckpt = weights.read(saved(model, tmp_path / "hf"))
    assert (ckpt.spec.num_classes, ckpt.spec.pre_logits_dim) == (0, 64)
    weights.save_file(ckpt, tmp_path / "c.safetensors")
    assert np.abs(vitzoo_out(tmp_path / "c.safetensors", backend) - hf_out(model)).max() <= 1e-4
    with torch.no_grad():
        tokens = model(pixel_values=torch.from_numpy(X)).last_hidden_state.numpy()
    feats = vitzoo.create_from_file(tmp_path / "c.safetensors", backend="numpy").forward_features(X)
    assert np.abs(feats - tokens).max() <= 1e-4


@pytest.mark.parametrize(
    "overrides, gelu",
    [
        (dict(hidden_act="gelu_new", layer_norm_eps=1e-6), "tanh"),
        (dict(hidden_act="gelu_pytorch_tanh", qkv_bias=False), "tanh"),
        (dict(num_channels=1, num_attention_heads=2), "exact"),
    ],
)
def test_config_fields(tmp_path, overrides, gelu):
    model = hf_model(**overrides)
    ckpt = weights.read(saved(model, tmp_path / "hf"))
    assert ckpt.spec.gelu == gelu
    assert ckpt.spec.norm_eps == overrides.get("layer_norm_eps", 1e-12)
    assert ckpt.spec.qkv_bias == overrides.get("qkv_bias", True)
    assert ckpt.spec.num_heads == overrides.get("num_attention_heads", 4)
    weights.save_file(ckpt, tmp_path / "c.safetensors")
    x = X[:, :1] if overrides.get("num_channels") == 1 else X
    with torch.no_grad():
        expected = model(pixel_values=torch.from_numpy(x)).logits.numpy()
    assert np.abs(vitzoo.create_from_file(tmp_path / "c.safetensors", backend="numpy")(x) - expected).max() <= 1e-4


def test_sharded_and_in_memory_names_read_the_same(tmp_path):
    model = hf_model()
    plain = weights.read(saved(model, tmp_path / "plain"))
    sharded = saved(model, tmp_path / "sharded", max_shard_size="100KB")
    assert (sharded / "model.safetensors.index.json").is_file()
    # transformers 5's in-memory names (vit.layers.{i}.attention.q_proj, ...) in a bare file beside config.json
    (tmp_path / "memory").mkdir()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "memory" / "weights.safetensors")
    assert any(".q_proj." in k for k in load_file(tmp_path / "memory" / "weights.safetensors"))
    model.config.to_json_file(tmp_path / "memory" / "config.json")
    for other in (weights.read(sharded), weights.read(tmp_path / "memory" / "weights.safetensors")):
        assert other.spec == plain.spec and set(other.state) == set(plain.state)
        assert all(np.array_equal(other.state[k], plain.state[k]) for k in plain.state)


@pytest.mark.parametrize("cls", [ViTForImageClassification, ViTModel])
def test_round_trip_is_bit_exact_and_loads_in_transformers(tmp_path, cls):
    model = hf_model(cls)
    src = saved(model, tmp_path / "hf")
    weights.convert(src, tmp_path / "c.safetensors")
    weights.convert(tmp_path / "c.safetensors", tmp_path / "back", to_format="hf")
    original, back = load_file(src / "model.safetensors"), load_file(tmp_path / "back" / "model.safetensors")
    assert set(back) == set(original)
    assert all(back[k].dtype == original[k].dtype and back[k].tobytes() == original[k].tobytes() for k in original)
    cfg_in, cfg_out = (json.loads((d / "config.json").read_text()) for d in (src, tmp_path / "back"))
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
                "layer_norm_eps", "image_size", "patch_size", "num_channels", "qkv_bias", "architectures"):
        assert cfg_out[key] == cfg_in[key], key
    reloaded = cls.from_pretrained(tmp_path / "back").eval()
    assert np.array_equal(hf_out(reloaded), hf_out(model))
    if cls is ViTForImageClassification:
        assert [reloaded.config.id2label[i] for i in range(5)] == LABELS


def test_timm_weights_written_as_hf(tmp_path):
    timm = pytest.importorskip("timm")
    tmodel = timm.create_model("vit_tiny_patch16_224", depth=2, img_size=32, patch_size=8, num_classes=5).eval()
    with torch.no_grad():
        for p in tmodel.parameters():
            p.add_(torch.randn(p.shape) * 0.05)
        expected = tmodel(torch.from_numpy(X)).numpy()
    save_file(tmodel.state_dict(), tmp_path / "t.safetensors")
    variant = vitzoo.get_spec("vit_tiny_patch16_224", depth=2, img_size=32, patch_size=8, num_classes=5)  # as timm built it
    weights.convert(tmp_path / "t.safetensors", tmp_path / "hf", to_format="hf", variant=variant)
    reloaded = ViTForImageClassification.from_pretrained(tmp_path / "hf").eval()
    assert reloaded.config.layer_norm_eps == 1e-6
    assert np.abs(hf_out(reloaded) - expected).max() <= 1e-4


def test_bad_inputs(tmp_path):
    src = saved(hf_model(), tmp_path / "hf")
    cfg = json.loads((src / "config.json").read_text())
    (src / "config.json").write_text(json.dumps({**cfg, "hidden_size": 128}))
    with pytest.raises(CheckpointError, match="does not match its weights"):
        weights.read(src)
    (src / "config.json").write_text(json.dumps({**cfg, "hidden_act": "relu"}))
    with pytest.raises(CheckpointError, match="hidden_act 'relu'"):
        weights.read(src)
    sharded = saved(hf_model(), tmp_path / "sharded", max_shard_size="100KB")
    next(sharded.glob("model-0000*-of-*.safetensors")).unlink()
    with pytest.raises(CheckpointError, match="missing"):
        weights.read(sharded)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a ViT checkpoint"):
        weights.detect_format(tmp_path / "empty")


def test_writer_refuses_what_transformers_cannot_hold(tmp_path):
    spec = vitzoo.get_spec("vit_ti_16", depth=1, img_size=32, patch_size=8, reg_tokens=1, global_pool="avg")
    ckpt = weights.Checkpoint(state=init_state(spec), spec=spec)
    with pytest.raises(CheckpointError, match="cannot be written as a Hugging Face"):
        weights.write(ckpt, tmp_path / "out", format="hf")
    assert list(tmp_path.iterdir()) == []
