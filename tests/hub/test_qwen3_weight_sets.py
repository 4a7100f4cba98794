"""A Qwen3 ViT registry entry loads from a hub cache laid out as huggingface_hub lays it out, and equals timm.

The smallest tower (88M, the ``_enc`` form with its projector) at full size, made by timm's ``save_for_hf``
(``model.safetensors`` and ``config.json``, random weights) under the entry's repo id; vitzoo reads it with the
repo's config (whose ``global_pool='merge'`` the projector's tensors settle) on any even patch grid.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import vitzoo  # noqa: E402

from family_timm import logits, rel, run  # noqa: E402
from test_family_weight_sets import lay_out_repo  # noqa: E402


def test_a_registry_entry_loads_from_a_timm_hub_snapshot_and_equals_timm(tmp_path, monkeypatch):
    """The whole pretrained=True path offline: the entry's repo as timm's save_for_hf writes it (full size, random weights)."""
    import huggingface_hub.constants
    from timm.models._hub import save_for_hf

    from vitzoo.pretrained import get_weight_set

    ws = get_weight_set("qwen3_vit_88m_enc.qwen3_5_0_8b")
    torch.manual_seed(0)
    ref = timm.create_model("qwen3_vit_88m_enc.qwen3_5_0_8b", pretrained=False).eval()
    folder = tmp_path / "made_by_timm"
    save_for_hf(ref, str(folder), safe_serialization=True)
    lay_out_repo(tmp_path / "hf" / "hub", ws.hub_repo, folder)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("VITZOO_CACHE", str(tmp_path / "vitzoo"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 96)).astype(np.float32)  # any even patch grid
    model = vitzoo.create("qwen3_vit_88m_enc.qwen3_5_0_8b", pretrained=True, backend="numpy")
    assert model.spec.merge_dim == 1024 and model.spec.output_tokens
    assert rel(run(model, x), logits(ref, x)) <= 1e-4
