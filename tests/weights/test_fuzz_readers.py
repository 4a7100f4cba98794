"""The quick fuzz run: every checkpoint reader loads a damaged file correctly or raises VitzooError.

Damaged cases come from ``scripts/fuzz_cases.py``; the long run (``scripts/fuzz_readers.py``)
draws 10,000 of them per reader. Here they are read in a worker process
(``fuzz_readers.Runner``) under a memory limit and a timeout, so a hang, a crash or an
allocation of a size the file merely claims fails the test instead of the test run.
Every case is read twice: by detection (``weights.read(path, variant=fc.HINT)``) and with the reader's
explicit format.
"""

import collections
import io
import os
import pickle
import random
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vitzoo import CheckpointError, weights
from vitzoo.weights.torch_pickle import LEGACY_MAGIC

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import fuzz_cases as fc  # noqa: E402
import fuzz_readers as fr  # noqa: E402

READERS = list(fc.READERS)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return fc.make_seeds(tmp_path_factory.mktemp("seeds"))


@pytest.fixture(scope="module")
def runner():
    r = fr.Runner(timeout=60)
    yield r
    r.close()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """A fresh empty directory per call."""
    root = tmp_path_factory.mktemp("cases")
    counter = iter(range(10**9))

    def new():
        d = root / f"c{next(counter)}"
        d.mkdir()
        return d

    return new


def assert_read(runner, case, scratch, allowed=fr.ALLOWED):
    """Read ``case`` in the worker both ways; every outcome must be in ``allowed``."""
    path = case.write(scratch())
    result = runner.read(path, fc.READERS[case.reader].format, case.must_fail)
    for mode, outcome in result.items():
        assert outcome["kind"] in allowed, f"{case.reader} ({mode}) on '{case.label}': {outcome}"
    return result


# Valid files ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", READERS)
def test_valid_seed_loads_exactly(name, seeds, tmp_path):
    path = seeds[name].case().write(tmp_path)
    for ckpt in (weights.read(path, variant=fc.HINT), weights.read(path, format=fc.READERS[name].format, variant=fc.HINT)):
        assert sorted(ckpt.state) == sorted(seeds[name].state)
        for key, value in seeds[name].state.items():
            np.testing.assert_array_equal(ckpt.state[key], value)
        want = seeds[name].spec
        assert (ckpt.spec.embed_dim, ckpt.spec.depth, ckpt.spec.mlp_dim, ckpt.spec.num_classes) == (want.embed_dim, want.depth, want.mlp_dim, want.num_classes)


@pytest.mark.parametrize("name", [n for n in READERS if not fc.READERS[n].main])
def test_a_file_under_another_formats_name_is_read_by_content(name, seeds, scratch):
    """Each valid file saved under this reader's extension: detection reads it exactly anyway."""
    for other in seeds.values():
        if other.reader == name or fc.READERS[other.reader].main:
            continue
        path = fc.Case(name, f"a {other.reader} file", {"": other.files[""]}).write(scratch())
        ckpt = weights.read(path, variant=fc.HINT)
        for key, value in other.state.items():
            np.testing.assert_array_equal(ckpt.state[key], value)


# Damage -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", READERS)
def test_truncation_at_every_region_boundary(name, seeds, runner, scratch):
    reader, seed = fc.READERS[name], seeds[name]
    key = reader.main or ""
    blob = seed.files[key]
    cuts = sorted({max(0, min(len(blob) - 1, m + d)) for m in fc.boundaries(reader.family, blob) for d in (-1, 0, 1)})
    assert len(cuts) > 20
    # a .ckpt has no overall length or checksum: cut between records it is a smaller, valid file
    allowed = fr.ALLOWED if reader.family == "ckpt" else ("error",)
    for cut in cuts:
        assert_read(runner, fc.Case(name, f"truncated to {cut}", {**seed.files, key: blob[:cut]}), scratch, allowed)


@pytest.mark.parametrize("name", READERS)
@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_mutations(name, data, seeds, runner, scratch):
    """Bit flips, length lies, splices, archive-member damage, structural lies, NaN/Inf, foreign files."""
    case = fc.mutate(fc.READERS[name], seeds[name], fc.HypothesisDraw(data), seeds)
    assert_read(runner, case, scratch)


@pytest.mark.parametrize("name", READERS)
def test_nan_and_inf_weights_are_refused(name, seeds, scratch):
    reader = fc.READERS[name]
    key = reader.main or ""
    seen = set()
    for i in range(30):
        label, data, must_fail = fc.STRUCT[reader.family](seeds[name].files[key], fc.RandomDraw(random.Random(i)), True)
        if must_fail is None or fc.poisons_dropped(seeds[name], label):
            continue  # NaN in optimizer state that the reader drops is harmless
        path = fc.Case(name, label, {**seeds[name].files, key: data}).write(scratch())
        for fmt in ("auto", reader.format):
            with pytest.raises(CheckpointError, match="holds NaN or infinite values") as info:
                weights.read(path, format=fmt, variant=fc.HINT)
            assert str(path) in str(info.value)
        seen.add(label.rsplit(" x ", 1)[1])
    assert seen == {"nan", "inf", "-inf"}


# Sizes a file claims --------------------------------------------------------------------------------
_STORAGE = object()


class _Call:
    """Pickles as ``fn(*args)``, the way a hostile file would spell it."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


class _LegacyPickler(pickle.Pickler):
    def persistent_id(self, obj):  # a legacy storage entry claiming 2**40 floats
        import torch

        return ("storage", torch.FloatStorage, "0", "cpu", 2**40, None) if obj is _STORAGE else None


def _pickled(obj, legacy_storage=False):
    buf = io.BytesIO()
    (_LegacyPickler if legacy_storage else pickle.Pickler)(buf, protocol=2).dump(obj)
    return buf.getvalue()


def _torch_zip(pkl):
    return fc.zip_bytes([("archive/data.pkl", pkl, zipfile.ZIP_STORED), ("archive/version", b"3\n", zipfile.ZIP_STORED),
                    ("archive/byteorder", b"little", zipfile.ZIP_STORED)])


def _legacy(pkl, keys=None):
    head = b"".join(pickle.dumps(v, protocol=2) for v in (LEGACY_MAGIC, 1001, {"little_endian": True}))
    return head + pkl + (pickle.dumps(["0"], protocol=2) if keys is None else keys)


MEMO_CLAIM = b"\x80\x02}r\xff\xff\xff\x7f."  # {} stored at memo index 2**31-1: a C unpickler sizes its memo table to that
STRING_CLAIM = b"\x80\x02]X\xff\xff\xff\x7fabc"  # a storage-key string claiming 2**31-1 bytes, read from the file


def claimed_size_cases(seeds):
    """Files that claim 2**34 to 2**64 bytes somewhere; reading one must refuse, never allocate."""
    import torch

    st_seed = seeds["vitzoo"].files[""]
    header, data = fc.split_safetensors(st_seed)
    huge = {**header, "pos_embed": {**header["pos_embed"], "shape": [fc.HUGE], "data_offsets": [0, 2**64 - 4]}}
    records = fc.ckpt_records(seeds["mindspore"].files[""])
    del records[0].tensor.dims[:]
    records[0].tensor.dims.append(fc.HUGE)
    members = fc.npz_members(seeds["jax"].files[""])
    name, npy_header, npy_data = members[0]
    bytearray_bomb = _pickled(_Call(bytearray, 2**34))
    tensor_bomb = _pickled(_Call(torch.FloatTensor, 2**34))
    storage_claim = _pickled({"pos_embed": _Call(torch._utils._rebuild_tensor_v2, _STORAGE, 0, (2**40,), (1,), False,
                                                  collections.OrderedDict())}, legacy_storage=True)
    return [
        ("vitzoo", "header length 2**62", {"": struct.pack("<Q", fc.HUGE) + st_seed[8:]}),
        ("vitzoo", "tensor of 2**62 elements", {"": fc.safetensors_bytes(huge, data)}),
        ("timm-safetensors", "tensor of 2**62 elements", {"": fc.safetensors_bytes(huge, data)}),
        ("hf", "tensor of 2**62 elements", {**seeds["hf"].files, "model.safetensors": fc.safetensors_bytes(huge, data)}),
        ("mindspore", "record of 2**62 bytes", {"": b"\x0a" + fc.varint(fc.HUGE) + b"\x0a\x01a"}),
        ("mindcv", "tensor dims [2**62]", {"": fc.ckpt_bytes(records)}),
        ("jax", "array of 2**62 elements", {"": fc.zip_bytes(
            [(name, fc.npy({**npy_header, "shape": (fc.HUGE,)}, npy_data), zipfile.ZIP_STORED)]
            + [(n, fc.npy(h, d), zipfile.ZIP_STORED) for n, h, d in members[1:]])}),
        ("timm-pth", "bytearray(2**34) in the pickle", {"": _torch_zip(bytearray_bomb)}),
        ("timm-pth", "FloatTensor(2**34) in the pickle", {"": _torch_zip(tensor_bomb)}),
        ("timm-bin", "bytearray(2**34) in a legacy pickle", {"": _legacy(bytearray_bomb)}),
        ("timm-bin", "a legacy storage of 2**40 floats", {"": _legacy(storage_claim)}),
        ("timm-pth", "memo index 2**31-1", {"": _torch_zip(MEMO_CLAIM)}),
        ("timm-bin", "a storage key of 2**31-1 bytes", {"": _legacy(pickle.dumps({}, protocol=2), STRING_CLAIM)}),
    ]


def test_claimed_sizes_are_refused_not_allocated(seeds, runner, scratch):
    for reader, label, files in claimed_size_cases(seeds):
        # the worker runs under RLIMIT_DATA: an attempted allocation would show as "alloc", not "error"
        assert_read(runner, fc.Case(reader, label, files), scratch, ("error",))


# Duplicates, special files, shard indexes --------------------------------------------------------------
def duplicate_cases(seeds):
    import torch

    header, data = fc.split_safetensors(seeds["vitzoo"].files[""])
    hf_header, hf_data = fc.split_safetensors(seeds["hf"].files["model.safetensors"])
    q = next(k for k in hf_header if k.endswith("layer.0.attention.attention.query.weight"))
    hf_header["vit.layers.0.attention.q_proj.weight"] = hf_header[q]  # transformers 5's name for the same weight
    members = fc.npz_members(seeds["jax"].files[""])
    sd = torch.load(io.BytesIO(seeds["timm-bin"].files[""]), weights_only=True)
    sd["module.norm.weight"] = sd["norm.weight"] + 1
    buf = io.BytesIO()
    torch.save(sd, buf)
    records = fc.ckpt_records(seeds["mindcv"].files[""])
    return [
        ("vitzoo", {"": fc.safetensors_bytes(header, data, duplicate="pos_embed")}),
        ("timm-safetensors", {"": fc.safetensors_bytes(header, data, duplicate="cls_token")}),
        ("hf", {**seeds["hf"].files, "model.safetensors": fc.safetensors_bytes(hf_header, hf_data)}),
        ("jax", {"": fc.zip_bytes([(n, fc.npy(h, d), zipfile.ZIP_STORED) for n, h, d in members + members[:1]])}),
        ("timm-pth", {"": buf.getvalue()}),
        ("mindcv", {"": fc.ckpt_bytes(records + records[:1])}),
    ]


def test_duplicate_names_are_refused(seeds, scratch):
    for name, files in duplicate_cases(seeds):
        path = fc.Case(name, "duplicate", files).write(scratch())
        for fmt in ("auto", fc.READERS[name].format):
            with pytest.raises(CheckpointError) as info:
                weights.read(path, format=fmt, variant=fc.HINT)
            assert str(path) in str(info.value), (name, str(info.value))


@pytest.mark.parametrize("kind", ["fifo", "devzero", "dir", "loop"])
def test_special_files_never_block(kind, seeds, runner, scratch):
    assert_read(runner, fc.Case("timm-safetensors", kind, {"": fc.Special(kind)}), scratch, ("error",))
    assert_read(runner, fc.Case("hf", kind, {**seeds["hf"].files, "config.json": fc.Special(kind)}), scratch)


def test_shard_index_cannot_reach_outside_the_model_directory(seeds, scratch):
    for op in ("traversal", "absolute"):
        case = fc.index_case(seeds["hf"], fc.RandomDraw(random.Random(0)), op)
        root = scratch()
        path = case.write(root)
        assert (root / "outside.safetensors").is_file()  # the bait: a valid shard just outside the folder
        with pytest.raises(CheckpointError, match="not a file name inside the model directory"):
            weights.read(path, variant=fc.HINT)
    path = fc.index_case(seeds["hf"], fc.RandomDraw(random.Random(0)), "valid").write(scratch())
    ckpt = weights.read(path, variant=fc.HINT)
    np.testing.assert_array_equal(ckpt.state["blocks.1.attn.qkv.weight"], seeds["hf"].state["blocks.1.attn.qkv.weight"])


def test_the_harness_survives_crashes_and_hangs(tmp_path):
    """A read that kills its worker or never returns is recorded as such, and the next read works."""
    runner = fr.Runner(timeout=5)
    try:
        assert runner.read(tmp_path, "vitzoo", selftest="crash")["explicit"]["kind"] == "crash"
        assert runner.read(tmp_path, "vitzoo", selftest="hang")["explicit"]["kind"] == "timeout"
        assert runner.read(tmp_path / "missing", "vitzoo")["explicit"]["kind"] == "error"
    finally:
        runner.close()
    assert os.path.exists(tmp_path)
