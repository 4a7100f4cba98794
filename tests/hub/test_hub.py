"""Fetching pretrained weights over HTTP (a local server), the caches, offline mode and failures.

A threaded server on 127.0.0.1 (``hub_server.Server``) plays both the Hugging Face hub
(through ``HF_ENDPOINT``, answering ``hf_hub_download``'s HEAD/GET on
``/{repo}/resolve/{revision}/{file}``) and MindSpore's download site (through
``VITZOO_MS_BASE_URL``). Tiny weight sets of a tiny test variant are registered
for the run; the registry's real entries are untouched.
"""

import hashlib
import json
import subprocess
import sys
import threading

import numpy as np
import pytest

import vitzoo
from hub_server import go_offline
from vitzoo import CheckpointError, DownloadError, hub
from vitzoo.backends import get_backend
from vitzoo.init import init_state
from vitzoo.pretrained import MS_ORIGIN, WeightSet, register_pretrained, unregister_pretrained
from vitzoo.spec import ViTSpec
from vitzoo.variants import list_models, register_variant

VARIANT = "vit_hubtest_8"
if VARIANT not in list_models():

    @register_variant()
    def vit_hubtest_8() -> ViTSpec:
        return ViTSpec(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, mlp_dim=64)


COMMIT = "0123456789abcdef0123456789abcdef01234567"
PRE = dict(input_size=(3, 32, 32), interpolation="bicubic", crop_pct=0.9, crop_mode="center", mean=(0.5,) * 3, std=(0.5,) * 3)
MS_PRE = dict(PRE, interpolation="bilinear", crop_pct=0.875, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


@pytest.fixture
def registered():
    names = []

    def add(**kwargs):
        names.append(register_pretrained(WeightSet(**kwargs), overwrite=True).name)
        return names[-1]

    yield add
    for name in names:
        unregister_pretrained(name)


def cache_files(root):
    """Every file vitzoo left in its cache, lock files aside."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "locks" not in p.parts)


def timm_repo_files(state):
    from safetensors.numpy import save

    config = {"architecture": VARIANT, "num_classes": 1000, "pretrained_cfg": {"crop_pct": 0.9, "input_size": [3, 32, 32]}}
    return save(state, metadata={"format": "pt"}), json.dumps(config).encode()


@pytest.fixture(scope="module")
def state():
    return init_state(vitzoo.get_spec(VARIANT), seed=3)


@pytest.fixture(scope="module")
def ms_ckpt_bytes(tmp_path_factory, state):
    """The MindSpore tutorial's layout, written by mindspore.save_checkpoint, with optimizer state beside it."""
    ms = pytest.importorskip("mindspore")
    d = 32
    pairs = [("cls", state["cls_token"]), ("pos_embedding", state["pos_embed"]),
             ("patch_embedding.conv.weight", state["patch_embed.proj.weight"]), ("patch_embedding.conv.bias", state["patch_embed.proj.bias"])]
    for i in range(2):
        a, m, b = f"transformer.layers.{i}.0.cell.", f"transformer.layers.{i}.1.cell.", f"blocks.{i}."
        pairs += [(a + "0.gamma", state[b + "norm1.weight"]), (a + "0.beta", state[b + "norm1.bias"]),
                  (a + "1.qkv.weight", state[b + "attn.qkv.weight"]), (a + "1.qkv.bias", state[b + "attn.qkv.bias"]),
                  (a + "1.out.weight", state[b + "attn.proj.weight"]), (a + "1.out.bias", state[b + "attn.proj.bias"]),
                  (m + "0.gamma", state[b + "norm2.weight"]), (m + "0.beta", state[b + "norm2.bias"]),
                  (m + "1.dense1.weight", state[b + "mlp.fc1.weight"]), (m + "1.dense1.bias", state[b + "mlp.fc1.bias"]),
                  (m + "1.dense2.weight", state[b + "mlp.fc2.weight"]), (m + "1.dense2.bias", state[b + "mlp.fc2.bias"])]
    pairs += [("norm.gamma", state["norm.weight"]), ("norm.beta", state["norm.bias"]),
              ("dense.weight", state["head.weight"]), ("dense.bias", state["head.bias"]),
              ("moments.norm.gamma", np.zeros(d, np.float32)), ("learning_rate", np.array(1e-3, np.float32))]
    path = tmp_path_factory.mktemp("ms") / "vit_hubtest_8_224.ckpt"
    ms.save_checkpoint([{"name": n, "data": ms.Tensor(np.ascontiguousarray(v))} for n, v in pairs], str(path))
    return path.read_bytes()


def numpy_logits(spec, state, x):
    return get_backend("numpy").build(spec, state)(x)


X = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)


# --- the Hugging Face hub path -------------------------------------------------------------------
def test_hub_weights_download_convert_cache_and_go_offline(env, server, registered, state, monkeypatch):
    repo = f"testorg/{VARIANT}.a_in1k"
    weights_bytes, config_bytes = timm_repo_files(state)
    server.add_hub_file(repo, "model.safetensors", weights_bytes)
    server.add_hub_file(repo, "config.json", config_bytes, lfs=False)
    best = registered(name=f"{VARIANT}.a_in1k", source_format="timm", license="apache-2.0", label_set="imagenet-1k",
                      num_classes=1000, top1=80.0, hub_repo=repo, files=("model.safetensors", "config.json"), preprocessing=PRE)
    registered(name=f"{VARIANT}.b_in1k", source_format="timm", license="apache-2.0", label_set="imagenet-1k",
               num_classes=1000, top1=70.0, hub_repo="testorg/absent", preprocessing=PRE)

    model = vitzoo.create(VARIANT, pretrained=True, backend="numpy")  # the best top-1 is the default
    expected = numpy_logits(vitzoo.get_spec(VARIANT), state, X)
    assert np.array_equal(model(X), expected)
    cfg = model.pretrained_cfg
    assert cfg["name"] == best and cfg["source"] == f"hf-hub:{repo}" and cfg["source_format"] == "timm"
    assert cfg["source_sha256"] == hashlib.sha256(weights_bytes).hexdigest()
    assert cfg["pretrained_cfg"]["crop_pct"] == 0.9 and cfg["pretrained_cfg"]["top1"] == 80.0
    assert cfg["class_names"][:2] == ["tench", "goldfish"]
    snapshot = env / "hf" / "hub" / f"models--testorg--{VARIANT}.a_in1k" / "snapshots" / COMMIT
    assert (snapshot / "model.safetensors").is_file() and (snapshot / "config.json").is_file()
    assert cache_files(env / "vitzoo") == [f"weights/{best}.safetensors", f"weights/{best}.safetensors.sha256.json"]

    # warm: one canonical file, no request at all
    seen = len(server.requests)
    again = vitzoo.create(f"{VARIANT}.a_in1k", pretrained=True, backend="numpy")
    assert np.array_equal(again(X), expected) and len(server.requests) == seen
    assert again.pretrained_cfg == cfg

    # offline, converted cache gone: rebuilt from the hub cache without the network
    (env / "vitzoo" / "weights" / f"{best}.safetensors").unlink()
    go_offline(monkeypatch)
    assert np.array_equal(vitzoo.create(best, pretrained=True, backend="numpy")(X), expected)
    assert len(server.requests) == seen


def test_prepared_hub_cache_works_offline_without_any_server(tmp_path, monkeypatch, registered, state):
    """A cache laid out as huggingface_hub lays it out (blobs, snapshots, refs), no network at all."""
    weights_bytes, config_bytes = timm_repo_files(state)
    repo_dir = tmp_path / "hf" / "hub" / f"models--timm--{VARIANT}.c_in1k"
    for name, data in (("model.safetensors", weights_bytes), ("config.json", config_bytes)):
        blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo_dir / "snapshots" / COMMIT / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(f"../../blobs/{blob.name}")
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(COMMIT)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("VITZOO_CACHE", str(tmp_path / "vitzoo"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    go_offline(monkeypatch)
    name = registered(name=f"{VARIANT}.c_in1k", source_format="timm", license="apache-2.0", label_set="imagenet-1k",
                      num_classes=1000, top1=None, hub_repo=f"timm/{VARIANT}.c_in1k", files=("model.safetensors", "config.json"),
                      preprocessing=PRE)
    model = vitzoo.create(name, pretrained=True, backend="numpy")
    assert np.array_equal(model(X), numpy_logits(vitzoo.get_spec(VARIANT), state, X))


def test_hub_weights_missing_offline_name_the_file_and_the_fix(env, registered, monkeypatch):
    name = registered(name=f"{VARIANT}.d_in1k", source_format="timm", license="apache-2.0", label_set="imagenet-1k",
                      num_classes=1000, hub_repo=f"testorg/{VARIANT}.d_in1k", preprocessing=PRE)
    go_offline(monkeypatch, "VITZOO_OFFLINE")
    with pytest.raises(DownloadError) as err:
        vitzoo.create(name, pretrained=True, backend="numpy")
    message = str(err.value)
    assert name in message and "model.safetensors" in message and f"vitzoo download {name}" in message
    assert cache_files(env / "vitzoo") == []


def test_hub_errors_are_download_errors(env, server, registered):
    name = registered(name=f"{VARIANT}.e_in1k", source_format="timm", license="apache-2.0", label_set="imagenet-1k",
                      num_classes=1000, hub_repo=f"testorg/{VARIANT}.e_in1k", preprocessing=PRE)
    server.add_hub_file(f"testorg/{VARIANT}.e_in1k", "config.json", b"{}", lfs=False)  # the repo exists, without weights
    with pytest.raises(DownloadError, match="has no file 'model.safetensors'"):
        vitzoo.create(name, pretrained=True, backend="numpy")
    server.routes[f"/testorg/{VARIANT}.e_in1k/resolve/main/model.safetensors"] = ("status", 404, {"X-Error-Code": "RepoNotFound"})
    with pytest.raises(DownloadError, match="not found or needs access"):
        vitzoo.create(name, pretrained=True, backend="numpy")
    assert cache_files(env / "vitzoo") == []


@pytest.fixture(scope="module")
def hf_model(tmp_path_factory):
    """A tiny transformers ViTForImageClassification of the test variant's shape, saved as on the hub."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                    image_size=32, patch_size=8, num_labels=1000)
    model = transformers.ViTForImageClassification(config).eval()
    folder = tmp_path_factory.mktemp("hf")
    model.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    with torch.no_grad():
        logits = model(pixel_values=torch.from_numpy(X)).logits.numpy()
    return folder, logits


@pytest.mark.parametrize("weights_file", ["model.safetensors", "pytorch_model.bin"])
def test_transformers_repo_with_fallback_weights_file(env, server, registered, hf_model, weights_file):
    folder, expected = hf_model
    repo = f"google/{VARIANT}-{weights_file.split('.')[0]}"
    server.add_hub_file(repo, weights_file, (folder / weights_file).read_bytes())  # the other file is absent: 404
    server.add_hub_file(repo, "config.json", (folder / "config.json").read_bytes(), lfs=False)
    name = registered(name=f"{VARIANT}.google_test", source_format="hf", license="apache-2.0", label_set="imagenet-1k",
                      num_classes=1000, hub_repo=repo, files=("model.safetensors", "config.json"),
                      fallback_file="pytorch_model.bin", preprocessing=dict(PRE, crop_mode="squash", crop_pct=1.0))
    model = vitzoo.create(name, pretrained=True, backend="numpy")
    assert model.spec.norm_eps == 1e-12  # transformers' LayerNorm eps, from its config.json
    assert np.abs(model(X) - expected).max() <= 1e-4


# --- MindSpore's download site --------------------------------------------------------------------
MS_PATH = "/vision/classification/vit_hubtest_8_224.ckpt"


def ms_entry(registered, sha256=None, tag="ms_in1k", path=MS_PATH):
    return registered(name=f"{VARIANT}.{tag}", source_format="mindspore", license="apache-2.0", label_set="imagenet-1k",
                      num_classes=1000, top1=75.0, url=MS_ORIGIN + path, sha256=sha256, preprocessing=MS_PRE)


def test_mindspore_checkpoint_through_the_mirror(env, server, registered, ms_ckpt_bytes, state, monkeypatch):
    server.routes[MS_PATH] = ms_ckpt_bytes
    name = ms_entry(registered, sha256=hashlib.sha256(ms_ckpt_bytes).hexdigest())
    model = vitzoo.create(name, pretrained=True, backend="numpy")
    assert (model.spec.norm_eps, model.spec.gelu) == (1e-7, "tanh")  # MindSpore's semantics travel with its weights
    assert np.array_equal(model(X), numpy_logits(model.spec, state, X))
    assert model.pretrained_cfg["source"] == MS_ORIGIN + MS_PATH
    assert vitzoo.transforms_for(model).resize_size == 36  # the tutorial's crop_pct 0.875 at 32 px
    assert cache_files(env / "vitzoo") == ["downloads/vit_hubtest_8_224.ckpt", f"weights/{name}.safetensors", f"weights/{name}.safetensors.sha256.json"]
    assert server.requests == [("GET", MS_PATH)]

    go_offline(monkeypatch, "VITZOO_OFFLINE")  # cached: no network needed
    (env / "vitzoo" / "weights" / f"{name}.safetensors").unlink()
    assert np.array_equal(vitzoo.create(name, pretrained=True, backend="numpy")(X), model(X))
    assert len(server.requests) == 1


def test_concurrent_loads_download_once(env, server, registered, ms_ckpt_bytes):
    server.routes[MS_PATH] = ms_ckpt_bytes
    name = ms_entry(registered)
    ws = vitzoo.pretrained.get_weight_set(name)
    results, errors = [], []

    def load():
        try:
            results.append(hub.load(ws, progress=False))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and len(results) == 3
    assert server.requests == [("GET", MS_PATH)]
    assert all(np.array_equal(r.state["pos_embed"], results[0].state["pos_embed"]) for r in results)


def test_damaged_cache_file_is_reported_and_rebuilt_by_force(env, server, registered, ms_ckpt_bytes, monkeypatch):
    server.routes[MS_PATH] = ms_ckpt_bytes
    name = ms_entry(registered)
    reference = vitzoo.create(name, pretrained=True, backend="numpy")(X)
    (env / "vitzoo" / "weights" / f"{name}.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=f"vitzoo download {name} --force"):
        vitzoo.create(name, pretrained=True, backend="numpy")
    go_offline(monkeypatch, "VITZOO_OFFLINE")  # the raw download is still there: no network needed
    from vitzoo.cli.main import main

    assert main(["download", name, "--force", "--no-progress"]) == 0
    assert np.array_equal(vitzoo.create(name, pretrained=True, backend="numpy")(X), reference)
    assert server.requests == [("GET", MS_PATH)]


def test_checksum_mismatch_leaves_nothing(env, server, registered, ms_ckpt_bytes):
    server.routes[MS_PATH] = ms_ckpt_bytes
    name = ms_entry(registered, sha256="0" * 64)
    with pytest.raises(DownloadError, match="corrupt.*nothing was cached"):
        vitzoo.create(name, pretrained=True, backend="numpy")
    assert cache_files(env / "vitzoo") == []


def test_server_closing_mid_file_leaves_nothing(env, server, registered, ms_ckpt_bytes):
    server.routes[MS_PATH] = ("truncate", ms_ckpt_bytes)
    name = ms_entry(registered)  # no published checksum: the length alone must catch it
    with pytest.raises(DownloadError, match=r"stopped after \d+ of \d+ bytes"):
        vitzoo.create(name, pretrained=True, backend="numpy")
    assert cache_files(env / "vitzoo") == []


def test_unreadable_download_is_removed(env, server, registered):
    server.routes[MS_PATH] = b"\x00" * 1000  # complete, but not a checkpoint
    name = ms_entry(registered)
    with pytest.raises(CheckpointError, match="downloaded file was removed"):
        vitzoo.create(name, pretrained=True, backend="numpy")
    assert cache_files(env / "vitzoo") == []


def test_missing_file_offline_says_where_to_put_it(env, server, registered, monkeypatch):
    name = ms_entry(registered)
    go_offline(monkeypatch)
    with pytest.raises(DownloadError) as err:
        vitzoo.create(name, pretrained=True, backend="numpy")
    message = str(err.value)
    assert name in message and f"{server.url}{MS_PATH}" in message and f"vitzoo download {name}" in message
    assert str(env / "vitzoo" / "downloads" / "vit_hubtest_8_224.ckpt") in message
    assert cache_files(env / "vitzoo") == [] and server.requests == []


def test_http_errors_are_download_errors(env, server, registered):
    name = ms_entry(registered)  # the server has no such file: 404
    with pytest.raises(DownloadError, match="HTTP 404"):
        vitzoo.create(name, pretrained=True, backend="numpy")
    assert cache_files(env / "vitzoo") == []


def test_mirror_override_and_cache_location(monkeypatch, tmp_path):
    monkeypatch.delenv("VITZOO_MS_BASE_URL", raising=False)
    assert hub.resolve_url(MS_ORIGIN + MS_PATH) == MS_ORIGIN + MS_PATH
    monkeypatch.setenv("VITZOO_MS_BASE_URL", "http://mirror.example/ms/")
    assert hub.resolve_url(MS_ORIGIN + MS_PATH) == "http://mirror.example/ms" + MS_PATH
    assert hub.resolve_url("https://elsewhere.example/x.ckpt") == "https://elsewhere.example/x.ckpt"
    monkeypatch.delenv("VITZOO_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert hub.cache_dir() == tmp_path / "vitzoo"


# --- the CLI ----------------------------------------------------------------------------------------
def test_download_and_info_commands(env, server, registered, ms_ckpt_bytes):
    server.routes[MS_PATH] = ms_ckpt_bytes
    name = ms_entry(registered)
    from vitzoo.cli.main import main

    assert main(["download", name, "--no-progress"]) == 0
    assert (env / "vitzoo" / "weights" / f"{name}.safetensors").is_file()
    info = subprocess.run([sys.executable, "-m", "vitzoo", "info", "vit_b_16.ms_in1k", "--json"], capture_output=True, text=True, check=True)
    data = json.loads(info.stdout)["weight_set"]
    assert data["top1"] == 75.24 and data["preprocessing"]["crop_pct"] == 0.875 and data["license"] == "apache-2.0"
