"""What every Hugging Face hub call of vitzoo shares: huggingface_hub's settings, one error sentence, blob checks.

``huggingface_hub`` does the transfer (its cache layout, ``revision``, ``HF_ENDPOINT``,
``HF_HOME``/``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``, tokens from ``HF_TOKEN`` or ``hf auth login``,
retries that resume an interrupted download with a range request, progress bars).
vitzoo adds the sha256 check it leaves out: a large (LFS) file is stored under the sha256
the hub states for it, and :func:`verify_blob` re-hashes it once, remembering the blobs
it checked in ``$VITZOO_CACHE/verified/`` so later loads do not hash again.

Example:
    >>> with hub_errors("hub repo 'timm/vit_base_patch16_224.augreg2_in21k_ft_in1k'"):  # doctest: +SKIP
    ...     path = download_file("timm/vit_base_patch16_224.augreg2_in21k_ft_in1k", "config.json")
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator, Optional

from vitzoo.errors import DownloadError, VitzooError, WriteError, reason
from vitzoo.fileio import atomic_path, sha256_file
from vitzoo.paths import cache_dir


class HubUnreachable(DownloadError):
    """The hub could not be reached (no connection, timeout): a cached copy may still serve."""


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The connection errors of the HTTP client huggingface_hub uses (httpx, or its fork httpx2)."""
    import importlib

    found = []
    for module in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(module).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def hub_kwargs() -> dict[str, Any]:
    """``endpoint`` / ``cache_dir`` as the environment says now (huggingface_hub reads some only at import)."""
    kwargs: dict[str, Any] = {}
    if os.environ.get("HF_ENDPOINT"):
        kwargs["endpoint"] = os.environ["HF_ENDPOINT"].rstrip("/")
    hub_cache = hub_cache_dir()
    if hub_cache:
        kwargs["cache_dir"] = hub_cache
    return kwargs


def hub_cache_dir() -> Optional[str]:
    """``HF_HUB_CACHE`` or ``$HF_HOME/hub`` when set; ``None``: huggingface_hub's default."""
    return os.environ.get("HF_HUB_CACHE") or (os.path.join(os.environ["HF_HOME"], "hub") if os.environ.get("HF_HOME") else None)


def download_file(repo_id: str, filename: str, *, revision: Optional[str] = None, force: bool = False, offline: bool = False) -> Path:
    """One file of a hub repo, through huggingface_hub's cache (errors are huggingface_hub's: wrap the call in :func:`hub_errors`)."""
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo_id=repo_id, filename=filename, revision=revision, local_files_only=offline,
                                force_download=force and not offline, **hub_kwargs()))


@contextlib.contextmanager
def hub_errors(
    what: str, *, fix_offline: str, revision: Optional[str] = None, missing_file_ok: bool = False, action: str = "download"
) -> Iterator[None]:
    """Turn huggingface_hub's failures inside the block into one :class:`DownloadError` sentence about ``what``.

    ``fix_offline`` says how to get the files when they are not cached and vitzoo is offline;
    ``action`` is the verb of the failure sentence (``"upload to"`` for uploads).
    With ``missing_file_ok`` a missing file (``EntryNotFoundError``) is left to the caller, who knows
    whether it is optional.
    """
    from huggingface_hub.utils import (
        EntryNotFoundError, GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled,
        RepositoryNotFoundError, RevisionNotFoundError,
    )  # fmt: skip

    transport = _transport_errors()
    try:
        yield
    except VitzooError:
        raise
    except transport as exc:  # type: ignore[misc]  # before huggingface_hub's own errors: it raises these unwrapped
        raise HubUnreachable(
            f"Could not reach the hub for {what} ({_short(exc)}); check the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use the cache."
        ) from None
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        where = hub_cache_dir() or "the Hugging Face cache (HF_HOME)"
        raise DownloadError(f"{what} is not in {where} and vitzoo is offline (HF_HUB_OFFLINE/VITZOO_OFFLINE); {fix_offline}.") from None
    except EntryNotFoundError as exc:  # after LocalEntryNotFoundError, its subclass
        if missing_file_ok:
            raise
        name = getattr(exc, "filename", None) or _short(exc)
        raise DownloadError(f"{what} has no file {name}; check the name and revision.") from None
    except GatedRepoError:
        raise DownloadError(
            f"{what} is gated: accept its conditions on its hub page, then log in with `hf auth login` or set HF_TOKEN."
        ) from None
    except RevisionNotFoundError:
        raise DownloadError(f"{what} has no revision {revision or 'main'!r}; give an existing branch, tag or commit after '@'.") from None
    except RepositoryNotFoundError:
        raise DownloadError(
            f"{what} was not found or needs access (a private repo needs `hf auth login` or HF_TOKEN); check the name and HF_ENDPOINT."
        ) from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise DownloadError(f"{what} refused access (HTTP {status}); log in with `hf auth login` or set HF_TOKEN with read access.") from None
        raise DownloadError(f"Could not {action} {what} ({_short(exc)}); check the network, HF_ENDPOINT or HF_TOKEN.") from None
    except (OSError, ValueError) as exc:
        raise DownloadError(f"Could not {action} {what} ({_short(exc)}); check the network, HF_ENDPOINT or HF_TOKEN.") from None


def is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def verify_blob(path: Path, what: str, sha256: Optional[str] = None, *, remember: bool = True) -> Optional[str]:
    """Check a hub file against its sha256 (given, or the name of its large-file blob); return the digest.

    A mismatch removes the blob and its snapshot link (so the next call downloads it again)
    and raises :class:`DownloadError`. With ``remember`` a blob checked once is not hashed again
    (the registry's weight sets need no record: they are checked once, when converted).
    """
    blob = path.resolve()
    expected = (sha256 or (blob.name if path.is_symlink() and is_sha256(blob.name) else "")).lower()
    if not expected or not blob.is_file():
        return None
    record = cache_dir() / "verified" / expected
    size = blob.stat().st_size
    if remember and record.is_file() and record.read_text().strip() == str(size):
        return expected
    digest = sha256_file(blob)
    if digest != expected:
        blob.unlink(missing_ok=True)
        if path.is_symlink():
            path.unlink(missing_ok=True)
        raise DownloadError(f"Download of {what} is corrupt (sha256 {digest}, the hub says {expected}); it was removed, try again.")
    if not remember:
        return digest
    with contextlib.suppress(OSError, WriteError):  # a read-only cache still loads, it just hashes again next time
        with atomic_path(record) as tmp:
            tmp.write_text(str(size))
    return digest


def _short(exc: BaseException) -> str:
    return reason(exc).splitlines()[0].rstrip(".")
