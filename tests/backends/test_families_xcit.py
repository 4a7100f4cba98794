"""timm's xcit.py (XCiT) against the real timm, random weights.

Each case: timm builds the architecture with two cross-covariance blocks (and its two class-attention
blocks), every parameter drawn at random (norms, layer scales and BatchNorm scales near one; BatchNorm
running statistics random too, so eval mode's use of them shows), and saves its state dict; vitzoo reads
the file on the NumPy backend, MindSpore PyNative and ``jit=True`` and gives timm's logits, at the built
size and at a non-square one (XCiT has no position table). Written back with ``format="timm"`` it loads
strict in timm.
"""

from __future__ import annotations

import mindspore as ms
import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
from safetensors.torch import load_file  # noqa: E402

import vitzoo  # noqa: E402
import vitzoo.backends.numpy  # noqa: E402,F401  (family_timm.run tells the backends apart by class)
from vitzoo import weights  # noqa: E402
from vitzoo.variants import get_spec  # noqa: E402

from family_timm import logits, rel, run, save_timm  # noqa: E402
from family_timm import random_timm as _random_timm  # noqa: E402


def random_timm(name: str, **kwargs):
    """timm's XCiT at random, BatchNorm running statistics included (buffers, so random_timm leaves them)."""
    model = _random_timm(name, scale={"temperature": 4.0}, **kwargs)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.normal_(0, 0.1, generator=gen)
                mod.running_var.uniform_(0.5, 1.5, generator=gen)
    return model


def _x(seed: int, h: int, w: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((2, 3, h, w)).astype(np.float32)


@pytest.mark.parametrize("name, kwargs", [("xcit_nano_12_p16_224", dict(img_size=64)),
                                          ("xcit_tiny_24_p8_384", dict(img_size=32, global_pool="avg"))])
def test_equals_timm_on_every_backend(tmp_path, name, kwargs):
    tm = random_timm(name, num_classes=10, **kwargs)
    path = save_timm(tm, tmp_path)
    size = kwargs["img_size"]
    square, wide = _x(1, size, size), _x(2, size, size + 2 * get_spec(name).patch_size)  # the built size, and a non-square one
    runs = [(dict(backend="numpy"), (square, wide)), ({}, (square, wide))]
    if name.startswith("xcit_nano"):  # one graph compile (~6 s here) for the file: the Cells are the same for both cases
        runs.append((dict(jit=True), (wide,)))
    for backend, inputs in runs:
        model = vitzoo.create(name, pretrained=str(path), depth=2, num_classes=10, **kwargs, **backend)
        for x in inputs:
            assert rel(run(model, x), logits(tm, x)) <= 1e-4, (name, backend, x.shape)


def test_a_file_without_a_name_reads_its_architecture_from_the_tensors(tmp_path):
    """The conv stem names the family and the patch size, attn.temperature [H, 1, 1] the head count; tokens_norm
    comes from the registered variant of these sizes (nano: the class token only), the size is timm's default."""
    tm = random_timm("xcit_nano_12_p16_224", depth=12, num_classes=5)
    path = save_timm(tm, tmp_path)
    spec = weights.read(path).spec
    assert (spec.block, spec.patch_size, spec.num_heads, spec.depth, spec.depth_token_only) == ("xcit", 16, 4, 12, 2)
    assert (spec.tokens_norm, spec.img_size, spec.dynamic_img_size, spec.layer_scale_init) == (False, 224, True, 1.0)
    x = _x(3, 32, 48)[:1]
    assert rel(run(vitzoo.create(None, pretrained=str(path), backend="numpy"), x), logits(tm, x)) <= 1e-4


def test_tokens_norm_unsettled_by_the_tensors_is_refused_or_given(tmp_path):
    """Two blocks match no registered variant: tokens_norm must be given, and the one given is used."""
    from vitzoo.errors import CheckpointError

    tm = random_timm("xcit_tiny_12_p16_224", num_classes=3, img_size=32)
    path = save_timm(tm, tmp_path)
    with pytest.raises(CheckpointError, match="tokens_norm=True") as info:
        weights.read(path)
    assert "\n" not in str(info.value)
    x = _x(4, 32, 32)
    model = vitzoo.create(None, pretrained=str(path), backend="numpy", tokens_norm=True)
    assert model.spec.tokens_norm and rel(run(model, x), logits(tm, x)) <= 1e-4


def test_intermediates_equal_timms(tmp_path):
    tm = random_timm("xcit_nano_12_p8_224", num_classes=0, img_size=32)
    path = save_timm(tm, tmp_path)
    x = _x(5, 32, 40)[:1]
    with torch.no_grad():
        final_ref, maps_ref = tm.forward_intermediates(torch.from_numpy(x), indices=[0, 1], norm=True)
    for backend in (dict(backend="numpy"), {}):
        model = vitzoo.create("xcit_nano_12_p8_224", pretrained=str(path), depth=2, num_classes=0, img_size=32, **backend)
        final, maps = model.forward_intermediates(x if backend else ms.Tensor(x), indices=[0, 1], norm=True)
        assert rel(np.asarray(final if backend else final.asnumpy()), final_ref.numpy()) <= 1e-4
        assert [tuple(m.shape) for m in maps] == [(1, 128, 4, 5)] * 2
        for a, b in zip(maps, maps_ref):
            assert rel(np.asarray(a if backend else a.asnumpy()), b.numpy()) <= 1e-4


def test_timm_writer_output_loads_in_timm(tmp_path):
    tm = random_timm("xcit_tiny_12_p8_224", num_classes=3, img_size=32)
    src = save_timm(tm, tmp_path, "src")
    out = tmp_path / "out.safetensors"
    weights.write(weights.read(src, variant=get_spec("xcit_tiny_12_p8_224", depth=2, num_classes=3)), out, format="timm")
    back = timm.create_model("xcit_tiny_12_p8_224", pretrained=False, depth=2, num_classes=3).eval()
    back.load_state_dict(load_file(str(out)), strict=True)  # torch refills the BatchNorm step counters it lacks
    x = _x(6, 32, 32)
    assert rel(logits(back, x), logits(tm, x)) <= 1e-6


def test_training_mode_normalises_by_the_batch_as_timm():
    """In training mode the BatchNorms use the batch's statistics (MindSpore's BatchNorm operator), as timm's train mode."""
    tm = random_timm("xcit_nano_12_p16_224", num_classes=4, img_size=32)
    state = {k: v.numpy().copy() for k, v in tm.state_dict().items() if not k.endswith("num_batches_tracked")}
    model = vitzoo.backends.mindspore.backend.build(get_spec("xcit_nano_12_p16_224", depth=2, num_classes=4, img_size=32), state)
    x = _x(7, 32, 32)
    model.set_train(True)
    tm.train()
    got = model(ms.Tensor(x)).asnumpy()
    ref = logits(tm, x)
    assert rel(got, ref) <= 1e-4
    moved = model.patch_embed.proj[0][1].running_mean.asnumpy()
    assert rel(moved, tm.patch_embed.proj[0][1].running_mean.numpy()) <= 1e-4  # momentum 0.1, as torch


def test_drop_path_rates_are_timms_uniform_ones():
    """timm's Xcit gives all three branches of every block drop_path_rate itself and the class-attention blocks none."""
    from vitzoo.backends.mindspore.model.drop_path import set_drop_path

    ref = timm.create_model("xcit_nano_12_p16_224", pretrained=False, depth=3, drop_path_rate=0.1)
    model = vitzoo.create("xcit_nano_12_p16_224", img_size=32, depth=3, num_classes=2)
    rates = set_drop_path(model, 0.1)
    assert rates == pytest.approx([b.drop_path1.drop_prob for b in ref.blocks])
    assert [b.drop_path3.rate for b in model.blocks] == pytest.approx([b.drop_path3.drop_prob for b in ref.blocks])
    assert all(isinstance(b.drop_path1, torch.nn.Identity) for b in ref.cls_attn_blocks)
    assert not any("drop_path" in name for name, _ in model.cls_attn_blocks.cells_and_names())


@pytest.mark.parametrize("layer_decay", [0.7, None])
def test_param_groups_equal_timms(layer_decay):
    """timm's Xcit.group_matcher (class-attention blocks a group of their own, the final norm with the last) and no_weight_decay."""
    from timm.optim import param_groups_layer_decay, param_groups_weight_decay

    from vitzoo.backends.mindspore.train.param_groups import param_groups

    ref = timm.create_model("xcit_nano_12_p16_224", pretrained=False, depth=3, num_classes=5)
    model = vitzoo.create("xcit_nano_12_p16_224", img_size=32, depth=3, num_classes=5)
    nwd = ref.no_weight_decay()
    if layer_decay is None:
        groups = param_groups_weight_decay(ref, 0.05, no_weight_decay_list=nwd)
    else:
        groups = param_groups_layer_decay(ref, 0.05, no_weight_decay_list=nwd, layer_decay=layer_decay)
    names = {id(p): n for n, p in ref.named_parameters()}
    expected = {frozenset(names[id(p)] for p in g["params"]): (pytest.approx(g.get("lr_scale", 1.0), rel=1e-12), g["weight_decay"]) for g in groups}
    got = {frozenset(p.name for p in g["params"]): (g["lr_scale"], g["weight_decay"]) for g in param_groups(model, 0.05, layer_decay)}
    assert got == expected


def test_onnx_export_runs_equal_to_the_model(tmp_path):
    """The export copy swaps Erf (ONNX has none); the written file, run again in onnxruntime, equals the model."""
    pytest.importorskip("onnxruntime")
    suffix = ".onnx"
    from vitzoo.backends.mindspore.deploy.export import export_model

    tm = random_timm("xcit_nano_12_p16_224", num_classes=4, img_size=32)
    path = save_timm(tm, tmp_path)
    model = vitzoo.create("xcit_nano_12_p16_224", pretrained=str(path), depth=2, num_classes=4, img_size=32)
    summary = export_model(model, tmp_path / f"xcit{suffix}")  # verify=True: raises above 1e-4 of the output scale
    assert summary["output_shape"] == [1, 4] and summary["max_abs_diff"] is not None


def test_the_spec_refuses_what_timms_xcit_does_not_build():
    from vitzoo.errors import SpecError

    spec = get_spec("xcit_nano_12_p16_224")
    for bad, match in ((dict(patch_size=14), "patch_size 8 or 16"), (dict(abs_pos_embed=True), "Fourier"),
                       (dict(global_pool="map"), "'token' or 'avg'"), (dict(dynamic_img_pad=True), "multiple of the patch"),
                       (dict(layer_scale=False), "layer_scale=True")):
        with pytest.raises(SpecError, match=match):
            spec.replace(**bad)
    with pytest.raises(SpecError, match="needs block='xcit'"):
        get_spec("cait_xxs24_224").replace(tokens_norm=True)


def test_inputs_must_be_patch_multiples():
    from vitzoo.features import FeatureError

    model = vitzoo.create("xcit_nano_12_p16_224", img_size=32, depth=1, num_classes=2, backend="numpy")
    with pytest.raises(FeatureError, match="multiple of the patch size 16"):
        model(np.zeros((1, 3, 32, 40), np.float32))


def test_a_damaged_xcit_file_is_refused_in_one_sentence(tmp_path):
    from safetensors.torch import save_file

    from vitzoo.errors import CheckpointError

    full = random_timm("xcit_nano_12_p16_224", img_size=32).state_dict()
    for drop, match in (("cls_attn_blocks.0.", "not numbered"), ("patch_embed.proj.6.", "stage is missing"),
                        ("blocks.0.attn.temperature", "temperature")):
        path = tmp_path / "damaged.safetensors"
        save_file({k: v for k, v in full.items() if not k.startswith(drop)}, str(path))
        with pytest.raises(CheckpointError, match=match) as info:
            weights.read(path, variant=get_spec("xcit_nano_12_p16_224", depth=2))
        assert "\n" not in str(info.value)


def test_fresh_init_is_timms():
    """timm's Xcit: torch's default conv init, temperature and BatchNorm buffers at 1/0, layer scales at eta, class token std 0.02."""
    from vitzoo.init import init_state

    assert get_spec("xcit_tiny_12_p16_224").layer_scale_init == 1.0  # timm's eta for the 12-block models
    for name, eta in (("xcit_tiny_24_p16_224", 1e-5),):
        state = init_state(get_spec(name, depth=1))
        ref = {k: v.numpy() for k, v in timm.create_model(name, pretrained=False, depth=1).state_dict().items()}
        assert set(ref) - set(state) == {k for k in ref if k.endswith("num_batches_tracked")}
        for k, v in state.items():
            if k.endswith(("running_var", "running_mean", "temperature", "gamma1", "gamma2", "gamma3")) or v.ndim == 1 and "norm" in k:
                assert np.array_equal(v, ref[k]), k
        assert state["blocks.0.gamma3"][0] == np.float32(eta)
        for k in ("patch_embed.proj.0.0.weight", "blocks.0.local_mp.conv1.weight", "blocks.0.local_mp.conv1.bias", "pos_embed.token_projection.bias"):
            bound = np.abs(ref[k]).max()
            assert bound * 0.8 < np.abs(state[k]).max() <= np.float32(1 / np.sqrt(np.prod(ref[k.replace(".bias", ".weight")].shape[1:]))), k
        assert 0.012 < state["cls_token"].std() < 0.025 and np.abs(state["cls_token"]).max() <= 0.04


def test_every_variant_is_timms_architecture():
    """All 28 of timm's xcit.py architectures: timm's constructor arguments (eta, tokens_norm, sizes); the tensors of two
    built on the meta device (scripts/make_pretrained_table.py --check, run by the suite, compares those of all 28)."""
    import timm.models.xcit as timm_xcit

    from vitzoo.canonical import expected_shapes

    names = timm.list_models(module="xcit")
    assert len(names) == 28 and sorted(vitzoo.list_models("xcit_*")) == sorted(names)
    for name in ("xcit_nano_12_p8_224", "xcit_large_24_p16_384"):
        model = timm.create_model(name, pretrained=False, device="meta")
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
        assert shapes == expected_shapes(get_spec(name)), name
    for name in names:
        spec = get_spec(name)
        args = _timm_args(timm_xcit, name)  # eta lives only in timm's init: read the constructor's arguments
        assert (spec.layer_scale_init, spec.tokens_norm, spec.patch_size) == (args["eta"], args["tokens_norm"], args["patch_size"]), name
        assert (spec.embed_dim, spec.depth, spec.num_heads, spec.img_size) == (args["embed_dim"], args["depth"], args["num_heads"],
                                                                           int(name[-3:])), name


def _timm_args(module, name: str) -> dict:
    """The keyword arguments timm's registered function passes to ``_create_xcit``."""
    captured: dict = {}

    def capture(variant, pretrained=False, **kwargs):
        captured.update(kwargs)
        raise LookupError

    real, module._create_xcit = module._create_xcit, capture
    try:
        getattr(module, name)()
    except LookupError:
        pass
    finally:
        module._create_xcit = real
    return captured


def test_a_timm_hub_snapshot_reads_and_saves_back_for_timm(tmp_path):
    """timm's own hub layout (config.json naming the architecture): the registered spec, 384 px from the config;
    save_pretrained(layout="timm") gives a folder timm's local-dir: loader builds with the same logits."""
    from timm.models._hub import save_for_hf

    tm = random_timm("xcit_nano_12_p16_384", depth=12, num_classes=10)
    save_for_hf(tm, str(tmp_path / "snap"))
    assert weights.read(tmp_path / "snap").spec == get_spec("xcit_nano_12_p16_384", num_classes=10)
    model = vitzoo.create_from_file(tmp_path / "snap")
    x = _x(8, 32, 48)[:1]
    assert rel(run(model, x), logits(tm, x)) <= 1e-4
    vitzoo.save_pretrained(model, tmp_path / "out", layout="timm")
    back = timm.create_model(f"local-dir:{tmp_path / 'out'}", pretrained=True).eval()
    assert rel(logits(back, x), logits(tm, x)) <= 1e-6


def test_embed_layers_pool_the_patch_tokens(tmp_path):
    """XCiT's blocks carry no class token: per-block features are the patch tokens' mean; pool='cls' with layers is refused."""
    from vitzoo.errors import DataError
    from vitzoo.workflows.tasks import demo_images

    model = vitzoo.create("xcit_nano_12_p16_224", depth=2, num_classes=0, img_size=32)
    out = vitzoo.embed(demo_images()[:1], model, layers=[0, 1])
    assert set(out["layers"]) == {0, 1} and out["layers"][1].shape == (1, 128)
    with pytest.raises(DataError, match="XCiT's blocks hold only the patch tokens") as info:
        vitzoo.embed(demo_images()[:1], model, layers=[1], pool="cls")
    assert "\n" not in str(info.value)


def test_writers_round_trip_or_refuse_in_one_sentence(tmp_path):
    """vitzoo's safetensors keep XCiT bit for bit (spec included); layouts without its parts refuse, writing nothing."""
    from vitzoo.errors import CheckpointError
    from vitzoo.init import init_state
    from vitzoo.weights.base import Checkpoint

    spec = get_spec("xcit_nano_12_p8_224", depth=1, num_classes=3)
    ckpt = Checkpoint(state=init_state(spec), spec=spec, meta={})
    weights.write(ckpt, tmp_path / "x.safetensors", format="vitzoo")
    back = weights.read(tmp_path / "x.safetensors")
    assert back.spec == spec and all(np.array_equal(back.state[k], v) for k, v in ckpt.state.items())
    for fmt in ("mindcv", "vitzoo_ckpt", "mindspore", "hf"):
        with pytest.raises(CheckpointError) as info:
            weights.write(ckpt, tmp_path / f"out_{fmt}.ckpt", format=fmt)
        assert "\n" not in str(info.value) and not (tmp_path / f"out_{fmt}.ckpt").exists()
