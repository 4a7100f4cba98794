"""A small Hugging Face hub on 127.0.0.1 for the tests (``HF_ENDPOINT``), and a hub cache laid out by hand.

It answers the requests huggingface_hub makes, no more:

* downloads: ``GET /api/models/{repo}[/revision/{rev}]`` (the file list, with LFS sha256s),
  ``HEAD``/``GET /{repo}/resolve/{rev}/{file}`` (``X-Repo-Commit``, ``ETag``/``X-Linked-Etag``,
  ``Content-Length``, ``Range`` -> 206);
* uploads: ``POST /api/repos/create``, ``/api/validate-yaml``, ``/api/models/{repo}/preupload/{rev}``
  (every file "regular"), ``/api/models/{repo}/commit/{rev}`` (ndjson, base64 contents);
* failures: a missing repo (404 ``RepoNotFound``; a private repo, ``HubRepo.token`` set, without that token too), a missing revision (404 ``RevisionNotFound``),
  a gated repo (403 ``GatedRepo`` on its files), and a download cut off half way (``interrupt``).

``routes`` (path -> bytes, ``(bytes, headers)``, ``("truncate", bytes)`` or ``("status", code, headers)``)
still serve fixed answers first, for the registry's tests and MindSpore's download site.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import re
import threading
from pathlib import Path

LFS_SUFFIXES = (".safetensors", ".bin", ".model", ".pt", ".pth")
_API = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+|[^/]+)(?:/revision/(?P<rev>[^/]+))?$")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+|[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_POST = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/(?P<op>preupload|commit)/(?P<rev>[^/]+)$")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HubRepo:
    """Commits (sha -> files) and refs (branch -> sha) of one repo."""

    def __init__(self):
        self.commits: dict[str, dict[str, bytes]] = {}
        self.refs: dict[str, str] = {}

    def commit(self, files: dict[str, bytes], branch: str = "main") -> str:
        parent = self.commits.get(self.refs.get(branch, ""), {})
        tree = {**parent, **files}
        sha = hashlib.sha1(json.dumps(sorted((k, git_blob_sha1(v)) for k, v in tree.items())).encode() + str(len(self.commits)).encode()).hexdigest()
        self.commits[sha] = tree
        self.refs[branch] = sha
        return sha

    def resolve(self, revision: str):
        sha = self.refs.get(revision, revision)
        return sha if sha in self.commits else None


class Server:
    """The hub (and MindSpore's site through ``routes``) on a free port of 127.0.0.1, in a thread."""

    def __init__(self):
        self.routes = {}
        self.requests = []  # (method, path)
        self.headers = []  # (method, path, request headers with lower-case names)
        self.repos: dict[str, HubRepo] = {}
        self.gated: set[str] = set()
        self.fixed_repos: set[str] = set()  # repos served by ``routes``: their other files are missing entries
        self.interrupt: set[tuple[str, str]] = set()  # (repo, file): the next GET sends half and hangs up
        self.tamper: dict[tuple[str, str], bytes] = {}  # (repo, file): bytes sent instead of the committed ones
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 10  # a stuck client cannot hold a thread for long

            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                self._answer(body=True)

            def do_POST(self):
                server.requests.append(("POST", self.path))
                server.headers.append(("POST", self.path, {k.lower(): v for k, v in self.headers.items()}))
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.post(self, self.path.split("?")[0], data)

            def _answer(self, body):
                server.requests.append((self.command, self.path))
                server.headers.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                path = self.path.split("?")[0]
                if path in server.routes:
                    return server.fixed(self, server.routes[path], body)
                if (m := _API.match(path)) and self.command == "GET":
                    return server.api_info(self, m["repo"], m["rev"] or "main")
                if (m := _RESOLVE.match(path)) and m["repo"] not in server.fixed_repos:
                    return server.resolve(self, m["repo"], m["rev"], m["file"], body)
                return server.send(self, 404, b"", {"X-Error-Code": "EntryNotFound"})

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True)
        self.thread.start()

    # the repos -------------------------------------------------------------------------------
    def add_repo(self, repo_id: str, files: "dict[str, bytes] | Path", branch: str = "main") -> str:
        """Commit ``files`` (or every file of a folder) to ``repo_id``; returns the commit sha."""
        if isinstance(files, Path):
            files = {p.name: p.read_bytes() for p in sorted(files.iterdir()) if p.is_file()}
        return self.repos.setdefault(repo_id, HubRepo()).commit(dict(files), branch)

    def add_hub_file(self, repo, filename, data, lfs=True, commit="0123456789abcdef0123456789abcdef01234567"):
        """A fixed answer for one file at ``main`` (the registry's tests)."""
        self.fixed_repos.add(repo)
        digest = hashlib.sha256(data).hexdigest() if lfs else hashlib.sha1(data).hexdigest()
        headers = {"X-Repo-Commit": commit, ("X-Linked-Etag" if lfs else "ETag"): f'"{digest}"'}
        self.routes[f"/{repo}/resolve/main/{filename}"] = (data, headers)

    def range_requests(self, filename: str) -> list[str]:
        """The ``Range`` headers of the GETs of ``filename``."""
        return [h["range"] for m, p, h in self.headers if m == "GET" and p.endswith("/" + filename) and "range" in h]

    # answers ---------------------------------------------------------------------------------
    def send(self, handler, status, data=b"", headers=None, body=True, length=None):
        handler.send_response(status)
        for k, v in (headers or {}).items():
            handler.send_header(k, v)
        handler.send_header("Content-Length", str(len(data) if length is None else length))
        handler.end_headers()
        if body and data:
            handler.wfile.write(data)
            handler.wfile.flush()

    def send_json(self, handler, obj, status=200, headers=None):
        self.send(handler, status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})

    def fixed(self, handler, route, body):
        if route[0] == "status":
            return self.send(handler, route[1], b"", route[2])
        truncate = route[0] == "truncate"
        data, headers = (route[1], {}) if truncate else (route if isinstance(route, tuple) else (route, {}))
        if truncate:
            handler.close_connection = True
            return self.send(handler, 200, data[: len(data) // 2] if body else b"", headers, length=len(data))
        self.send(handler, 200, data, headers, body=body)

    def _repo_or_404(self, handler, repo_id):
        repo = self.repos.get(repo_id)
        if repo is not None and getattr(repo, "token", None) and handler.headers.get("Authorization") != f"Bearer {repo.token}":
            repo = None  # a private repo answers as the hub does without the right token: as if it did not exist
        if repo is None:
            self.send_json(handler, {"error": "Repository not found"}, 404, {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})
        return repo

    def api_info(self, handler, repo_id, revision):
        repo = self._repo_or_404(handler, repo_id)
        if repo is None:
            return
        sha = repo.resolve(revision)
        if sha is None:
            return self.send_json(handler, {"error": "Invalid rev id"}, 404, {"X-Error-Code": "RevisionNotFound"})
        siblings = []
        for name, data in sorted(repo.commits[sha].items()):
            entry = {"rfilename": name, "size": len(data), "blobId": git_blob_sha1(data)}
            if name.endswith(LFS_SUFFIXES):
                entry["lfs"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "pointerSize": 134}
            siblings.append(entry)
        self.send_json(handler, {"id": repo_id, "sha": sha, "private": False, "gated": repo_id in self.gated, "siblings": siblings})

    def resolve(self, handler, repo_id, revision, filename, body):
        repo = self._repo_or_404(handler, repo_id)
        if repo is None:
            return
        sha = repo.resolve(revision)
        if sha is None:
            return self.send(handler, 404, b"", {"X-Error-Code": "RevisionNotFound"})
        if repo_id in self.gated:
            return self.send(handler, 403, b"", {"X-Error-Code": "GatedRepo", "X-Error-Message": "Access to this model is restricted"})
        data = repo.commits[sha].get(filename)
        if data is None:
            return self.send(handler, 404, b"", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": sha})
        headers = {"X-Repo-Commit": sha, "Accept-Ranges": "bytes"}
        if filename.endswith(LFS_SUFFIXES):
            digest = hashlib.sha256(data).hexdigest()
            headers.update({"ETag": f'"{digest}"', "X-Linked-Etag": f'"{digest}"', "X-Linked-Size": str(len(data))})
        else:
            headers["ETag"] = f'"{git_blob_sha1(data)}"'
        data = self.tamper.get((repo_id, filename), data)  # headers above still describe the committed file
        start = 0
        if body and (m := re.match(r"bytes=(\d+)-$", handler.headers.get("Range", ""))):
            start = int(m.group(1))
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        part = data[start:]
        status = 206 if start else 200
        if body and (repo_id, filename) in self.interrupt:  # half the body, then hang up: the client must resume
            self.interrupt.discard((repo_id, filename))
            handler.close_connection = True
            return self.send(handler, status, part[: len(part) // 2], headers, length=len(part))
        self.send(handler, status, part, headers, body=body)

    def post(self, handler, path, data):
        if path == "/api/repos/create":
            req = json.loads(data)
            repo_id = f"{req['organization']}/{req['name']}" if req.get("organization") else req["name"]
            if repo_id in self.repos:
                return self.send_json(handler, {"error": "You already created this model repo", "url": f"{self.url}/{repo_id}"}, 409)
            self.repos[repo_id] = HubRepo()
            self.repos[repo_id].private = bool(req.get("private") or req.get("visibility") == "private")
            return self.send_json(handler, {"url": f"{self.url}/{repo_id}", "name": repo_id})
        if path == "/api/validate-yaml":
            return self.send_json(handler, {"errors": [], "warnings": []})
        m = _POST.match(path)
        if m is None:
            return self.send_json(handler, {"error": "not here"}, 404)
        repo = self._repo_or_404(handler, m["repo"])
        if repo is None:
            return
        if m["op"] == "preupload":
            files = json.loads(data)["files"]
            return self.send_json(handler, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]})
        files = {}
        for line in data.splitlines():
            item = json.loads(line)
            if item["key"] == "file":
                files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            elif item["key"] != "header":
                return self.send_json(handler, {"error": f"unsupported operation {item['key']}"}, 400)
        sha = repo.commit(files, m["rev"])
        self.send_json(handler, {"commitUrl": f"{self.url}/{m['repo']}/commit/{sha}", "commitOid": sha})

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def lay_out_cache(hub_cache: Path, repo_id: str, files: "dict[str, bytes]", commit: str, branch: str = "main") -> Path:
    """Write a repo into a hub cache as huggingface_hub lays it out: blobs by etag, snapshot links, refs."""
    repo_dir = hub_cache / ("models--" + repo_id.replace("/", "--"))
    for name, data in files.items():
        etag = hashlib.sha256(data).hexdigest() if name.endswith(LFS_SUFFIXES) else git_blob_sha1(data)
        blob = repo_dir / "blobs" / etag
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo_dir / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(f"../../blobs/{etag}")
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / branch).write_text(commit)
    return repo_dir / "snapshots" / commit


def go_offline(monkeypatch, var: str = "HF_HUB_OFFLINE") -> None:
    """Switch the hub client offline for the rest of the test (``var``: HF_HUB_OFFLINE or VITZOO_OFFLINE)."""
    import huggingface_hub.constants

    monkeypatch.setenv(var, "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", var == "HF_HUB_OFFLINE")
