"""Seed checkpoints and their mutations, for fuzzing vitzoo's weight readers.

Used by ``scripts/fuzz_readers.py`` (the long run) and ``tests/test_fuzz_readers.py``
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
import json
import os
import pickle
import struct
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from vitzoo.spec import ViTSpec

# Small enough that a read takes milliseconds, big enough to have every kind of tensor.
SPEC = ViTSpec(img_size=16, patch_size=8, embed_dim=16, depth=2, num_heads=2, mlp_dim=32, num_classes=3)
HUGE = 2**62
ABSOLUTE_OUTSIDE = b"@ABSOLUTE-OUTSIDE@"


# Parameter sources -----------------------------------------------------------------
class Draw:
    """Where a mutation gets its choices from."""

    def int(self, lo: int, hi: int) -> int:  # inclusive bounds
        raise NotImplementedError

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[self.int(0, len(seq) - 1)]

    def bytes(self, n: int) -> bytes:
        return bytes(self.int(0, 255) for _ in range(n))

    def bool(self) -> bool:
        return self.int(0, 1) == 1


class RandomDraw(Draw):
    """Choices from a ``random.Random`` (the long run: case ``i`` is ``Random(f"{seed}:{reader}:{i}")``)."""

    def __init__(self, rng: Any) -> None:
        self.rng = rng

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def bytes(self, n: int) -> bytes:
        return self.rng.randbytes(n)


class HypothesisDraw(Draw):
    """Choices from hypothesis' ``st.data()``, so failures shrink."""

    def __init__(self, data: Any) -> None:
        from hypothesis import strategies as st

        self.data, self.st = data, st

    def int(self, lo: int, hi: int) -> int:
        return self.data.draw(self.st.integers(lo, hi))

    def choice(self, seq: Sequence[Any]) -> Any:
        return self.data.draw(self.st.sampled_from(list(seq)))

    def bytes(self, n: int) -> bytes:
        return self.data.draw(self.st.binary(min_size=n, max_size=n))


# Readers and seeds -----------------------------------------------------------------
@dataclass(frozen=True)
class Reader:
    """One reader under test: the explicit format name and how its files look."""

    name: str
    format: str
    suffix: str  # the case file's suffix; "" for a directory
    family: str  # safetensors | torch-zip | torch-legacy | ckpt | npz
    main: str = ""  # for a directory: the weights file inside it


READERS = {
    r.name: r
    for r in (
        Reader("vitzoo", "vitzoo", ".safetensors", "safetensors"),
        Reader("timm-safetensors", "timm", ".safetensors", "safetensors"),
        Reader("timm-pth", "timm", ".pth", "torch-zip"),
        Reader("timm-bin", "timm", ".bin", "torch-legacy"),
        Reader("hf", "hf", "", "safetensors", main="model.safetensors"),
        Reader("mindspore", "mindspore", ".ckpt", "ckpt"),
        Reader("mindcv", "mindcv", ".ckpt", "ckpt"),
        Reader("jax", "jax", ".npz", "npz"),
    )
}


@dataclass
class Case:
    """A file (or directory) to read, what was done to it, and what a read must not do.

    ``files`` maps names to bytes; ``""`` is the case file itself, other names are
    members of the case directory. A value may be a :class:`Special` instead of bytes.
    ``must_fail`` says why loading this case successfully would be a bug.
    """

    reader: str
    label: str
    files: dict[str, Any]
    must_fail: Optional[str] = None
    outside: dict[str, bytes] = field(default_factory=dict)  # files beside the case (path-traversal bait)

    def write(self, root: Path) -> Path:
        """Materialise the case under ``root`` (an empty directory); return the path to read."""
        suffix = READERS[self.reader].suffix
        for name, data in self.outside.items():
            (root / name).write_bytes(data)
        if "" in self.files:
            target = root / f"case{suffix}"
            _put(target, self.files[""])
            return target
        target = root / "case"
        target.mkdir()
        for name, data in self.files.items():
            if isinstance(data, bytes) and ABSOLUTE_OUTSIDE in data:  # an index naming a file by absolute path
                data = data.replace(ABSOLUTE_OUTSIDE, json.dumps(str(root / "outside.safetensors"))[1:-1].encode())
            _put(target / name, data)
        return target


@dataclass(frozen=True)
class Special:
    """Not a regular file: ``fifo``, ``dir``, ``devzero`` (a symlink to /dev/zero) or ``loop`` (a symlink to itself)."""

    kind: str


def _put(path: Path, data: Any) -> None:
    if isinstance(data, Special):
        if data.kind == "fifo":
            os.mkfifo(path)
        elif data.kind == "dir":
            path.mkdir()
        elif data.kind == "devzero":
            path.symlink_to("/dev/zero")
        else:
            path.symlink_to(path.name)
    else:
        path.write_bytes(data)


@dataclass
class Seed:
    """A valid file for one reader, and what reading it must give."""

    reader: str
    files: dict[str, bytes]
    state: dict[str, np.ndarray]

    def case(self, label: str = "valid seed") -> Case:
        return Case(self.reader, label, dict(self.files))


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
    return seeds


# The mutation entry point ----------------------------------------------------------------
def mutate(reader: Reader, seed: Seed, draw: Draw, seeds: Optional[dict[str, Seed]] = None) -> Case:
    """One damaged copy of ``seed``, chosen by ``draw``."""
    kinds = ["truncate", "bitflip", "overwrite", "length", "splice", "struct", "struct", "nonfinite", "foreign"]
    if reader.family in ("torch-zip", "npz"):
        kinds += ["member", "member"]
    if reader.name == "hf":
        kinds += ["config", "config", "index"]
    kind = draw.choice(kinds)
    key = reader.main if reader.main else ""
    if kind == "config":
        return _config_case(seed, draw)
    if kind == "index":
        return index_case(seed, draw)
    if kind == "foreign":
        label, data = _foreign(draw, reader, seeds or {})
        return _replace(seed, key, data, f"foreign: {label}")
    blob = seed.files[key]
    if kind in ("struct", "nonfinite"):
        label, data, must_fail = STRUCT[reader.family](blob, draw, kind == "nonfinite")
        return _replace(seed, key, data, f"{kind}: {label}", must_fail)
    if kind == "member":
        label, data = _member(blob, draw)
        return _replace(seed, key, data, f"member: {label}")
    label, data = byte_mutation(kind, blob, draw, boundaries(reader.family, blob))
    return _replace(seed, key, data, f"{kind}: {label}")


def _replace(seed: Seed, key: str, data: Any, label: str, must_fail: Optional[str] = None) -> Case:
    files = dict(seed.files)
    files[key] = data
    return Case(seed.reader, label, files, must_fail)


# Byte damage -----------------------------------------------------------------------------
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
        raw = _varint(value) if encoding == "varint" else struct.pack(encoding, value % (1 << (8 * struct.calcsize(encoding))))
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


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def boundaries(family: str, blob: bytes) -> list[int]:
    """Offsets where one region of the file ends and the next begins."""
    marks = {0, len(blob)}
    try:
        if family == "safetensors":
            (n,) = struct.unpack("<Q", blob[:8])
            marks |= {8, 8 + n}
            for name, entry in json.loads(blob[8 : 8 + n]).items():
                if name != "__metadata__":
                    marks |= {8 + n + entry["data_offsets"][0], 8 + n + entry["data_offsets"][1]}
        elif family == "ckpt":
            pos = 0
            while pos < len(blob) and blob[pos] == 0x0A:
                length, body = _read_varint(blob, pos + 1)
                marks |= {pos, pos + 1, body, body + length}
                pos = body + length
        elif family in ("torch-zip", "npz"):
            with zipfile.ZipFile(io.BytesIO(blob)) as zf:
                for info in zf.infolist():
                    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
                    marks |= {info.header_offset, start, start + info.compress_size}
            eocd = blob.rfind(b"PK\x05\x06")
            marks |= {eocd, struct.unpack("<I", blob[eocd + 16 : eocd + 20])[0]} if eocd >= 0 else set()
        elif family == "torch-legacy":
            import pickletools

            stream = io.BytesIO(blob)
            for _ in range(4):  # magic, protocol, sys info, the object; then storage keys and data
                for _op, _arg, pos in pickletools.genops(stream):
                    marks.add(pos)
                marks.add(stream.tell())
    except Exception:  # noqa: BLE001 - a seed that does not parse just gets fewer marks
        pass
    return sorted(m for m in marks if 0 <= m <= len(blob))


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(buf):
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            break
        shift += 7
    return value, pos


# Archives: damage one member, re-pack with good CRCs ----------------------------------------
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
    return f"{infos[k].filename}: {label}", _zip([(i.filename, c, i.compress_type) for i, c in zip(infos, contents)])


def _zip(members: Sequence[tuple[str, bytes, int]]) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as zf:
        warnings.simplefilter("ignore")  # "Duplicate name": some cases want exactly that
        for name, content, compress in members:
            zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), content, compress_type=compress)
    return out.getvalue()


# Structural lies ------------------------------------------------------------------------------
_NONFINITE = [float("nan"), float("inf"), float("-inf")]


def _poison(values: np.ndarray, draw: Draw) -> tuple[str, np.ndarray]:
    """A float array with some elements set to NaN or +/-Inf."""
    out = values.astype(np.float32).copy()
    flat = out.reshape(-1)
    bad = draw.choice(_NONFINITE)
    count = draw.choice([1, 2, flat.size])
    for _ in range(count if count < flat.size else 1):
        flat[draw.int(0, flat.size - 1)] = bad
    if count == flat.size:
        flat[:] = bad
    return f"{count} x {bad}", out


def _shape_lie(shape: list[int], draw: Draw) -> list[Any]:
    return draw.choice([
        list(reversed(shape)), [], [0], shape + [1], shape[1:], [HUGE], [2**31, 2**31, 2**31], [-1] + shape[1:],
        [int(np.prod(shape)) * 2], [2**64 - 1], ["1"], [1.5], None, shape[:-1] + [0],
    ])


_JUNK = [None, True, -1, 0, 1.5, 2**64, HUGE, "x", "", [], {}, [1, 2], {"a": 1}, "\u00ff\u0000", [[[[]]]]]


def _json_junk(draw: Draw) -> Any:
    if draw.int(0, 9) == 0:
        depth = draw.choice([100, 10_000, 200_000])
        return json.loads("[" * min(depth, 900) + "]" * min(depth, 900)) if depth < 1000 else _Deep(depth)
    return draw.choice(_JUNK)


class _Deep:
    """Stands for JSON nested ``depth`` deep: rendered as text, since Python cannot build it."""

    def __init__(self, depth: int) -> None:
        self.depth = depth


def _dumps(obj: Any) -> str:
    """``json.dumps`` that renders :class:`_Deep` placeholders."""
    marks: dict[str, int] = {}

    def default(o: Any) -> Any:
        if isinstance(o, _Deep):
            key = f"@@deep{len(marks)}@@"
            marks[key] = o.depth
            return key
        raise TypeError(type(o).__name__)

    text = json.dumps(obj, default=default, separators=(",", ":"))
    for key, depth in marks.items():
        text = text.replace(json.dumps(key), "[" * depth + "]" * depth)
    return text


def _poke_json(obj: Any, draw: Draw) -> tuple[str, Any]:
    """Replace one value somewhere in a JSON document (or delete a key)."""
    path: list[Any] = []
    node = obj
    while isinstance(node, (dict, list)) and node and draw.int(0, 2):
        key = draw.choice(list(node.keys()) if isinstance(node, dict) else list(range(len(node))))
        path.append(key)
        node = node[key]
    junk = _json_junk(draw)
    if not path:
        return f"document replaced by {_short(junk)}", junk
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and draw.int(0, 3) == 0:
        del parent[path[-1]]
        return f"{'/'.join(map(str, path))} deleted", obj
    parent[path[-1]] = junk
    return f"{'/'.join(map(str, path))} = {_short(junk)}", obj


def _short(value: Any) -> str:
    return f"<{value.depth}-deep nesting>" if isinstance(value, _Deep) else repr(value)[:40]


# safetensors
def _split_safetensors(blob: bytes) -> tuple[dict[str, Any], bytes]:
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def _safetensors(header: Any, data: bytes, *, duplicate: Optional[str] = None, pad: bytes = b" ") -> bytes:
    text = _dumps(header)
    if duplicate is not None:  # the same key twice in the JSON object
        entry = _dumps({duplicate: header[duplicate]})[1:-1]
        text = "{" + entry + "," + text[1:]
    raw = text.encode()
    raw += pad * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


def _struct_safetensors(blob: bytes, draw: Draw, nonfinite: bool) -> tuple[str, bytes, Optional[str]]:
    header, data = _split_safetensors(blob)
    names = [k for k in header if k != "__metadata__"]
    name = draw.choice(names)
    entry = header[name]
    b, e = entry["data_offsets"]
    if nonfinite:
        values = np.frombuffer(data[b:e], np.float32).reshape(entry["shape"])
        label, bad = _poison(values, draw)
        data = data[:b] + bad.tobytes() + data[e:]
        return f"{name}: {label}", _safetensors(header, data), "NaN/Inf weights were accepted"
    op = draw.choice(["drop", "rename", "duplicate", "dtype", "shape", "offsets", "extra", "metadata", "json", "order", "padding"])
    if op == "drop":
        del header[name]
        return f"{name} dropped", _safetensors(header, data), None
    if op == "rename":
        new = draw.choice([name + "x", "", "module." + name, name.upper(), "blocks.0.\u00f1", "blocks.99.norm1.weight", draw.choice(names)])
        duplicate = new in header and new != name
        header[new] = header.pop(name) if not duplicate else header[name]
        if duplicate:
            del header[name]
            return f"{name} renamed to existing {new}", _safetensors(header, data, duplicate=new), "a duplicate tensor name was accepted"
        return f"{name} renamed to {new!r}", _safetensors(header, data), None
    if op == "duplicate":
        return f"{name} twice", _safetensors(header, data, duplicate=name), "a duplicate tensor name was accepted"
    if op == "dtype":
        entry["dtype"] = draw.choice(["F16", "BF16", "F64", "I32", "I64", "U8", "BOOL", "F8_E4M3", "C64", "", "f32", 5, None])
        return f"{name} dtype {entry['dtype']!r}", _safetensors(header, data), None
    if op == "shape":
        entry["shape"] = _shape_lie(list(entry["shape"]), draw)
        return f"{name} shape {entry['shape']}", _safetensors(header, data), None
    if op == "offsets":
        entry["data_offsets"] = draw.choice([[b, e + 4], [b - 4, e], [e, b], [0, HUGE], [HUGE, HUGE + e - b], [-8, e - b - 8], [b], [str(b), e], [b, 2**64 + 1], [0, e - b]])
        return f"{name} offsets {entry['data_offsets']}", _safetensors(header, data), None
    if op == "extra":
        new = draw.choice(["extra.weight", "blocks.5.mlp.fc1.weight", "head.extra", "blocks.0.attn.qkv.weight_orig"])
        header[new] = {"dtype": "F32", "shape": [2], "data_offsets": [len(data), len(data) + 8]}
        return f"extra tensor {new}", _safetensors(header, data + bytes(8)), None
    if op == "metadata":
        meta = header.get("__metadata__") or {}
        label, meta = _poke_metadata(meta, draw)
        header["__metadata__"] = meta
        return f"metadata {label}", _safetensors(header, data), None
    if op == "json":
        label, header = _poke_json(header, draw)
        return f"header {label}", _safetensors(header, data), None
    if op == "order":  # a valid file: tensors stored in another order
        order = sorted(names, key=lambda k: draw.int(0, 1000))
        chunks, offset = [], 0
        for k in order:
            lo, hi = header[k]["data_offsets"]
            chunks.append(data[lo:hi])
            header[k]["data_offsets"] = [offset, offset + hi - lo]
            offset += hi - lo
        return "tensors reordered", _safetensors(header, b"".join(chunks)), None
    pad = draw.choice([b"\x00", b"\n", b"x", b"\xff"])
    return f"header padded with {pad!r}", _safetensors(header, data, pad=pad), None


def _poke_metadata(meta: dict[str, Any], draw: Draw) -> tuple[str, Any]:
    meta = dict(meta)
    op = draw.choice(["json-in-value", "value", "drop", "whole"])
    keys = sorted(meta) or ["format"]
    key = draw.choice(keys + ["spec", "class_names", "pretrained_cfg", "format"])
    if op == "whole":
        junk = draw.choice([None, [], "x", 5, {"format": {"nested": 1}}])
        return f"= {junk!r}", junk
    if op == "drop":
        meta.pop(key, None)
        return f"{key} dropped", meta
    if op == "value":
        meta[key] = draw.choice(["", "x", 5, None, [1], {"a": 1}, "vitzoo", "{}", "[]", "null"])
        return f"{key} = {meta[key]!r}", meta
    try:
        doc = json.loads(meta.get(key, "{}"))
    except (TypeError, ValueError):
        doc = {}
    label, doc = _poke_json(doc, draw)
    meta[key] = _dumps(doc)
    return f"{key}: {label}", meta


# MindSpore .ckpt
def _ckpt_records(blob: bytes) -> list[Any]:
    from vitzoo.weights.ms_checkpoint import _messages

    checkpoint_cls, _ = _messages()
    return list(checkpoint_cls.FromString(blob).value)


def _ckpt(records: Sequence[Any], trailer: bytes = b"") -> bytes:
    from vitzoo.weights.ms_checkpoint import _messages

    checkpoint_cls, _ = _messages()
    out = b""
    for value in records:
        msg = checkpoint_cls()
        msg.value.add().CopyFrom(value)
        out += msg.SerializePartialToString()
    return out + trailer


def _struct_ckpt(blob: bytes, draw: Draw, nonfinite: bool) -> tuple[str, bytes, Optional[str]]:
    import binascii

    records = _ckpt_records(blob)
    k = draw.int(0, len(records) - 1)
    rec = records[k]
    t = rec.tensor
    if nonfinite:
        floats = [i for i, r in enumerate(records) if r.tensor.tensor_type == "Float32" and len(r.tensor.tensor_content) > 4]
        rec = records[draw.choice(floats)]
        values = np.frombuffer(rec.tensor.tensor_content, np.float32)
        label, bad = _poison(values, draw)
        rec.tensor.tensor_content = bad.tobytes()
        # optimizer state is dropped, so NaN there is harmless; in a weight it is not
        must = None if rec.tag.startswith("moments.") else "NaN/Inf weights were accepted"
        return f"{rec.tag}: {label}", _ckpt(records), must
    op = draw.choice(["drop", "duplicate", "adjacent", "rename", "dims", "type", "content", "split", "crc", "map", "partial", "string"])
    if op == "drop":
        del records[k]
        return f"{rec.tag} dropped", _ckpt(records), None
    if op == "duplicate":
        records.append(records[k])
        return f"{rec.tag} twice", _ckpt(records), None  # the reader reports it; a CheckpointError is the only outcome
    if op == "adjacent":
        records.insert(k, records[k])
        return f"{rec.tag} twice in a row (read as one split tensor)", _ckpt(records), None
    if op == "rename":
        rec.tag = draw.choice(["", rec.tag + "x", "moment1." + rec.tag, "cls", "pos_embed", "vitzoo_spec", "a" * 5000, records[draw.int(0, len(records) - 1)].tag])
        return f"record {k} renamed to {rec.tag[:40]!r}", _ckpt(records), None
    if op == "dims":
        del t.dims[:]
        dims = _shape_lie([1, 2, 3], draw)
        dims = [d if isinstance(d, int) else 7 for d in (dims or [])]
        t.dims.extend([d if d < 2**63 else d - 2**64 for d in dims])
        return f"{rec.tag} dims {list(t.dims)}", _ckpt(records), None
    if op == "type":
        t.tensor_type = draw.choice(["Float16", "Int8", "BFloat16", "str", "Float64", "Bool", "", "Foo", "UInt64", "Int4"])
        return f"{rec.tag} type {t.tensor_type!r}", _ckpt(records), None
    if op == "content":
        c = t.tensor_content
        t.tensor_content = draw.choice([b"", c[:-1], c + b"\x00", c[: len(c) // 2], c * 2])
        return f"{rec.tag} content {len(c)} -> {len(t.tensor_content)} bytes", _ckpt(records), None
    if op == "split":  # a valid file: one tensor split over two records, as MindSpore does past 512 MiB
        c = t.tensor_content
        first, second = type(rec)(), type(rec)()
        first.CopyFrom(rec)
        second.CopyFrom(rec)
        cut = draw.int(0, len(c))
        first.tensor.tensor_content, second.tensor.tensor_content = c[:cut], c[cut:]
        records[k : k + 1] = [first, second]
        return f"{rec.tag} split at byte {cut}", _ckpt(records), None
    if op == "crc":
        body = _ckpt(records)
        crc = binascii.crc32(body)
        good = draw.bool()
        value = crc if good else crc ^ (1 << draw.int(0, 31))
        return f"{'good' if good else 'bad'} CRC trailer", _ckpt(records, b"crc_num" + value.to_bytes(10, "big")), None
    if op == "map":
        rec.ClearField("tensor")
        rec.maptensor.tensor.add(tensor_type="Float32", tensor_content=b"\x00" * 8).dims.extend([2])
        return f"{rec.tag} as a map tensor", _ckpt(records), None
    if op == "partial":
        rec.tensor.ClearField(draw.choice(["tensor_type", "tensor_content"]))
        return f"{rec.tag} lacks a required field", _ckpt(records), None
    value = type(rec)(tag=draw.choice(["vitzoo_spec", "note"]))
    value.tensor.dims.append(0)
    value.tensor.tensor_type = "str"
    value.tensor.tensor_content = draw.choice([b"\xff\xff\xff\xff", "{".encode("utf-32-le"), b"abc", _dumps(_json_junk(draw)).encode("utf-32-le")])
    records.insert(draw.int(0, len(records)), value)
    return f"string entry {value.tag}", _ckpt(records), None


# .npz
def _npz_members(blob: bytes) -> list[tuple[str, dict[str, Any], bytes]]:
    members = []
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        for info in zf.infolist():
            fh = io.BytesIO(zf.read(info))
            version = np.lib.format.read_magic(fh)
            shape, fortran, dtype = np.lib.format._read_array_header(fh, version)
            members.append((info.filename, {"descr": dtype.str, "fortran_order": fortran, "shape": shape}, fh.read()))
    return members


def npy(header: Any, data: bytes, version: int = 1) -> bytes:
    """An ``.npy`` file with any header text, even one that lies."""
    text = (header if isinstance(header, str) else repr(header)).encode("latin1", "replace")
    fmt = "<H" if version == 1 else "<I"
    pre = len(b"\x93NUMPY") + 2 + struct.calcsize(fmt)
    text += b" " * (-(pre + len(text) + 1) % 64) + b"\n"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(fmt, len(text)) + text + data


def _struct_npz(blob: bytes, draw: Draw, nonfinite: bool) -> tuple[str, bytes, Optional[str]]:
    members = _npz_members(blob)
    k = draw.int(0, len(members) - 1)
    name, header, data = members[k]
    stored = zipfile.ZIP_STORED

    def pack(items: Sequence[tuple[str, Any, bytes]], version: int = 1) -> bytes:
        return _zip([(n, npy(h, d, version), stored) for n, h, d in items])

    if nonfinite:
        values = np.frombuffer(data, np.float32)
        label, bad = _poison(values, draw)
        members[k] = (name, header, bad.tobytes())
        return f"{name}: {label}", pack(members), "NaN/Inf weights were accepted"
    op = draw.choice(["drop", "duplicate", "rename", "descr", "shape", "fortran", "header", "version", "data", "deflate"])
    if op == "drop":
        del members[k]
        return f"{name} dropped", pack(members), None
    if op == "duplicate":
        other = members[draw.int(0, len(members) - 1)]
        members.append((name, other[1], other[2]))
        return f"{name} twice", pack(members), "a duplicate array name was accepted"
    if op == "rename":
        new = draw.choice([name[:-4], "x/" + name, name.replace("encoderblock_0", "encoderblock_7"), "../" + name, name + ".npy", "unknown/kernel.npy"])
        members[k] = (new, header, data)
        return f"{name} renamed to {new}", pack(members), None
    if op == "descr":
        header["descr"] = draw.choice(["<f2", ">f4", "|O", "<c8", "|V4", "<U2", "|b1", "<i8", "bogus", "<f8", 5])
    elif op == "shape":
        header["shape"] = tuple(d if isinstance(d, int) else 3 for d in (_shape_lie(list(header["shape"]), draw) or []))
    elif op == "fortran":
        header["fortran_order"] = draw.choice([True, "yes", None])
    elif op == "header":
        header = draw.choice(["{", "[1, 2]", "__import__('os').system('true')", "{'descr': '<f4'}", "", "\x00" * 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (2**62,), 'x': 1}"])
    elif op == "version":
        members[k] = (name, header, data)
        return f"{name} as .npy version 2", _zip([(n, npy(h, d, 2 if n == name else 1), stored) for n, h, d in members]), None
    elif op == "data":
        data = draw.choice([data[:-1], data + b"\x00" * 4, b"", data[: len(data) // 2]])
    else:  # a valid file: compressed, as np.savez_compressed writes
        return "deflated", _zip([(n, npy(h, d), zipfile.ZIP_DEFLATED) for n, h, d in members]), None
    members[k] = (name, header, data)
    return f"{name} {op} {_short(header)}", pack(members), None


# torch pickles
def _struct_torch(blob: bytes, draw: Draw, nonfinite: bool, legacy: bool) -> tuple[str, bytes, Optional[str]]:
    import torch

    obj = torch.load(io.BytesIO(blob), weights_only=True)
    wrapped = isinstance(obj.get("model"), dict)
    sd: dict[Any, Any] = dict(obj["model"] if wrapped else obj)
    names = list(sd)
    name = draw.choice(names)
    must = None
    if nonfinite:
        label, bad = _poison(sd[name].numpy(), draw)
        sd[name] = torch.from_numpy(bad)
        label, must = f"{name}: {label}", "NaN/Inf weights were accepted"
    else:
        op = draw.choice(["dtype", "shape", "expand", "drop", "rename", "extra", "prefix-duplicate", "wrapper", "value", "key"])
        t = sd[name]
        label = f"{name} {op}"
        if op == "dtype":
            dt = draw.choice([torch.float16, torch.bfloat16, torch.float64, torch.int32, torch.int64, torch.bool, torch.complex64, torch.uint8])
            sd[name] = t.to(dt)
            label += f" {dt}"
        elif op == "shape":
            sd[name] = draw.choice([t.reshape(-1), t.unsqueeze(0), t.t() if t.ndim == 2 else t.flip(0), t[:1], t.reshape(-1)[:0]])
            label += f" {tuple(sd[name].shape)}"
        elif op == "expand":  # a huge tensor that stores one element (stride 0)
            n = draw.choice([2**20, 2**34, 2**40])
            dt = draw.choice([torch.float32, torch.float16, torch.int64])
            sd[name] = torch.zeros(1, dtype=dt).expand(n)
            label += f" to {n} x {dt} with stride 0"
        elif op == "drop":
            del sd[name]
        elif op == "rename":
            sd[name + "_x"] = sd.pop(name)
        elif op == "extra":
            sd["extra.weight"] = torch.ones(2)
        elif op == "prefix-duplicate":  # the same canonical name twice
            sd["module." + name] = t + 1
            must = "a duplicate tensor name (with and without 'module.') was accepted"
        elif op == "wrapper":
            choice = draw.choice(["state_dict", "model_ema", "list", "tensor", "none", "notadict", "nested"])
            label += f" {choice}"
            blob = _torch_save({
                "state_dict": {"state_dict": sd}, "model_ema": {"model_ema": sd, "model": {"x": torch.ones(1)}},
                "list": [sd], "tensor": t, "none": None, "notadict": {"state_dict": "weights"}, "nested": {"a": {"b": sd}},
            }[choice], legacy)
            return f"struct: {label}", blob, None
        elif op == "value":
            sd[name] = draw.choice([1, "x", [t], {"w": t}, None, 1.5])
        else:
            sd[draw.choice([0, 1.5, None, ("a", 1), b"bytes"])] = t
    out = {**obj, "model": sd} if wrapped else sd
    return label, _torch_save(out, legacy), must


def _torch_save(obj: Any, legacy: bool) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


STRUCT: dict[str, Callable[[bytes, Draw, bool], tuple[str, bytes, Optional[str]]]] = {
    "safetensors": _struct_safetensors,
    "ckpt": _struct_ckpt,
    "npz": _struct_npz,
    "torch-zip": lambda b, d, n: _struct_torch(b, d, n, legacy=False),
    "torch-legacy": lambda b, d, n: _struct_torch(b, d, n, legacy=True),
}


# Hugging Face directories: config.json and shard indexes ---------------------------------------
def _config_case(seed: Seed, draw: Draw) -> Case:
    files = dict(seed.files)
    cfg = json.loads(files["config.json"])
    op = draw.choice(["field", "field", "json", "raw", "special"])
    if op == "field":
        key = draw.choice(["num_attention_heads", "layer_norm_eps", "hidden_act", "hidden_size", "num_hidden_layers",
                           "patch_size", "num_channels", "id2label", "model_type", "head_dim", "pooler_act", "qkv_bias"])
        cfg[key] = draw.choice([3, 0, -1, 1.5, HUGE, "x", None, [], {"a": 1}, 1e308, True, {"0": ["x"]}, {"a": "b"}, "gelu_new", "relu"])
        files["config.json"] = json.dumps(cfg).encode()
        label = f"config.json {key} = {cfg[key]!r}"
    elif op == "json":
        label, cfg = _poke_json(cfg, draw)
        files["config.json"] = _dumps(cfg).encode()
        label = f"config.json {label}"
    elif op == "raw":
        files["config.json"] = draw.choice([b"", b"{", b"\xff\xfe{}", b"[]", b"null", b"{" * 100_000, files["config.json"][:20]])
        label = f"config.json = {files['config.json'][:20]!r}"
    else:
        files["config.json"] = Special(draw.choice(["fifo", "dir", "devzero", "loop"]))
        label = f"config.json is a {files['config.json'].kind}"
    return Case(seed.reader, f"config: {label}", files)


def index_case(seed: Seed, draw: Draw, op: Optional[str] = None) -> Case:
    """The weights split into two shards listed in ``model.safetensors.index.json``, the index damaged or not.

    ``op``: valid, missing, traversal (``../``), absolute, self (the index names itself or config.json),
    map (``weight_map`` of the wrong type) or json (any damage); drawn when not given.
    """
    files = {"config.json": seed.files["config.json"]}
    header, data = _split_safetensors(seed.files["model.safetensors"])
    names = [k for k in header if k != "__metadata__"]
    half = len(names) // 2
    shards = {}
    for shard, part in (("model-00001-of-00002.safetensors", names[:half]), ("model-00002-of-00002.safetensors", names[half:])):
        sub, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
        for k in part:
            lo, hi = header[k]["data_offsets"]
            sub[k] = {**header[k], "data_offsets": [offset, offset + hi - lo]}
            chunks.append(data[lo:hi])
            offset += hi - lo
        shards[shard] = _safetensors(sub, b"".join(chunks))
    weight_map = {k: ("model-00001-of-00002.safetensors" if i < half else "model-00002-of-00002.safetensors") for i, k in enumerate(names)}
    files.update(shards)
    outside: dict[str, bytes] = {}
    must = None
    op = op or draw.choice(["valid", "missing", "traversal", "absolute", "self", "map", "json"])
    if op == "missing":
        del files["model-00002-of-00002.safetensors"]
    elif op in ("traversal", "absolute"):
        # the second shard lives outside the model directory; reading it would follow a path out of the folder
        outside["outside.safetensors"] = files.pop("model-00002-of-00002.safetensors")
        target = "../outside.safetensors" if op == "traversal" else ABSOLUTE_OUTSIDE.decode()
        weight_map = {k: (target if v.startswith("model-00002") else v) for k, v in weight_map.items()}
        must = "a shard outside the model directory was read"
    elif op == "self":
        weight_map = {k: draw.choice(["config.json", ".", "", "model.safetensors.index.json"]) for k in weight_map}
    index: Any = {"metadata": {"total_size": len(data)}, "weight_map": weight_map}
    if op == "map":
        index["weight_map"] = draw.choice([[], "x", None, {"a": 5}, {}])
    elif op == "json":
        _, index = _poke_json(index, draw)
    files["model.safetensors.index.json"] = _dumps(index).encode()
    return Case(seed.reader, f"index: {op}", files, must, outside)


# Foreign files -------------------------------------------------------------------------------
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
        return "a zip of text", _zip([("embedding/kernel.npy", b"not an array", zipfile.ZIP_STORED), ("archive/data.pkl", b"x", zipfile.ZIP_STORED)])
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
        return "a safetensors header without data", _safetensors({"patch_embed.proj.weight": {"dtype": "F32", "shape": [HUGE], "data_offsets": [0, HUGE * 4 % 2**64]}}, b"")
    other = draw.choice(others)
    main = READERS[other.reader].main or ""
    return f"a {other.reader} file", other.files[main]
