"""Fetching pretrained weights, and the cache of converted canonical checkpoints.

* Hub repos go through ``huggingface_hub.hf_hub_download``, so ``HF_HOME`` /
  ``HF_HUB_CACHE``, ``HF_ENDPOINT``, ``HF_HUB_OFFLINE``, tokens and the hub cache
  behave as in every Hugging Face library (read when a download starts).
* Files on MindSpore's site go through :func:`download_url`: a tqdm progress
  bar, a temporary file renamed into place only when complete (and matching its
  sha256 when one is published), a file lock against concurrent downloads.
  ``VITZOO_MS_BASE_URL`` replaces ``https://download.mindspore.cn`` (mirrors).
* The converted canonical safetensors lands in ``$VITZOO_CACHE/weights/``
  (default ``$XDG_CACHE_HOME/vitzoo`` or ``~/.cache/vitzoo``); later loads read that
  one file and touch no network. ``vitzoo download NAME --force`` refreshes it.
* Offline (``HF_HUB_OFFLINE=1`` or ``VITZOO_OFFLINE=1``) cached weights load as
  usual; missing ones raise one :class:`~vitzoo.errors.DownloadError` that names
  the file needed and how to get it.

Example:
    >>> from vitzoo import hub
    >>> hub.converted_path(get_weight_set("vit_b_16.ms_in1k")).name   # doctest: +SKIP
    'vit_b_16.ms_in1k.safetensors'
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator, Optional
from urllib.parse import urlsplit

from vitzoo.errors import CheckpointError, DownloadError, reason
from vitzoo.fileio import atomic_path, sha256_file
from vitzoo.paths import cache_dir
from vitzoo.pretrained import MS_ORIGIN, WeightSet, get_weight_set
from vitzoo.version import __version__

from . import cache

ENV_OFFLINE = "VITZOO_OFFLINE"
ENV_MS_BASE_URL = "VITZOO_MS_BASE_URL"
_CHUNK = 1 << 20
_PERSISTED = ("name", "source_format", "source", "source_sha256", "class_names", "pretrained_cfg")


def is_offline() -> bool:
    """True when ``VITZOO_OFFLINE`` or ``HF_HUB_OFFLINE`` is set to a true value."""
    return any(os.environ.get(v, "").strip().upper() in ("1", "ON", "YES", "TRUE") for v in (ENV_OFFLINE, "HF_HUB_OFFLINE"))


def converted_path(ws: WeightSet) -> Path:
    """Where the canonical checkpoint of a weight set is cached."""
    return cache_dir() / "weights" / f"{ws.name}.safetensors"


def download_path(ws: WeightSet) -> Path:
    """Where a direct download (MindSpore's site) is kept; users may place the file there by hand."""
    if ws.url is None:
        raise DownloadError(f"{ws.name!r} lives on the Hugging Face hub; its files are in the hub cache.")
    return cache_dir() / "downloads" / Path(urlsplit(ws.url).path).name


def resolve_url(url: str) -> str:
    """``url`` with MindSpore's origin replaced by ``$VITZOO_MS_BASE_URL`` when that is set."""
    base = os.environ.get(ENV_MS_BASE_URL, "").rstrip("/")
    if base and url.startswith(MS_ORIGIN + "/"):
        return base + url[len(MS_ORIGIN) :]
    return url


def load(ws: WeightSet, *, force: bool = False, progress: bool = True) -> Any:
    """The canonical checkpoint of ``ws``: from the cache, else fetched, converted and cached.

    ``force`` fetches and converts again even when cached.
    """
    from vitzoo import weights

    target = converted_path(ws)
    if target.exists() and not force:
        return _load_cached(ws, target)
    with _lock(target):
        if target.exists() and not force:  # another process converted it meanwhile
            return _load_cached(ws, target)
        source = fetch(ws, force=force, progress=progress)
        ckpt = _convert(ws, source)
        weights.save_file(ckpt, target)
        cache.record(target)  # size and sha256, for `vitzoo cache verify`
    return ckpt


def _load_cached(ws: WeightSet, target: Path) -> Any:
    """The cached checkpoint, after the cheap checks (size, header, finite values; no re-hash)."""
    from vitzoo import weights

    fix = f"run `vitzoo cache verify` to check the whole cache, and `vitzoo cache clear {ws.name}` (or `vitzoo download {ws.name} --force`) to rebuild it"
    problem = cache.quick_check(target)
    if problem is not None:
        raise CheckpointError(f"The cached {target} is damaged ({problem}); {fix}.")
    try:
        return weights.load_file(target)
    except CheckpointError as exc:
        raise CheckpointError(f"The cached {target} is damaged ({exc}); {fix}.") from None


def fetch(ws: WeightSet, *, force: bool = False, progress: bool = True) -> Path:
    """The local path of the weights as published: a hub file (or snapshot directory for ``hf``) or a download."""
    if ws.hub_repo is not None:
        return _fetch_hub(ws, force=force)
    return download_url(resolve_url(str(ws.url)), download_path(ws), sha256=ws.sha256, name=ws.name, force=force, progress=progress)


def download_url(
    url: str,
    dest: "str | os.PathLike[str]",
    *,
    sha256: Optional[str] = None,
    name: Optional[str] = None,
    force: bool = False,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` once: complete, checksum-verified, or not at all.

    Example:
        >>> download_url("https://download.mindspore.cn/vision/classification/vit_b_16_224.ckpt",
        ...              "/tmp/vit_b_16_224.ckpt")  # doctest: +SKIP
    """
    dest = Path(dest)
    what = name or dest.name
    with _lock(dest):
        if dest.exists() and (not force or is_offline()):  # offline, --force can only re-convert what is here
            return dest
        if is_offline():
            raise DownloadError(
                f"Weights {what!r} are not cached and vitzoo is offline (HF_HUB_OFFLINE/VITZOO_OFFLINE): they need {url}; "
                f"run `vitzoo download {what}` on a connected machine and copy {cache_dir()} here, or place the file at {dest}."
            )
        try:
            with atomic_path(dest) as tmp:
                digest = _stream(url, tmp, what, progress, timeout)
                if sha256 and digest != sha256.lower():
                    raise DownloadError(f"Download of {what!r} from {url} is corrupt (sha256 {digest}, expected {sha256}); nothing was cached, try again.")
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            raise DownloadError(f"Could not download {what!r} from {url} ({_reason(exc)}); nothing was cached, check the network or set {ENV_MS_BASE_URL} to a mirror.") from None
    return dest


def _stream(url: str, tmp: Path, what: str, progress: bool, timeout: float) -> str:
    from tqdm.auto import tqdm


    request = urllib.request.Request(url, headers={"User-Agent": f"vitzoo/{__version__}"})
    digest = hashlib.sha256()
    received = 0
    with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=Path(urlsplit(url).path).name, disable=not progress) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:  # urllib returns a short body silently when the server hangs up
        raise DownloadError(f"Download of {what!r} from {url} stopped after {received} of {total} bytes; nothing was cached, try again.")
    return digest.hexdigest()


def _fetch_hub(ws: WeightSet, *, force: bool) -> Path:
    from huggingface_hub.utils import EntryNotFoundError

    from .hf import download_file, hub_cache_dir, hub_errors

    offline = is_offline()
    weights_file, *others = ws.files
    where = hub_cache_dir() or "the Hugging Face cache (HF_HOME)"
    what = f"Weights {ws.name!r} ({weights_file!r} from hub repo {ws.hub_repo!r})"
    fix = f"run `vitzoo download {ws.name}` on a connected machine and copy its cache ({where} and {cache_dir()}) here, or go online"
    get = functools.partial(download_file, str(ws.hub_repo), revision=ws.revision, force=force, offline=offline)
    try:
        with hub_errors(what, fix_offline=fix, revision=ws.revision, missing_file_ok=True):
            try:
                paths = [get(weights_file)]
            except EntryNotFoundError as first:  # not in the repo, or not cached while offline
                if ws.fallback_file is None:
                    raise
                try:
                    paths = [get(ws.fallback_file)]
                except EntryNotFoundError:
                    raise first from None
            paths += [get(f) for f in others]
    except EntryNotFoundError:
        raise DownloadError(f"Hub repo {ws.hub_repo!r} has no file {weights_file!r} for {ws.name!r}; the registry entry is out of date.") from None
    return paths[0].parent if ws.source_format == "hf" else paths[0]


def _convert(ws: WeightSet, source: Path) -> Any:
    """Read the published file into a canonical checkpoint carrying its provenance and preprocessing."""
    from vitzoo import weights
    from vitzoo.labels import class_names_for
    from vitzoo.variants import get_spec

    weights_file = source if source.is_file() else next((source / f for f in (*ws.files, ws.fallback_file or "") if f and (source / f).is_file()), source)
    _verify_hub_blob(ws, weights_file)
    try:
        ckpt = weights.read(source, format=ws.source_format, variant=get_spec(ws.variant))
    except CheckpointError as exc:
        if ws.url is not None and source.is_file():  # our own download: do not keep a file that cannot be read
            source.unlink(missing_ok=True)
            raise CheckpointError(f"{exc} The downloaded file was removed; fetch it again with `vitzoo download {ws.name}`.") from None
        raise
    meta = {**ckpt.meta, "name": ws.name, "source_format": ws.source_format, "source": ws.source,
            "source_sha256": _sha256_of(weights_file), "pretrained_cfg": ws.pretrained_cfg(),
            "class_names": class_names_for(ws.label_set, ckpt.spec.num_classes) or ckpt.meta.get("class_names")}
    return ckpt.replace(meta={k: meta[k] for k in _PERSISTED if meta.get(k) is not None})


def _verify_hub_blob(ws: WeightSet, path: Path) -> None:
    """Check a hub large file against the sha256 it is stored under (the hub's ETag) before it is converted.

    huggingface_hub checks only the size of what it downloads, so a damaged or
    tampered file would otherwise be converted and cached; a mismatch removes it.
    """
    from .hf import verify_blob

    if ws.hub_repo is not None:
        verify_blob(path, f"{ws.name!r} from hub repo {ws.hub_repo!r}", remember=False)


def _sha256_of(path: Path) -> Optional[str]:
    if not path.is_file():
        return None
    blob = path.resolve().name  # the hub cache names large-file blobs by their sha256
    if path.is_symlink() and len(blob) == 64 and all(c in "0123456789abcdef" for c in blob):
        return blob
    return sha256_file(path)


@contextlib.contextmanager
def _lock(path: Path, timeout: float = 3600.0) -> Iterator[None]:
    """An inter-process lock for ``path``, kept in the cache's ``locks/`` folder so no stray file sits beside it."""
    from filelock import FileLock, Timeout

    locks = cache_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    try:
        with FileLock(str(locks / f"{path.name}.{key}.lock"), timeout=timeout):
            yield
    except Timeout:
        raise DownloadError(f"Timed out waiting for another process to finish writing {path}; remove {locks} if no vitzoo process is running.") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return reason(exc)


def load_pretrained(name: str, *, force: bool = False) -> Any:
    """The canonical :class:`~vitzoo.weights.Checkpoint` of a weight set, fetched and converted once, then cached."""
    return load(get_weight_set(name), force=force)
