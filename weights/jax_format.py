"""Google's JAX/Flax ViT checkpoints (``.npz``, the original and "augreg" releases).

Layout (flattened Flax parameter tree): ``embedding/kernel`` [kh, kw, in, D],
``cls``, ``Transformer/posembed_input/pos_embedding``, per block
``Transformer/encoderblock_{i}/`` with ``LayerNorm_0`` (before attention),
``MultiHeadDotProductAttention_1/{query,key,value}/kernel`` [D, H, D/H] and
``bias`` [H, D/H], ``.../out/kernel`` [H, D/H, D], ``LayerNorm_2``,
``MlpBlock_3/Dense_{0,1}``, then ``Transformer/encoder_norm``, optional
``pre_logits`` and ``head`` (Dense kernels are [in, out]). Checkpoints saved with
their optimizer keep the weights under ``opt/target/``. The head count comes from
the attention kernels; eps is 1e-6 and the GELU exact, as timm loads them.

The writer produces the same layout (uncompressed ``np.savez``), which timm's
``_load_weights`` reads, so a round trip is bit-exact.

Example:
    >>> from vitzoo import weights
    >>> ckpt = weights.read("ViT-B_16.npz")  # doctest: +SKIP
    >>> weights.write(ckpt, "copy.npz", format="jax")  # doctest: +SKIP
"""

from __future__ import annotations

import io
import math
import mmap
import re
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from vitzoo.errors import CheckpointError, reason
from vitzoo.fileio import atomic_path
from vitzoo.weights import safetensors_io
from vitzoo.weights.base import Checkpoint, WeightFormat, as_float32, register_format, require_file
from vitzoo.weights.infer import Hint, infer_spec

ANCHOR = "embedding/kernel"
_PREFIXES = ("", "opt/target/")
_BLOCK = re.compile(r"^Transformer/encoderblock_(\d+)/(.+)$")
_MHA = "MultiHeadDotProductAttention_1/"
# Per-block parameters that map one to one (kernels are transposed): JAX suffix -> canonical part.
_BLOCK_DIRECT = {
    "LayerNorm_0/scale": "norm1.weight", "LayerNorm_0/bias": "norm1.bias",
    "LayerNorm_2/scale": "norm2.weight", "LayerNorm_2/bias": "norm2.bias",
    "MlpBlock_3/Dense_0/kernel": "mlp.fc1.weight", "MlpBlock_3/Dense_0/bias": "mlp.fc1.bias",
    "MlpBlock_3/Dense_1/kernel": "mlp.fc2.weight", "MlpBlock_3/Dense_1/bias": "mlp.fc2.bias",
    _MHA + "out/bias": "attn.proj.bias",
}  # fmt: skip
_TOP_DIRECT = {
    "embedding/bias": "patch_embed.proj.bias",
    "cls": "cls_token",
    "Transformer/posembed_input/pos_embedding": "pos_embed",
    "Transformer/encoder_norm/scale": "norm.weight", "Transformer/encoder_norm/bias": "norm.bias",
    "pre_logits/kernel": "pre_logits.fc.weight", "pre_logits/bias": "pre_logits.fc.bias",
    "head/kernel": "head.weight", "head/bias": "head.bias",
}  # fmt: skip


def detect(path: Path) -> bool:
    """An ``.npz`` archive (a zip of ``.npy`` files) with a ViT patch-embedding kernel."""
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except Exception:  # noqa: BLE001 - zipfile raises many types (UnicodeDecodeError, struct.error, ...) on damage
        return False
    return any(f"{p}{ANCHOR}.npy" in names for p in _PREFIXES)


def read(path: Path, variant: Hint = None) -> Checkpoint:
    """Read a JAX ``.npz``; the tensors fix everything, ``variant`` is not needed."""
    path = require_file(path)
    source = repr(str(path))
    with _MappedNpz(path, source) as npz:
        keys = list(npz.files)
        prefix = next((p for p in _PREFIXES if f"{p}{ANCHOR}" in keys), None)
        if prefix is None:
            raise CheckpointError(f"{source} has no {ANCHOR!r} array; it is not a JAX ViT checkpoint (big_vision layouts are not supported).")
        dropped = [k for k in keys if not k.startswith(prefix)]  # optimizer state beside opt/target/
        try:
            state, heads = _to_canonical(npz, prefix, source)
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise CheckpointError(f"{source} cannot be read ({reason(exc)}); it is corrupt, truncated or holds pickled objects.") from None
    config: dict[str, Any] = {"norm_eps": 1e-6, "gelu": "exact", "num_heads": heads}
    # the original ViT's classifier: 'token' when it has a class token, else 'gap' (nothing else writes this layout)
    config["global_pool"] = "token" if "cls_token" in state else "avg"
    spec = infer_spec(state, source, config=config, hint=variant)
    meta = {"source_format": "jax", "source": str(path)}
    return Checkpoint(state=state, spec=spec, meta=meta, dropped=dropped).validate(source)


def write(ckpt: Checkpoint, path: Path) -> None:
    """Write the JAX layout as an uncompressed ``.npz`` (atomically)."""
    ckpt.validate()
    spec = ckpt.spec
    bad = [
        text
        for cond, text in (
            (spec.reg_tokens or spec.fc_norm or spec.pre_norm or spec.layer_scale or spec.qk_norm, "register tokens, fc_norm, norm_pre, layer scale or q/k norm"),
            (not spec.patch_bias or not spec.qkv_bias, "a model without patch or qkv biases"),
            (spec.dist_token or spec.mlp_type != "mlp" or spec.global_pool == "map" or spec.gelu == "quick", "distillation token, SwiGLU MLP, attention-pool head or QuickGELU"),
            (spec.class_token and (not spec.pos_embed_prefix or spec.global_pool != "token"), "class-token models that pool otherwise"),
        )
        if cond
    ]
    if bad:
        raise CheckpointError(f"Google's JAX ViT layout has no {'; no '.join(bad)}; convert these weights to vitzoo or timm instead.")
    s, d, h, hd = ckpt.state, spec.embed_dim, spec.num_heads, spec.head_dim
    out: dict[str, np.ndarray] = {ANCHOR: s["patch_embed.proj.weight"].transpose(2, 3, 1, 0)}  # OIHW -> HWIO
    for jax_name, name in _TOP_DIRECT.items():
        if name in s:
            out[jax_name] = s[name].T if jax_name.endswith("/kernel") else s[name]
    for i in range(spec.depth):
        b, p = f"Transformer/encoderblock_{i}/", f"blocks.{i}."
        for suffix, part in _BLOCK_DIRECT.items():
            out[b + suffix] = s[p + part].T if suffix.endswith("/kernel") else s[p + part]
        qkv_w, qkv_b = s[p + "attn.qkv.weight"], s[p + "attn.qkv.bias"]
        for j, which in enumerate(("query", "key", "value")):
            out[f"{b}{_MHA}{which}/kernel"] = qkv_w[j * d : (j + 1) * d].T.reshape(d, h, hd)
            out[f"{b}{_MHA}{which}/bias"] = qkv_b[j * d : (j + 1) * d].reshape(h, hd)
        out[f"{b}{_MHA}out/kernel"] = s[p + "attn.proj.weight"].T.reshape(h, hd, d)
    # What np.savez does, one array at a time: each transposed view is copied to C order alone.
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in out.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(value), allow_pickle=False)


class _MappedNpz:
    """An ``.npz`` opened like ``np.load(allow_pickle=False)``, with uncompressed members memory-mapped.

    Stored (``np.savez``) members become read-only views into a map of the file, so
    nothing is read until a tensor is used; compressed members are read by NumPy.
    Every member's ``.npy`` header is checked first: its claimed shape must fit the
    bytes the member really holds, so no size a file merely claims is allocated.
    """

    def __init__(self, path: Path, source: str) -> None:
        self.source = source
        if not zipfile.is_zipfile(path):  # np.load would take a bare .npy or a pickle too
            raise CheckpointError(f"{source} is not a .npz archive (a zip of .npy arrays), so it is not a JAX checkpoint.")
        try:
            self._npz = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise CheckpointError(f"{source} is not a readable .npz archive ({reason(exc)}).") from None
        if not isinstance(self._npz, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{source} is a single .npy array, not a JAX checkpoint (.npz).")
        names = self._npz.zip.namelist()
        if len(set(names)) != len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise CheckpointError(f"{source} holds the array {twice!r} twice; the archive is damaged.")
        self.files: list[str] = list(self._npz.files)
        self._members = {i.filename[: -len(".npy")]: i for i in self._npz.zip.infolist() if i.filename.endswith(".npy")}
        with open(path, "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self._bytes = np.frombuffer(self._map, dtype=np.uint8)

    def __enter__(self) -> "_MappedNpz":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._npz.close()  # mapped views stay valid: the map outlives the archive

    def __getitem__(self, key: str) -> np.ndarray:
        info = self._members.get(key)
        if info is None:
            raise KeyError(key)
        start, (shape, fortran, dtype), offset = self._header(key, info)
        if info.compress_type == zipfile.ZIP_STORED:
            nbytes = math.prod(shape) * dtype.itemsize
            begin = start + offset
            return self._bytes[begin : begin + nbytes].view(dtype).reshape(shape, order="F" if fortran else "C")
        try:  # compressed: NumPy inflates exactly the bytes whose size was just checked
            return self._npz[key]
        except Exception as exc:  # noqa: BLE001 - zlib, zipfile and NumPy errors all mean a damaged member
            raise CheckpointError(f"{self.source}: array {key!r} cannot be read ({reason(exc)}); the archive is damaged.") from None

    def _header(self, key: str, info: zipfile.ZipInfo) -> tuple[int, tuple[tuple[int, ...], bool, np.dtype], int]:
        """Where the member's data starts, its (shape, fortran order, dtype), and the header length."""
        damaged = f"{self.source}: array {key!r}"
        local = self._map[info.header_offset : info.header_offset + 30]
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            raise CheckpointError(f"{damaged} has no valid zip entry; the archive is damaged.")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        start = info.header_offset + 30 + name_len + extra_len
        stored = info.compress_type == zipfile.ZIP_STORED
        if stored and (info.compress_size != info.file_size or start + info.file_size > len(self._map)):
            raise CheckpointError(f"{damaged} claims {info.file_size} bytes but the archive ends first; it is truncated.")
        if not stored and info.file_size > 1100 * info.compress_size + 1024:  # beyond deflate's best ratio: a lie
            raise CheckpointError(f"{damaged} claims {info.file_size} bytes from {info.compress_size} compressed; the archive is damaged.")
        try:
            if stored:
                head = io.BytesIO(self._map[start : start + min(info.file_size, 1 << 20)])
            else:
                with self._npz.zip.open(info) as fh:
                    head = io.BytesIO(fh.read(min(info.file_size, 1 << 20)))
            version = np.lib.format.read_magic(head)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f".npy format version {version} is not supported")
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = reader(head)
        except Exception as exc:  # noqa: BLE001 - NumPy's header parser raises ValueError, SyntaxError, TokenError...
            raise CheckpointError(f"{damaged} has a corrupt .npy header ({reason(exc)}).") from None
        if dtype.hasobject:
            raise CheckpointError(f"{damaged} holds Python objects (a pickle); vitzoo never unpickles checkpoint data.")
        nbytes = math.prod(shape) * dtype.itemsize
        if min(shape, default=0) < 0 or head.tell() + nbytes > info.file_size:
            raise CheckpointError(
                f"{damaged} claims shape {tuple(shape)} of {dtype} ({nbytes} bytes) but holds {info.file_size - head.tell()}; the archive is damaged."
            )
        return start, (shape, fortran, dtype), head.tell()


def _to_canonical(npz: _MappedNpz, prefix: str, source: str) -> tuple[dict[str, np.ndarray], int]:
    """Canonical tensors and the head count from an open ``NpzFile`` (arrays are read one at a time)."""
    names = [k[len(prefix) :] for k in npz.files if k.startswith(prefix)]

    def get(name: str) -> np.ndarray:
        return as_float32(npz[prefix + name], name, source)

    state: dict[str, np.ndarray] = {"patch_embed.proj.weight": get(ANCHOR).transpose(3, 2, 0, 1)}  # HWIO -> OIHW
    unknown: list[str] = []
    blocks: dict[int, list[str]] = {}
    for name in names:
        if name == ANCHOR:
            continue
        if name in _TOP_DIRECT:
            value = get(name)
            state[_TOP_DIRECT[name]] = value.T if name.endswith("/kernel") else value
        elif m := _BLOCK.match(name):
            blocks.setdefault(int(m.group(1)), []).append(m.group(2))
        else:
            unknown.append(name)
    if unknown:
        raise CheckpointError(f"{source} has arrays vitzoo cannot place in a ViT: {', '.join(sorted(unknown)[:5])}.")
    heads = 0
    for i, parts in sorted(blocks.items()):
        b, p = f"Transformer/encoderblock_{i}/", f"blocks.{i}."
        for suffix in parts:
            if suffix in _BLOCK_DIRECT:
                value = get(b + suffix)
                state[p + _BLOCK_DIRECT[suffix]] = value.T if suffix.endswith("/kernel") else value
            elif not re.fullmatch(_MHA + r"(query|key|value|out)/(kernel|bias)", suffix):
                raise CheckpointError(f"{source} has an array vitzoo cannot place in a ViT: {b + suffix!r}.")
        try:
            q, k, v = (get(f"{b}{_MHA}{n}/kernel") for n in ("query", "key", "value"))
            biases = [get(f"{b}{_MHA}{n}/bias").reshape(-1) for n in ("query", "key", "value")]
            out = get(f"{b}{_MHA}out/kernel")
        except KeyError as exc:
            raise CheckpointError(f"{source} lacks {exc.args[0]!r}; the checkpoint is incomplete.") from None
        if not (q.ndim == 3 and q.shape == k.shape == v.shape and out.ndim == 3):
            raise CheckpointError(f"{source}: attention kernels of block {i} are not [D, heads, head_dim] each.")
        heads = q.shape[1]
        # [D, H, hd] kernels -> Linear weights [H*hd, D]; fused in q, k, v order.
        state[p + "attn.qkv.weight"] = np.concatenate([w.reshape(w.shape[0], -1).T for w in (q, k, v)])
        state[p + "attn.qkv.bias"] = np.concatenate(biases)
        for w in (q, k, v):
            safetensors_io.release(w)  # only the fused copy is needed from here on
        state[p + "attn.proj.weight"] = out.reshape(-1, out.shape[-1]).T
    if "cls_token" in state and state["cls_token"].ndim == 2:  # some exports drop the batch axis
        state["cls_token"] = state["cls_token"][None]
    return state, heads


FORMAT = register_format(
    WeightFormat(
        name="jax",
        description="Google's JAX/Flax ViT checkpoint (.npz, original and augreg releases)",
        detect=detect,
        read=read,
        write=write,
    )
)
