"""Export of the eva.py / beit.py families: the ONNX file in onnxruntime and the MindIR in MindSpore give timm's outputs.

timm builds each architecture with two blocks and random weights; vitzoo loads the file, exports it
(the portable copy swaps ``Unstack`` for slices and the exact GELU's ``Erf`` for a polynomial), and the
exported file's output on a fresh batch equals timm's to float32 rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
pytest.importorskip("onnxruntime")
from safetensors.torch import save_file  # noqa: E402

import vitzoo  # noqa: E402
from vitzoo.backends.mindspore.deploy.export import export_model, run_exported  # noqa: E402
from vitzoo.variants import get_spec  # noqa: E402

CASES = [
    "vit_small_patch16_dinov3",  # DINOv3 rotary positions, registers, no position embedding
    "eva02_tiny_patch14_224",  # EVA-02: cat rotary positions, packed SwiGLU, q/v bias
    "eva02_base_patch16_clip_224",  # q/k/v apart, inner norms, split SwiGLU
    "vit_pe_core_tiny_patch16_384",  # PE-Core: its MAP pool of 8 heads over every token
    "beitv2_base_patch16_224",  # relative position bias tables, exact GELU
]


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("suffix", [".onnx", ".mindir"])
def test_exported_file_equals_timm(tmp_path, name, suffix):
    torch.manual_seed(0)
    spec = get_spec(name)
    ref = timm.create_model(name, pretrained=False, depth=2, num_classes=spec.num_classes).eval()
    with torch.no_grad():
        for pname, p in ref.named_parameters():
            p.normal_(0, 0.05)
            if p.ndim == 1 and (pname.endswith("weight") or "gamma" in pname):
                p.add_(1.0)
    save_file(ref.state_dict(), str(tmp_path / "w.safetensors"))
    model = vitzoo.create(name, pretrained=str(tmp_path / "w.safetensors"), depth=2)
    report = export_model(model, tmp_path / f"model{suffix}", batch_size=2)
    x = np.random.default_rng(1).standard_normal((2, 3, spec.img_size, spec.img_size)).astype(np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    out = run_exported(tmp_path / f"model{suffix}", x)
    assert report["output_shape"] == list(expected.shape)
    assert np.abs(out - expected).max() <= 1e-4 * np.abs(expected).max(), name


@pytest.mark.parametrize("name, img_size", [("naflexvit_base_patch16_siglip", 256), ("naflexvit_base_patch16_parfac_gap", 160),
                                            ("naflexvit_base_patch16_radio_v3", 160)])
@pytest.mark.parametrize("suffix", [".onnx", ".mindir"])
def test_naflex_nchw_export_equals_timm(tmp_path, name, img_size, suffix):
    """NaFlex models export their NCHW path at a fixed size (the grid resampled into constants): the file equals timm."""
    torch.manual_seed(0)
    ref = timm.create_model(name, pretrained=False, depth=2, embed_dim=64, num_heads=4).eval()
    with torch.no_grad():
        for pname, p in ref.named_parameters():
            p.normal_(0, 0.05)
            if p.ndim == 1 and (pname.endswith("weight") or "gamma" in pname):
                p.add_(1.0)
    save_file(ref.state_dict(), str(tmp_path / "w.safetensors"))
    model = vitzoo.create(name, pretrained=str(tmp_path / "w.safetensors"), depth=2, embed_dim=64, num_heads=4,
                          mlp_dim=ref.blocks[0].mlp.fc1.out_features, img_size=img_size)
    export_model(model, tmp_path / f"model{suffix}", batch_size=2)
    x = np.random.default_rng(1).standard_normal((2, 3, img_size, img_size)).astype(np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    assert np.abs(run_exported(tmp_path / f"model{suffix}", x) - expected).max() <= 1e-4 * np.abs(expected).max()


def test_naflex_batches_are_refused_in_one_sentence(tmp_path):
    from vitzoo.errors import VitzooError
    from vitzoo.workflows.exporting import export

    model = vitzoo.create("naflexvit_base_patch16_siglip", depth=1, embed_dim=32, num_heads=2, mlp_dim=64)
    with pytest.raises(VitzooError, match="NaFlex batches cannot be exported") as err:
        export(model, tmp_path / "m.onnx", naflex=True)
    assert str(err.value).count(". ") == 0 and not (tmp_path / "m.onnx").exists()
