"""Crash-safe file output: write beside the target, then rename into place.

Every file vitzoo writes goes through :func:`atomic_path` (directories: :func:`atomic_dir`):

* the data goes to ``.NAME.<pid>-<random>.tmp`` beside the target and is renamed onto
  it only once complete, so the target is always the old file or the new one;
* a full disk, an exceeded quota, a read-only file system or a missing permission
  becomes one :class:`~vitzoo.errors.WriteError` naming the target and the space
  needed; the temporary file is removed and the previous target is untouched;
* temporary files left by writers that were killed are removed by the next write to
  the same folder, once their process is gone and they are older than
  :data:`STALE_AFTER_S` (the age covers writers on other hosts sharing the folder).
  No reader opens them: lookups use exact names.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

from vitzoo.errors import WriteError

# A leftover is removed only when its writer is not running here and it has not changed for this long.
STALE_AFTER_S = 15 * 60
_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp$")  # never .old: that may be the only copy
_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, overwrite: bool = True, size: Optional[int] = None) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s directory; on success rename it to ``target``.

    On any exception the temporary file is removed, so a reader never sees a
    half-written ``target``. ``size`` (bytes, when known) lets a full-disk error say
    exactly how much space the file needs.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
        >>> with atomic_path(out) as tmp:
        ...     _ = tmp.write_bytes(b"ok")
        >>> out.read_bytes()
        b'ok'
    """
    target = Path(target)
    with _as_write_error(target, None, size, creating=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target.parent)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        with _as_write_error(target, tmp, size):
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the result should follow the umask like open()
            yield tmp
            if not overwrite and target.exists():
                raise FileExistsError(target)
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; on success it replaces ``target`` (errors as in :func:`atomic_path`).

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "model"
        >>> with atomic_dir(out) as tmp:
        ...     _ = (tmp / "config.json").write_text("{}")
        >>> sorted(p.name for p in out.iterdir())
        ['config.json']
    """
    target = Path(target)
    with _as_write_error(target, None, None, creating=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target.parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".tmp", dir=target.parent))
    try:
        with _as_write_error(target, tmp, None):
            yield tmp
            old = None
            if target.exists() or target.is_symlink():  # move the old one aside so the swap is one rename
                old = target.with_name(f".{target.name}.{os.getpid()}-{os.urandom(6).hex()}.old")
                os.replace(target, old)
            os.replace(tmp, target)
            if old is not None:
                shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_temporaries(folder: str | os.PathLike[str], *, now: Optional[float] = None) -> list[Path]:
    """Remove ``.NAME.<pid>-<random>.tmp`` leftovers in ``folder`` whose writer is gone; return what was removed.

    A leftover is stale when no process with its pid runs on this host and it has not
    been modified for :data:`STALE_AFTER_S` seconds. Anything else is left alone.

    Example:
        >>> import tempfile
        >>> remove_stale_temporaries(tempfile.mkdtemp())
        []
    """
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or _pid_alive(int(match["pid"])):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime < STALE_AFTER_S:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:  # removed meanwhile by another writer, or not ours to remove
            continue
    return removed


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def ensure_folder(target: str | os.PathLike[str]) -> Path:
    """Create the folder ``target`` will be written into, or raise one :class:`WriteError` sentence saying why it cannot be.

    Every writer calls it (through :func:`atomic_path` and :func:`atomic_dir`, or before
    long work such as an export), so an unusable location fails first and the same way.

    Example:
        >>> ensure_folder("/proc/nope/model.onnx")
        Traceback (most recent call last):
        ...
        vitzoo.errors.WriteError: Cannot write '/proc/nope/model.onnx': its folder '/proc/nope' cannot be created (No such file or directory); choose another output location.
    """
    target = Path(target)
    with _as_write_error(target, None, None, creating=True):
        target.parent.mkdir(parents=True, exist_ok=True)
    return target.parent


@contextlib.contextmanager
def _as_write_error(target: Path, tmp: Optional[Path], size: Optional[int], creating: bool = False) -> Iterator[None]:
    """Turn the OSErrors of a failed write into one :class:`WriteError` sentence about ``target``.

    ``creating``: the folder and temporary file are being made, so any OSError means the location is unusable.
    """
    try:
        yield
    except WriteError as exc:
        if tmp is not None and str(tmp) in str(exc):  # a file written inside atomic_dir's folder: name the real target
            raise WriteError(str(exc).replace(str(tmp), str(target))) from None
        raise
    except OSError as exc:
        code = exc.errno if exc.errno is not None else getattr(exc.__cause__, "errno", None)
        if code in _SPACE:
            written = _size_of(tmp) if tmp is not None else 0
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
            free = disk_free(target.parent)
            need = f"{_human(size)}" if size else f"more than {_human(written)} (the disk filled after {_human(written)})"
            raise WriteError(
                f"Cannot write {str(target)!r}: the disk is full ({_human(free)} free, the file needs {need}); "
                "free some space or choose another output location."
            ) from None
        if code in _READ_ONLY:
            why = "is on a read-only file system" if code == errno.EROFS else "is not writable (permission denied)"
            raise WriteError(f"Cannot write {str(target)!r}: {str(target.parent)!r} {why}; choose another output location.") from None
        if creating:  # e.g. a parent that is a file, or a folder the file system cannot hold (/proc/...)
            raise WriteError(
                f"Cannot write {str(target)!r}: its folder {str(target.parent)!r} cannot be created ({exc.strerror or exc}); "
                "choose another output location."
            ) from None
        raise


def disk_free(folder: str | os.PathLike[str]) -> int:
    """Bytes free to this user on the file system holding ``folder`` (its nearest existing parent)."""
    path = Path(folder)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        stat = os.statvfs(path)
    except OSError:
        return 0
    return stat.f_bavail * stat.f_frsize


def _size_of(path: Path) -> int:
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.stat().st_size
    except OSError:
        return 0


def _human(n: Optional[int]) -> str:
    value = float(n or 0)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
