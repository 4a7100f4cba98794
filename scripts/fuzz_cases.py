"""Seed checkpoints and their mutations, for fuzzing vitzoo's weight readers.

Used by ``scripts/fuzz_readers.py`` (the long run) and ``tests/weights/test_fuzz_readers.py``
(the quick run). A *case* is one small valid checkpoint (a *seed*, written by
vitzoo's own writers or by torch) damaged once:

* byte damage: truncation at every region boundary, bit flips, overwritten bytes,
  length fields replaced by lies (up to 2**64-1), deleted/inserted/repeated ranges;
* damage inside one member of an archive (``.pth``, ``.npz``) with the archive
  re-packed, so its CRCs pass and the parser beneath is reached;
* structural lies rebuilt from the seed's tensor table: wrong dtypes, shapes and
  offsets, duplicate/missing/renamed/extra names, NaN/Inf values, corrupt or deeply
  nested JSON headers, configs and shard indexes;
* a foreign file (or a FIFO, a directory, /dev/zero) under the reader's name.

The readers, cases and file codecs are in ``fuzz_base.py``, the structural lies in
``fuzz_lies.py``; this module makes the seeds and picks one damage per case.
Every mutation draws its parameters through a :class:`Draw`, so the same code runs
from a seeded ``random.Random`` (reproducible by case number) or from hypothesis
(which then shrinks a failure to a small case).

Example:
    >>> import random, tempfile, pathlib
    >>> seeds = make_seeds(pathlib.Path(tempfile.mkdtemp()))   # doctest: +SKIP
    >>> case = mutate(READERS["jax"], seeds["jax"], RandomDraw(random.Random(1)))  # doctest: +SKIP
    >>> path = case.write(pathlib.Path(tempfile.mkdtemp()))     # doctest: +SKIP
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from fuzz_base import (  # noqa: F401  (re-exported: the tests and the runner use them from here)
    HINT,
    HUGE, READERS, SPEC, Case, Draw, HypothesisDraw, RandomDraw, Reader, Seed, Special, boundaries, ckpt_bytes,
    ckpt_records, npy, npz_members, read_varint, safetensors_bytes, split_safetensors, varint, zip_bytes,
)
from fuzz_lies import STRUCT, config_case, index_case  # noqa: F401
from vitzoo.spec import ViTSpec


# Seeds -------------------------------------------------------------------------------
def seed_state(spec: ViTSpec = SPEC) -> dict[str, np.ndarray]:
    """Random canonical weights (no zero tensors, so a dropped scale is visible)."""
    from vitzoo.canonical import expected_shapes

    rng = np.random.default_rng(0)
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in expected_shapes(spec).items()}


def make_seeds(workdir: Path, spec: ViTSpec = SPEC) -> dict[str, Seed]:
    """Write one valid file per reader under ``workdir`` and return them as bytes.

    The MindSpore seeds carry optimizer state and step counters beside the
    weights; ``timm-pth`` is a training checkpoint (``model`` + optimizer, zip
    format); ``timm-bin`` is a bare state dict in torch's legacy (pre-zip) format.
    """
    import torch

    from vitzoo import weights
    from vitzoo.weights import Checkpoint, ms_checkpoint

    state = seed_state(spec)
    ckpt = Checkpoint(state=dict(state), spec=spec, meta={"class_names": ["a", "b", "c"]})
    workdir.mkdir(parents=True, exist_ok=True)
    seeds: dict[str, Seed] = {}

    def one(name: str, filename: str, write: Callable[[Path], None]) -> None:
        path = workdir / filename
        write(path)
        seeds[name] = Seed(name, {"": path.read_bytes()}, state)

    tensors = {k: torch.from_numpy(v.copy()) for k, v in state.items()}
    one("vitzoo", "vitzoo.safetensors", lambda p: weights.write(ckpt, p, format="vitzoo"))
    one("timm-safetensors", "timm.safetensors", lambda p: weights.write(ckpt, p, format="timm"))
    one("timm-pth", "timm.pth", lambda p: torch.save(
        {"model": tensors, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}, "epoch": 3}, p))
    one("timm-bin", "timm.bin", lambda p: torch.save(tensors, p, _use_new_zipfile_serialization=False))
    one("jax", "jax.npz", lambda p: weights.write(ckpt, p, format="jax"))

    def with_training_state(fmt: str, extra: dict[str, np.ndarray]) -> Callable[[Path], None]:
        def write(p: Path) -> None:
            weights.write(ckpt, p, format=fmt)
            entries: dict[str, Any] = dict(ms_checkpoint.read_ckpt(p).tensors)
            ms_checkpoint.write_ckpt(p, {**entries, **extra})
        return write

    one("mindspore", "ms.ckpt", with_training_state("mindspore", {
        "moments.norm.gamma": np.zeros(spec.embed_dim, np.float32), "learning_rate": np.array(1e-3, np.float32)}))
    one("mindcv", "mindcv.ckpt", with_training_state("mindcv", {"global_step": np.array([7], np.int32)}))
    hf_dir = workdir / "hf"
    weights.write(ckpt, hf_dir, format="hf")
    seeds["hf"] = Seed("hf", {n: (hf_dir / n).read_bytes() for n in ("config.json", "model.safetensors")}, state)
    seeds.update(family_seeds(workdir, spec))
    seeds.update(naflex_seeds(workdir, spec))
    return seeds


def naflex_seeds(workdir: Path, spec: ViTSpec = SPEC) -> dict[str, Seed]:
    """NaFlex seeds: timm's NaFlexVit hub folder (``embeds.*`` names, config.json naming the architecture) and a Siglip2VisionModel folder."""
    import json

    from vitzoo import weights
    from vitzoo.weights import Checkpoint

    fspec = spec.replace(naflex=True, class_token=False, pos_embed_prefix=False, pos_embed_grid=2, global_pool="map", num_classes=0,
                         gelu="tanh", pos_interp="bilinear")
    state = seed_state(fspec)
    ckpt = Checkpoint(state=dict(state), spec=fspec)
    timm_dir = workdir / "timm-naflex"
    timm_dir.mkdir(parents=True, exist_ok=True)
    weights.write(ckpt, timm_dir / "model.safetensors", format="timm")
    cfg = {"architecture": "naflexvit_base_patch16_siglip", "num_classes": 0, "model_args": {"num_heads": fspec.num_heads},
           "pretrained_cfg": {"input_size": [3, fspec.img_size, fspec.img_size]}}
    (timm_dir / "config.json").write_text(json.dumps(cfg))
    hf_dir = workdir / "hf-siglip2"
    weights.write(ckpt, hf_dir, format="hf")
    names = ("config.json", "model.safetensors")
    return {name: Seed(name, {n: (folder / n).read_bytes() for n in names}, state, fspec)
            for name, folder in (("timm-naflex", timm_dir), ("hf-siglip2", hf_dir))}


def family_seeds(workdir: Path, spec: ViTSpec = SPEC) -> dict[str, Seed]:
    """Seeds of the family sources: transformers DeiT/DINOv2/CLIP/SigLIP/BEiT/AIMv2 folders, open_clip, DINOv2 and DINOv3 files.

    The open_clip seed is a whole model (image tower plus a small text tower and
    ``logit_scale``); the DINOv2 ones have registers (and SwiGLU for transformers) and
    DINOv2's ``mask_token``: the tensors the readers drop are listed in ``Seed.dropped``.
    """
    import torch

    from vitzoo import weights
    from vitzoo.weights import Checkpoint

    dinov2 = spec.replace(num_classes=0, layer_scale=True, reg_tokens=2, pos_embed_prefix=False)
    clip = spec.replace(pre_norm=True, patch_bias=False, gelu="quick", norm_eps=1e-5)
    specs = {
        "hf-deit": spec.replace(dist_token=True),
        "hf-dinov2": dinov2.replace(mlp_type="swiglu", mlp_dim=48),  # what transformers builds from mlp_ratio 4 at width 16
        "hf-clip": clip,
        "hf-siglip": spec.replace(class_token=False, global_pool="map", num_classes=0, gelu="tanh", norm_eps=1e-6),
        # BEiT: a relative position table per block, q/v biases, layer scale, the mean through the pooler's norm, a classifier
        "hf-beit": spec.replace(block="eva", k_bias=False, layer_scale=True, abs_pos_embed=False, rel_pos_bias="block",
                                global_pool="avg", fc_norm=True),
        # AIMv2: RMSNorms, SwiGLU, no biases, the attention pooling head
        "hf-aimv2": spec.replace(class_token=False, global_pool="query", num_classes=0, block="eva", qkv_bias=False, proj_bias=False,
                                 mlp_bias=False, mlp_type="swiglu_split", norm_type="rms", patch_norm=True, norm_eps=1e-5),
        "open_clip": clip,
        "dinov2": dinov2,
        # the original DINOv3 release: rotary positions (periods), registers as storage_tokens, a masked key bias
        "dinov3": spec.replace(num_classes=0, block="eva", abs_pos_embed=False, rope="dinov3", rope_half=True, rope_temperature=100.0,
                               k_bias=False, layer_scale=True, reg_tokens=2, norm_eps=1e-5, dynamic_img_size=True, img_size=224),
    }
    # AIMv2 native resolution: no position tensor, sin-cos positions of each input's grid
    specs["hf-aimv2-native"] = specs["hf-aimv2"].replace(abs_pos_embed=False, sincos_pos=True, dynamic_img_size=True)
    seeds: dict[str, Seed] = {}
    for name, fspec in specs.items():
        state = seed_state(fspec)
        if "head.bias" in state and fspec.pre_norm:
            state["head.bias"] = np.zeros_like(state["head.bias"])  # CLIP's projection has no bias
        ckpt = Checkpoint(state=dict(state), spec=fspec, meta={"class_names": ["a", "b", "c"]})
        if name.startswith("hf-"):
            folder = workdir / name
            weights.write(ckpt, folder, format="hf")
            files = {n: (folder / n).read_bytes() for n in ("config.json", "model.safetensors")}
            dropped: tuple[str, ...] = ("embeddings.mask_token",) if name == "hf-dinov2" else ()
        else:
            path = workdir / f"{name}.safetensors"
            weights.write(ckpt, path, format=name)
            tensors = {k: torch.from_numpy(v.copy()) for k, v in safetensors_np(path).items()}
            if name == "open_clip":  # a whole model: the text tower rides along
                rng = np.random.default_rng(1)
                text = {"token_embedding.weight": (8, fspec.embed_dim), "positional_embedding": (4, fspec.embed_dim),
                        "ln_final.weight": (fspec.embed_dim,), "text_projection": (fspec.embed_dim, 3), "logit_scale": ()}
                tensors.update({k: torch.from_numpy(rng.standard_normal(s).astype(np.float32)) for k, s in text.items()})
                dropped = tuple(text)
            else:
                dropped = ("mask_token", "rope_embed.periods") if name == "dinov3" else ("mask_token",)
            path = workdir / (name + READERS[name].suffix)
            torch.save(tensors, path)
            files = {"": path.read_bytes()}
        seeds[name] = Seed(name, files, state, fspec, dropped)
    return seeds


def safetensors_np(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(path))


# The mutation entry point --------------------------------------------------------------
def mutate(reader: Reader, seed: Seed, draw: Draw, seeds: Optional[dict[str, Seed]] = None) -> Case:
    """One damaged copy of ``seed``, chosen by ``draw``."""
    kinds = ["truncate", "bitflip", "overwrite", "length", "splice", "struct", "struct", "nonfinite", "foreign"]
    if reader.family in ("torch-zip", "npz"):
        kinds += ["member", "member"]
    if reader.format == "hf":
        kinds += ["config", "config", "index"]
    kind = draw.choice(kinds)
    key = reader.main if reader.main else ""
    if kind == "config":
        return config_case(seed, draw)
    if kind == "index":
        return index_case(seed, draw)
    if kind == "foreign":
        label, data = _foreign(draw, reader, seeds or {})
        return _replace(seed, key, data, f"foreign: {label}")
    blob = seed.files[key]
    if kind in ("struct", "nonfinite"):
        label, data, must_fail = STRUCT[reader.family](blob, draw, kind == "nonfinite")
        return _replace(seed, key, data, f"{kind}: {label}", None if poisons_dropped(seed, label) else must_fail)
    if kind == "member":
        label, data = _member(blob, draw)
        return _replace(seed, key, data, f"member: {label}")
    label, data = byte_mutation(kind, blob, draw, boundaries(reader.family, blob))
    return _replace(seed, key, data, f"{kind}: {label}")


def poisons_dropped(seed: Seed, label: str) -> bool:
    """Whether a NaN/Inf mutation (labelled ``"name: ..."``) hit a tensor the reader drops: loading it is fine."""
    return label.split(":", 1)[0] in seed.dropped


def _replace(seed: Seed, key: str, data: Any, label: str, must_fail: Optional[str] = None) -> Case:
    files = dict(seed.files)
    files[key] = data
    return Case(seed.reader, label, files, must_fail)


# Byte damage ---------------------------------------------------------------------------
_LENGTHS = [0, 1, 2, 7, 8, 255, 2**16, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**40, HUGE, 2**63 - 1, 2**64 - 1]


def byte_mutation(kind: str, blob: bytes, draw: Draw, marks: Sequence[int]) -> tuple[str, bytes]:
    """Damage ``blob`` in one of the generic ways; ``marks`` are its region boundaries."""
    size = len(blob)
    near = lambda: max(0, min(size, draw.choice(marks) + draw.int(-2, 2))) if marks and draw.bool() else draw.int(0, size)  # noqa: E731
    if kind == "truncate":
        at = near()
        return f"truncated to {at} of {size} bytes", blob[:at]
    data = bytearray(blob)
    if kind == "bitflip":
        flips = []
        for _ in range(draw.int(1, 8)):
            # half of the flips land in the first kilobyte, where headers and lengths live
            pos = draw.int(0, min(size, 1024) - 1) if draw.bool() else draw.int(0, size - 1)
            bit = draw.int(0, 7)
            data[pos] ^= 1 << bit
            flips.append(f"{pos}.{bit}")
        return f"bits flipped at {', '.join(flips)}", bytes(data)
    if kind == "overwrite":
        pos, n = near(), draw.int(1, 8)
        fill = draw.choice([b"\x00", b"\xff", b"\x7f", b"\x80", None])
        new = fill * n if fill else draw.bytes(n)
        data[pos : pos + n] = new
        return f"{n} bytes at {pos} set to {new.hex()}", bytes(data[:size])
    if kind == "length":
        pos = near()
        value = draw.choice(_LENGTHS + [size, size - 1, size + 1, draw.int(0, 2**64 - 1)])
        encoding = draw.choice(["<Q", ">Q", "<I", ">I", "<H", "B", "varint"])
        raw = varint(value) if encoding == "varint" else struct.pack(encoding, value % (1 << (8 * struct.calcsize(encoding))))
        data[pos : pos + len(raw)] = raw
        return f"length {value} as {encoding} at {pos}", bytes(data)
    # splice: delete, insert or repeat a range
    a = near()
    b = min(size, a + draw.choice([1, 2, 4, 8, 64, 4096, size]))
    how = draw.choice(["delete", "insert", "repeat"])
    if how == "delete":
        return f"bytes {a}:{b} deleted", blob[:a] + blob[b:]
    if how == "insert":
        n = draw.choice([1, 3, 8, 100])
        return f"{n} random bytes inserted at {a}", blob[:a] + draw.bytes(n) + blob[a:]
    return f"bytes {a}:{b} repeated", blob[:b] + blob[a:b] + blob[b:]


def _member(blob: bytes, draw: Draw) -> tuple[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        infos = zf.infolist()
        contents = [zf.read(i) for i in infos]
    k = draw.int(0, len(infos) - 1)
    kind = draw.choice(["truncate", "bitflip", "overwrite", "length", "splice"])
    marks = [0, len(contents[k])]
    if infos[k].filename.endswith(".pkl"):
        import pickletools

        try:
            marks += [pos for _, _, pos in pickletools.genops(contents[k])]
        except Exception:  # noqa: BLE001
            pass
    label, contents[k] = byte_mutation(kind, contents[k], draw, marks)
    return f"{infos[k].filename}: {label}", zip_bytes([(i.filename, c, i.compress_type) for i, c in zip(infos, contents)])


# Foreign files -------------------------------------------------------------------------
def _foreign(draw: Draw, reader: Reader, seeds: dict[str, Seed]) -> tuple[str, Any]:
    others = [s for s in seeds.values() if s.reader != reader.name]
    kinds = ["empty", "random", "json", "png", "pickle", "npy", "zip", "lfs", "html", "gzip", "special", "header-only"]
    kind = draw.choice(kinds + (["other-format"] * 3 if others else []))
    if kind == "empty":
        return kind, b""
    if kind == "random":
        n = draw.choice([1, 7, 8, 9, 64, 4096])
        return f"{n} random bytes", draw.bytes(n)
    if kind == "json":
        return kind, b'{"patch_embed.proj.weight": [1, 2, 3]}'
    if kind == "png":
        return kind, b"\x89PNG\r\n\x1a\n" + bytes(100)
    if kind == "pickle":
        return "a plain pickle", pickle.dumps({"patch_embed.proj.weight": [1.0, 2.0]}, protocol=2)
    if kind == "npy":
        buf = io.BytesIO()
        np.save(buf, np.ones((2, 3), np.float32))
        return kind, buf.getvalue()
    if kind == "zip":
        return "a zip of text", zip_bytes([("embedding/kernel.npy", b"not an array", zipfile.ZIP_STORED), ("archive/data.pkl", b"x", zipfile.ZIP_STORED)])
    if kind == "lfs":
        return "a git-lfs pointer", b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 346293852\n"
    if kind == "html":
        return "an HTML error page", b"<!DOCTYPE html><html><body>404 Not Found</body></html>"
    if kind == "gzip":
        return kind, b"\x1f\x8b\x08\x00" + bytes(50)
    if kind == "special":
        special = Special(draw.choice(["fifo", "dir", "devzero", "loop"]))
        return f"a {special.kind}", special
    if kind == "header-only":
        return "a safetensors header without data", safetensors_bytes({"patch_embed.proj.weight": {"dtype": "F32", "shape": [HUGE], "data_offsets": [0, HUGE * 4 % 2**64]}}, b"")
    other = draw.choice(others)
    main = READERS[other.reader].main or ""
    return f"a {other.reader} file", other.files[main]
