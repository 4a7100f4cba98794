"""``--lora-rank``: adapters equal peft's LoRA on the same timm model, merge into plain checkpoints, resume exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
peft = pytest.importorskip("peft")

import vitzoo  # noqa: E402
from vitzoo.backends.mindspore.model.vit import VisionTransformer  # noqa: E402
from vitzoo.backends.mindspore.train.lora import LoraLinear, add_lora, merged_state  # noqa: E402
from vitzoo.backends import get_backend  # noqa: E402
from vitzoo.configs import TrainConfig  # noqa: E402
from vitzoo.errors import TrainError  # noqa: E402
from vitzoo.spec import ViTSpec  # noqa: E402
from vitzoo.weights import load_file, safetensors_io  # noqa: E402

from family_models import timm_state  # noqa: E402
from imagefolders import make_train_val  # noqa: E402
from timm_models import tiny_timm  # noqa: E402

SPEC = ViTSpec(img_size=32, patch_size=8, embed_dim=192, depth=2, num_heads=3, mlp_dim=768, num_classes=5)
TINY = dict(img_size=32, patch_size=8, depth=1, embed_dim=32, num_heads=2, batch_size=12, lr=3e-3, progress=False, workers=1)


def _peft_lora(ref: "torch.nn.Module", rank: int, alpha: float) -> "torch.nn.Module":
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=r"blocks\.\d+\.(attn\.(qkv|proj)|mlp\.(fc1|fc2))")
    return get_peft_model(ref, cfg).eval()


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("rank, alpha", [(4, 8.0), (2, 2.0)])
def test_lora_forward_equals_peft_with_the_same_adapters(rank: int, alpha: float, jit: bool) -> None:
    ref = tiny_timm(depth=2)
    ours = VisionTransformer(SPEC, timm_state(ref), jit=jit)
    names = add_lora(ours, rank, alpha / rank, seed=0)
    assert names == [f"blocks.{i}.{t}" for i in range(2) for t in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")]
    tuned = _peft_lora(ref, rank, alpha)
    modules = dict(tuned.named_modules())
    rng = np.random.default_rng(1)
    for name, cell in ((n, c) for n, c in ours.cells_and_names() if isinstance(c, LoraLinear)):
        b = rng.standard_normal(cell.lora_B.shape).astype(np.float32) * 0.05  # B starts at zero: make it count
        ms.ops.assign(cell.lora_B, ms.Tensor(b))
        layer = modules[f"base_model.model.{name}"]
        assert tuple(layer.lora_A["default"].weight.shape) == tuple(cell.lora_A.shape)
        with torch.no_grad():
            layer.lora_A["default"].weight.copy_(torch.from_numpy(cell.lora_A.asnumpy()))
            layer.lora_B["default"].weight.copy_(torch.from_numpy(b))
    x = np.random.default_rng(2).standard_normal((3, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = tuned(torch.from_numpy(x)).numpy()
    got = ours(ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(got, expected, atol=1e-4 * max(1.0, float(np.abs(expected).max())))
    with tuned.disable_adapter(), torch.no_grad():
        plain = tuned(torch.from_numpy(x)).numpy()
    assert np.abs(plain - expected).max() > 1e-2  # the adapters changed the output


def test_new_adapters_start_as_the_base_model_and_freeze_all_but_them_and_the_head() -> None:
    ref = tiny_timm(depth=2)
    ours = VisionTransformer(SPEC, timm_state(ref))
    x = ms.Tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))
    before = ours(x).asnumpy()
    add_lora(ours, 4, 1.0, seed=0)
    assert np.array_equal(ours(x).asnumpy(), before)  # B = 0
    a = next(c for c in ours.cells_and_names() if isinstance(c[1], LoraLinear))[1].lora_A.asnumpy()
    bound = 1 / np.sqrt(192)  # peft's kaiming_uniform_(a=sqrt(5)) on [r, in]
    assert np.abs(a).max() <= bound and np.abs(a).max() > 0.8 * bound
    trainable = sorted(p.name for p in ours.trainable_params())
    assert trainable == sorted(["head.weight", "head.bias"] + [f"blocks.{i}.{t}.lora_{ab}" for i in range(2)
                                for t in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2") for ab in "AB"])
    assert set(get_backend("mindspore").state_dict(ours)) == set(timm_state(ref))  # canonical names unchanged


def test_merged_weights_give_the_lora_models_logits_in_vitzoo_and_timm() -> None:
    ref = tiny_timm(depth=2)
    ours = VisionTransformer(SPEC, timm_state(ref))
    add_lora(ours, 3, 2.0, seed=5)
    rng = np.random.default_rng(3)
    for cell in (c for _, c in ours.cells_and_names() if isinstance(c, LoraLinear)):
        ms.ops.assign(cell.lora_B, ms.Tensor(rng.standard_normal(cell.lora_B.shape).astype(np.float32) * 0.05))
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    lora_logits = ours(ms.Tensor(x)).asnumpy()
    merged = merged_state(ours, get_backend("mindspore").state_dict(ours))
    plain = VisionTransformer(SPEC, merged)(ms.Tensor(x)).asnumpy()
    scale = max(1.0, float(np.abs(lora_logits).max()))
    np.testing.assert_allclose(plain, lora_logits, atol=1e-4 * scale)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in merged.items()})
    with torch.no_grad():
        np.testing.assert_allclose(ref(torch.from_numpy(x)).numpy(), lora_logits, atol=1e-4 * scale)
    assert np.abs(plain - VisionTransformer(SPEC, timm_state(tiny_timm(depth=2)))(ms.Tensor(x)).asnumpy()).max() > 1e-3


@pytest.mark.parametrize("bad, match", [
    (dict(lora_rank=4, linear_probe=True, pretrained="x.safetensors"), "--lora-rank trains adapters inside the backbone"),
    (dict(lora_rank=4, freeze_backbone=True), "--lora-rank trains adapters inside the backbone"),
    (dict(lora_alpha=8.0), "--lora-alpha 8.0 needs --lora-rank"),
    (dict(lora_rank=-1), "--lora-rank must be a non-negative integer"),
])
def test_bad_lora_settings_are_one_sentence(bad: dict, match: str) -> None:
    with pytest.raises(TrainError, match=match) as err:
        TrainConfig("data", **bad)
    assert "\n" not in str(err.value)


def test_lora_training_saves_merged_checkpoints_and_resumes_bit_for_bit(tmp_path: Path) -> None:
    data = make_train_val(tmp_path / "data", train=8, val=2)
    vitzoo.train(data, output=tmp_path / "pre", epochs=1, **TINY)
    weights = str(tmp_path / "pre" / "last.safetensors")
    run = dict(batch_size=12, progress=False, workers=1, epochs=2, lr=1e-2, pretrained=weights, lora_rank=2, lora_alpha=4.0, model_ema=True)
    straight = vitzoo.train(data, output=tmp_path / "a", **run)
    vitzoo.train(data, output=tmp_path / "b", stop_epoch=1, **run)
    resumed = vitzoo.train(data, output=tmp_path / "b", resume=True, **run)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]
    for name in ("last.safetensors", "best.safetensors", "ema.safetensors"):
        a, b = load_file(tmp_path / "a" / name).state, load_file(tmp_path / "b" / name).state
        assert all(np.array_equal(a[k], b[k]) for k in a), name
    base, tuned = load_file(weights).state, load_file(tmp_path / "a" / "last.safetensors").state
    assert set(tuned) == set(base)  # plain canonical names: no adapter tensors
    adapted = [k for k in base if k.endswith(("qkv.weight", "proj.weight", "fc1.weight", "fc2.weight")) and k.startswith("blocks.")]
    frozen = [k for k in base if k not in adapted and not k.startswith("head")]
    assert all(np.array_equal(base[k], tuned[k]) for k in frozen)  # norms, biases, embeddings: untouched
    assert all(not np.array_equal(base[k], tuned[k]) for k in adapted)  # the merged updates
    tensors, _ = safetensors_io.load(tmp_path / "a" / "last.optim.safetensors")
    assert any(k.startswith("lora/") for k in tensors)
    assert all(np.array_equal(tensors["model/" + k], base[k]) for k in adapted)  # the state file keeps W unmerged
    # the merged checkpoint reproduces the LoRA model: its eval accuracy is the run's
    model = vitzoo.create_from_file(tmp_path / "a" / "last.safetensors")
    assert model.spec.num_classes == 3
    assert vitzoo.evaluate(data / "val", weights=str(tmp_path / "a" / "last.safetensors"))["top1"] == pytest.approx(straight.history[-1]["val_top1"])


@pytest.mark.parametrize("name", ["eva02_tiny_patch14_224", "eva02_base_patch16_clip_224"])
def test_lora_on_eva_blocks_equals_timm_with_the_formulas_weights(name: str, tmp_path: Path) -> None:
    """The EVA block: fused qkv with q/v bias and SwiGLU (EVA-02), or q/k/v apart with inner norms (EVA-CLIP).

    The reference is timm's model holding ``W + scale · B @ A`` (the LoRA formula), not peft: timm's
    EVA-02 attention calls ``F.linear(x, self.qkv.weight, qkv_bias)``, past the ``qkv`` module that peft
    wraps, so peft leaves its qkv unadapted.
    """
    from safetensors.torch import save_file

    from vitzoo.variants import get_spec

    torch.manual_seed(0)
    ref = timm.create_model(name, pretrained=False, depth=1, num_classes=get_spec(name).num_classes).eval()
    with torch.no_grad():
        for pname, p in ref.named_parameters():
            p.normal_(0, 0.05)
            if p.ndim == 1 and (pname.endswith("weight") or "gamma" in pname):
                p.add_(1.0)
    save_file(ref.state_dict(), str(tmp_path / "w.safetensors"))
    ours = vitzoo.create(name, pretrained=str(tmp_path / "w.safetensors"), depth=1)
    scale = 1.5
    names = add_lora(ours, 2, scale, seed=0)
    linears = {n for n, m in ref.named_modules() if isinstance(m, torch.nn.Linear) and n.startswith("blocks.")}
    assert set(names) == linears  # every Linear of the block, whatever its layout
    rng = np.random.default_rng(1)
    state = {k: v.detach().numpy().copy() for k, v in ref.state_dict().items()}
    for n, cell in ((n, c) for n, c in ours.cells_and_names() if isinstance(c, LoraLinear)):
        b = rng.standard_normal(cell.lora_B.shape).astype(np.float32) * 0.05
        ms.ops.assign(cell.lora_B, ms.Tensor(b))
        state[n + ".weight"] = state[n + ".weight"] + scale * (b.astype(np.float64) @ cell.lora_A.asnumpy()).astype(np.float32)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    size = get_spec(name).img_size
    x = np.random.default_rng(2).standard_normal((1, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    got = ours(ms.Tensor(x)).asnumpy()
    assert float(np.abs(got - expected).max() / np.abs(expected).max()) <= 1e-4
