"""Fetching and caching: downloads from the Hugging Face hub and MindSpore's site, and the cache of converted weights.

``download`` fetches a weight set and converts it once; ``cache`` lists, verifies and clears what is kept.
"""

from __future__ import annotations

from vitzoo.paths import ENV_CACHE, cache_dir

from .download import (
    ENV_MS_BASE_URL,
    ENV_OFFLINE,
    converted_path,
    download_path,
    download_url,
    fetch,
    is_offline,
    load,
    load_pretrained,
    resolve_url,
)

__all__ = [
    "ENV_CACHE",
    "ENV_MS_BASE_URL",
    "ENV_OFFLINE",
    "cache_dir",
    "converted_path",
    "download_path",
    "download_url",
    "fetch",
    "is_offline",
    "load",
    "load_pretrained",
    "resolve_url",
]
