"""Apple's AIMv2 encoders (timm's ``aimv2_*``) against the real timm, random weights.

RMSNorm everywhere (patch embeddings included), bias-free projections and split SwiGLU MLPs: timm builds
the architecture with two blocks and every parameter drawn; vitzoo reads the saved state dict on NumPy,
MindSpore PyNative and ``jit=True`` and gives timm's output; the exported ONNX file does too, and the
timm writer's output loads strict in timm.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
from safetensors.torch import save_file  # noqa: E402

import vitzoo  # noqa: E402
from vitzoo import weights  # noqa: E402
from vitzoo.errors import CheckpointError  # noqa: E402
from vitzoo.variants import get_spec  # noqa: E402

from family_timm import rel, run  # noqa: E402

NAME = "aimv2_large_patch14_224"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    model = timm.create_model(NAME, pretrained=False, depth=2).eval()
    with torch.no_grad():
        for pname, p in model.named_parameters():
            p.normal_(0, 0.05)
            if p.ndim == 1 and pname.endswith("weight"):
                p.add_(1.0)  # RMSNorm weights near one
    path = tmp_path_factory.mktemp("aimv2") / "model.safetensors"
    save_file(model.state_dict(), str(path))
    return model, path


def reference(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def test_equals_timm_on_every_backend(saved):
    tm, path = saved
    x = np.random.default_rng(1).standard_normal((2, 3, 224, 224)).astype(np.float32)
    ref = reference(tm, x)
    for kwargs in (dict(backend="numpy"), {}, dict(jit=True)):
        model = vitzoo.create(NAME, pretrained=str(path), depth=2, **kwargs)
        assert rel(run(model, x), ref) <= 1e-4, kwargs


def test_the_tensors_show_rmsnorm_and_the_missing_biases(saved):
    _, path = saved
    spec = weights.read(path, variant=get_spec(NAME, depth=2)).spec
    assert (spec.norm_type, spec.patch_norm, spec.proj_bias, spec.mlp_bias, spec.qkv_bias, spec.block) == ("rms", True, False, False, False, "eva")
    with pytest.raises(CheckpointError, match="does not say its num_heads") as info:  # two blocks: no registered AIMv2 fits
        weights.read(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("suffix", [".onnx", ".mindir"])
def test_exported_file_equals_timm(saved, tmp_path, suffix):
    pytest.importorskip("onnxruntime")
    from vitzoo.backends.mindspore.deploy.export import export_model, run_exported

    tm, path = saved
    model = vitzoo.create(NAME, pretrained=str(path), depth=2)
    export_model(model, tmp_path / f"m{suffix}", batch_size=1)
    x = np.random.default_rng(2).standard_normal((1, 3, 224, 224)).astype(np.float32)
    assert rel(run_exported(tmp_path / f"m{suffix}", x), reference(tm, x)) <= 1e-4


def test_timm_writer_output_loads_in_timm(saved, tmp_path):
    tm, path = saved
    weights.write(weights.read(path, variant=get_spec(NAME, depth=2)), tmp_path / "out.safetensors", format="timm")
    from safetensors.torch import load_file

    back = timm.create_model(NAME, pretrained=False, depth=2).eval()
    back.load_state_dict(load_file(str(tmp_path / "out.safetensors")), strict=True)
    x = np.random.default_rng(3).standard_normal((1, 3, 224, 224)).astype(np.float32)
    assert rel(reference(back, x), reference(tm, x)) <= 1e-6
