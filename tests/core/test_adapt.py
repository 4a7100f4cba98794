"""Adapting pretrained weights (classes, image size, input channels) against timm's own loader."""

import numpy as np
import pytest

import vitzoo
from vitzoo import CheckpointError, weights
from vitzoo.adapt import adapt_checkpoint, adapt_input_conv, resample_pos_embed
from vitzoo.backends import get_backend
from vitzoo.weights import Checkpoint

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
from safetensors.torch import save_file  # noqa: E402

ARCH = dict(img_size=32, patch_size=8, depth=2, embed_dim=64, num_heads=2)
SPEC = vitzoo.get_spec("vit_ti_16", mlp_dim=256, **ARCH)


@pytest.fixture(scope="module")
def timm_file(tmp_path_factory):
    """A timm state dict with random, non-trivial weights (1000 classes, 3 channels, 32 px)."""
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, **ARCH).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (0.05 if p.ndim > 1 else 0.3) + (1.0 if name.endswith("norm1.weight") else 0.0))
    path = tmp_path_factory.mktemp("timm") / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def read_ours(path):
    if "timm" in weights.FORMATS:  # the real reader, once it exists
        return weights.read(path, format="timm", variant=SPEC)
    from safetensors.numpy import load_file

    return Checkpoint(load_file(str(path)), SPEC).validate()


def timm_adapted(path, **kwargs):
    model = timm.create_model("vit_tiny_patch16_224", pretrained=True, pretrained_cfg_overlay=dict(file=str(path)),
                              **{**ARCH, **kwargs})
    return model.eval()


CASES = {
    "upsample_grid": dict(img_size=48),
    "downsample_grid": dict(img_size=16),
    "odd_grid": dict(img_size=40),
    "grey": dict(in_chans=1),
    "two_channels": dict(in_chans=2),
    "five_channels": dict(in_chans=5),
    "same_classes": dict(num_classes=1000),
    "no_head": dict(num_classes=0),
    "new_head": dict(num_classes=10),
    "all_at_once": dict(img_size=48, in_chans=1, num_classes=10),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_timm(timm_file, case):
    kwargs = CASES[case]
    ref = timm_adapted(timm_file, **kwargs)
    ckpt = adapt_checkpoint(read_ours(timm_file), **kwargs)
    ref_state = {k: v.numpy() for k, v in ref.state_dict().items()}
    assert set(ckpt.state) == set(ref_state)
    for name in ("pos_embed", "patch_embed.proj.weight"):
        assert np.abs(ckpt.state[name] - ref_state[name]).max() <= 1e-4, name

    model = get_backend("numpy").build(ckpt.spec, ckpt.state)
    size, chans = kwargs.get("img_size", 32), kwargs.get("in_chans", 3)
    x = torch.randn(2, chans, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        feats = ref.forward_features(x)
        pooled = ref.forward_head(feats, pre_logits=True).numpy()
        logits = ref(x).numpy()
    ours_feats = model.forward_features(x.numpy())
    assert np.abs(ours_feats - feats.numpy()).max() <= 1e-4
    assert np.abs(model.forward_head(ours_feats, pre_logits=True) - pooled).max() <= 1e-4
    assert model(x.numpy()).shape == logits.shape
    if kwargs.get("num_classes", 1000) == 1000:  # the pretrained head is kept, so the logits agree too
        assert np.abs(model(x.numpy()) - logits).max() <= 1e-4


def test_new_head_is_fresh_and_reproducible(timm_file):
    src = read_ours(timm_file)
    a = adapt_checkpoint(src, num_classes=10)
    b = adapt_checkpoint(src, num_classes=10)
    w = a.state["head.weight"]
    assert w.shape == (10, 64) and np.array_equal(w, b.state["head.weight"])
    assert np.all(a.state["head.bias"] == 0) and 0.01 < w.std() < 0.02 and np.abs(w).max() <= 0.04 + 1e-7
    assert adapt_checkpoint(src) is src  # nothing asked, nothing changed


def test_provenance_follows_the_change():
    meta = {"class_names": ["a"] * 1000, "pretrained_cfg": {"input_size": [3, 32, 32], "num_classes": 1000, "label_set": "imagenet-1k"}}
    ckpt = Checkpoint(_random_state(), SPEC, meta)
    out = adapt_checkpoint(ckpt, num_classes=5, img_size=48, in_chans=1)
    assert "class_names" not in out.meta
    assert out.meta["pretrained_cfg"] == {"input_size": [1, 48, 48], "num_classes": 5, "label_set": "none"}
    assert adapt_checkpoint(ckpt, img_size=48).meta["class_names"] == ["a"] * 1000


def test_create_adapts_a_weight_file(tmp_path, timm_file):
    weights.save_file(read_ours(timm_file), tmp_path / "w.safetensors")
    model = vitzoo.create(pretrained=tmp_path / "w.safetensors", backend="numpy", img_size=48, in_chans=1, num_classes=10)
    ref = timm_adapted(timm_file, img_size=48, in_chans=1, num_classes=10)
    x = torch.randn(1, 1, 48, 48, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = ref.forward_head(ref.forward_features(x), pre_logits=True).numpy()
    got = model.forward_head(model.forward_features(x.numpy()), pre_logits=True)
    assert (model.spec.img_size, model.spec.in_chans, model.spec.num_classes) == (48, 1, 10)
    assert np.abs(got - expected).max() <= 1e-4


def test_position_embedding_filter_is_torchs_antialiased_bicubic():
    rng = np.random.default_rng(0)
    for old, new in [(14, 24), (14, 7), (7, 3), (3, 5)]:
        pe = rng.standard_normal((1, 1 + old * old, 16)).astype(np.float32)
        grid = torch.from_numpy(pe[:, 1:]).reshape(1, old, old, 16).permute(0, 3, 1, 2)
        for mode in ("bicubic", "bilinear"):
            ref = torch.nn.functional.interpolate(grid, size=(new, new), mode=mode, antialias=True, align_corners=False)
            ours = resample_pos_embed(pe, new, interpolation=mode)
            assert np.array_equal(ours[:, :1], pe[:, :1])  # the class token is kept apart
            assert np.abs(ours[0, 1:] - ref.permute(0, 2, 3, 1).reshape(-1, 16).numpy()).max() <= 1e-5


def test_input_conv_matches_timm():
    from timm.models import adapt_input_conv as timm_adapt

    w = np.random.default_rng(0).standard_normal((8, 3, 4, 4)).astype(np.float32)
    for chans in (1, 2, 3, 4, 7):
        assert np.abs(adapt_input_conv(w, chans) - timm_adapt(chans, torch.from_numpy(w)).numpy()).max() <= 1e-6


def test_impossible_changes_are_checkpoint_errors():
    ckpt = Checkpoint(_random_state(), SPEC)
    with pytest.raises(CheckpointError, match="smaller than patch_size"):
        adapt_checkpoint(ckpt, img_size=4)
    with pytest.raises(CheckpointError, match="in_chans"):
        adapt_checkpoint(ckpt, in_chans=0)
    with pytest.raises(CheckpointError, match="interpolation"):
        resample_pos_embed(ckpt.state["pos_embed"], 6, interpolation="area")


def _random_state():
    from vitzoo.init import init_state

    return init_state(SPEC)
