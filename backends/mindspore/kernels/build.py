"""Compile vitzoo's C++ CPU kernels once per machine into the vitzoo cache, and find them again.

Like ``torch.utils.cpp_extension.load``: the shared library's cache key is the sources'
hash, the compiler's version and the instruction set it is built for, so a new vitzoo,
compiler or CPU gets a fresh build and everything else reuses it. Building takes a file
lock and renames the finished library into place, so any number of processes starting
together compile once and never load a half-written file. Nothing is downloaded.

Instruction sets: one build per ISA (``avx512``, ``avx2`` or ``generic``), chosen from the
CPU's flags; ``VITZOO_KERNELS_ISA`` picks a lower one (e.g. ``avx2`` on an AVX-512 machine).

Example:
    >>> from vitzoo.backends.mindspore.kernels.build import cpu_isa
    >>> cpu_isa() in ("avx512", "avx2", "generic")
    True
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Optional

from vitzoo.errors import VitzooError

CSRC = Path(__file__).resolve().parent / "csrc"
LIB_NAME = "vitzoo_kernels.so"
ISA_FLAGS = {
    "avx512": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma"],
    "avx2": ["-mavx2", "-mfma"],
    "generic": [],
}
_ISA_ORDER = ("generic", "avx2", "avx512")
CFLAGS = ["-O3", "-std=c++17", "-fopenmp-simd", "-pthread", "-fPIC", "-shared", "-fno-math-errno", "-fvisibility=hidden"]


class KernelBuildError(VitzooError):
    """The kernels could not be compiled (no compiler, or the compiler failed)."""


def cpu_flags() -> set:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_isa() -> str:
    """The best instruction set the kernels are built for on this CPU, lowered by ``VITZOO_KERNELS_ISA``."""
    flags = cpu_flags()
    best = "generic"
    if platform.machine() in ("x86_64", "AMD64"):
        if {"avx2", "fma"} <= flags:
            best = "avx2"
        if {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"} <= flags:
            best = "avx512"
    wanted = os.environ.get("VITZOO_KERNELS_ISA", "").strip().lower()
    if wanted:
        if wanted not in ISA_FLAGS:
            raise KernelBuildError(f"VITZOO_KERNELS_ISA={wanted!r} is not one of {', '.join(_ISA_ORDER)}.")
        if _ISA_ORDER.index(wanted) > _ISA_ORDER.index(best):
            raise KernelBuildError(f"VITZOO_KERNELS_ISA={wanted!r} asks for more than this CPU has ({best}).")
        best = wanted
    return best


def compiler() -> Optional[str]:
    """The C++ compiler: ``$CXX``, else g++, else c++ (None when there is none)."""
    for name in (os.environ.get("CXX"), "g++", "c++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def sources() -> list:
    """The kernel sources (.cpp) and headers, sorted: what the cache key hashes."""
    return sorted(p for p in CSRC.iterdir() if p.suffix in (".cpp", ".h"))


def cache_key(cxx: str, isa: str) -> str:
    """sha256 over the sources, the compiler's version line and the flags, shortened."""
    digest = hashlib.sha256()
    for path in sources():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False).stdout.splitlines()
    digest.update((version[0] if version else cxx).encode())
    digest.update(" ".join(CFLAGS + ISA_FLAGS[isa]).encode())
    return digest.hexdigest()[:16]


def library_path(cache_root: Path, cxx: str, isa: str) -> Path:
    return cache_root / "kernels" / f"{isa}-{cache_key(cxx, isa)}" / LIB_NAME


def build_library(cache_root: Path, isa: Optional[str] = None) -> Path:
    """The compiled library for this machine, built now under a lock if no process built it before.

    Raises :class:`KernelBuildError` when there is no compiler or it fails.
    """
    from filelock import FileLock

    from vitzoo.fileio import atomic_path

    cxx = compiler()
    if cxx is None:
        raise KernelBuildError("no C++ compiler found (install g++ or set CXX)")
    isa = isa or cpu_isa()
    lib = library_path(cache_root, cxx, isa)
    if lib.exists():
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lib) + ".lock"):
        if lib.exists():  # another process built it while we waited
            return lib
        cpp = [str(p) for p in sources() if p.suffix == ".cpp"]
        with atomic_path(lib) as tmp:
            cmd = [cxx, *CFLAGS, *ISA_FLAGS[isa], "-I", str(CSRC), *cpp, "-o", str(tmp)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise KernelBuildError(f"{Path(cxx).name} failed ({' '.join(cmd)}):\n{proc.stderr[-2000:]}")
    return lib
