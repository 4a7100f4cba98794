"""Vet a PyTorch checkpoint's pickle before ``torch.load(weights_only=True)`` opens it.

torch's weights-only unpickler runs no code from the file, but it still calls the
constructors it allows with arguments the file chooses: a 200-byte ``.pth`` holding
``bytearray(2**34)`` makes it allocate and zero 16 GiB, and a legacy (pre-zip) file
makes it allocate every storage at the size its pickle claims before reading a byte
of data. A state dict needs none of that. :func:`check` replays the pickle with
inert stand-ins (nothing is imported, nothing real is called) and accepts only what
state dicts and training checkpoints hold: containers, numbers, strings,
``OrderedDict`` and tensors (or parameters) that fit storages whose claimed sizes
add up to no more than the file holds.

Example:
    >>> check("vit_base_patch16_224.pth")   # doctest: +SKIP
"""

from __future__ import annotations

import _compat_pickle
import io
import math
import os
import pickle
import pickletools
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

from vitzoo.errors import CheckpointError, reason

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # the first pickle of a pre-zip torch.save file
_LEGACY_HEAD = 64 << 20  # the pickles of a legacy file precede its data; they are far smaller than this
_ITEMSIZE = {
    "Double": 8, "Float": 4, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4, "Short": 2, "Char": 1,
    "Byte": 1, "Bool": 1, "ComplexFloat": 8, "ComplexDouble": 16,
}  # fmt: skip
_TENSORS = {"torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2"}
_PARAMETERS = {"torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state"}


class _Refused(Exception):
    """The pickle does something a state dict never does (the message says what)."""


def check(path: "str | os.PathLike[str]") -> None:
    """Raise :class:`CheckpointError` unless ``path`` is a torch file that only holds plain weights.

    Works on both the zip format (``torch.save`` since 1.6) and the legacy one.
    """
    path = Path(path)
    source = repr(str(path))
    try:
        size = path.stat().st_size
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                _scan(io.BytesIO(_data_pkl(zf, size)), size)
        else:
            with open(path, "rb") as fh:
                head = io.BytesIO(fh.read(min(size, _LEGACY_HEAD)))
            if _scan(head, size) != LEGACY_MAGIC:
                raise _Refused("does not start like a torch.save file")
            for _ in range(4):  # protocol version, system info, the object itself, then its storage keys
                _scan(head, size)
    except _Refused as exc:
        raise CheckpointError(
            f"{source} is not a plain PyTorch state dict: its pickle {exc}; vitzoo will not load it "
            "(re-save the weights with safetensors)."
        ) from None
    except Exception as exc:  # noqa: BLE001 - a dry run with inert stand-ins: any error means a damaged file
        raise CheckpointError(f"{source} is not a readable PyTorch checkpoint ({reason(exc)}); it is truncated or corrupt.") from None


def _data_pkl(zf: zipfile.ZipFile, size: int) -> bytes:
    """The bytes of ``<archive>/data.pkl``, once every member is known to lie inside the file."""
    infos = zf.infolist()
    for info in infos:
        if info.header_offset + info.compress_size > size:
            raise _Refused(f"archive member {info.filename!r} claims more bytes than the file holds")
    pickles = [i for i in infos if i.filename == "data.pkl" or i.filename.endswith("/data.pkl")]
    if len(pickles) != 1:
        raise _Refused("archive has no single data.pkl record")
    if pickles[0].file_size > size * 1100 + 1024:  # beyond deflate's best ratio: a lie about its size
        raise _Refused("record data.pkl claims an impossible size")
    return zf.read(pickles[0])


def _scan(stream: BinaryIO, file_size: int) -> Any:
    """Replay the next pickle in ``stream`` with stand-ins; return what it builds."""
    start = stream.tell()
    for _ in pickletools.genops(stream):  # every length inside is checked against the data first
        pass
    stream.seek(start)
    return _Replay(stream, file_size).load()


class _Storage:
    __slots__ = ("elements",)

    def __init__(self, elements: int) -> None:
        self.elements = elements


class _Tensor:
    """What a rebuilt tensor or parameter stands for; BUILD may set state on it."""

    def __setstate__(self, state: Any) -> None:
        pass


class _Dict(dict):
    """An ``OrderedDict`` stand-in; BUILD may set state on it (``state_dict()`` carries ``_metadata``)."""

    def __setstate__(self, state: Any) -> None:
        pass


class _Global:
    """A global the pickle names: calling it goes through :meth:`_Replay.call`, nothing is imported."""

    def __init__(self, name: str, replay: "_Replay") -> None:
        self.name, self.replay = name, replay

    def __call__(self, *args: Any) -> Any:
        return self.replay.call(self.name, args)


class _Replay(pickle._Unpickler):  # the pure-Python one: its memo is a dict, so LONG_BINPUT 2**31 allocates nothing
    def __init__(self, stream: BinaryIO, file_size: int) -> None:
        super().__init__(stream)
        self.file_size = file_size
        self.claimed = 0
        self.storages: dict[Any, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (_compat_pickle.IMPORT_MAPPING.get(module, module), name))
        return _Global(f"{module}.{name}", self)  # Python 2 spellings (protocol 2: __builtin__) mapped as pickle does

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _Global)):
            raise _Refused("holds a persistent object that is not a tensor storage")
        kind, key, numel = pid[1].name.rsplit(".", 1)[-1], pid[2], pid[4]
        itemsize = 1 if kind == "UntypedStorage" else _ITEMSIZE.get(kind[: -len("Storage")] if kind.endswith("Storage") else "")
        if itemsize is None or not _is_count(numel) or not isinstance(key, (str, int)):
            raise _Refused(f"holds a storage of unknown type {pid[1].name!r} or size")
        if key not in self.storages:
            self.claimed += numel * itemsize
            if self.claimed > self.file_size:
                raise _Refused(f"claims {self.claimed} bytes of tensor data but the file holds {self.file_size}")
            self.storages[key] = _Storage(numel)
        return self.storages[key]

    def call(self, name: str, args: tuple[Any, ...]) -> Any:
        if name == "collections.OrderedDict" and not args:
            return _Dict()
        if name in _TENSORS and len(args) >= 4:
            _check_view(*args[:4])
            return _Tensor()
        if name in _PARAMETERS and args and isinstance(args[0], _Tensor):
            return _Tensor()
        if name == "_codecs.encode" and all(isinstance(a, str) for a in args):
            return b""  # how protocol 2 spells bytes; the size is the string's, already in the file
        if name in ("builtins.set", "builtins.frozenset", "builtins.complex"):
            return _Tensor()  # sized by their arguments, which are already in the file
        raise _Refused(f"calls {name}{_brief(args)}, which a state dict never does")


def _check_view(storage: Any, offset: Any, size: Any, stride: Any) -> None:
    """A tensor must lie inside its storage and hold no more elements than it stores (no stride-0 blow-up)."""
    if not (isinstance(storage, _Storage) and _is_count(offset) and isinstance(size, tuple) and isinstance(stride, tuple)
            and len(size) == len(stride) and all(_is_count(v) for v in size + stride)):
        raise _Refused("rebuilds a tensor from malformed arguments")
    numel = math.prod(size)
    if numel and (numel > storage.elements or offset + sum((n - 1) * s for n, s in zip(size, stride)) >= storage.elements):
        raise _Refused(f"rebuilds a tensor of shape {size} that does not fit its storage of {storage.elements} elements")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _brief(args: tuple[Any, ...]) -> str:
    text = repr(tuple(a for a in args if not isinstance(a, (_Tensor, _Storage, _Global))))
    return text if len(text) < 40 else text[:37] + "...)"
