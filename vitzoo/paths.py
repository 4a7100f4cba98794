"""Where vitzoo keeps files on this machine: the cache root (weights, compiled kernels).

Example:
    >>> cache_dir().name  # doctest: +SKIP
    'vitzoo'
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE = "VITZOO_CACHE"


def cache_dir() -> Path:
    """vitzoo's cache root: ``$VITZOO_CACHE``, else ``$XDG_CACHE_HOME/vitzoo``, else ``~/.cache/vitzoo``."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(base).expanduser() / "vitzoo"
