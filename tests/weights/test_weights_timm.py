"""timm state dicts: read (safetensors, .pth, hub folders), parity with timm, bit-exact round trips, bad input."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
from safetensors.numpy import load_file, save_file as save_numpy  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from timm.models import save_for_hf  # noqa: E402

import vitzoo  # noqa: E402
from vitzoo import weights  # noqa: E402
from vitzoo.errors import CheckpointError, VitzooError  # noqa: E402
from vitzoo.spec import ViTSpec  # noqa: E402
from timm_models import timm_hint, tiny_timm as tiny  # noqa: E402

X = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
BACKENDS = ["numpy"] + (["mindspore"] if (Path(__file__).parents[2] / "backends/mindspore/__init__.py").exists() else [])


def timm_out(model: "torch.nn.Module") -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(X)).numpy()


def vitzoo_out(path: Path, backend: str, name: "str | None" = None, **kwargs) -> np.ndarray:
    model = vitzoo.create(name, pretrained=path, backend=backend, **kwargs)
    if backend == "mindspore":
        import mindspore as ms

        return model(ms.Tensor(X)).asnumpy()
    return model(X)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["safetensors", "pth"])
def test_logits_match_timm(tmp_path, kind, backend):
    model = tiny()
    src = tmp_path / f"w.{kind}"
    save_file(model.state_dict(), src) if kind == "safetensors" else torch.save(model.state_dict(), src)
    assert weights.detect_format(src) == "timm"
    report = weights.convert(src, tmp_path / "c.safetensors", variant=timm_hint(model))
    assert (report.source_format, report.tensors, report.dropped) == ("timm", 32, [])
    diff = np.abs(vitzoo_out(tmp_path / "c.safetensors", backend) - timm_out(model)).max()
    assert diff <= 1e-4, diff
    assert np.abs(vitzoo_out(src, backend, **timm_hint(model)) - timm_out(model)).max() <= 1e-4  # straight from the timm file too
    # as timm builds it: the architecture's name with the same arguments
    named = vitzoo_out(src, backend, "vit_tiny_patch16_224", depth=2, img_size=32, patch_size=8)
    assert np.abs(named - timm_out(model)).max() <= 1e-4


def test_exotic_hub_folder(tmp_path):
    """Register tokens, no class position, avg pool + fc_norm, layer scale, q/k norm, non-default heads."""
    model = tiny(embed_dim=64, num_heads=4, reg_tokens=2, no_embed_class=True, global_pool="avg", init_values=0.1, qk_norm=True)
    labels = [f"class {i}" for i in range(5)]
    save_for_hf(model, tmp_path / "hub", model_config={"label_names": labels}, safe_serialization=True)
    for src in (tmp_path / "hub", tmp_path / "hub" / "model.safetensors"):
        ckpt = weights.read(src)
        s = ckpt.spec
        assert (s.num_heads, s.reg_tokens, s.pos_embed_prefix, s.global_pool, s.fc_norm, s.layer_scale, s.qk_norm) == (4, 2, False, "avg", True, True, True)
        assert ckpt.class_names == labels
        assert ckpt.meta["pretrained_cfg"]["crop_pct"] == 0.9
    weights.convert(tmp_path / "hub", tmp_path / "c.safetensors")
    assert np.abs(vitzoo_out(tmp_path / "c.safetensors", "numpy") - timm_out(model)).max() <= 1e-4
    assert vitzoo.create_from_file(tmp_path / "c.safetensors", backend="numpy").pretrained_cfg["class_names"] == labels


def test_head_count_from_hint_when_no_config(tmp_path):
    model = tiny(embed_dim=64, num_heads=4)
    save_file(model.state_dict(), tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match=r"does not say its num_heads, norm_eps, gelu and global_pool .*num_heads=12"):
        weights.read(tmp_path / "w.safetensors")  # no config, no name, no registered variant of these sizes: no guess
    assert weights.read(tmp_path / "w.safetensors", variant={"num_heads": 4, "norm_eps": 1e-6, "gelu": "exact", "global_pool": "token"}).spec.num_heads == 4
    hint = ViTSpec(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, mlp_dim=256)
    ckpt = weights.read(tmp_path / "w.safetensors", variant=hint)
    assert ckpt.spec.num_heads == 4
    weights.save_file(ckpt, tmp_path / "c.safetensors")
    assert np.abs(vitzoo_out(tmp_path / "c.safetensors", "numpy") - timm_out(model)).max() <= 1e-4


def test_headless_file_has_no_classes(tmp_path):
    model = tiny(num_classes=0)
    save_file(model.state_dict(), tmp_path / "w.safetensors")
    ckpt = weights.read(tmp_path / "w.safetensors", variant=timm_hint(model))
    assert ckpt.spec.num_classes == 0 and "head.weight" not in ckpt.state
    assert np.abs(vitzoo_out(tmp_path / "w.safetensors", "numpy", **timm_hint(model)) - timm_out(model)).max() <= 1e-4


def test_training_checkpoint_is_unwrapped(tmp_path):
    model = tiny()
    opt = torch.optim.AdamW(model.parameters())
    model(torch.from_numpy(X)).sum().backward()
    opt.step()
    ddp_names = {"module." + k: v for k, v in model.state_dict().items()}
    torch.save({"epoch": 3, "state_dict": ddp_names, "optimizer": opt.state_dict()}, tmp_path / "ckpt.pth")
    ckpt = weights.read(tmp_path / "ckpt.pth", variant=timm_hint(model))
    assert sorted(ckpt.dropped) == ["epoch", "optimizer"]
    assert set(ckpt.state) == set(model.state_dict())
    assert np.array_equal(ckpt.state["head.weight"], model.head.weight.detach().numpy())


@pytest.mark.parametrize("out_name", ["back.safetensors", "back.pth"])
def test_round_trip_is_bit_exact_and_loads_in_timm(tmp_path, out_name):
    model = tiny()
    save_file(model.state_dict(), tmp_path / "w.safetensors")
    weights.convert(tmp_path / "w.safetensors", tmp_path / "c.safetensors", variant=timm_hint(model))
    weights.convert(tmp_path / "c.safetensors", tmp_path / out_name, to_format="timm")
    if out_name.endswith(".pth"):
        back = {k: v.numpy() for k, v in torch.load(tmp_path / out_name, weights_only=True).items()}
    else:
        back = load_file(tmp_path / out_name)
    original = load_file(tmp_path / "w.safetensors")
    assert set(back) == set(original) == set(model.state_dict())
    for k in original:
        assert back[k].dtype == original[k].dtype and back[k].tobytes() == original[k].tobytes(), k
    fresh = tiny(seed=1)
    fresh.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in back.items()}, strict=True)
    assert np.array_equal(timm_out(fresh), timm_out(model))


def test_pth_without_torch_says_what_to_do(tmp_path, monkeypatch):
    torch.save(tiny().state_dict(), tmp_path / "w.pth")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    assert weights.detect_format(tmp_path / "w.pth") == "timm"  # found without unpickling
    with pytest.raises(CheckpointError, match="install torch"):
        weights.read(tmp_path / "w.pth")


def test_unsafe_pickle_is_refused(tmp_path):
    torch.save({"state_dict": tiny().state_dict(), "args": argparse.Namespace(lr=0.1)}, tmp_path / "w.pth")
    with pytest.raises(CheckpointError, match="w.pth"):  # refused, never unpickled with arbitrary globals
        weights.read(tmp_path / "w.pth")


def test_bad_inputs(tmp_path):
    save_file(tiny().state_dict(), tmp_path / "w.safetensors")
    data = (tmp_path / "w.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        weights.read(tmp_path / "cut.safetensors")
    save_numpy({"foo": np.zeros(3, np.float32)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(CheckpointError, match="not a ViT checkpoint"):
        weights.detect_format(tmp_path / "foreign.safetensors")
    with pytest.raises(CheckpointError, match="patch_embed.proj.weight"):
        weights.read(tmp_path / "foreign.safetensors", format="timm")
    (tmp_path / "junk.pth").write_bytes(b"\x80\x02 not a pickle")
    with pytest.raises(VitzooError):
        weights.read(tmp_path / "junk.pth", format="timm")


def test_config_with_unsupported_pooling_is_refused(tmp_path):
    save_file(tiny().state_dict(), tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "vit_tiny_patch16_224", "global_pool": "avgmax"}))
    with pytest.raises(CheckpointError, match="pooling 'avgmax'"):
        weights.read(tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "vit_tiny_patch16_224", "global_pool": "map"}))
    with pytest.raises(CheckpointError, match="missing attn_pool.latent"):  # a MAP head needs its tensors
        weights.read(tmp_path / "model.safetensors")


def test_pre_logits_cannot_be_written_for_timm(tmp_path):
    ckpt = weights.read(_saved(tmp_path), variant=timm_hint(tiny()))
    spec = ckpt.spec.replace(pre_logits_dim=16)
    state = dict(ckpt.state)
    state["pre_logits.fc.weight"] = np.zeros((16, spec.embed_dim), np.float32)
    state["pre_logits.fc.bias"] = np.zeros(16, np.float32)
    state["head.weight"] = np.zeros((5, 16), np.float32)
    with pytest.raises(CheckpointError, match="pre-logits"):
        weights.write(ckpt.replace(spec=spec, state=state), tmp_path / "out.safetensors", format="timm")
    assert not (tmp_path / "out.safetensors").exists()


def _saved(tmp_path: Path) -> Path:
    save_file(tiny().state_dict(), tmp_path / "w.safetensors")
    return tmp_path / "w.safetensors"
