"""ONNX written directly from the canonical weights (deploy/onnx_graph.py), run in onnxruntime.

Each case: a small random model of the plain ViT block family in one of the forms the writer
covers; the file must give the model's outputs (and timm's, for a file timm saved) at several
batch sizes from one export, be made of the operators runtimes fuse (LayerNormalization, the
erf GELU that onnxruntime turns into BiasGelu), and other families must still export through
MindSpore's exporter.
"""

from __future__ import annotations

import collections

import mindspore as ms
import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

import vitzoo  # noqa: E402
from family_models import max_rel_diff  # noqa: E402
from vitzoo.backends.mindspore.deploy import export as export_mod  # noqa: E402
from vitzoo.backends.mindspore.deploy import onnx_graph  # noqa: E402
from vitzoo.backends.mindspore.deploy.export import export_model  # noqa: E402

FORMS = {
    "class token": dict(),
    "avg pool + fc_norm": dict(class_token=False, global_pool="avg", fc_norm=True),
    "registers, layer scale, qk-norm": dict(reg_tokens=4, layer_scale=True, qk_norm=True),
    "MAP pool (SigLIP)": dict(class_token=False, global_pool="map", gelu="tanh"),
    "CLIP tower (pre-norm, quick GELU, no head)": dict(pre_norm=True, gelu="quick", num_classes=0, patch_bias=False),
    "packed SwiGLU": dict(mlp_type="swiglu"),
    "pre-logits": dict(pre_logits_dim=24),
    "positions without the prefix tokens": dict(pos_embed_prefix=False),
}


def noisy(model, seed=0):
    """Random weights of a useful size, 1-D ones near one (so norms and layer scales matter)."""
    from vitzoo.backends.mindspore import backend

    rng = np.random.default_rng(seed)
    state = {k: (v + rng.standard_normal(v.shape).astype(np.float32) * 0.2).astype(np.float32) for k, v in backend.state_dict(model).items()}
    return backend.build(model.spec, state)


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run(sess, x):
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("form", list(FORMS))
def test_the_file_gives_the_models_outputs_at_any_batch_size(tmp_path, form):
    kwargs = dict(FORMS[form])
    model = noisy(vitzoo.create("vit_ti_16", img_size=32, patch_size=8, depth=2, num_classes=kwargs.pop("num_classes", 5), **kwargs))
    summary = export_model(model, tmp_path / "m.onnx", batch_size=2)
    assert summary["writer"] == "vitzoo" and summary["any_batch_size"]
    sess = session(tmp_path / "m.onnx")
    for b in (1, 3, 6):
        x = np.random.default_rng(b).standard_normal((b, 3, 32, 32)).astype(np.float32)
        assert max_rel_diff(run(sess, x), model(ms.Tensor(x)).asnumpy()) <= 1e-4, (form, b)


def test_a_distilled_deit_file_equals_timms_logits(tmp_path):
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    from timm_models import randomise_

    tm = randomise_(timm.create_model("deit_tiny_distilled_patch16_224", img_size=32, depth=2, num_classes=4), scale=0.2).eval()
    save_file({k: v.contiguous() for k, v in tm.state_dict().items()}, str(tmp_path / "deit.safetensors"))
    model = vitzoo.create("deit_tiny_distilled_patch16_224", pretrained=tmp_path / "deit.safetensors", img_size=32, depth=2, num_classes=4)
    export_model(model, tmp_path / "deit.onnx", batch_size=1)
    x = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        ref = tm(torch.from_numpy(x)).numpy()
    assert max_rel_diff(run(session(tmp_path / "deit.onnx"), x), ref) <= 1e-4


def test_the_graph_is_made_of_what_runtimes_fuse(tmp_path):
    model = vitzoo.create("vit_ti_16", img_size=32, patch_size=8, depth=2, num_classes=3)
    export_model(model, tmp_path / "m.onnx", batch_size=4)
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    ops = collections.Counter(n.op_type for n in graph.node)
    assert ops["LayerNormalization"] == 5 and ops["Erf"] == 2 and "ReduceSumSquare" not in ops and "Gemm" not in ops
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"  # symbolic, not baked in
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(tmp_path / "m.onnx"), options, providers=["CPUExecutionProvider"])
    fused = collections.Counter(n.op_type for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node)
    assert fused["BiasGelu"] + fused["Gelu"] == 2 and "Erf" not in fused, fused  # onnxruntime fused every GELU


def test_other_families_still_export_through_mindspore(tmp_path):
    model = vitzoo.create("eva02_tiny_patch14_224", img_size=28, depth=1, num_classes=3)
    assert not onnx_graph.supports(model.spec)
    summary = export_model(model, tmp_path / "eva.onnx", batch_size=2)
    assert summary["writer"] == "mindspore" and not summary["any_batch_size"] and summary["max_abs_diff"] < 1e-4


def test_without_the_onnx_package_mindspores_exporter_writes_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(export_mod.onnx_graph, "available", lambda: False)
    model = vitzoo.create("vit_ti_16", img_size=32, patch_size=8, depth=1, num_classes=3)
    summary = export_model(model, tmp_path / "m.onnx", batch_size=2)
    assert summary["writer"] == "mindspore" and summary["max_abs_diff"] < 1e-4


def test_a_file_that_disagrees_with_the_model_is_not_kept(tmp_path, monkeypatch):
    real = onnx_graph.build_graph

    def wrong(spec, state, batch_size=None):
        state = dict(state)
        state["head.bias"] = state["head.bias"] + 1.0
        return real(spec, state, batch_size)

    monkeypatch.setattr(export_mod.onnx_graph, "build_graph", wrong)
    model = vitzoo.create("vit_ti_16", img_size=32, patch_size=8, depth=1, num_classes=3)
    with pytest.raises(vitzoo.VitzooError, match="away from the model's at batch size 2; nothing was kept") as info:
        export_model(model, tmp_path / "m.onnx", batch_size=2)
    assert "\n" not in str(info.value) and not list(tmp_path.iterdir())
