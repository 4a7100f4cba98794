"""``--layer-decay``: the parameter groups and per-parameter LR scales and weight decay equal timm's for the same architecture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import vitzoo  # noqa: E402
from vitzoo.backends.mindspore.model.vit import VisionTransformer  # noqa: E402
from vitzoo.backends.mindspore.train.param_groups import param_groups  # noqa: E402

from family_models import FAMILIES, family_timm, timm_state  # noqa: E402
from imagefolders import make_train_val  # noqa: E402
from timm_models import tiny_timm  # noqa: E402


def _timm_groups(model: "torch.nn.Module", weight_decay: float, layer_decay: "float | None") -> dict:
    """timm's groups as create_optimizer_v2 builds them: {name-set: (lr_scale, weight_decay)}."""
    from timm.optim import param_groups_layer_decay, param_groups_weight_decay

    nwd = model.no_weight_decay()
    if layer_decay is None:
        groups = param_groups_weight_decay(model, weight_decay, no_weight_decay_list=nwd)
    else:
        groups = param_groups_layer_decay(model, weight_decay, no_weight_decay_list=nwd, layer_decay=layer_decay)
    names = {id(p): n for n, p in model.named_parameters()}
    return {frozenset(names[id(p)] for p in g["params"]): (g.get("lr_scale", 1.0), g["weight_decay"]) for g in groups}


def _ours(model: VisionTransformer, weight_decay: float, layer_decay: "float | None") -> dict:
    return {frozenset(p.name for p in g["params"]): (g["lr_scale"], g["weight_decay"]) for g in param_groups(model, weight_decay, layer_decay)}


EVA_CASES = ["eva02_tiny_patch14_224", "vit_small_patch16_dinov3", "vit_pe_core_tiny_patch16_384", "beitv2_base_patch16_224", "cait_xxs24_224",
             "vit_srelpos_small_patch16_224", "vit_relpos_medium_patch16_rpn_224", "vit_tiny_r_s16_p8_224"]  # eva.py's Eva, beit.py's Beit, cait.py's Cait,
# the relpos ViT (a shared bias MLP outside every group), the hybrid (its backbone in the stem): their own matchers and no_weight_decay
CASES = ["plain", "avg_fc_norm", "no_head", *FAMILIES, *EVA_CASES]


def _pair(case: str) -> tuple["torch.nn.Module", VisionTransformer]:
    if case in EVA_CASES:
        import dataclasses

        from vitzoo.variants import get_spec

        spec = dataclasses.replace(get_spec(case), depth=3)
        ref = timm.create_model(case, pretrained=False, depth=3, num_classes=spec.num_classes)
        return ref, vitzoo.backends.mindspore.backend.build(spec, timm_state(ref))  # CaiT's model class
    if case in FAMILIES:
        ref, spec = family_timm(case), FAMILIES[case].spec
        return ref, VisionTransformer(spec, timm_state(ref))
    args = {"plain": {}, "avg_fc_norm": dict(global_pool="avg", fc_norm=True), "no_head": dict(num_classes=0)}[case]
    ref = tiny_timm(depth=3, **args)
    return ref, _from_timm(ref, args)


def _from_timm(ref: "torch.nn.Module", args: dict) -> VisionTransformer:
    from vitzoo.spec import ViTSpec

    spec = ViTSpec(img_size=32, patch_size=8, embed_dim=192, depth=3, num_heads=3, mlp_dim=768, num_classes=args.get("num_classes", 5),
                   global_pool=args.get("global_pool", "token"), fc_norm=args.get("fc_norm", False))
    return VisionTransformer(spec, timm_state(ref))


@pytest.mark.parametrize("layer_decay", [0.75, 0.65, None])
@pytest.mark.parametrize("case", CASES)
def test_groups_scales_and_weight_decay_equal_timms(case: str, layer_decay: "float | None") -> None:
    ref, ours = _pair(case)
    expected, got = _timm_groups(ref, 0.05, layer_decay), _ours(ours, 0.05, layer_decay)
    assert set(got) == set(expected)
    for names, (scale, wd) in expected.items():
        assert got[names][1] == wd
        assert got[names][0] == pytest.approx(scale, rel=1e-12), sorted(names)


def test_layer_decay_scales_the_learning_rate_of_each_group_in_training(tmp_path: Path) -> None:
    from vitzoo.backends.mindspore.train.step import build_optimizer, set_lr
    from vitzoo.configs import TrainConfig

    ref = tiny_timm(depth=3)
    model = _from_timm(ref, {})
    optimizer = build_optimizer(model, TrainConfig("", layer_decay=0.5, lr=1e-3))
    set_lr(optimizer, 2e-3)
    lrs = sorted({float(p.asnumpy()) for p in optimizer.lrs})
    assert lrs == pytest.approx([2e-3 * 0.5**k for k in (4, 3, 2, 1, 0)])  # stem, 3 blocks (+ norm), head
    data = make_train_val(tmp_path / "data", train=8, val=2)
    result = vitzoo.train(data, output=tmp_path / "run", epochs=1, layer_decay=0.75, img_size=32, patch_size=8, depth=2,
                          embed_dim=32, num_heads=2, batch_size=12, progress=False, workers=1)
    assert np.isfinite(result.history[0]["loss"])
