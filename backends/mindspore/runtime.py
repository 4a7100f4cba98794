"""MindSpore runtime settings: synchronous CPU launches (applied once when the backend loads) and the execution lock.

On CPU, MindSpore 2.10 runs PyNative operators through an asynchronous launch
pipeline whose worker threads compete with the compute threads for the cores:
on a 2-core machine a ViT-S/16 batch-8 forward in PyNative mode takes ~2× as long
as with synchronous launches, and a single large MatMul ~1.5× as long
(benchmarks/README.md). Graph mode (``jit=True``) is unaffected either way.

``mindspore.runtime.launch_blocking()`` only takes effect before the first
operator runs, so this is done when ``vitzoo.backends.mindspore`` is imported.
Set ``VITZOO_MS_ASYNC=1`` to keep MindSpore's default asynchronous launches.

Example:
    >>> from vitzoo.backends.mindspore.runtime import tune_cpu_runtime
    >>> tune_cpu_runtime() in (True, False)
    True
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any, Callable, TypeVar

import mindspore as ms

_done = False
_F = TypeVar("_F", bound=Callable[..., Any])

# MindSpore 2.10 is not safe to drive from several Python threads at once: PyNative calls
# can crash the process and compiled graphs can hand one caller another call's values
# (benchmarks/README.md, "Concurrent callers"). The runtime is shared by every Cell, so one
# process-wide lock serialises model execution; re-entrant, as a model call runs its parts.
EXECUTION_LOCK = threading.RLock()


def serialized(method: _F) -> _F:
    """``method`` run while holding :data:`EXECUTION_LOCK` (an uncontended acquire costs well under a microsecond)."""

    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        with EXECUTION_LOCK:
            return method(*args, **kwargs)

    return run  # type: ignore[return-value]


def tune_cpu_runtime() -> bool:
    """Switch a CPU MindSpore runtime to synchronous launches, once; True if this call changed it.

    Leaves the runtime alone when the device is not the CPU, when ``VITZOO_MS_ASYNC=1``
    is set, or when the user already chose (MindSpore refuses a second setting).
    """
    global _done
    if _done:
        return False
    _done = True
    if os.environ.get("VITZOO_MS_ASYNC", "") not in ("", "0"):
        return False
    if ms.get_context("device_target") != "CPU":
        return False
    try:
        from mindspore._c_expression import RuntimeConf  # no public getter in 2.10

        if RuntimeConf.get_instance().is_launch_blocking():
            return False
    except (ImportError, AttributeError):
        pass
    try:
        ms.runtime.launch_blocking()
    except RuntimeError:  # set already (by the user, or by a MindSpore version that refuses repeats)
        return False
    return True
