"""The pretrained-weight cache under concurrency, interrupted downloads and bad checksums.

A threaded HTTP server on 127.0.0.1 (started here, counting requests) plays the
Hugging Face hub (``HF_ENDPOINT``, with Range support as the real hub has) and
MindSpore's download site (``VITZOO_MS_BASE_URL``). Separate Python processes
(not threads) each register the same tiny weight set and call
``vitzoo.create(name, pretrained=True, backend="numpy")`` on a cold cache:

* 8 at once: each file is downloaded exactly once and all 8 get identical logits;
* a process killed (SIGKILL) halfway through a download: the next one resumes
  (hub, Range request) or restarts (MindSpore site), and never uses the partial file;
* a process killed while writing the converted cache file: the next one rebuilds it;
* a download whose sha256 does not match: VitzooError, nothing kept.
"""

import hashlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vitzoo import DownloadError, weights
from vitzoo.backends import get_backend
from vitzoo.canonical import expected_shapes
from vitzoo.spec import ViTSpec
from vitzoo.variants import list_models, register_variant

VARIANT = "vit_cachetest_8"
SPEC = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, mlp_dim=64)
COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
PRE = dict(input_size=(3, 32, 32), interpolation="bicubic", crop_pct=0.9, crop_mode="center", mean=(0.5,) * 3, std=(0.5,) * 3)
X = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
PROCESSES = 8

if VARIANT not in list_models():  # the in-process tests need it too (the workers register their own)

    @register_variant()
    def vit_cachetest_8() -> ViTSpec:
        return ViTSpec(**SPEC)


# What each process runs: register the tiny variant and weight set, wait for the start signal, create, save logits.
WORKER = f"""
import json, os, sys, time
import numpy as np
import vitzoo
from vitzoo.pretrained import WeightSet, register_pretrained
from vitzoo.spec import ViTSpec
from vitzoo.variants import list_models, register_variant

if {VARIANT!r} not in list_models():
    @register_variant()
    def {VARIANT}():
        return ViTSpec(**{SPEC!r})

entry, out, go = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
register_pretrained(WeightSet(**entry), overwrite=True)
open(out + ".ready", "w").close()
while not os.path.exists(go):
    time.sleep(0.01)
model = vitzoo.create(entry["name"], pretrained=True, backend="numpy")
x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
np.save(out, model(x))
"""


class Server:
    """Serves ``files`` (path -> bytes, headers) with Range support; counts requests; can stall a path halfway."""

    def __init__(self):
        self.files, self.requests, self.stall, self.sent = {}, [], {}, {}
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30

            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                self._answer(body=True)

            def _answer(self, body):
                path = self.path.split("?")[0]
                server.requests.append((self.command, path, self.headers.get("Range")))
                if path not in server.files:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data, headers = server.files[path]
                start = 0
                if body and (rng := self.headers.get("Range", "")).startswith("bytes="):
                    start = int(rng[len("bytes="):].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if not body:
                    return
                chunk = data[start:]
                if path in server.stall:  # send half, then hang until released (or the client is killed)
                    half = len(chunk) // 2
                    self.wfile.write(chunk[:half])
                    self.wfile.flush()
                    server.sent[path] = server.sent.get(path, 0) + half
                    server.release.wait(60)
                    return
                if server.delay:
                    time.sleep(server.delay)  # keep every process in flight at once
                self.wfile.write(chunk)
                self.wfile.flush()
                server.sent[path] = server.sent.get(path, 0) + len(chunk)

            def log_message(self, *args):
                pass

        self.delay = 0.0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True)
        self.thread.start()

    def add_hub_file(self, repo, filename, data, lfs=True):
        etag = hashlib.sha256(data).hexdigest() if lfs else hashlib.sha1(data).hexdigest()
        headers = {"X-Repo-Commit": COMMIT, ("X-Linked-Etag" if lfs else "ETag"): f'"{etag}"', "Accept-Ranges": "bytes"}
        self.files[f"/{repo}/resolve/main/{filename}"] = (data, headers)

    def gets(self, path):
        return [r for r in self.requests if r[0] == "GET" and r[1] == path]

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.close()


@pytest.fixture
def env(tmp_path, server):
    """The environment of every worker process: empty caches, online, pointed at the local server."""
    e = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "VITZOO_"))}
    e.update(VITZOO_CACHE=str(tmp_path / "vz-cache"), HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT=server.url,
             VITZOO_MS_BASE_URL=server.url, HF_HUB_OFFLINE="0", HF_HUB_DISABLE_TELEMETRY="1",
             HF_HUB_DISABLE_PROGRESS_BARS="1", GLOG_v="3")
    return e


@pytest.fixture(scope="module")
def state():
    rng = np.random.default_rng(5)
    spec = ViTSpec(num_classes=10, **SPEC)
    return {k: (0.05 * rng.standard_normal(s)).astype(np.float32) for k, s in expected_shapes(spec).items()}


def timm_entry(name):
    return dict(name=name, source_format="timm", license="apache-2.0", label_set="none", num_classes=10,
                hub_repo=f"testorg/{name}", files=["model.safetensors", "config.json"], preprocessing=PRE)


def ms_entry(name, sha256=None):
    return dict(name=name, source_format="vitzoo", license="apache-2.0", label_set="none", num_classes=10,
                url=f"https://download.mindspore.cn/vision/test/{name}.safetensors", sha256=sha256, preprocessing=PRE)


MS_PREFIX = "/vision/test/"


def serve_timm(server, state, name):
    from safetensors.numpy import save

    data = save(state, metadata={"format": "pt"})
    server.add_hub_file(f"testorg/{name}", "model.safetensors", data)
    server.add_hub_file(f"testorg/{name}", "config.json", json.dumps({"architecture": VARIANT, "num_classes": 10}).encode(), lfs=False)
    return f"/testorg/{name}/resolve/main/model.safetensors", data


def serve_canonical(server, state, name, tmp_path):
    """A canonical checkpoint on the "MindSpore site" (a plain download with a published sha256)."""
    path = tmp_path / "served.safetensors"
    weights.save_file(weights.Checkpoint(state=state, spec=ViTSpec(num_classes=10, **SPEC)), path)
    data = path.read_bytes()
    server.files[MS_PREFIX + name + ".safetensors"] = (data, {})
    return MS_PREFIX + name + ".safetensors", data


def reference_logits(state, fmt_eps=1e-6):
    spec = ViTSpec(num_classes=10, norm_eps=fmt_eps, **SPEC)
    return get_backend("numpy").build(spec, state)(X)


def start_workers(tmp_path, env, entry, n):
    script = tmp_path / "bin" / "worker.py"  # its own folder: sys.path[0] must not see the cache folders
    script.parent.mkdir(exist_ok=True)
    script.write_text(WORKER)
    go = tmp_path / "go"
    outs = [tmp_path / f"logits{i}.npy" for i in range(n)]
    procs = [subprocess.Popen([sys.executable, str(script), json.dumps(entry), str(o), str(go)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for o in outs]
    deadline = time.monotonic() + 240
    while not all(Path(str(o) + ".ready").exists() for o in outs):  # every process imported and registered
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), [p.communicate() for p in procs if p.poll() is not None]
        time.sleep(0.05)
    go.touch()
    return procs, outs


def finish(procs, timeout=240):
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, err[-3000:]


def cache_entries(root: Path):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "locks" not in p.parts)


@pytest.mark.parametrize("source", ["hub", "mindspore-site"])
def test_eight_processes_on_a_cold_cache_download_each_file_once(source, server, env, state, tmp_path):
    name = f"{VARIANT}.{source.replace('-', '_')}"
    if source == "hub":
        path, _ = serve_timm(server, state, name)
        entry, eps = timm_entry(name), 1e-6
    else:
        path, data = serve_canonical(server, state, name, tmp_path)
        entry, eps = ms_entry(name, hashlib.sha256(data).hexdigest()), 1e-6
    server.delay = 0.5  # every process is waiting on the network at the same time
    procs, outs = start_workers(tmp_path, env, entry, PROCESSES)
    finish(procs)
    assert len(server.gets(path)) == 1, server.requests
    if source == "hub":
        assert len(server.gets(path.replace("model.safetensors", "config.json"))) == 1
    logits = [np.load(o) for o in outs]
    assert all(np.array_equal(l, logits[0]) for l in logits)
    np.testing.assert_allclose(logits[0], reference_logits(state, eps), rtol=0, atol=1e-5)
    cached = cache_entries(tmp_path / "vz-cache")
    assert f"weights/{name}.safetensors" in cached and not any(c.endswith(".tmp") for c in cached)


@pytest.mark.parametrize("source", ["hub", "mindspore-site"])
def test_download_killed_halfway_is_resumed_or_restarted_never_used(source, server, env, state, tmp_path):
    name = f"{VARIANT}.killed_{source.replace('-', '_')}"
    if source == "hub":
        path, data = serve_timm(server, state, name)
        entry = timm_entry(name)
    else:
        path, data = serve_canonical(server, state, name, tmp_path)
        entry = ms_entry(name, hashlib.sha256(data).hexdigest())
    server.stall[path] = True
    procs, _ = start_workers(tmp_path, env, entry, 1)
    deadline = time.monotonic() + 120
    while server.sent.get(path, 0) < len(data) // 2:
        assert time.monotonic() < deadline and procs[0].poll() is None
        time.sleep(0.01)
    time.sleep(0.2)  # let the client write what it received
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait()
    cached = cache_entries(tmp_path / "vz-cache")
    assert not any(c.startswith("weights/") for c in cached), cached  # nothing converted from half a file
    if source == "mindspore-site":
        assert not (tmp_path / "vz-cache" / "downloads" / f"{name}.safetensors").exists()  # only a .tmp leftover
    del server.stall[path]
    (tmp_path / "go").unlink()
    for f in tmp_path.glob("logits*"):
        f.unlink()
    procs, outs = start_workers(tmp_path, env, entry, 1)
    finish(procs)
    np.testing.assert_allclose(np.load(outs[0]), reference_logits(state), rtol=0, atol=1e-5)
    gets = server.gets(path)
    assert len(gets) == 2, gets
    if source == "hub":  # huggingface_hub resumes (Range) from its .incomplete file, or starts over
        assert gets[1][2] is None or gets[1][2].startswith("bytes="), gets
        blob = next((tmp_path / "hf").rglob(f"blobs/{hashlib.sha256(data).hexdigest()}"))
        assert blob.read_bytes() == data  # the complete file; a killed download's .incomplete is never this name
    else:  # vitzoo's own downloader starts over
        assert gets[1][2] is None


def test_process_killed_while_writing_the_cache_file(server, env, tmp_path):
    """The converted cache file is written beside its final name and renamed: a kill leaves no cache entry."""
    big = dict(SPEC, embed_dim=512, depth=8, num_heads=8, mlp_dim=2048)  # ~25M parameters: a write worth interrupting
    spec = ViTSpec(num_classes=10, **big)
    state = {k: np.full(s, 0.01, np.float32) for k, s in expected_shapes(spec).items()}
    name = "vit_cachetest_big.a"
    src = tmp_path / "served.safetensors"
    weights.save_file(weights.Checkpoint(state=state, spec=spec), src)
    server.files[MS_PREFIX + "big.safetensors"] = (src.read_bytes(), {})
    entry = dict(ms_entry(name), url=f"https://download.mindspore.cn{MS_PREFIX}big.safetensors")
    script = WORKER.replace(VARIANT, "vit_cachetest_big").replace(repr(SPEC), repr(big))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "worker.py").write_text(script)
    weights_dir = tmp_path / "vz-cache" / "weights"

    def run(kill):
        go = tmp_path / "go"
        go.touch()
        out = tmp_path / "logits.npy"
        proc = subprocess.Popen([sys.executable, str(tmp_path / "bin" / "worker.py"), json.dumps(entry), str(out), str(go)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if not kill:
            _, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err[-3000:]
            return np.load(out)
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            tmps = list(weights_dir.glob(f".{name}.safetensors.*.tmp")) if weights_dir.exists() else []
            if any(t.exists() and t.stat().st_size > (8 << 20) for t in tmps):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return None
            time.sleep(0.002)
        pytest.fail(f"the worker finished (rc {proc.returncode}) before it was killed while writing the cache")

    run(kill=True)
    assert not (weights_dir / f"{name}.safetensors").exists()
    assert list(weights_dir.glob(f".{name}.safetensors.*.tmp"))  # the leftover, under a name no lookup uses
    logits = run(kill=False)
    assert np.isfinite(logits).all()
    assert weights.read(weights_dir / f"{name}.safetensors").state["pos_embed"].shape == (1, 17, 512)
    assert len(server.gets(MS_PREFIX + "big.safetensors")) == 1  # the complete download was kept and reused


def test_checksum_mismatch_discards_the_download(server, env, state, tmp_path, monkeypatch):
    from vitzoo import hub
    from vitzoo.pretrained import WeightSet

    name = f"{VARIANT}.badsum"
    path, data = serve_canonical(server, state, name, tmp_path)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    ws = WeightSet(**ms_entry(name, sha256="0" * 64))
    with pytest.raises(DownloadError, match="corrupt"):
        hub.fetch(ws, progress=False)
    assert cache_entries(tmp_path / "vz-cache") == []
    good = WeightSet(**ms_entry(name, sha256=hashlib.sha256(data).hexdigest()))
    assert hub.fetch(good, progress=False).read_bytes() == data
    assert len(server.gets(path)) == 2



def test_hub_file_that_does_not_match_its_sha256_is_discarded(server, env, state, tmp_path, monkeypatch):
    """huggingface_hub checks sizes only; vitzoo checks the content against the sha256 the hub names it by."""
    import huggingface_hub.constants

    import vitzoo
    from vitzoo.pretrained import WeightSet, register_pretrained, unregister_pretrained

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # read by the hub at import time
    name = f"{VARIANT}.badblob"
    path, data = serve_timm(server, state, name)
    headers = server.files[path][1]
    tampered = bytearray(data)
    tampered[-5] ^= 0xFF  # same size, different bytes, served under the original's sha256
    server.files[path] = (bytes(tampered), headers)
    register_pretrained(WeightSet(**timm_entry(name)), overwrite=True)
    try:
        with pytest.raises(DownloadError, match="corrupt"):
            vitzoo.create(name, pretrained=True, backend="numpy")
        assert not list((tmp_path / "hf").rglob(f"blobs/{hashlib.sha256(data).hexdigest()}"))
        assert not list((tmp_path / "vz-cache").rglob("*.safetensors"))
        server.files[path] = (data, headers)  # the next attempt downloads again and succeeds
        logits = vitzoo.create(name, pretrained=True, backend="numpy")(X)
        np.testing.assert_allclose(logits, reference_logits(state), rtol=0, atol=1e-5)
        assert len(server.gets(path)) == 2
    finally:
        unregister_pretrained(name)
