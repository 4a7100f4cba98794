"""Fixtures of the hub tests: a local Hugging Face hub on 127.0.0.1 and an environment pointed at it."""

from __future__ import annotations

import pytest

from hub_server import Server


@pytest.fixture
def server():
    """A fresh local hub (tests/hub/hub_server.py), closed after the test."""
    srv = Server()
    yield srv
    srv.close()


@pytest.fixture
def env(tmp_path, monkeypatch, server):
    """Empty vitzoo and hub caches under ``tmp_path``, online, with the hub and MindSpore's mirror at the local server."""
    import huggingface_hub.constants

    monkeypatch.setenv("VITZOO_CACHE", str(tmp_path / "vitzoo"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("VITZOO_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # read by the hub at import time
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("VITZOO_MS_BASE_URL", server.url)
    return tmp_path
