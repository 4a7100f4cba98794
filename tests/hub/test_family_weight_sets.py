"""The registry's eva.py / beit.py weight sets load from a hub cache laid out as huggingface_hub lays it out.

The repos are made by timm itself (``save_for_hf``: ``model.safetensors`` and ``config.json``, random
weights) under the real entries' repo ids, so the whole path a user takes with
``vitzoo.create(NAME, pretrained=True)`` runs offline: the entry, the hub files, the timm reader with
the repo's config, the conversion, and the model, whose outputs equal timm's.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import vitzoo  # noqa: E402
from vitzoo.pretrained import get_weight_set  # noqa: E402

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


def lay_out_repo(hub: "Path", repo_id: str, folder: "Path") -> None:  # noqa: F821
    """Every file of ``folder`` as a snapshot of ``repo_id`` in the huggingface_hub cache at ``hub``."""
    repo_dir = hub / f"models--{repo_id.replace('/', '--')}"
    for path in folder.iterdir():
        data = path.read_bytes()
        blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo_dir / "snapshots" / COMMIT / path.name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(f"../../blobs/{blob.name}")
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(COMMIT)


def serve_offline(monkeypatch, tmp_path: "Path", repo_id: str, folder: "Path") -> None:  # noqa: F821
    """``folder`` as ``repo_id`` in a hub cache under ``tmp_path``, with every route to the network closed."""
    import huggingface_hub.constants

    lay_out_repo(tmp_path / "hf" / "hub", repo_id, folder)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("VITZOO_CACHE", str(tmp_path / "vitzoo"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.mark.parametrize("name", ["dinov3_ti_16_qkvb.eupe_lvd1689m", "pe_core_ti_16_384.fb", "eva02_ti_14.mim_in22k"])
def test_registry_entry_of_a_new_family_loads_offline_and_equals_timm(tmp_path, monkeypatch, name):
    from timm.models._hub import save_for_hf

    ws = get_weight_set(name)
    arch = ws.hub_repo.split("/", 1)[1].split(".")[0]  # timm's own repos are named "timm/<arch>.<tag>"
    torch.manual_seed(0)
    ref = timm.create_model(arch, pretrained=False, num_classes=ws.num_classes).eval()
    with torch.no_grad():
        for pname, p in ref.named_parameters():
            p.normal_(0, 0.02)
            if p.ndim == 1 and (pname.endswith("weight") or "gamma" in pname):
                p.add_(1.0)
    folder = tmp_path / "made_by_timm"
    save_for_hf(ref, str(folder), safe_serialization=True)
    serve_offline(monkeypatch, tmp_path, ws.hub_repo, folder)
    size = ws.preprocessing["input_size"][-1]
    x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    model = vitzoo.create(name, pretrained=True, backend="numpy")
    out = model(x)
    assert out.shape == expected.shape
    assert np.abs(out - expected).max() <= 1e-4 * np.abs(expected).max()


def test_naflex_registry_entry_loads_offline_and_equals_timm_on_images_and_naflex_batches(tmp_path, monkeypatch):
    """SigLIP 2 NaFlex B/16 from its (locally laid out) timm repo: a non-square image and a padded NaFlex batch."""
    from timm.models._hub import save_for_hf

    from vitzoo.naflex import patchify

    name = "siglip2_naflex_b_16.v2_webli"
    ws = get_weight_set(name)
    assert ws.hub_repo == "timm/naflexvit_base_patch16_siglip.v2_webli" and tuple(ws.preprocessing["input_size"]) == (3, 384, 384)
    torch.manual_seed(0)
    ref = timm.create_model("naflexvit_base_patch16_siglip", pretrained=False, num_classes=0).eval()
    folder = tmp_path / "made_by_timm"
    save_for_hf(ref, str(folder), safe_serialization=True)
    serve_offline(monkeypatch, tmp_path, ws.hub_repo, folder)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 64, 96)).astype(np.float32)
    batch = patchify([rng.standard_normal((3, 32, 80)).astype(np.float32), rng.standard_normal((3, 48, 16)).astype(np.float32)], 16)
    with torch.no_grad():
        expected = [ref(torch.from_numpy(x)).numpy(), ref({k: torch.from_numpy(v) for k, v in batch.items()}).numpy()]
    model = vitzoo.create(name, pretrained=True, backend="numpy")
    assert tuple(model.pretrained_cfg["pretrained_cfg"]["mean"]) == (0.5, 0.5, 0.5)
    for out, want in zip([model(x), model(batch)], expected):
        assert np.abs(out - want).max() <= 1e-4 * np.abs(want).max()


def _transformers_model(name: str):
    """A random transformers model of the entry's architecture (2 blocks) and the function giving its output."""
    import transformers as tr

    torch.manual_seed(0)
    if name.startswith("dinov3"):
        model = tr.DINOv3ViTModel(tr.DINOv3ViTConfig(hidden_size=384, num_hidden_layers=2, num_attention_heads=6, intermediate_size=1536,
                                                      num_register_tokens=4, image_size=224, patch_size=16))
        return model, lambda x: model(pixel_values=x).pooler_output
    if name.startswith("beit"):
        model = tr.BeitForImageClassification(tr.BeitConfig(hidden_size=768, num_hidden_layers=2, num_attention_heads=12, intermediate_size=3072,
                                                             use_relative_position_bias=True, use_mean_pooling=True, layer_scale_init_value=0.1,
                                                             num_labels=1000, image_size=224, patch_size=16))
        return model, lambda x: model(pixel_values=x).logits
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["dinov3_s_16_qkvb.hf_lvd1689m", "beit_b_16.hf_in22k_ft_in22k_in1k"])
def test_transformers_repo_entry_of_a_new_family_loads_offline_and_equals_transformers(tmp_path, monkeypatch, name):
    """facebook/dinov3-* and microsoft/beit-* entries: a folder transformers saved, under the real repo id, read by vitzoo's hf reader."""
    pytest.importorskip("transformers")
    ws = get_weight_set(name)
    assert ws.source_format == "hf" and ws.hub_repo.split("/")[0] in ("facebook", "microsoft")
    model, output = _transformers_model(name)
    model.eval()
    with torch.no_grad():
        for pname, p in model.named_parameters():
            p.normal_(0, 0.02)
            if p.ndim == 1 and (pname.endswith("weight") or "lambda" in pname):
                p.add_(1.0)
    folder = tmp_path / "made_by_transformers"
    model.save_pretrained(folder)
    serve_offline(monkeypatch, tmp_path, ws.hub_repo, folder)
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        expected = output(torch.from_numpy(x)).numpy()
    ours = vitzoo.create(name, pretrained=True, backend="numpy", depth=2)
    assert ours.pretrained_cfg["pretrained_cfg"]["interpolation"] == ws.preprocessing["interpolation"]
    out = ours(x)
    assert out.shape == expected.shape
    assert np.abs(out - expected).max() <= 1e-4 * np.abs(expected).max()
