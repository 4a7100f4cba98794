"""``hf-hub:ORG/REPO[@REVISION]`` names: repos made by timm, transformers and open_clip themselves, over HTTP and offline.

Each reference model is tiny, with random weights, saved by its own library as it publishes
to the hub (timm's ``save_for_hf``, transformers' sharded ``save_pretrained`` with an image
processor, open_clip's safetensors and ``open_clip_config.json``), then served by the local hub
(``hub_server``) or laid out as a hub cache. vitzoo's outputs must equal the library's to 1e-4
of the output scale; each failure (gated, missing, no such revision, unknown architecture,
corrupt file) is one :class:`~vitzoo.errors.VitzooError` sentence and leaves no weights behind.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
T = pytest.importorskip("transformers")
open_clip = pytest.importorskip("open_clip")

import vitzoo  # noqa: E402
from family_models import max_rel_diff  # noqa: E402
from hub_server import go_offline, lay_out_cache  # noqa: E402
from timm_models import randomise_, tiny_timm  # noqa: E402
from vitzoo.errors import DownloadError, UnknownNameError  # noqa: E402

TOL = 1e-4
X = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
LABELS = ["cat", "dog", "fox"]
OC_CFG = dict(embed_dim=24, vision_cfg=dict(image_size=32, layers=2, width=32, head_width=16, patch_size=8, mlp_ratio=2.0),
              text_cfg=dict(context_length=12, vocab_size=49408, width=32, heads=4, layers=2))


def folder_files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def timm_repo(tmp_path_factory):
    """timm's own hub layout: config.json (architecture, model_args, pretrained_cfg, label_names) + model.safetensors."""
    model = tiny_timm(seed=1, num_classes=3)
    folder = tmp_path_factory.mktemp("timm_repo")
    timm.models.save_for_hf(model, str(folder), model_config={"label_names": LABELS}, safe_serialization=True)
    with torch.no_grad():
        return folder_files(folder), model(torch.from_numpy(X)).numpy()


@pytest.fixture(scope="module")
def hf_repo(tmp_path_factory):
    """transformers' layout: config.json (model_type vit, id2label), safetensors shards + index, preprocessor_config.json."""
    torch.manual_seed(0)
    config = T.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32,
                         patch_size=8, num_labels=3, id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    model = randomise_(T.ViTForImageClassification(config))
    folder = tmp_path_factory.mktemp("hf_repo")
    model.save_pretrained(folder, max_shard_size="20KB")
    T.ViTImageProcessor(size={"height": 32, "width": 32}, resample=3).save_pretrained(folder)
    with torch.no_grad():
        return folder_files(folder), model(pixel_values=torch.from_numpy(X)).logits.numpy()


@pytest.fixture(scope="module")
def oc_repo(tmp_path_factory):
    """open_clip's layout: open_clip_model.safetensors + open_clip_config.json written by open_clip."""
    from open_clip.push_to_hf_hub import save_config_for_hf
    from safetensors.torch import save_file

    model = randomise_(open_clip.CLIP(**json.loads(json.dumps(OC_CFG))), scale=0.3)
    model.visual.image_mean, model.visual.image_std = open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD  # as create_model sets
    folder = tmp_path_factory.mktemp("oc_repo")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    save_config_for_hf(model, folder / "open_clip_config.json", model_config=OC_CFG)
    with torch.no_grad():
        return folder_files(folder), model.encode_image(torch.from_numpy(X)).numpy(), model


def blobs(env):
    return sorted(p.name for p in (env / "hf" / "hub").rglob("blobs/*")) if (env / "hf" / "hub").is_dir() else []


@pytest.mark.parametrize("layout", ["timm", "transformers", "open_clip"])
def test_each_layout_loads_with_the_reference_outputs_then_offline(env, server, monkeypatch, layout, timm_repo, hf_repo, oc_repo):
    files, expected = {"timm": timm_repo, "transformers": hf_repo, "open_clip": oc_repo}[layout][:2]
    repo = f"someone/tiny-{layout}"
    commit = server.add_repo(repo, files)
    model = vitzoo.create(f"hf-hub:{repo}", pretrained=True, backend="numpy")
    assert max_rel_diff(model(X), expected) <= TOL
    cfg = model.pretrained_cfg
    assert cfg["source"] == f"hf-hub:{repo}@{commit}" and cfg["hub_layout"] == layout
    if layout != "open_clip":
        assert cfg["class_names"] == LABELS
    pre = cfg["pretrained_cfg"]
    if layout == "timm":
        assert (pre["crop_pct"], pre["interpolation"], pre["mean"]) == (0.9, "bicubic", [0.5, 0.5, 0.5])  # timm's pretrained_cfg
    elif layout == "transformers":
        assert (pre["crop_mode"], pre["interpolation"], pre["input_size"]) == ("squash", "bicubic", [3, 32, 32])  # its image processor
    else:
        assert pre["mean"] == list(open_clip.OPENAI_DATASET_MEAN)
    snapshot = env / "hf" / "hub" / f"models--someone--tiny-{layout}" / "snapshots" / commit
    assert (env / "hf" / "hub" / f"models--someone--tiny-{layout}" / "refs" / "main").read_text() == commit
    if layout == "transformers":  # every shard the index lists, and nothing it does not need
        index = json.loads(files["model.safetensors.index.json"])
        assert len(set(index["weight_map"].values())) > 1
        assert {p.name for p in snapshot.iterdir()} == {"config.json", "preprocessor_config.json", "model.safetensors.index.json",
                                                       *index["weight_map"].values()}
    seen = len(server.requests)
    go_offline(monkeypatch)
    again = vitzoo.create(f"hf-hub:{repo}", pretrained=True, backend="numpy")
    assert np.array_equal(again(X), model(X)) and len(server.requests) == seen


def test_whole_open_clip_model_from_the_hub(env, server, oc_repo):
    files, image, model = oc_repo
    server.add_repo("laion/tiny-clip", files)
    clip = vitzoo.create_clip("hf-hub:laion/tiny-clip", backend="numpy")
    ids = clip.tokenize(["a photo of a dog", "a cat"])
    with torch.no_grad():
        text = model.encode_text(torch.from_numpy(ids)).numpy()
    assert max_rel_diff(np.asarray(clip.encode_image(X)), image) <= TOL
    assert max_rel_diff(np.asarray(clip.encode_text(ids)), text) <= TOL
    with pytest.raises(vitzoo.CheckpointError, match="holds an image model, not a whole CLIP model"):
        server.add_repo("timm/not-clip", {"config.json": b'{"architecture": "vit_tiny_patch16_224"}', "model.safetensors": b""})
        vitzoo.create_clip("hf-hub:timm/not-clip")


def test_revisions_branch_commit_and_one_that_does_not_exist(env, server, timm_repo, hf_repo):
    files, expected = timm_repo
    first = server.add_repo("someone/tiny", files)
    changed = dict(files)
    config = json.loads(files["config.json"])
    config["label_names"] = ["a", "b", "c"]
    changed["config.json"] = json.dumps(config).encode()
    server.add_repo("someone/tiny", changed)  # main moves on
    server.add_repo("someone/tiny", files, branch="v1")
    assert vitzoo.create("hf-hub:someone/tiny", pretrained=True, backend="numpy").pretrained_cfg["class_names"] == ["a", "b", "c"]
    assert vitzoo.create("hf-hub:someone/tiny@v1", pretrained=True, backend="numpy").pretrained_cfg["class_names"] == LABELS
    pinned = vitzoo.create(f"hf-hub:someone/tiny@{first}", pretrained=True, backend="numpy")
    assert pinned.pretrained_cfg["class_names"] == LABELS and max_rel_diff(pinned(X), expected) <= TOL
    with pytest.raises(DownloadError) as err:
        vitzoo.create("hf-hub:someone/tiny@nope", pretrained=True)
    assert str(err.value) == ("hub repo 'someone/tiny' at revision 'nope' has no revision 'nope'; give an existing branch, tag "
                              "or commit after '@'.")


def test_interrupted_download_resumes_where_it_stopped(env, server, timm_repo, monkeypatch):
    import huggingface_hub.constants

    # huggingface_hub writes what it received in chunks of this size (10 MB by default, more than this whole
    # tiny file): smaller chunks let the bytes before the cut reach the disk, as they do for real weights
    monkeypatch.setattr(huggingface_hub.constants, "DOWNLOAD_CHUNK_SIZE", 1 << 16)
    files, expected = timm_repo
    server.add_repo("someone/tiny", files)
    server.interrupt.add(("someone/tiny", "model.safetensors"))
    model = vitzoo.create("hf-hub:someone/tiny", pretrained=True, backend="numpy")
    assert max_rel_diff(model(X), expected) <= TOL
    half = len(files["model.safetensors"]) // 2
    (ranged,) = server.range_requests("model.safetensors")  # one retry, asking only for the bytes it lacked
    assert 0 < int(ranged[len("bytes="):-1]) <= half


def test_gated_missing_and_corrupt_repos_are_one_sentence_and_cache_nothing(env, server, timm_repo):
    files, _ = timm_repo
    server.add_repo("corp/gated", files)
    server.gated.add("corp/gated")
    with pytest.raises(DownloadError) as err:
        vitzoo.create("hf-hub:corp/gated", pretrained=True)
    assert "'corp/gated' is gated" in str(err.value) and "hf auth login" in str(err.value)
    with pytest.raises(DownloadError) as err:
        vitzoo.create("hf-hub:corp/absent", pretrained=True)
    assert str(err.value).startswith("hub repo 'corp/absent' was not found or needs access")
    server.add_repo("corp/tampered", files)
    server.tamper[("corp/tampered", "model.safetensors")] = files["model.safetensors"][:-8] + b"\x00" * 8
    with pytest.raises(DownloadError, match=r"is corrupt \(sha256 [0-9a-f]{64}, the hub says [0-9a-f]{64}\); it was removed") as err:
        vitzoo.create("hf-hub:corp/tampered", pretrained=True)
    assert "\n" not in str(err.value)
    weights_sha = hashlib.sha256(files["model.safetensors"]).hexdigest()
    assert weights_sha not in blobs(env)  # neither a gated, a missing nor a corrupt download left weights behind


def test_architecture_comes_from_the_config_never_a_guess(env, server, hf_repo):
    files, _ = hf_repo
    swin = dict(files)
    swin["config.json"] = json.dumps({"model_type": "swin", "architectures": ["SwinForImageClassification"]}).encode()
    server.add_repo("microsoft/tiny-swin", swin)
    with pytest.raises(UnknownNameError) as err:
        vitzoo.create("hf-hub:microsoft/tiny-swin", pretrained=True)
    message = str(err.value)
    assert "transformers model_type 'swin' (SwinForImageClassification)" in message and "DINOv2" in message and " vit," in message
    server.add_repo("timm/resnet", {"config.json": b'{"architecture": "resnet50"}', "model.safetensors": b"x"})
    with pytest.raises(UnknownNameError, match="timm architecture 'resnet50', which vitzoo does not run"):
        vitzoo.create("hf-hub:timm/resnet", pretrained=True)
    server.add_repo("someone/bare", {"model.safetensors": files[next(f for f in files if f.endswith(".safetensors"))]})
    with pytest.raises(UnknownNameError, match="nothing states its architecture and vitzoo does not guess it"):
        vitzoo.create("hf-hub:someone/bare", pretrained=True)
    with pytest.raises(UnknownNameError, match="is not a hub repo name"):
        vitzoo.create("hf-hub:a/b/c", pretrained=True)


def test_prepared_hub_cache_offline_without_any_server(tmp_path, monkeypatch, hf_repo):
    files, expected = hf_repo
    commit = "89abcdef0123456789abcdef0123456789abcdef"
    lay_out_cache(tmp_path / "hf" / "hub", "google/tiny-vit", files, commit)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("VITZOO_CACHE", str(tmp_path / "vitzoo"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    go_offline(monkeypatch)
    model = vitzoo.create("hf-hub:google/tiny-vit", pretrained=True, backend="numpy")
    assert max_rel_diff(model(X), expected) <= TOL and model.pretrained_cfg["source"].endswith("@" + commit)
    with pytest.raises(DownloadError, match="'google/other' is not in .* vitzoo is offline"):
        vitzoo.create("hf-hub:google/other", pretrained=True)


def test_download_then_predict_offline_from_the_cli(env, server, monkeypatch, timm_repo, capsys):
    from PIL import Image

    from vitzoo.cli.main import main

    files, _ = timm_repo
    server.add_repo("someone/tiny", files)
    assert main(["download", "hf-hub:someone/tiny", "--no-progress"]) == 0
    assert "timm layout" in capsys.readouterr().out
    go_offline(monkeypatch)
    image = env / "x.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(image)
    assert main(["predict", str(image), "--model", "hf-hub:someone/tiny", "--top", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["predictions"][0]["top"][0]["label"] in LABELS


def test_embed_command_takes_hub_names_for_images_and_texts(env, server, oc_repo, tmp_path):
    from PIL import Image
    from safetensors.numpy import load_file

    from vitzoo.cli.main import main

    files, _, model = oc_repo
    server.add_repo("laion/tiny-clip", files)
    (tmp_path / "captions.txt").write_text("a photo of a dog\na cat\n")
    assert main(["embed", "--text", str(tmp_path / "captions.txt"), "--model", "hf-hub:laion/tiny-clip", "-o", str(tmp_path / "t.safetensors")]) == 0
    ids = vitzoo.create_clip("hf-hub:laion/tiny-clip", backend="numpy").tokenize(["a photo of a dog", "a cat"])
    with torch.no_grad():
        text = model.encode_text(torch.from_numpy(ids)).numpy()
    assert max_rel_diff(load_file(tmp_path / "t.safetensors")["embeddings"], text) <= TOL
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "black.png")
    assert main(["embed", str(tmp_path / "black.png"), "--model", "hf-hub:laion/tiny-clip", "-o", str(tmp_path / "i.safetensors"),
                 "--no-progress"]) == 0
    assert load_file(tmp_path / "i.safetensors")["embeddings"].shape == (1, OC_CFG["embed_dim"])


def test_unreachable_hub_uses_the_cached_snapshot_or_says_so(env, server, monkeypatch, timm_repo, caplog):
    files, expected = timm_repo
    server.add_repo("someone/tiny", files)
    vitzoo.create("hf-hub:someone/tiny", pretrained=True, backend="numpy")  # now cached
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # online, but nothing listens there
    with caplog.at_level("WARNING", logger="vitzoo"):
        model = vitzoo.create("hf-hub:someone/tiny", pretrained=True, backend="numpy")
    assert max_rel_diff(model(X), expected) <= TOL and "the hub is unreachable" in caplog.text
    with pytest.raises(DownloadError) as err:
        vitzoo.create("hf-hub:someone/never-cached", pretrained=True)
    assert str(err.value).startswith("Could not reach the hub for hub repo 'someone/never-cached'") and "\n" not in str(err.value)


def test_dinov2_repo_with_its_crop_preprocessing(env, server, tmp_path):
    """A transformers Dinov2Model repo: the pooled features equal transformers', and BitImageProcessor's crop is kept."""
    torch.manual_seed(0)
    config = T.Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2, image_size=28, patch_size=14)
    model = randomise_(T.Dinov2Model(config))
    model.save_pretrained(tmp_path / "dino")
    T.BitImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 28, "width": 28}, do_center_crop=True).save_pretrained(tmp_path / "dino")
    server.add_repo("facebook/tiny-dinov2", tmp_path / "dino")
    ours = vitzoo.create("hf-hub:facebook/tiny-dinov2", pretrained=True, backend="numpy")
    x = X[:, :, :28, :28]
    with torch.no_grad():
        expected = model(pixel_values=torch.from_numpy(x)).pooler_output.numpy()
    assert max_rel_diff(ours(x), expected) <= TOL
    transform = vitzoo.transforms_for(ours)
    assert (transform.resize_size, transform.img_size, transform.interpolation) == (32, 28, "bicubic")


def test_a_repo_with_timm_and_open_clip_files_gives_each_what_it_asks_for(env, server, timm_repo, oc_repo):
    """timm's CLIP repos hold both layouts: create() takes timm's image model, create_clip() open_clip's whole model."""
    files = {**timm_repo[0], **oc_repo[0]}
    server.add_repo("timm/both", files)
    model = vitzoo.create("hf-hub:timm/both", pretrained=True, backend="numpy")
    assert model.pretrained_cfg["hub_layout"] == "timm" and max_rel_diff(model(X), timm_repo[1]) <= TOL
    snapshot = next((env / "hf" / "hub" / "models--timm--both" / "snapshots").iterdir())
    assert not (snapshot / "open_clip_model.safetensors").exists()  # only what the timm model needs was fetched
    clip = vitzoo.create_clip("hf-hub:timm/both", backend="numpy")
    assert max_rel_diff(np.asarray(clip.encode_image(X)), oc_repo[1]) <= TOL


def test_private_repo_needs_the_token_from_the_environment(env, server, monkeypatch, timm_repo):
    files, expected = timm_repo
    server.add_repo("me/private", files)
    server.repos["me/private"].token = "hf_reader"
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_TOKEN_PATH", str(env / "no-token"))  # no token saved by `hf auth login` either
    with pytest.raises(DownloadError, match="'me/private' was not found or needs access"):
        vitzoo.create("hf-hub:me/private", pretrained=True)
    monkeypatch.setenv("HF_TOKEN", "hf_reader")
    assert max_rel_diff(vitzoo.create("hf-hub:me/private", pretrained=True, backend="numpy")(X), expected) <= TOL
