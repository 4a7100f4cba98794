"""The MindSpore ``.ckpt`` container, read and written without MindSpore.

A ``.ckpt`` file (MindSpore 2.x, ``mindspore/train/checkpoint.proto``) is a run of
serialized ``Checkpoint`` messages, one ``Value`` each, back to back (protobuf
merges repeated fields, so the whole file is also one ``Checkpoint``)::

    message Checkpoint { message Value { required string tag = 1;
                                         oneof value { TensorProto tensor = 2; MapTensorProto maptensor = 3; } }
                         repeated Value value = 1; }
    message TensorProto { repeated int64 dims = 1; required string tensor_type = 2; required bytes tensor_content = 3; }

Details this module follows: ``tensor_type`` is MindSpore's dtype name
(``"Float32"``, ``"Int64"``, ...) or ``"str"`` for a string (UTF-32-LE, dims ``[0]``);
a scalar has dims ``[]``; a tensor over 512 MiB is split into consecutive values
with the same tag; ``save_checkpoint(crc_check=True)`` appends ``b"crc_num"`` and
the CRC-32 of everything before it as 10 big-endian bytes. Encrypted files
cannot be read.

The records are framed here (so no length a file claims is ever allocated
before it is checked against the file size) and each record is decoded by the
``protobuf`` package.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.ckpt"
    >>> write_ckpt(path, {"w": np.ones((2, 3), np.float32), "note": "hi"})
    >>> ck = read_ckpt(path)
    >>> ck.tensors["w"].shape, ck.strings["note"]
    ((2, 3), 'hi')
"""

from __future__ import annotations

import binascii
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping, Optional, Union

import numpy as np

from vitzoo.errors import CheckpointError
from vitzoo.fileio import atomic_path

# MindSpore dtype names ↔ little-endian NumPy dtypes.
_NP_OF_MS = {
    "Float16": "<f2", "Float32": "<f4", "Float64": "<f8", "BFloat16": "<u2",
    "Int8": "i1", "Int16": "<i2", "Int32": "<i4", "Int64": "<i8",
    "UInt8": "u1", "UInt16": "<u2", "UInt32": "<u4", "UInt64": "<u8", "Bool": "?",
}
_MS_OF_NP = {np.dtype(v).str: k for k, v in _NP_OF_MS.items() if k != "BFloat16"}
_CRC_MARK = b"crc_num"
_CRC_TRAILER = len(_CRC_MARK) + 10
_SLICE_BYTES = 512 * 1024 * 1024  # MindSpore's own split size
_HEAD_PEEK = 4096  # enough bytes of a record to hold its tag


@dataclass
class CkptFile:
    """The entries of a ``.ckpt`` file, in file order.

    ``tensors`` maps tags to arrays (bfloat16 widened to float32), ``strings``
    holds string entries, ``skipped`` names entries that are not plain tensors
    (MindSpore MapParameters).
    """

    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    strings: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    has_crc: bool = False


@functools.lru_cache(maxsize=1)
def _messages() -> tuple[Any, Any]:
    """The ``Checkpoint`` and ``Checkpoint.Value`` message classes, built from a descriptor in code."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="vitzoo_ms_checkpoint.proto", package="vitzoo_ms", syntax="proto2")

    def add(msg: Any, name: str, number: int, ftype: int, label: int, type_name: str = "", oneof: Optional[int] = None) -> None:
        f = msg.field.add(name=name, number=number, type=ftype, label=label)
        if type_name:
            f.type_name = type_name
        if oneof is not None:
            f.oneof_index = oneof

    tensor = fdp.message_type.add(name="TensorProto")
    add(tensor, "dims", 1, F.TYPE_INT64, F.LABEL_REPEATED)
    add(tensor, "tensor_type", 2, F.TYPE_STRING, F.LABEL_REQUIRED)
    add(tensor, "tensor_content", 3, F.TYPE_BYTES, F.LABEL_REQUIRED)
    map_tensor = fdp.message_type.add(name="MapTensorProto")
    add(map_tensor, "tensor", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".vitzoo_ms.TensorProto")
    ckpt = fdp.message_type.add(name="Checkpoint")
    value = ckpt.nested_type.add(name="Value")
    value.oneof_decl.add(name="value")
    add(value, "tag", 1, F.TYPE_STRING, F.LABEL_REQUIRED)
    add(value, "tensor", 2, F.TYPE_MESSAGE, F.LABEL_OPTIONAL, ".vitzoo_ms.TensorProto", oneof=0)
    add(value, "maptensor", 3, F.TYPE_MESSAGE, F.LABEL_OPTIONAL, ".vitzoo_ms.MapTensorProto", oneof=0)
    add(ckpt, "value", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".vitzoo_ms.Checkpoint.Value")

    pool = descriptor_pool.DescriptorPool()  # private: MindSpore's own pool may hold checkpoint.proto too
    pool.Add(fdp)
    checkpoint_cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("vitzoo_ms.Checkpoint"))
    value_cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("vitzoo_ms.Checkpoint.Value"))
    return checkpoint_cls, value_cls


# Framing ----------------------------------------------------------------------
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a protobuf varint at ``pos``; ``(value, next_pos)``, or ``(-1, pos)`` if malformed."""
    result = shift = 0
    for i in range(pos, min(pos + 10, len(buf))):
        byte = buf[i]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i + 1
        shift += 7
    return -1, pos


def _payload_end(fh: BinaryIO, size: int) -> tuple[int, bool]:
    """Where the records end, and whether a CRC trailer follows them."""
    if size >= _CRC_TRAILER:
        fh.seek(size - _CRC_TRAILER)
        if fh.read(len(_CRC_MARK)) == _CRC_MARK:
            return size - _CRC_TRAILER, True
    return size, False


def _frames(fh: BinaryIO, end: int) -> Iterator[tuple[int, int, Optional[str]]]:
    """``(body_offset, body_length, tag)`` of every record, checked against the file size.

    ``tag`` is ``None`` when it is not the record's first field (then the
    record must be decoded to learn it). Raises ``ValueError`` on bad framing.
    """
    pos = 0
    while pos < end:
        fh.seek(pos)
        head = fh.read(min(_HEAD_PEEK, end - pos))
        if head[:1] != b"\x0a":  # field 1 (value), length-delimited
            raise ValueError(f"byte {pos} does not start a checkpoint record")
        length, body = _varint(head, 1)
        if length < 0 or pos + body + length > end:
            raise ValueError(f"the record at byte {pos} claims {length} bytes, more than the file holds")
        tag = None
        if head[body : body + 1] == b"\x0a":
            tag_len, tag_at = _varint(head, body + 1)
            if 0 <= tag_len and tag_at + tag_len <= min(len(head), body + length):
                tag = head[tag_at : tag_at + tag_len].decode("utf-8", errors="replace")
        yield pos + body, length, tag
        pos += body + length


def list_tags(path: "str | os.PathLike[str]") -> Optional[list[str]]:
    """The tags of a ``.ckpt`` file from its record headers only, or ``None`` if it is not one.

    Cheap (no tensor data is read), so format detectors can call it.
    """
    p = Path(path)
    try:
        if not p.is_file():
            return None
        stat = p.stat()
        tags = _list_tags_cached(str(p), stat.st_size, stat.st_mtime_ns)
        return None if tags is None else list(tags)
    except OSError:
        return None


@functools.lru_cache(maxsize=32)
def _list_tags_cached(path: str, size: int, mtime_ns: int) -> Optional[list[str]]:
    del mtime_ns  # part of the cache key only
    _, value_cls = _messages()
    tags: list[str] = []
    try:
        with open(path, "rb") as fh:
            end, _ = _payload_end(fh, size)
            if end == 0:
                return None
            for offset, length, tag in _frames(fh, end):
                if tag is None:
                    fh.seek(offset)
                    tag = value_cls.FromString(fh.read(length)).tag
                if isinstance(tag, bytes):  # protobuf hands back a proto2 string that is not UTF-8 as bytes
                    tag = tag.decode("utf-8", errors="replace")
                if not tags or tags[-1] != tag:  # a split tensor repeats its tag
                    tags.append(tag)
    except Exception:  # noqa: BLE001 - bad framing: not a .ckpt, or a damaged one
        # A damaged .ckpt whose first records are sound still counts as one, so that
        # reading it reports the damage instead of "unknown format".
        return tags or None
    return tags


# Reading ------------------------------------------------------------------------
def read_ckpt(path: "str | os.PathLike[str]") -> CkptFile:
    """Read every entry of a MindSpore ``.ckpt`` file.

    Raises :class:`CheckpointError` (one sentence) for a missing, truncated,
    corrupt, encrypted or foreign file; a CRC trailer, when present, is checked.
    """
    p = Path(path)
    if not p.is_file():
        what = "is not a file" if p.exists() else "does not exist"
        raise CheckpointError(f"Checkpoint file {str(p)!r} {what}.")
    try:
        return _read(p)
    except CheckpointError:
        raise
    except MemoryError:
        raise CheckpointError(f"{str(p)!r} is too large to read into memory.") from None
    except Exception as exc:  # noqa: BLE001 - protobuf and framing errors all mean a damaged file
        raise CheckpointError(
            f"{str(p)!r} is not a readable MindSpore .ckpt file ({_reason(exc)}); it may be truncated, corrupt or encrypted."
        ) from None


def _reason(exc: Exception) -> str:
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    return text.splitlines()[0]


def _read(p: Path) -> CkptFile:
    _, value_cls = _messages()
    out = CkptFile()
    pending: list[Any] = []  # consecutive values of one (split) tensor
    with open(p, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        end, out.has_crc = _payload_end(fh, size)
        if end == 0:
            raise ValueError("it holds no records")
        crc = 0
        frames = list(_frames(fh, end))
        fh.seek(0)
        for offset, length, _ in frames:
            head = fh.read(offset - fh.tell())  # the record's key and length bytes
            body = fh.read(length)
            if len(body) != length:
                raise ValueError("the file changed while it was read")
            if out.has_crc:
                crc = binascii.crc32(body, binascii.crc32(head, crc))
            value = value_cls.FromString(body)
            if not value.IsInitialized():
                raise ValueError(f"record {value.tag!r} lacks required fields")
            if not isinstance(value.tag, str) or (value.HasField("tensor") and not isinstance(value.tensor.tensor_type, str)):
                raise ValueError(f"the record at byte {offset} has a name or type that is not UTF-8 text")
            if pending and pending[0].tag != value.tag:
                _finish(pending, out, p)
                pending = []
            pending.append(value)
        if pending:
            _finish(pending, out, p)
        if out.has_crc:
            fh.seek(end + len(_CRC_MARK))
            stored = int.from_bytes(fh.read(10), "big")
            if stored != crc:
                raise CheckpointError(f"{str(p)!r} fails its CRC check (stored {stored:#x}, computed {crc:#x}); the file is damaged.")
    return out


def _finish(values: list[Any], out: CkptFile, p: Path) -> None:
    """Turn the values of one tag into an entry of ``out``."""
    tag = values[0].tag
    if tag in out.tensors or tag in out.strings:
        raise CheckpointError(f"{str(p)!r} holds the entry {tag!r} twice; the file is damaged.")
    if not values[0].HasField("tensor"):
        out.skipped.append(tag)
        return
    tensor = values[-1].tensor
    content = b"".join(v.tensor.tensor_content for v in values)
    ttype = tensor.tensor_type
    if ttype == "str":
        try:
            out.strings[tag] = content.decode("utf-32-le")
        except UnicodeDecodeError:
            raise CheckpointError(f"{str(p)!r}: string entry {tag!r} is not valid UTF-32; the file is damaged.") from None
        return
    if ttype not in _NP_OF_MS:
        raise CheckpointError(f"{str(p)!r}: entry {tag!r} has unknown tensor type {ttype!r}.")
    dtype = np.dtype(_NP_OF_MS[ttype])
    dims = [int(d) for d in tensor.dims]
    if any(d < 0 for d in dims):
        raise CheckpointError(f"{str(p)!r}: entry {tag!r} claims a negative dimension {dims}; the file is damaged.")
    if dims == [0] and len(content) == dtype.itemsize:
        dims = []  # MindSpore's loader reads dims [0] with one element as a scalar
    expected = int(np.prod(dims, dtype=object)) * dtype.itemsize if dims else dtype.itemsize
    if expected != len(content):  # checked before any array is built from the claimed shape
        raise CheckpointError(
            f"{str(p)!r}: entry {tag!r} claims shape {tuple(dims)} of {ttype} ({expected} bytes) "
            f"but holds {len(content)} bytes; the file is damaged."
        )
    array = np.frombuffer(content, dtype=dtype).reshape(dims)
    if ttype == "BFloat16":  # NumPy has no bfloat16: widen exactly to float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    out.tensors[tag] = array.astype(array.dtype.newbyteorder("="), copy=True)


# Writing --------------------------------------------------------------------
Entry = Union[np.ndarray, str]


def write_ckpt(path: "str | os.PathLike[str]", entries: Mapping[str, Entry], *, crc: bool = False) -> None:
    """Write ``entries`` (tag → array or string) as a ``.ckpt`` that ``mindspore.load_checkpoint`` reads.

    The file is written atomically; ``crc=True`` appends MindSpore's CRC trailer.
    """
    checkpoint_cls, _ = _messages()
    records = []
    for tag, data in entries.items():
        if isinstance(data, str):
            chunks, dims, ttype = [data.encode("utf-32-le")], [0], "str"
        else:
            array = np.asarray(data)
            key = array.dtype.newbyteorder("<").str if array.dtype.byteorder in "=<>" else array.dtype.str
            if key not in _MS_OF_NP:
                raise CheckpointError(f"Cannot write tensor {tag!r} of dtype {array.dtype} to a .ckpt file; use a numeric dtype.")
            raw = np.ascontiguousarray(array, dtype=np.dtype(key)).tobytes()
            chunks = [raw[i : i + _SLICE_BYTES] for i in range(0, len(raw), _SLICE_BYTES)] or [b""]
            dims, ttype = list(array.shape), _MS_OF_NP[key]
        records.append((tag, dims, ttype, chunks))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        checksum = 0
        for tag, dims, ttype, chunks in records:
            for chunk in chunks:
                msg = checkpoint_cls()
                value = msg.value.add()
                value.tag = tag
                value.tensor.dims.extend(dims)
                value.tensor.tensor_type = ttype
                value.tensor.tensor_content = chunk
                blob = msg.SerializeToString()
                checksum = binascii.crc32(blob, checksum)
                fh.write(blob)
        if crc:
            fh.write(_CRC_MARK + checksum.to_bytes(10, "big"))
