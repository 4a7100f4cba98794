"""Eval preprocessing against timm's own transform, on photos and photo-like images."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

import vitzoo
from vitzoo import VitzooError
from vitzoo.init import init_state
from vitzoo.pretrained import get_weight_set, list_pretrained
from vitzoo.transforms import EvalTransform, resolve_cfg, transforms_for
from vitzoo.weights import Checkpoint

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
from timm.data import create_transform, resolve_data_config  # noqa: E402

# one weight set per kind of preprocessing in the registry
WEIGHT_SETS = [
    "vit_b_16.augreg2_in21k_ft_in1k",  # bicubic, crop 0.9, mean/std 0.5
    "vit_b_16_384.augreg_in21k_ft_in1k",  # 384 px, crop 1.0
    "vit_b_16.dino",  # ImageNet mean/std
    "vit_b_16.google_in21k_ft_in1k",  # squash resize, bilinear
    "vit_b_16.ms_in1k",  # the MindSpore tutorial: resize 256 bilinear, crop 224
    "vit_l_16.mindcv_in1k",  # MindCV: resize 256 bicubic, crop 224
]


def photo_like(width, height, seed):
    """Smooth gradients, shapes with hard and blurred edges, and sensor noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / width, yy / height, 0.5 + 0.5 * np.sin(xx / 17.0 + yy / 29.0)], axis=-1) * 200
    image = Image.fromarray(base.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        box = [x0, y0, x0 + rng.integers(5, width // 2 + 6), y0 + rng.integers(5, height // 2 + 6)]
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    noisy = np.asarray(image).astype(np.int16) + rng.integers(-12, 13, (height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def sample_photos():
    photos = [photo_like(640, 480, 0), photo_like(333, 500, 1), photo_like(1024, 257, 2), photo_like(150, 120, 3)]
    photos.append(photo_like(224, 224, 4).convert("L"))  # grey-scale input, converted to RGB as timm's loader does
    try:  # real photographs, when scikit-image (a test extra) is installed
        from skimage import data

        photos += [Image.fromarray(getattr(data, n)()) for n in ("astronaut", "coffee", "chelsea", "rocket")]
    except ImportError:
        pass
    return photos


PHOTOS = sample_photos()


def timm_transform(name):
    cfg = get_weight_set(name).pretrained_cfg()
    return create_transform(**resolve_data_config(pretrained_cfg=dict(cfg, input_size=tuple(cfg["input_size"]))), is_training=False)


def one_weight_set_per_preprocessing():
    """A weight set for each distinct preprocessing in the registry (sizes, crops, interpolations, means/stds)."""
    seen = {}
    for name in list_pretrained():
        seen.setdefault(repr(sorted(get_weight_set(name).preprocessing.items())), name)
    return sorted(seen.values())


@pytest.mark.parametrize("name", WEIGHT_SETS)
def test_matches_timm_eval_transform(name):
    ours, ref = transforms_for(name), timm_transform(name)
    for photo in PHOTOS:
        expected = ref(photo.convert("RGB")).numpy()
        got = ours(photo)
        assert got.dtype == np.float32 and got.shape == expected.shape
        assert np.array_equal(got, expected)  # same Pillow resize, same float32 arithmetic: bit for bit


@pytest.mark.parametrize("name", one_weight_set_per_preprocessing())
def test_every_registry_preprocessing_matches_timm(name):
    """Every distinct preprocessing in the registry (CLIP's and SigLIP's means, squash resizes, ...), on two photos."""
    ours, ref = transforms_for(name), timm_transform(name)
    for photo in PHOTOS[:2]:  # a landscape and a portrait photo
        assert np.array_equal(ours(photo), ref(photo.convert("RGB")).numpy()), name


@pytest.mark.parametrize("crop_mode, crop_pct", [("center", 0.9), ("center", 1.0), ("squash", 0.95), ("border", 1.0), ("border", 0.9)])
@pytest.mark.parametrize("hw", [(96, 64), (48, 80), (64, 64)])
def test_a_non_square_input_is_prepared_as_timm_does(crop_mode, crop_pct, hw):
    """timm: squash resizes each side to 1/crop_pct of its target; centre keeps the ratio (ResizeKeepRatio), then crops."""
    mean = (0.48145466, 0.4578275, 0.40821073)  # CLIP's: the border's fill is each channel's own
    cfg = {"input_size": (3, *hw), "crop_pct": crop_pct, "crop_mode": crop_mode, "interpolation": "bicubic", "mean": mean, "std": (0.5,) * 3}
    ours = transforms_for(cfg)
    assert ours.size_hw == hw and ours.to_dict()["input_size"] == [3, *hw]
    ref = create_transform(**resolve_data_config(pretrained_cfg=cfg), is_training=False)
    for photo in PHOTOS[:2]:
        assert np.array_equal(ours(photo), ref(photo.convert("RGB")).numpy()), (crop_mode, hw)


def test_a_non_square_model_gets_its_own_input_size():
    from types import SimpleNamespace

    model = SimpleNamespace(spec=vitzoo.get_spec("sapiens2_b_16"), pretrained_cfg=None)  # what transforms_for reads of a model
    assert transforms_for(model).to_dict()["input_size"] == [3, 1024, 768]


def test_uses_the_weights_preprocessing():
    assert transforms_for("vit_b_16").resize_size == 248  # default weights: 224 / 0.9, bicubic
    tf = transforms_for("vit_b_16.ms_in1k")
    assert (tf.resize_size, tf.img_size, tf.interpolation) == (256, 224, "bilinear")
    assert tf.mean == (0.485, 0.456, 0.406) and tf.std == (0.229, 0.224, 0.225)
    assert transforms_for("vit_base_patch16_384.augreg_in21k_ft_in1k").resize_size == 384
    assert transforms_for({"input_size": [3, 64, 64]}).img_size == 64


def test_follows_the_model_size_and_channels():
    spec = vitzoo.get_spec("vit_ti_16", depth=1, img_size=32)
    meta = {"pretrained_cfg": get_weight_set("vit_ti_16.augreg_in21k_ft_in1k").pretrained_cfg()}
    ckpt = Checkpoint(init_state(spec), spec, meta)
    model = vitzoo.build_from_checkpoint(ckpt, backend="numpy", adapt=dict(img_size=48, in_chans=1))
    tf = transforms_for(model)
    assert (tf.img_size, tf.in_chans, tf.crop_pct) == (48, 1, 0.9)
    x = tf.batch([PHOTOS[0], PHOTOS[1]])
    assert x.shape == (2, 1, 48, 48)
    assert model(x).shape == (2, 1000)
    # grey input with mean/std 0.5 is the first channel of the RGB transform of a grey image
    grey = PHOTOS[4]
    rgb = EvalTransform(img_size=48, crop_pct=0.9)(grey)
    assert np.array_equal(tf(grey)[0], rgb[0])


def test_random_init_model_gets_timm_defaults():
    model = vitzoo.create("vit_ti_16", backend="numpy", depth=1, img_size=64)
    tf = transforms_for(model)
    assert (tf.img_size, tf.crop_pct, tf.interpolation, tf.mean) == (64, 0.9, "bicubic", (0.5, 0.5, 0.5))


def test_bad_inputs_raise_vitzoo_errors():
    with pytest.raises(VitzooError, match="interpolation"):
        EvalTransform(interpolation="cubic")
    with pytest.raises(VitzooError, match="channels"):
        transforms_for({"input_size": [4, 32, 32]})
    with pytest.raises(VitzooError, match="PIL image"):
        transforms_for("vit_b_16")("not an image")
    with pytest.raises(VitzooError, match="nope"):
        transforms_for("vit_b_16.nope")


def test_resolve_cfg_fills_timm_defaults():
    cfg = resolve_cfg({"crop_pct": 1.0})
    assert cfg == {"input_size": [3, 224, 224], "interpolation": "bicubic", "crop_pct": 1.0, "crop_mode": "center",
                   "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
