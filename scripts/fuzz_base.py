"""Building blocks of the reader fuzzer: readers under test, cases, parameter sources, file codecs.

The codecs write each container exactly as asked, lies included (a safetensors
header whose shapes disagree with its data, an ``.npy`` header claiming 2**62
elements, a ``.ckpt`` record without a required field): the mutations in
``fuzz_lies.py`` and ``fuzz_cases.py`` are built from them.

Example:
    >>> npy({"descr": "<f4", "fortran_order": False, "shape": (2**62,)}, b"")[:6]
    b'\\x93NUMPY'
"""

from __future__ import annotations

import io
import json
import os
import struct
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from vitzoo.spec import ViTSpec

# Small enough that a read takes milliseconds, big enough to have every kind of tensor.
SPEC = ViTSpec(img_size=16, patch_size=8, embed_dim=16, depth=2, num_heads=2, mlp_dim=32, num_classes=3)
# What a caller says about the seeds: the fields their tensors cannot show (``weights.read(path, variant=HINT)``).
HINT = {"num_heads": SPEC.num_heads, "norm_eps": SPEC.norm_eps, "gelu": SPEC.gelu, "global_pool": SPEC.global_pool}
HUGE = 2**62
ABSOLUTE_OUTSIDE = b"@ABSOLUTE-OUTSIDE@"  # replaced, when a case is written, by the absolute path of its bait file


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


# Readers, cases, seeds -------------------------------------------------------------
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
        Reader("hf-deit", "hf", "", "safetensors", main="model.safetensors"),
        Reader("hf-dinov2", "hf", "", "safetensors", main="model.safetensors"),
        Reader("hf-clip", "hf", "", "safetensors", main="model.safetensors"),
        Reader("hf-siglip", "hf", "", "safetensors", main="model.safetensors"),
        Reader("hf-beit", "hf", "", "safetensors", main="model.safetensors"),
        Reader("hf-aimv2", "hf", "", "safetensors", main="model.safetensors"),
        Reader("hf-aimv2-native", "hf", "", "safetensors", main="model.safetensors"),
        Reader("open_clip", "open_clip", ".bin", "torch-zip"),
        Reader("dinov2", "dinov2", ".pth", "torch-zip"),
        Reader("dinov3", "dinov3", ".pth", "torch-zip"),
        Reader("timm-naflex", "timm", "", "safetensors", main="model.safetensors"),  # a timm hub folder: config.json names the NaFlex arch
        Reader("hf-siglip2", "hf", "", "safetensors", main="model.safetensors"),
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
    spec: ViTSpec = SPEC
    dropped: tuple[str, ...] = ()  # source tensors the reader drops (a text tower, DINOv2's mask_token)

    def case(self, label: str = "valid seed") -> Case:
        return Case(self.reader, label, dict(self.files))


# Codecs ----------------------------------------------------------------------------
def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(buf):
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            break
        shift += 7
    return value, pos


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
                length, body = read_varint(blob, pos + 1)
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


def zip_bytes(members: Sequence[tuple[str, bytes, int]]) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as zf:
        warnings.simplefilter("ignore")  # "Duplicate name": some cases want exactly that
        for name, content, compress in members:
            zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), content, compress_type=compress)
    return out.getvalue()


class Deep:
    """Stands for JSON nested ``depth`` deep: rendered as text, since Python cannot build it."""

    def __init__(self, depth: int) -> None:
        self.depth = depth


def dumps(obj: Any) -> str:
    """``json.dumps`` that renders :class:`Deep` placeholders."""
    marks: dict[str, int] = {}

    def default(o: Any) -> Any:
        if isinstance(o, Deep):
            key = f"@@deep{len(marks)}@@"
            marks[key] = o.depth
            return key
        raise TypeError(type(o).__name__)

    text = json.dumps(obj, default=default, separators=(",", ":"))
    for key, depth in marks.items():
        text = text.replace(json.dumps(key), "[" * depth + "]" * depth)
    return text


def split_safetensors(blob: bytes) -> tuple[dict[str, Any], bytes]:
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def safetensors_bytes(header: Any, data: bytes, *, duplicate: Optional[str] = None, pad: bytes = b" ") -> bytes:
    text = dumps(header)
    if duplicate is not None:  # the same key twice in the JSON object
        entry = dumps({duplicate: header[duplicate]})[1:-1]
        text = "{" + entry + "," + text[1:]
    raw = text.encode()
    raw += pad * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


def ckpt_records(blob: bytes) -> list[Any]:
    from vitzoo.weights.ms_checkpoint import _messages

    checkpoint_cls, _ = _messages()
    return list(checkpoint_cls.FromString(blob).value)


def ckpt_bytes(records: Sequence[Any], trailer: bytes = b"") -> bytes:
    from vitzoo.weights.ms_checkpoint import _messages

    checkpoint_cls, _ = _messages()
    out = b""
    for value in records:
        msg = checkpoint_cls()
        msg.value.add().CopyFrom(value)
        out += msg.SerializePartialToString()
    return out + trailer


def npz_members(blob: bytes) -> list[tuple[str, dict[str, Any], bytes]]:
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


def torch_bytes(obj: Any, legacy: bool) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()
