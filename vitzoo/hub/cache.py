"""The cache of converted weight sets (``$VITZOO_CACHE/weights``): list, verify, clear.

Each cached ``NAME.safetensors`` has a record beside it, ``NAME.safetensors.sha256.json``,
written when it was converted: its size and sha256. Loading checks the size (and the
header and finite values, as every read does); :func:`verify` re-hashes whole files.

Example:
    >>> from vitzoo.hub import cache
    >>> [e.name for e in cache.entries()]          # doctest: +SKIP
    ['vit_b_16.augreg2_in21k_ft_in1k']
    >>> [r.problem for r in cache.verify()]        # doctest: +SKIP
    [None]
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from vitzoo.fileio import atomic_path, remove_stale_temporaries, sha256_file
from vitzoo.paths import cache_dir

RECORD_SUFFIX = ".sha256.json"


@dataclass(frozen=True)
class CacheEntry:
    """One cached weight set: its name, file, size in bytes and where it came from."""

    name: str
    path: Path
    size: int
    source: str


@dataclass(frozen=True)
class Verdict:
    """The outcome of re-hashing one cached file: ``problem`` is ``None`` when it is intact."""

    entry: CacheEntry
    problem: Optional[str]


def weights_dir() -> Path:
    return cache_dir() / "weights"


def record_path(path: Path) -> Path:
    return path.with_name(path.name + RECORD_SUFFIX)


def record(path: Path) -> None:
    """Note ``path``'s size and sha256 beside it (after it was converted into the cache)."""
    entry = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    with atomic_path(record_path(path)) as tmp:
        tmp.write_text(json.dumps(entry))


def recorded(path: Path) -> Optional[dict[str, object]]:
    """The size and sha256 noted at conversion, or ``None`` when there is no (readable) record."""
    try:
        entry = json.loads(record_path(path).read_text())
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) and {"size", "sha256"} <= set(entry) else None


def quick_check(path: Path) -> Optional[str]:
    """What a cheap look (no hashing) finds wrong with a cached file: a size other than the recorded one."""
    entry = recorded(path)
    if entry is not None and path.stat().st_size != entry["size"]:
        return f"it is {path.stat().st_size} bytes, {entry['size']} when converted"
    return None


def entries(pattern: Optional[str] = None) -> list[CacheEntry]:
    """The cached weight sets (names matching the fnmatch ``pattern``, if given), sorted by name."""
    from vitzoo.weights.safetensors_io import try_read_header

    folder = weights_dir()
    found = []
    for path in sorted(folder.glob("*.safetensors")) if folder.is_dir() else []:
        name = path.name[: -len(".safetensors")]
        if pattern is not None and not fnmatch.fnmatchcase(name, pattern):
            continue
        header = try_read_header(path) or {}
        meta = header.get("__metadata__") if isinstance(header.get("__metadata__"), dict) else {}
        found.append(CacheEntry(name=name, path=path, size=path.stat().st_size, source=str(meta.get("source", "?"))))
    return found


def verify(pattern: Optional[str] = None) -> list[Verdict]:
    """Re-hash every cached file (matching ``pattern``) against the digest recorded when it was converted."""
    verdicts = []
    for entry in entries(pattern):
        noted = recorded(entry.path)
        if noted is None:
            problem = "no digest was recorded when it was converted, so it cannot be checked"
        elif entry.size != noted["size"]:
            problem = f"it is {entry.size} bytes, {noted['size']} when converted"
        elif sha256_file(entry.path) != noted["sha256"]:
            problem = "its sha256 differs from the one recorded when it was converted (bytes changed on disk)"
        else:
            problem = None
        verdicts.append(Verdict(entry, problem))
    return verdicts


def clear(pattern: Optional[str] = None) -> list[CacheEntry]:
    """Remove the cached weight sets matching ``pattern`` (all without one) and their records; return them."""
    removed = entries(pattern)
    for entry in removed:
        entry.path.unlink(missing_ok=True)
        record_path(entry.path).unlink(missing_ok=True)
    if weights_dir().is_dir():
        remove_stale_temporaries(weights_dir())
        if pattern is None:  # records whose file is already gone
            for orphan in weights_dir().glob("*" + RECORD_SUFFIX):
                if not orphan.with_name(orphan.name[: -len(RECORD_SUFFIX)]).exists():
                    orphan.unlink(missing_ok=True)
    return removed


def human_size(n: int) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"

