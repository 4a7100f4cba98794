"""`vitzoo export --text`: a whole model's text tower as MindIR / ONNX gives open_clip's and transformers' text embeddings."""

from __future__ import annotations

import json

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")
T = pytest.importorskip("transformers")
from safetensors.torch import save_file as save_torch_file  # noqa: E402

from family_models import max_rel_diff  # noqa: E402
from timm_models import randomise_  # noqa: E402
from vitzoo.backends.mindspore.deploy.export import run_exported  # noqa: E402
from vitzoo.cli.main import main  # noqa: E402
from vitzoo.tokenizer import SimpleTokenizer  # noqa: E402

CFG = dict(embed_dim=24, vision_cfg=dict(image_size=16, layers=1, width=32, head_width=16, patch_size=4),
           text_cfg=dict(context_length=12, vocab_size=49408, width=32, heads=4, layers=2))
TEXTS = ["a photo of a dog", "a very long caption " * 4, "", "Café"]


@pytest.mark.parametrize("suffix", [".onnx", ".mindir"])
@pytest.mark.parametrize("quick_gelu", [False, True])
def test_open_clip_text_tower_exports(tmp_path, capsys, suffix, quick_gelu):
    model = randomise_(open_clip.CLIP(**json.loads(json.dumps(CFG)), quick_gelu=quick_gelu), scale=0.3)
    save_torch_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "open_clip_model.safetensors"))
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": {**CFG, "quick_gelu": quick_gelu}}))
    out = tmp_path / f"text{suffix}"
    assert main(["export", "--text", "--weights", str(tmp_path), "-o", str(out), "--batch-size", "4", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["input_shape"] == [4, 12] and summary["input_dtype"] == "int32" and summary["max_abs_diff"] < 1e-4
    ids = SimpleTokenizer(12)(TEXTS)
    with torch.no_grad():
        ref = model.encode_text(torch.from_numpy(ids)).numpy()
    assert max_rel_diff(run_exported(out, ids.astype(np.int32)), ref) <= 1e-4


def test_siglip_text_tower_exports_to_onnx(tmp_path, capsys):
    model = T.SiglipModel(T.SiglipConfig(
        vision_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=16, patch_size=4),
        text_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=10, vocab_size=99),
    ))
    randomise_(model, scale=0.3)
    model.save_pretrained(tmp_path / "m")
    out = tmp_path / "siglip_text.onnx"
    assert main(["export", "--text", "--weights", str(tmp_path / "m"), "-o", str(out), "--batch-size", "3"]) == 0
    ids = np.random.default_rng(0).integers(0, 99, (3, 10))
    with torch.no_grad():
        ref = model.get_text_features(input_ids=torch.from_numpy(ids))
    ref = (ref if isinstance(ref, torch.Tensor) else ref.pooler_output).numpy()
    assert max_rel_diff(run_exported(out, ids.astype(np.int32)), ref) <= 1e-4
    capsys.readouterr()
    assert main(["export", "--text", "-o", str(out)]) == 1
    assert "--weights" in capsys.readouterr().err
