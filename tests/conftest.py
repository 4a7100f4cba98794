"""Shared test setup: quiet MindSpore logging, deterministic seeds."""

import os

os.environ.setdefault("GLOG_v", "3")  # MindSpore: errors only
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
