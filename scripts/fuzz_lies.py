"""Structural lies for the reader fuzzer: a seed rebuilt with one thing wrong.

Wrong dtypes, shapes and offsets; duplicate, missing, renamed or extra names;
NaN/Inf values; corrupt or deeply nested JSON in headers, metadata, configs and
shard indexes. ``STRUCT[family](blob, draw, nonfinite)`` returns
``(label, bytes, must_fail)``, where ``must_fail`` says why loading the result
successfully would be a bug (NaN/Inf weights, a duplicate name accepted).

Example:
    >>> import random                                              # doctest: +SKIP
    >>> label, data, must_fail = STRUCT["npz"](seed_bytes, RandomDraw(random.Random(0)), True)  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any, Callable, Optional, Sequence

import numpy as np

from fuzz_base import (
    ABSOLUTE_OUTSIDE, HUGE, Case, Deep, Draw, Seed, Special, ckpt_bytes, ckpt_records, dumps, npy, npz_members,
    safetensors_bytes, split_safetensors, torch_bytes, zip_bytes,
)


# Values ------------------------------------------------------------------------------
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
        return json.loads("[" * min(depth, 900) + "]" * min(depth, 900)) if depth < 1000 else Deep(depth)
    return draw.choice(_JUNK)


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
    return f"<{value.depth}-deep nesting>" if isinstance(value, Deep) else repr(value)[:40]


# One lie per container family -------------------------------------------------------
def _struct_safetensors(blob: bytes, draw: Draw, nonfinite: bool) -> tuple[str, bytes, Optional[str]]:
    header, data = split_safetensors(blob)
    names = [k for k in header if k != "__metadata__"]
    name = draw.choice(names)
    entry = header[name]
    b, e = entry["data_offsets"]
    if nonfinite:
        values = np.frombuffer(data[b:e], np.float32).reshape(entry["shape"])
        label, bad = _poison(values, draw)
        data = data[:b] + bad.tobytes() + data[e:]
        return f"{name}: {label}", safetensors_bytes(header, data), "NaN/Inf weights were accepted"
    op = draw.choice(["drop", "rename", "duplicate", "dtype", "shape", "offsets", "extra", "metadata", "json", "order", "padding"])
    if op == "drop":
        del header[name]
        return f"{name} dropped", safetensors_bytes(header, data), None
    if op == "rename":
        new = draw.choice([name + "x", "", "module." + name, name.upper(), "blocks.0.\u00f1", "blocks.99.norm1.weight", draw.choice(names)])
        duplicate = new in header and new != name
        header[new] = header.pop(name) if not duplicate else header[name]
        if duplicate:
            del header[name]
            return f"{name} renamed to existing {new}", safetensors_bytes(header, data, duplicate=new), "a duplicate tensor name was accepted"
        return f"{name} renamed to {new!r}", safetensors_bytes(header, data), None
    if op == "duplicate":
        return f"{name} twice", safetensors_bytes(header, data, duplicate=name), "a duplicate tensor name was accepted"
    if op == "dtype":
        entry["dtype"] = draw.choice(["F16", "BF16", "F64", "I32", "I64", "U8", "BOOL", "F8_E4M3", "C64", "", "f32", 5, None])
        return f"{name} dtype {entry['dtype']!r}", safetensors_bytes(header, data), None
    if op == "shape":
        entry["shape"] = _shape_lie(list(entry["shape"]), draw)
        return f"{name} shape {entry['shape']}", safetensors_bytes(header, data), None
    if op == "offsets":
        entry["data_offsets"] = draw.choice([[b, e + 4], [b - 4, e], [e, b], [0, HUGE], [HUGE, HUGE + e - b], [-8, e - b - 8], [b], [str(b), e], [b, 2**64 + 1], [0, e - b]])
        return f"{name} offsets {entry['data_offsets']}", safetensors_bytes(header, data), None
    if op == "extra":
        new = draw.choice(["extra.weight", "blocks.5.mlp.fc1.weight", "head.extra", "blocks.0.attn.qkv.weight_orig"])
        header[new] = {"dtype": "F32", "shape": [2], "data_offsets": [len(data), len(data) + 8]}
        return f"extra tensor {new}", safetensors_bytes(header, data + bytes(8)), None
    if op == "metadata":
        meta = header.get("__metadata__") or {}
        label, meta = _poke_metadata(meta, draw)
        header["__metadata__"] = meta
        return f"metadata {label}", safetensors_bytes(header, data), None
    if op == "json":
        label, header = _poke_json(header, draw)
        return f"header {label}", safetensors_bytes(header, data), None
    if op == "order":  # a valid file: tensors stored in another order
        order = sorted(names, key=lambda k: draw.int(0, 1000))
        chunks, offset = [], 0
        for k in order:
            lo, hi = header[k]["data_offsets"]
            chunks.append(data[lo:hi])
            header[k]["data_offsets"] = [offset, offset + hi - lo]
            offset += hi - lo
        return "tensors reordered", safetensors_bytes(header, b"".join(chunks)), None
    pad = draw.choice([b"\x00", b"\n", b"x", b"\xff"])
    return f"header padded with {pad!r}", safetensors_bytes(header, data, pad=pad), None


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
    meta[key] = dumps(doc)
    return f"{key}: {label}", meta


def _struct_ckpt(blob: bytes, draw: Draw, nonfinite: bool) -> tuple[str, bytes, Optional[str]]:
    import binascii

    records = ckpt_records(blob)
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
        return f"{rec.tag}: {label}", ckpt_bytes(records), must
    op = draw.choice(["drop", "duplicate", "adjacent", "rename", "dims", "type", "content", "split", "crc", "map", "partial", "string"])
    if op == "drop":
        del records[k]
        return f"{rec.tag} dropped", ckpt_bytes(records), None
    if op == "duplicate":
        records.append(records[k])
        return f"{rec.tag} twice", ckpt_bytes(records), None  # the reader reports it; a CheckpointError is the only outcome
    if op == "adjacent":
        records.insert(k, records[k])
        return f"{rec.tag} twice in a row (read as one split tensor)", ckpt_bytes(records), None
    if op == "rename":
        rec.tag = draw.choice(["", rec.tag + "x", "moment1." + rec.tag, "cls", "pos_embed", "vitzoo_spec", "a" * 5000, records[draw.int(0, len(records) - 1)].tag])
        return f"record {k} renamed to {rec.tag[:40]!r}", ckpt_bytes(records), None
    if op == "dims":
        del t.dims[:]
        dims = _shape_lie([1, 2, 3], draw)
        dims = [d if isinstance(d, int) else 7 for d in (dims or [])]
        t.dims.extend([d if d < 2**63 else d - 2**64 for d in dims])
        return f"{rec.tag} dims {list(t.dims)}", ckpt_bytes(records), None
    if op == "type":
        t.tensor_type = draw.choice(["Float16", "Int8", "BFloat16", "str", "Float64", "Bool", "", "Foo", "UInt64", "Int4"])
        return f"{rec.tag} type {t.tensor_type!r}", ckpt_bytes(records), None
    if op == "content":
        c = t.tensor_content
        t.tensor_content = draw.choice([b"", c[:-1], c + b"\x00", c[: len(c) // 2], c * 2])
        return f"{rec.tag} content {len(c)} -> {len(t.tensor_content)} bytes", ckpt_bytes(records), None
    if op == "split":  # a valid file: one tensor split over two records, as MindSpore does past 512 MiB
        c = t.tensor_content
        first, second = type(rec)(), type(rec)()
        first.CopyFrom(rec)
        second.CopyFrom(rec)
        cut = draw.int(0, len(c))
        first.tensor.tensor_content, second.tensor.tensor_content = c[:cut], c[cut:]
        records[k : k + 1] = [first, second]
        return f"{rec.tag} split at byte {cut}", ckpt_bytes(records), None
    if op == "crc":
        body = ckpt_bytes(records)
        crc = binascii.crc32(body)
        good = draw.bool()
        value = crc if good else crc ^ (1 << draw.int(0, 31))
        return f"{'good' if good else 'bad'} CRC trailer", ckpt_bytes(records, b"crc_num" + value.to_bytes(10, "big")), None
    if op == "map":
        rec.ClearField("tensor")
        rec.maptensor.tensor.add(tensor_type="Float32", tensor_content=b"\x00" * 8).dims.extend([2])
        return f"{rec.tag} as a map tensor", ckpt_bytes(records), None
    if op == "partial":
        rec.tensor.ClearField(draw.choice(["tensor_type", "tensor_content"]))
        return f"{rec.tag} lacks a required field", ckpt_bytes(records), None
    value = type(rec)(tag=draw.choice(["vitzoo_spec", "note"]))
    value.tensor.dims.append(0)
    value.tensor.tensor_type = "str"
    value.tensor.tensor_content = draw.choice([b"\xff\xff\xff\xff", "{".encode("utf-32-le"), b"abc", dumps(_json_junk(draw)).encode("utf-32-le")])
    records.insert(draw.int(0, len(records)), value)
    return f"string entry {value.tag}", ckpt_bytes(records), None


def _struct_npz(blob: bytes, draw: Draw, nonfinite: bool) -> tuple[str, bytes, Optional[str]]:
    members = npz_members(blob)
    k = draw.int(0, len(members) - 1)
    name, header, data = members[k]
    stored = zipfile.ZIP_STORED

    def pack(items: Sequence[tuple[str, Any, bytes]], version: int = 1) -> bytes:
        return zip_bytes([(n, npy(h, d, version), stored) for n, h, d in items])

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
        return f"{name} as .npy version 2", zip_bytes([(n, npy(h, d, 2 if n == name else 1), stored) for n, h, d in members]), None
    elif op == "data":
        data = draw.choice([data[:-1], data + b"\x00" * 4, b"", data[: len(data) // 2]])
    else:  # a valid file: compressed, as np.savez_compressed writes
        return "deflated", zip_bytes([(n, npy(h, d), zipfile.ZIP_DEFLATED) for n, h, d in members]), None
    members[k] = (name, header, data)
    return f"{name} {op} {_short(header)}", pack(members), None


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
            flat = t.reshape(-1)  # a 0-dim tensor (open_clip's logit_scale) cannot be sliced or flipped as is
            sd[name] = draw.choice([flat, t.unsqueeze(0), t.t() if t.ndim == 2 else flat.flip(0) if t.ndim == 0 else t.flip(0),
                                    flat[:1] if t.ndim == 0 else t[:1], flat[:0]])
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
            blob = torch_bytes({
                "state_dict": {"state_dict": sd}, "model_ema": {"model_ema": sd, "model": {"x": torch.ones(1)}},
                "list": [sd], "tensor": t, "none": None, "notadict": {"state_dict": "weights"}, "nested": {"a": {"b": sd}},
            }[choice], legacy)
            return f"struct: {label}", blob, None
        elif op == "value":
            sd[name] = draw.choice([1, "x", [t], {"w": t}, None, 1.5])
        else:
            sd[draw.choice([0, 1.5, None, ("a", 1), b"bytes"])] = t
    out = {**obj, "model": sd} if wrapped else sd
    return label, torch_bytes(out, legacy), must


STRUCT: dict[str, Callable[[bytes, Draw, bool], tuple[str, bytes, Optional[str]]]] = {
    "safetensors": _struct_safetensors,
    "ckpt": _struct_ckpt,
    "npz": _struct_npz,
    "torch-zip": lambda b, d, n: _struct_torch(b, d, n, legacy=False),
    "torch-legacy": lambda b, d, n: _struct_torch(b, d, n, legacy=True),
}


# Hugging Face directories: config.json and shard indexes ------------------------------
def config_case(seed: Seed, draw: Draw) -> Case:
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
        files["config.json"] = dumps(cfg).encode()
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
    header, data = split_safetensors(seed.files["model.safetensors"])
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
        shards[shard] = safetensors_bytes(sub, b"".join(chunks))
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
    files["model.safetensors.index.json"] = dumps(index).encode()
    return Case(seed.reader, f"index: {op}", files, must, outside)
