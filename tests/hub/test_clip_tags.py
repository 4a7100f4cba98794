"""``create_clip(MODEL, pretrained=TAG)``: the tag's hub repo, fetched by the ``hf-hub:`` code from the local hub, gives open_clip's outputs.

The repo is made by open_clip itself (random weights, its safetensors and ``open_clip_config.json``)
for a tiny open_clip model registered in both libraries, with a tag registered as the table's are.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")

import vitzoo  # noqa: E402
from family_models import max_rel_diff  # noqa: E402
from hub_server import go_offline  # noqa: E402
from test_hub_repos import OC_CFG, X, oc_repo  # noqa: E402,F401  (oc_repo: a fixture; env and server come from conftest.py)
from vitzoo.pretrained.clip_tags import ClipWeightSet, register_clip_pretrained, unregister_clip_pretrained  # noqa: E402
from vitzoo.weights import open_clip_models  # noqa: E402

TOL = 1e-4
TINY = "ViT-tiny-8-test"


@pytest.fixture(autouse=True, scope="module")
def tiny_tag():
    """The tiny model and its tag, registered for these tests only (the table tests see open_clip's entries alone)."""
    open_clip_models.register_open_clip_model(TINY, OC_CFG, overwrite=True)
    ws = register_clip_pretrained(ClipWeightSet(TINY, "rand_s0", "someone/tiny-clip-rand", "mit", (0.5,) * 3, (0.5,) * 3, "bilinear", "squash"),
                                  overwrite=True)
    yield ws
    unregister_clip_pretrained(ws.name)
    open_clip_models._models().pop(TINY, None)


def test_tag_downloads_the_repo_and_equals_open_clip_then_offline(env, server, oc_repo, monkeypatch):  # noqa: F811
    files, image, model = oc_repo
    server.add_repo("someone/tiny-clip-rand", files)
    clip = vitzoo.create_clip(TINY, pretrained="rand_s0", backend="numpy")
    ids = clip.tokenize(["a photo of a dog", "a cat"])
    with torch.no_grad():
        text = model.encode_text(torch.from_numpy(ids)).numpy()
    assert max_rel_diff(np.asarray(clip.encode_image(X)), image) <= TOL
    assert max_rel_diff(np.asarray(clip.encode_text(ids)), text) <= TOL
    assert any("someone/tiny-clip-rand" in p for _, p in server.requests)
    pre = clip.pretrained_cfg["pretrained_cfg"]  # the tag's preprocessing, not the repo's defaults
    assert (pre["mean"], pre["interpolation"], pre["crop_mode"]) == ([0.5] * 3, "bilinear", "squash")
    assert clip.pretrained_cfg["license"] == "mit" and clip.pretrained_cfg["name"] == f"{TINY}.rand_s0"
    go_offline(monkeypatch)
    seen = len(server.requests)
    for again in (vitzoo.create_clip(f"{TINY}.rand_s0", backend="numpy"), vitzoo.create_clip(TINY, pretrained=True, backend="numpy")):
        assert max_rel_diff(np.asarray(again.encode_image(X)), image) <= TOL
    assert len(server.requests) == seen  # the cached snapshot


def test_real_table_entry_asks_for_open_clips_repo_and_checks_what_it_holds(env, server, oc_repo):  # noqa: F811
    """ViT-B-16.laion2b_s34b_b88k resolves to open_clip's hub repo; a repo holding another model is one sentence."""
    server.add_repo("laion/CLIP-ViT-B-16-laion2B-s34B-b88K", oc_repo[0])
    with pytest.raises(vitzoo.CheckpointError, match="holds another model than open_clip's 'ViT-B-16'"):
        vitzoo.create_clip("ViT-B-16", pretrained="laion2b_s34b_b88k", backend="numpy")
    assert any("laion/CLIP-ViT-B-16-laion2B-s34B-b88K" in p for _, p in server.requests)


def test_missing_tag_repo_is_one_download_sentence(env, server):  # noqa: F811
    with pytest.raises(vitzoo.DownloadError, match="someone/tiny-clip-rand"):
        vitzoo.create_clip(TINY, pretrained="rand_s0", backend="numpy")


def test_cli_zero_shot_with_a_tag(env, server, oc_repo, tmp_path, capsys):  # noqa: F811
    from PIL import Image

    from vitzoo.cli.main import main

    server.add_repo("someone/tiny-clip-rand", oc_repo[0])
    Image.new("RGB", (40, 48), (10, 200, 30)).save(tmp_path / "green.png")
    assert main(["zero-shot", str(tmp_path / "green.png"), "--model", TINY, "--pretrained", "rand_s0", "--labels", "cat,dog",
                 "--backend", "numpy", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["weights"] == f"{TINY}.rand_s0" and len(out["predictions"][0]["top"]) == 2


def test_real_tag_pe_core_t_from_its_repo_made_by_open_clip(env, server, tmp_path):  # noqa: F811
    """PE-Core-T-16-384.meta (a timm image tower): open_clip's random model served at the tag's own repo id."""
    from open_clip.push_to_hf_hub import save_config_for_hf
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.create_model("PE-Core-T-16-384").eval()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "open_clip_model.safetensors"))
    save_config_for_hf(model, tmp_path / "open_clip_config.json", model_config=open_clip.get_model_config("PE-Core-T-16-384"))
    server.add_repo("timm/PE-Core-T-16-384", tmp_path)
    clip = vitzoo.create_clip("PE-Core-T-16-384", pretrained="meta", backend="numpy")
    x = np.random.default_rng(1).standard_normal((1, 3, 384, 384)).astype(np.float32)
    ids = clip.tokenize(["a photo of a dog"])
    with torch.no_grad():
        image, text = model.encode_image(torch.from_numpy(x)).numpy(), model.encode_text(torch.from_numpy(ids)).numpy()
    assert max_rel_diff(np.asarray(clip.encode_image(x)), image) <= TOL
    assert max_rel_diff(np.asarray(clip.encode_text(ids)), text) <= TOL
    pre = clip.pretrained_cfg["pretrained_cfg"]
    assert (pre["interpolation"], pre["crop_mode"], pre["mean"]) == ("bilinear", "squash", [0.5] * 3)  # open_clip's _pecfg
