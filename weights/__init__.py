"""Checkpoint readers and writers, all mapped to vitzoo's canonical names.

The surface is a handful of plain functions, like safetensors'::

    from vitzoo import weights
    ckpt = weights.read("vit_b_16_224.ckpt")          # any supported format, detected by content
    ckpt.state["blocks.0.attn.qkv.weight"].shape      # canonical names, float32 arrays
    weights.save_file(ckpt, "vit_b_16.safetensors")   # canonical safetensors
    weights.write(ckpt, "hf_dir", format="hf")         # or back to a source layout

Each source format is one module here with its detector, reader, writer and name map;
``formats`` registers them in detection order and picks one by content.
"""

from __future__ import annotations

from vitzoo.weights.base import FORMATS, Checkpoint, WeightFormat, get_format, register_format
from vitzoo.weights.convert import ConversionReport, convert
from vitzoo.weights.formats import detect_format, load_file, read, save_file, write

__all__ = [
    "Checkpoint",
    "WeightFormat",
    "FORMATS",
    "detect_format",
    "read",
    "write",
    "load_file",
    "save_file",
    "register_format",
    "get_format",
    "convert",
    "ConversionReport",
]
