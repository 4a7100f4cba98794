"""transformers' DINOv3ViTModel folders (Meta's hub layout) against transformers itself, random weights.

transformers builds each model (every parameter drawn, so zero-initialised biases and layer scales
count) and writes it with ``save_pretrained``; vitzoo reads the folder with no name given and its
output equals ``pooler_output`` (the class token after the final norm) on NumPy, MindSpore and
``jit=True``, at the config's size and at a non-square one. Written back with ``format="hf"``, the folder
loads in transformers with the same output; and the same weights read from timm's ``vit_*_dinov3``
layout give the same model.
"""

from __future__ import annotations

import mindspore as ms
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import vitzoo  # noqa: E402
from vitzoo import weights  # noqa: E402
from vitzoo.errors import CheckpointError  # noqa: E402

CASES = {
    "plain": dict(num_register_tokens=0),  # ViT-S/B/L: GELU MLP, q/v bias
    "gated_registers": dict(num_register_tokens=4, use_gated_mlp=True, hidden_act="silu", intermediate_size=96),  # H+ / 7B style
    "all_biases": dict(num_register_tokens=1, key_bias=True),
}


def random_dinov3(**overrides):
    from transformers import DINOv3ViTConfig, DINOv3ViTModel

    torch.manual_seed(0)
    args = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, image_size=64, patch_size=16)
    model = DINOv3ViTModel(DINOv3ViTConfig(**{**args, **overrides})).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(0, 0.05)
            if p.ndim == 1 and ("norm" in name or "lambda1" in name) and name.endswith(("weight", "lambda1")):
                p.add_(1.0)
    return model


def pooled(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(pixel_values=torch.from_numpy(x)).pooler_output.numpy()


def rel(out, ref) -> float:
    return float(np.abs(np.asarray(out) - ref).max() / np.abs(ref).max())


def run(model, x):
    out = model(x if isinstance(model, vitzoo.backends.numpy.NumpyViT) else ms.Tensor(x))
    return out if isinstance(out, np.ndarray) else out.asnumpy()


@pytest.mark.parametrize("case", list(CASES))
def test_a_dinov3_folder_equals_transformers_on_every_backend(tmp_path, case):
    ref = random_dinov3(**CASES[case])
    ref.save_pretrained(tmp_path / "dinov3")
    ckpt = weights.read(tmp_path / "dinov3")
    spec = ckpt.spec
    assert (spec.rope, spec.rope_temperature, spec.reg_tokens, spec.norm_eps, spec.dynamic_img_size) == ("dinov3", 100.0, CASES[case]["num_register_tokens"], 1e-5, True)
    assert ckpt.dropped == ["embeddings.mask_token"] + (["embeddings.register_tokens"] if not spec.reg_tokens else [])
    models = [vitzoo.create(None, pretrained=str(tmp_path / "dinov3"), backend="numpy"),
              vitzoo.create(None, pretrained=str(tmp_path / "dinov3")),
              vitzoo.create(None, pretrained=str(tmp_path / "dinov3"), jit=True)]
    for h, w in ((64, 64), (48, 80)):
        x = np.random.default_rng(1).standard_normal((2, 3, h, w)).astype(np.float32)
        expected = pooled(ref, x)
        for model in models:
            assert rel(run(model, x), expected) <= 1e-4, (case, h, w)


def test_written_back_it_loads_in_transformers_with_the_same_output(tmp_path):
    from transformers import DINOv3ViTModel

    ref = random_dinov3(**CASES["gated_registers"])
    ref.save_pretrained(tmp_path / "src")
    weights.write(weights.read(tmp_path / "src"), tmp_path / "back", format="hf")
    back = DINOv3ViTModel.from_pretrained(tmp_path / "back").eval()
    x = np.random.default_rng(2).standard_normal((1, 3, 64, 64)).astype(np.float32)
    assert rel(pooled(back, x), pooled(ref, x)) <= 1e-6


def test_the_same_weights_from_timm_give_the_same_model(tmp_path):
    """timm's vit_small_patch16_dinov3_qkvb tensors, renamed by vitzoo's writer, read as a DINOv3ViTModel folder.

    timm pools DINOv3 by the patch tokens' mean, transformers returns the class token: the weights are
    the same, so the timm file is read with the class-token pool (a pool the writer refuses to drop silently).
    """
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    tm = timm.create_model("vit_small_patch16_dinov3_qkvb", pretrained=False, depth=2, num_classes=0).eval()
    with torch.no_grad():
        for name, p in tm.named_parameters():
            p.normal_(0, 0.05)
            if p.ndim == 1 and (name.endswith("weight") or "gamma" in name):
                p.add_(1.0)
    save_file(tm.state_dict(), str(tmp_path / "timm.safetensors"))
    avg = weights.read(tmp_path / "timm.safetensors", variant=vitzoo.get_spec("vit_small_patch16_dinov3_qkvb", depth=2))
    with pytest.raises(CheckpointError, match="a class token, pooled as the output"):
        weights.write(avg, tmp_path / "refused", format="hf")
    assert not (tmp_path / "refused").exists()
    ckpt = weights.read(tmp_path / "timm.safetensors", variant=vitzoo.get_spec("vit_small_patch16_dinov3_qkvb", depth=2, global_pool="token"))
    weights.write(ckpt, tmp_path / "hf", format="hf")
    from transformers import DINOv3ViTModel

    hf = DINOv3ViTModel.from_pretrained(tmp_path / "hf").eval()
    x = np.random.default_rng(3).standard_normal((1, 3, 96, 128)).astype(np.float32)
    with torch.no_grad():
        expected = tm.forward_features(torch.from_numpy(x))[:, 0].numpy()
    assert rel(pooled(hf, x), expected) <= 1e-4
    assert rel(run(vitzoo.create(None, pretrained=str(tmp_path / "hf"), backend="numpy"), x), expected) <= 1e-4


def test_a_lone_key_bias_is_refused_in_one_sentence(tmp_path):
    from safetensors.numpy import load_file, save_file

    ref = random_dinov3(num_register_tokens=0)
    ref.save_pretrained(tmp_path / "d")
    tensors = load_file(str(tmp_path / "d" / "model.safetensors"))
    tensors = {k: v for k, v in tensors.items() if not k.endswith(("q_proj.bias", "v_proj.bias"))}
    tensors["layer.0.attention.k_proj.bias"] = np.zeros(64, np.float32)
    save_file(tensors, str(tmp_path / "d" / "model.safetensors"))
    with pytest.raises(CheckpointError, match="layer 0 lacks one of the query/key/value bias tensors") as info:
        weights.read(tmp_path / "d")
    assert "\n" not in str(info.value)
