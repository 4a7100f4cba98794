"""Google's JAX .npz: files that timm's own _load_weights accepts, parity, round trips, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
from timm.models.vision_transformer import _load_weights  # noqa: E402  (timm's reference .npz reader)

import vitzoo  # noqa: E402
from vitzoo import weights  # noqa: E402
from vitzoo.errors import CheckpointError  # noqa: E402
from timm_models import tiny_timm as tiny  # noqa: E402

X = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
BACKENDS = ["numpy"] + (["mindspore"] if (Path(__file__).parents[2] / "backends/mindspore/__init__.py").exists() else [])
HEADS = 3


def jax_layout(model: "torch.nn.Module") -> dict[str, np.ndarray]:
    """The model's weights in the JAX checkpoint layout, built by hand from the published names."""
    sd = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    d = sd["patch_embed.proj.weight"].shape[0]
    out = {
        "embedding/kernel": sd["patch_embed.proj.weight"].transpose(2, 3, 1, 0),
        "embedding/bias": sd["patch_embed.proj.bias"],
        "Transformer/posembed_input/pos_embedding": sd["pos_embed"],
        "Transformer/encoder_norm/scale": sd["norm.weight"],
        "Transformer/encoder_norm/bias": sd["norm.bias"],
    }
    if "cls_token" in sd:
        out["cls"] = sd["cls_token"]
    if "head.weight" in sd:
        out["head/kernel"], out["head/bias"] = sd["head.weight"].T, sd["head.bias"]
    for i in range(len(model.blocks)):
        b, p, mha = f"Transformer/encoderblock_{i}/", f"blocks.{i}.", "MultiHeadDotProductAttention_1/"
        out[b + "LayerNorm_0/scale"], out[b + "LayerNorm_0/bias"] = sd[p + "norm1.weight"], sd[p + "norm1.bias"]
        out[b + "LayerNorm_2/scale"], out[b + "LayerNorm_2/bias"] = sd[p + "norm2.weight"], sd[p + "norm2.bias"]
        for j, n in enumerate(("query", "key", "value")):
            out[f"{b}{mha}{n}/kernel"] = sd[p + "attn.qkv.weight"][j * d : (j + 1) * d].T.reshape(d, HEADS, -1)
            out[f"{b}{mha}{n}/bias"] = sd[p + "attn.qkv.bias"][j * d : (j + 1) * d].reshape(HEADS, -1)
        out[f"{b}{mha}out/kernel"] = sd[p + "attn.proj.weight"].T.reshape(HEADS, -1, d)
        out[f"{b}{mha}out/bias"] = sd[p + "attn.proj.bias"]
        for r in (0, 1):
            out[f"{b}MlpBlock_3/Dense_{r}/kernel"] = sd[f"{p}mlp.fc{r + 1}.weight"].T
            out[f"{b}MlpBlock_3/Dense_{r}/bias"] = sd[f"{p}mlp.fc{r + 1}.bias"]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def timm_out(model: "torch.nn.Module", x: np.ndarray = X) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def timm_loaded(path: Path, **kwargs) -> "torch.nn.Module":
    """A fresh timm model (other random weights) filled by timm's own .npz loader."""
    model = tiny(seed=7, **kwargs)
    with torch.no_grad():
        _load_weights(model, str(path))
    return model


def vitzoo_out(path: Path, backend: str) -> np.ndarray:
    model = vitzoo.create_from_file(path, backend=backend)
    if backend == "mindspore":
        import mindspore as ms

        return model(ms.Tensor(X)).asnumpy()
    return model(X)


@pytest.fixture()
def npz(tmp_path) -> tuple[Path, "torch.nn.Module"]:
    model = tiny()
    path = tmp_path / "ViT-Ti_8.npz"
    np.savez(path, **jax_layout(model))
    assert np.array_equal(timm_out(timm_loaded(path)), timm_out(model))  # the file is what timm reads
    return path, model


@pytest.mark.parametrize("backend", BACKENDS)
def test_logits_match(tmp_path, npz, backend):
    path, model = npz
    assert weights.detect_format(path) == "jax"
    report = weights.convert(path, tmp_path / "c.safetensors")
    assert (report.source_format, report.tensors, report.spec.num_heads) == ("jax", 32, HEADS)
    diff = np.abs(vitzoo_out(tmp_path / "c.safetensors", backend) - timm_out(model)).max()
    assert diff <= 1e-4, diff


def test_round_trip_is_bit_exact_and_timm_reads_it(tmp_path, npz):
    path, model = npz
    weights.convert(path, tmp_path / "c.safetensors")
    weights.convert(tmp_path / "c.safetensors", tmp_path / "back.npz", to_format="jax")
    with np.load(path) as a, np.load(tmp_path / "back.npz", allow_pickle=False) as b:
        assert set(a.files) == set(b.files)
        for k in a.files:
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and a[k].tobytes() == b[k].tobytes(), k
    assert np.array_equal(timm_out(timm_loaded(tmp_path / "back.npz")), timm_out(model))


def test_optimizer_checkpoint_drops_state(tmp_path):
    model = tiny()
    arrays = {f"opt/target/{k}": v for k, v in jax_layout(model).items()}
    arrays["opt/state/step"] = np.array(1000)
    arrays["opt/state/param_states/embedding/kernel/grad_ema"] = np.zeros(3, np.float32)
    np.savez(tmp_path / "opt.npz", **arrays)
    assert np.array_equal(timm_out(timm_loaded(tmp_path / "opt.npz")), timm_out(model))
    ckpt = weights.read(tmp_path / "opt.npz")
    assert sorted(ckpt.dropped) == ["opt/state/param_states/embedding/kernel/grad_ema", "opt/state/step"]
    weights.save_file(ckpt, tmp_path / "c.safetensors")
    assert np.abs(vitzoo_out(tmp_path / "c.safetensors", "numpy") - timm_out(model)).max() <= 1e-4


def test_global_average_pooling_model(tmp_path):
    model = tiny(class_token=False, global_pool="avg", fc_norm=False)
    np.savez(tmp_path / "gap.npz", **jax_layout(model))
    assert np.array_equal(timm_out(timm_loaded(tmp_path / "gap.npz", class_token=False, global_pool="avg", fc_norm=False)), timm_out(model))
    ckpt = weights.read(tmp_path / "gap.npz")
    assert (ckpt.spec.class_token, ckpt.spec.global_pool) == (False, "avg")
    weights.save_file(ckpt, tmp_path / "c.safetensors")
    assert np.abs(vitzoo_out(tmp_path / "c.safetensors", "numpy") - timm_out(model)).max() <= 1e-4


def test_pre_logits_layer(tmp_path):
    """Original in21k releases put Dense + tanh before the head; timm dropped it, so the reference is by hand."""
    trunk = tiny(num_classes=0)
    rng = np.random.default_rng(1)
    wp, bp = rng.standard_normal((16, 192)).astype(np.float32) * 0.1, rng.standard_normal(16).astype(np.float32)
    wh, bh = rng.standard_normal((5, 16)).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    arrays = jax_layout(trunk)
    arrays.update({"pre_logits/kernel": wp.T.copy(), "pre_logits/bias": bp, "head/kernel": wh.T.copy(), "head/bias": bh})
    np.savez(tmp_path / "in21k.npz", **arrays)
    ckpt = weights.read(tmp_path / "in21k.npz")
    assert (ckpt.spec.pre_logits_dim, ckpt.spec.num_classes) == (16, 5)
    weights.save_file(ckpt, tmp_path / "c.safetensors")
    expected = np.tanh(timm_out(trunk) @ wp.T + bp) @ wh.T + bh
    assert np.abs(vitzoo_out(tmp_path / "c.safetensors", "numpy") - expected).max() <= 1e-4
    weights.write(ckpt, tmp_path / "back.npz", format="jax")
    with np.load(tmp_path / "back.npz") as back:
        assert all(np.array_equal(back[k], v) for k, v in arrays.items())


def test_bad_inputs(tmp_path, npz):
    path, _ = npz
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a ViT checkpoint"):
        weights.detect_format(tmp_path / "cut.npz")
    with pytest.raises(CheckpointError):
        weights.read(tmp_path / "cut.npz", format="jax")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(CheckpointError, match="embedding/kernel"):
        weights.read(tmp_path / "other.npz", format="jax")
    arrays = dict(np.load(path))
    del arrays["Transformer/encoderblock_1/MultiHeadDotProductAttention_1/key/kernel"]
    np.savez(tmp_path / "incomplete.npz", **arrays)
    with pytest.raises(CheckpointError, match="key/kernel"):
        weights.read(tmp_path / "incomplete.npz")
    np.savez(tmp_path / "pickled.npz", **{**dict(np.load(path)), "head/bias": np.array([object()], dtype=object)})
    with pytest.raises(CheckpointError, match="pickle"):  # never unpickled
        weights.read(tmp_path / "pickled.npz")
