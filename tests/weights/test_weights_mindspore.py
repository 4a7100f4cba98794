"""The MindSpore .ckpt container and the official (tutorial) ViT layout, against real MindSpore.

The reference is a MindSpore model built like the tutorial's ViT (tests/ms_reference_models.py),
trained one Adam step so its checkpoint also holds optimizer state, then saved with
``mindspore.save_checkpoint``. vitzoo must read it without MindSpore, rebuild the same
logits, and write files MindSpore loads back completely.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
from mindspore import nn  # noqa: E402

import vitzoo  # noqa: E402
from ms_reference_models import TutorialViT, logits, randomize  # noqa: E402
from vitzoo import weights  # noqa: E402
from vitzoo.backends import get_backend  # noqa: E402
from vitzoo.errors import BackendError, CheckpointError  # noqa: E402
from vitzoo.init import init_state  # noqa: E402
from vitzoo.spec import ViTSpec  # noqa: E402
from vitzoo.weights import ms_checkpoint  # noqa: E402
from vitzoo.weights.base import Checkpoint  # noqa: E402

TINY = dict(image_size=32, input_channels=3, patch_size=8, embed_dim=64, num_layers=2, num_heads=4, mlp_dim=128, num_classes=10)
HINT = ViTSpec(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, mlp_dim=128, num_classes=10)
TOL = 1e-4


def _backends() -> list[str]:
    names = ["numpy"]
    try:
        get_backend("mindspore")
        names.append("mindspore")
    except BackendError:
        pass
    return names


def run(model, x: np.ndarray, backend: str) -> np.ndarray:
    """Logits of a vitzoo model as NumPy (the MindSpore backend takes MindSpore tensors)."""
    out = model(ms.Tensor(x) if backend == "mindspore" else x)
    return out.asnumpy() if hasattr(out, "asnumpy") else np.asarray(out)


def _one_sentence(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text.endswith(".") and len(text) < 400, text
    return text


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)


@pytest.fixture(scope="module", params=["dense", "head.dense"])
def trained(request, tmp_path_factory, x):
    """(reference net, its training checkpoint with Adam state, reference logits)."""
    net = randomize(TutorialViT(**TINY, head=request.param), seed=3)
    step = nn.TrainOneStepCell(nn.WithLossCell(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True)), nn.Adam(net.trainable_params(), 1e-3))
    step.set_train(True)
    step(ms.Tensor(x), ms.Tensor(np.array([1, 7], np.int32)))
    net.set_train(False)
    path = tmp_path_factory.mktemp("official") / f"vit_{request.param}.ckpt"
    ms.save_checkpoint(step, str(path), append_dict={"epoch_num": 1, "step_num": 1})
    return net, path, logits(net, x)


def test_reads_training_checkpoint_and_drops_optimizer_state(trained):
    net, path, _ = trained
    assert weights.detect_format(path) == "mindspore"
    ckpt = weights.read(path, variant=HINT)
    assert ckpt.spec.norm_eps == 1e-7 and ckpt.spec.gelu == "tanh" and ckpt.spec.global_pool == "token"
    assert ckpt.spec.num_heads == 4 and ckpt.spec.depth == 2 and ckpt.spec.num_classes == 10
    assert {"global_step", "learning_rate", "beta1_power", "beta2_power", "epoch_num", "step_num"} <= set(ckpt.dropped)
    assert sum(d.startswith(("moment1.", "moment2.")) for d in ckpt.dropped) == 2 * len(ckpt.state)
    params = {p.name: p.asnumpy() for p in net.get_parameters()}
    np.testing.assert_array_equal(ckpt.state["cls_token"], params["cls"])
    np.testing.assert_array_equal(ckpt.state["blocks.1.attn.proj.weight"], params["transformer.layers.1.0.cell.1.out.weight"])
    np.testing.assert_array_equal(ckpt.state["blocks.0.norm2.bias"], params["transformer.layers.0.1.cell.0.beta"])


@pytest.mark.parametrize("backend", _backends())
def test_logits_match_the_mindspore_reference(trained, x, backend):
    _, path, expected = trained
    model = vitzoo.create_from_file(path, backend=backend, num_heads=4)
    diff = np.abs(run(model, x, backend) - expected).max()
    print(f"official layout, {backend} backend: max |dlogit| = {diff:.2e}")
    assert diff <= TOL


def test_head_count_comes_from_the_hint_else_the_read_is_refused(trained):
    _, path, _ = trained
    assert weights.read(path, variant=HINT.replace(num_heads=8)).spec.num_heads == 8
    with pytest.raises(CheckpointError, match=r"does not say its num_heads \(.*no registered variant has this architecture\); give it, e\.g\. vitzoo\.create\(\.\.\., num_heads=12\)"):
        weights.read(path)  # no hint, no registered variant of these sizes: no guess
    assert weights.read(path, variant={"num_heads": 4}).spec.num_heads == 4  # the field alone, as create(..., num_heads=4) gives it


def test_reader_does_not_need_mindspore(trained, x, tmp_path):
    _, path, expected = trained
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        sys.modules["mindspore"] = None  # any "import mindspore" now fails
        import vitzoo
        from vitzoo import weights
        ckpt = weights.read({str(path)!r}, variant={{"num_heads": 4}})
        model = vitzoo.create_from_file({str(path)!r}, backend="numpy", num_heads=4)
        np.save({str(tmp_path / "out.npy")!r}, model(np.load({str(tmp_path / "x.npy")!r})))
        print(json.dumps({{"format": weights.detect_format({str(path)!r}), "tensors": len(ckpt.state),
                          "dropped": len(ckpt.dropped), "ms": "mindspore" in sys.modules and sys.modules["mindspore"] is not None}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"format": "mindspore", "tensors": 32, "dropped": 70, "ms": False}
    assert np.abs(np.load(tmp_path / "out.npy") - expected).max() <= TOL


def test_round_trip_is_bit_exact_and_loads_into_mindspore(trained, tmp_path, x):
    net, path, expected = trained
    out = tmp_path / "back.ckpt"
    weights.write(weights.read(path, variant=HINT), out, format="mindspore")
    source, written = ms_checkpoint.read_ckpt(path), ms_checkpoint.read_ckpt(out)
    model_names = [p.name for p in net.get_parameters()]
    assert list(written.tensors) == model_names  # the tutorial model's names, in its order
    for name in model_names:
        assert written.tensors[name].dtype == source.tensors[name].dtype
        assert written.tensors[name].tobytes() == source.tensors[name].tobytes()
    fresh = TutorialViT(**TINY, head=net.head_name)
    not_loaded = ms.load_param_into_net(fresh, ms.load_checkpoint(str(out)))
    assert not_loaded == ([], [])
    fresh.set_train(False)
    np.testing.assert_array_equal(logits(fresh, x), expected)


def test_weights_only_file_round_trips_byte_for_byte(tmp_path):
    net = randomize(TutorialViT(**TINY), seed=5)
    src, out = tmp_path / "src.ckpt", tmp_path / "out.ckpt"
    ms.save_checkpoint(net, str(src))
    weights.write(weights.read(src, variant=HINT), out, format="mindspore")
    assert out.read_bytes() == src.read_bytes()


def test_mindvision_backbone_prefix_and_classifier_head_round_trip(tmp_path, x):
    net = randomize(TutorialViT(**TINY), seed=6)
    renamed = [{"name": ("head.classifier." + p.name.split(".")[1]) if p.name.startswith("dense.") else "backbone." + p.name,
                "data": p} for p in net.get_parameters()]
    src, out = tmp_path / "mv.ckpt", tmp_path / "mv_out.ckpt"
    ms.save_checkpoint(renamed, str(src))
    ckpt = weights.read(src, variant=HINT)
    assert (ckpt.meta["ms_prefix"], ckpt.meta["ms_head"]) == ("backbone.", "head.classifier")
    assert np.abs(vitzoo.create_from_file(src, backend="numpy", num_heads=4)(x) - logits(net, x)).max() <= TOL
    weights.write(ckpt, out, format="mindspore")
    assert out.read_bytes() == src.read_bytes()


def test_writer_output_from_canonical_weights_runs_in_mindspore(tmp_path, x):
    spec = HINT.replace(norm_eps=1e-7, gelu="tanh")
    ckpt = Checkpoint(state=init_state(spec, seed=4), spec=spec)
    for k, v in ckpt.state.items():  # timm-like init leaves norms at 1/0: perturb so mix-ups show
        ckpt.state[k] = v + np.float32(0.05) * np.random.default_rng(len(k)).standard_normal(v.shape).astype(np.float32)
    out = tmp_path / "from_vitzoo.ckpt"
    weights.write(ckpt, out, format="mindspore")
    ref = TutorialViT(**TINY)
    assert ms.load_param_into_net(ref, ms.load_checkpoint(str(out))) == ([], [])
    ref.set_train(False)
    ours = vitzoo.create(None, pretrained=out, backend="numpy", num_heads=4)
    assert np.abs(ours(x) - logits(ref, x)).max() <= TOL


def test_384_checkpoints_get_the_head_dense_names(tmp_path):
    spec = ViTSpec(img_size=384, patch_size=96, embed_dim=32, depth=1, num_heads=2, mlp_dim=64, num_classes=3, norm_eps=1e-7, gelu="tanh")
    out = tmp_path / "b384.ckpt"
    weights.write(Checkpoint(state=init_state(spec), spec=spec), out, format="mindspore")
    tags = ms_checkpoint.list_tags(out)
    assert tags[-2:] == ["head.dense.weight", "head.dense.bias"] and "dense.weight" not in tags
    back = weights.read(out, variant={"num_heads": 2})
    assert back.meta["ms_head"] == "head.dense" and back.spec.img_size == 384


def test_official_writer_refuses_what_the_layout_cannot_hold(tmp_path):
    spec = HINT.replace(layer_scale=True)
    with pytest.raises(CheckpointError, match="cannot hold layer scale") as err:
        weights.write(Checkpoint(state=init_state(spec), spec=spec), tmp_path / "x.ckpt", format="mindspore")
    _one_sentence(err.value)
    assert not (tmp_path / "x.ckpt").exists()


# The container -----------------------------------------------------------------------------
def test_container_dtypes_strings_scalars_and_crc_agree_with_mindspore(tmp_path):
    entries = {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3), "f16": np.array([1.5, -2.25], np.float16),
        "i64": np.array(7, np.int64), "i32": np.array([1, 2, 3], np.int32), "flag": np.array([True, False]),
        "empty": np.zeros((0,), np.float32), "note": "ViT ✓",
    }
    for crc in (False, True):
        out = tmp_path / f"c{crc}.ckpt"
        ms_checkpoint.write_ckpt(out, entries, crc=crc)
        loaded = ms.load_checkpoint(str(out), crc_check=crc)
        assert list(loaded) == list(entries) and loaded["note"] == "ViT ✓"
        for k, v in entries.items():
            if k not in ("note", "empty"):
                np.testing.assert_array_equal(loaded[k].asnumpy(), v)
        back = ms_checkpoint.read_ckpt(out)
        assert back.has_crc is crc and back.strings == {"note": "ViT ✓"}
        for k, v in entries.items():
            if k != "note":
                assert back.tensors[k].dtype == v.dtype and back.tensors[k].shape == v.shape
                np.testing.assert_array_equal(back.tensors[k], v)


def test_container_reads_mindspore_files_with_crc_bfloat16_and_split_tensors(tmp_path, monkeypatch):
    big = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32)
    params = [
        {"name": "bf16", "data": ms.Tensor(np.array([1.0, -3.5, 0.15625], np.float32), ms.bfloat16)},
        {"name": "big", "data": ms.Tensor(big)},
    ]
    ms.save_checkpoint(params, str(tmp_path / "crc.ckpt"), crc_check=True)
    back = ms_checkpoint.read_ckpt(tmp_path / "crc.ckpt")
    assert back.has_crc and back.tensors["bf16"].dtype == np.float32
    np.testing.assert_array_equal(back.tensors["bf16"], [1.0, -3.5, 0.15625])
    # tensors over the slice size are written as consecutive records of one tag, as MindSpore does
    monkeypatch.setattr(ms_checkpoint, "_SLICE_BYTES", 24)
    ms_checkpoint.write_ckpt(tmp_path / "split.ckpt", {"big": big, "after": np.ones(2, np.float32)})
    assert ms_checkpoint.list_tags(tmp_path / "split.ckpt") == ["big", "after"]
    np.testing.assert_array_equal(ms.load_checkpoint(str(tmp_path / "split.ckpt"))["big"].asnumpy(), big)
    np.testing.assert_array_equal(ms_checkpoint.read_ckpt(tmp_path / "split.ckpt").tensors["big"], big)


# Bad input -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("bad") / "good.ckpt"
    ms.save_checkpoint(randomize(TutorialViT(**{**TINY, "num_layers": 1}), seed=9), str(path))
    return path


def _record(tag: str, dims: list[int], ttype: str, content: bytes) -> bytes:
    checkpoint_cls, _ = ms_checkpoint._messages()
    msg = checkpoint_cls()
    value = msg.value.add()
    value.tag, value.tensor.tensor_type, value.tensor.tensor_content = tag, ttype, content
    value.tensor.dims.extend(dims)
    return msg.SerializeToString()


@pytest.mark.parametrize("fmt", ["auto", "mindspore"])
def test_truncated_file_is_one_checkpoint_error(good_ckpt, tmp_path, fmt):
    data = good_ckpt.read_bytes()
    for cut in (len(data) // 2, len(data) - 3, 5):
        bad = tmp_path / "cut.ckpt"
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError) as err:
            weights.read(bad, format=fmt)
        _one_sentence(err.value)


@pytest.mark.parametrize("content", [b"", b"hello, I am a text file\n", bytes(range(256)) * 8, b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x7f"])
def test_not_a_checkpoint_is_one_checkpoint_error(tmp_path, content):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(content)
    for fmt in ("auto", "mindspore", "mindcv"):
        with pytest.raises(CheckpointError) as err:
            weights.read(bad, format=fmt)
        _one_sentence(err.value)


def test_checkpoint_of_another_network_is_one_checkpoint_error(tmp_path):
    lenet = nn.SequentialCell([nn.Conv2d(1, 6, 5), nn.ReLU(), nn.Flatten(), nn.Dense(6 * 28 * 28, 10)])
    path = tmp_path / "lenet.ckpt"
    ms.save_checkpoint(lenet, str(path))
    for fmt in ("auto", "mindspore", "mindcv"):
        with pytest.raises(CheckpointError, match="another network|not a ViT checkpoint") as err:
            weights.read(path, format=fmt)
        _one_sentence(err.value)


def test_lying_and_huge_claims_are_rejected_without_allocating(tmp_path):
    cases = {
        "lying_dims": _record("cls", [1, 1, 64], "Float32", b"\0" * 16),
        "huge_dims": _record("cls", [2**40, 2**40, 2**20], "Float32", b"\0" * 16),
        "negative_dims": _record("cls", [-1, 4], "Float32", b"\0" * 16),
        "unknown_type": _record("cls", [4], "Float128", b"\0" * 64),
        "huge_record": b"\x0a" + b"\xff" * 8 + b"\x0f" + b"\0" * 32,  # claims ~2**63 bytes
        "bad_crc": _record("cls", [4], "Float32", b"\0" * 16) + b"crc_num" + (12345).to_bytes(10, "big"),
        "duplicate": _record("cls", [1], "Float32", b"\0" * 4) + _record("pos", [1], "Float32", b"\0" * 4) + _record("cls", [1], "Float32", b"\0" * 4),
    }
    for name, blob in cases.items():
        bad = tmp_path / f"{name}.ckpt"
        bad.write_bytes(blob)
        with pytest.raises(CheckpointError) as err:
            ms_checkpoint.read_ckpt(bad)
        _one_sentence(err.value)


def test_encrypted_checkpoint_is_one_checkpoint_error(tmp_path):
    path = tmp_path / "enc.ckpt"
    ms.save_checkpoint(randomize(TutorialViT(**{**TINY, "num_layers": 1})), str(path), enc_key=b"0123456789abcdef")
    with pytest.raises(CheckpointError) as err:
        weights.read(path, format="mindspore")
    _one_sentence(err.value)


def _header_positions(path) -> list[int]:
    """Byte positions of every record's framing, tag, dims and type (all but the tensor data)."""
    _, value_cls = ms_checkpoint._messages()
    positions, start = [], 0
    with open(path, "rb") as fh:
        for offset, length, _ in ms_checkpoint._frames(fh, path.stat().st_size):
            fh.seek(offset)
            content = len(value_cls.FromString(fh.read(length)).tensor.tensor_content)
            positions += range(start, offset + length - content)
            start = offset + length
    return positions


def test_bit_flips_give_a_checkpoint_error_or_a_valid_read(good_ckpt, tmp_path):
    data = good_ckpt.read_bytes()
    rng = np.random.default_rng(0)
    headers = _header_positions(good_ckpt)
    outcomes = {"header_error": 0, "header_read": 0, "data_error": 0, "data_read": 0}
    for kind, positions in (("header", headers), ("data", rng.integers(0, len(data), 60).tolist())):
        for pos in positions:
            flipped = bytearray(data)
            flipped[pos] ^= 1 << int(rng.integers(0, 8))
            bad = tmp_path / "flip.ckpt"
            bad.write_bytes(bytes(flipped))
            try:
                weights.read(bad, format="mindspore", variant=HINT.replace(depth=1))
                outcomes[kind + "_read"] += 1  # e.g. a flip inside tensor data: invisible without a CRC
            except CheckpointError as exc:
                _one_sentence(exc)
                outcomes[kind + "_error"] += 1
    assert outcomes["header_error"] >= 0.8 * len(headers) and outcomes["data_read"] > 0, outcomes
