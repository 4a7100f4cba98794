"""Fused CPU kernels for the MindSpore backend: LayerNorm, bias + GELU, and the attention core.

MindSpore 2.10's own CPU kernels for these are 3-18x slower than PyTorch's (benchmarks/README.md);
these C++ kernels (csrc/, one per file: vector code on a pool of threads that sleep between
calls, csrc/vz_parallel.h) run as ``ops.Custom`` operators with backward passes, so inference
and training both use them. The GEMMs stay MindSpore's.

:func:`active` is what the layers ask when a model is built: the operators, compiled on
first use into ``$VITZOO_CACHE/kernels/`` (see :mod:`.build`), or ``None`` — then the
layers use MindSpore's primitive operators. That happens, after one notice on stderr,
when there is no C++ compiler or the device target is not the CPU; ``VITZOO_KERNELS=0``
chooses it silently.

Example:
    >>> from vitzoo.backends.mindspore import kernels
    >>> ops = kernels.active()   # KernelOps, or None on the primitive path
    >>> ops is None or sorted(ops.bias_gelu)
    ['exact', 'quick', 'tanh']
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from typing import Iterator, Optional

from .build import KernelBuildError, build_library
from .ops import GELU_FORMS, KernelOps

__all__ = ["GELU_FORMS", "KernelOps", "active", "primitive_ops", "requested", "reason_off"]

_loaded: dict = {}  # "ops" → KernelOps, or "reason" → why the primitive path runs


def requested() -> bool:
    """False when ``VITZOO_KERNELS`` is 0/false/off/no."""
    return os.environ.get("VITZOO_KERNELS", "1").strip().lower() not in ("0", "false", "off", "no")


@contextlib.contextmanager
def primitive_ops() -> Iterator[None]:
    """Models built inside this block use MindSpore's own operators (export copies; float16 training).

    Example:
        >>> with primitive_ops():
        ...     active() is None
        True
    """
    saved = os.environ.get("VITZOO_KERNELS")
    os.environ["VITZOO_KERNELS"] = "0"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["VITZOO_KERNELS"]
        else:
            os.environ["VITZOO_KERNELS"] = saved


def active() -> Optional[KernelOps]:
    """The kernel operators for models built now, or None for MindSpore's primitive operators."""
    if not requested():
        return None
    import mindspore as ms

    target = ms.get_context("device_target")
    if target != "CPU":
        _notice(f"the device target is {target}, and they are CPU kernels")
        return None
    if not _loaded:
        try:
            from vitzoo.paths import cache_dir

            lib = build_library(cache_dir())
            ctypes.CDLL(str(lib))  # fail here, with a notice, rather than inside a graph
            _loaded["ops"] = KernelOps(lib)
        except (KernelBuildError, OSError) as err:
            _loaded["reason"] = str(err).splitlines()[0]
    if "ops" in _loaded:
        return _loaded["ops"]
    _notice(_loaded["reason"])
    return None


def reason_off() -> Optional[str]:
    """Why kernels were last found unavailable (no compiler, a failed build, a non-CPU target), else None."""
    return _last_reason[0] if _last_reason else None


_noticed: set = set()
_last_reason: list = []


def _notice(reason: str) -> None:
    _last_reason[:] = [reason]
    if reason not in _noticed:
        _noticed.add(reason)
        print(f"vitzoo: fused CPU kernels are off ({reason}); using MindSpore's own operators, which are slower "
              "on CPU. Set VITZOO_KERNELS=0 to choose this without the notice.", file=sys.stderr)
