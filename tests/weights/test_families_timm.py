"""timm state dicts of every ViT family: read (tensors decide the family parts), write back bit for bit.

The tensors show a distillation token, an attention-pool head, a packed SwiGLU MLP,
register tokens and layer scale; the GELU form and LayerNorm eps come from the
variant (``--variant`` / the architecture name).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")
from safetensors.torch import save_file  # noqa: E402

from family_models import CASES as FAMILIES, family_timm, image, max_rel_diff  # noqa: E402
from vitzoo import weights  # noqa: E402
from vitzoo.errors import CheckpointError  # noqa: E402
from vitzoo.backends import get_backend  # noqa: E402


def saved(tmp_path, name: str, kind: str = "safetensors"):
    model = family_timm(name)
    path = tmp_path / f"{name}.{kind}"
    save_file(model.state_dict(), path) if kind == "safetensors" else torch.save(model.state_dict(), path)
    return model, path


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_file_reads_with_its_variant_and_writes_back_bit_exact(tmp_path, name):
    case = FAMILIES[name]
    model, src = saved(tmp_path, name)
    assert weights.detect_format(src) == "timm"
    ckpt = weights.read(src, variant=case.spec)
    assert ckpt.spec == case.spec
    for key, value in model.state_dict().items():
        assert np.array_equal(ckpt.state[key], value.numpy()), key
    weights.write(ckpt, tmp_path / "back.safetensors", format="timm")
    again = weights.read(tmp_path / "back.safetensors", variant=case.spec)
    assert again.spec == ckpt.spec and all(np.array_equal(again.state[k], v) for k, v in ckpt.state.items())
    model.load_state_dict(_torch_state(tmp_path / "back.safetensors"), strict=True)  # timm takes it as it is
    x = image(size=case.spec.img_size)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert max_rel_diff(get_backend("numpy").build(ckpt.spec, ckpt.state)(x), ref) <= 1e-4


def _torch_state(path):
    from safetensors.torch import load_file

    return load_file(str(path))


@pytest.mark.parametrize("name", ["deit_distilled", "dinov2_reg4", "dinov2_swiglu", "siglip", "siglip_gap", "clip"])
def test_tensors_alone_show_the_family_parts(tmp_path, name):
    """Given only what tensors cannot show (eps, GELU form, head count, a class token's pooling), the tensors decide the rest."""
    case = FAMILIES[name]
    _, src = saved(tmp_path, name, kind="pth")
    unseen = ["norm_eps", "gelu", "num_heads"] + (["global_pool"] if case.spec.class_token else [])
    with pytest.raises(CheckpointError, match="does not say its"):  # no config, no name: refused, not guessed
        weights.read(src)
    spec = weights.read(src, variant={k: getattr(case.spec, k) for k in unseen}).spec
    assert spec == case.spec


def test_damaged_swiglu_widths_are_refused(tmp_path):
    from vitzoo.errors import CheckpointError

    model = family_timm("dinov2_swiglu")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["blocks.0.mlp.fc1.weight"] = state["blocks.0.mlp.fc1.weight"][:100]
    save_file(state, tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError, match="do not fit together"):
        weights.read(tmp_path / "bad.safetensors")


def test_hub_folder_config_names_the_architecture(tmp_path):
    """timm's config.json decides what the tensors cannot: QuickGELU, eps 1e-5, and 384 px over a 27-patch grid."""
    import json

    for name, arch in (("clip_quickgelu", "vit_base_patch16_clip_quickgelu_224"), ("siglip_uneven", "vit_so400m_patch14_siglip_384")):
        folder = tmp_path / name
        folder.mkdir()
        save_file(family_timm(name).state_dict(), folder / "model.safetensors")
        size = FAMILIES[name].spec.img_size
        cfg = {"architecture": arch, "model_args": {"num_heads": 2}, "pretrained_cfg": {"input_size": [3, size, size]}}
        (folder / "config.json").write_text(json.dumps(cfg))
        spec = weights.read(folder).spec
        assert spec == FAMILIES[name].spec
