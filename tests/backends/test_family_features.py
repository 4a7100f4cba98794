"""Features and export for every ViT family against the real timm (random weights, tiny models).

forward_intermediates (prefix tokens = class, distillation, register tokens) on both
backends, dynamic image size, MindIR and ONNX export (ONNX run by onnxruntime in a
process where MindSpore cannot be imported), and each family's default embedding.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import vitzoo  # noqa: E402
from family_models import CASES, FAMILIES, SHRINK, family_timm, image, max_rel_diff, timm_state  # noqa: E402
from vitzoo.backends import get_backend  # noqa: E402

TOL = 1e-4


def flat(value) -> list:
    """Every array in a (nested) result, in order, as float64 NumPy."""
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in flat(v)]
    return [np.asarray(value.asnumpy() if hasattr(value, "asnumpy") else value.detach().numpy() if hasattr(value, "detach") else value, np.float64)]


def same(ours, theirs) -> float:
    a, b = flat(ours), flat(theirs)
    assert len(a) == len(b)
    return max(max_rel_diff(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("backend", ["mindspore", "numpy"])
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_forward_intermediates_per_family(name, backend):
    ref = family_timm(name)
    model = get_backend(backend).build(FAMILIES[name].spec, timm_state(ref))
    x = image()
    arg = x if backend == "numpy" else ms.Tensor(x)
    for kwargs in (dict(indices=[0, -1], return_prefix_tokens=True, norm=True), dict(indices=1, output_fmt="NLC")):
        with torch.no_grad():
            theirs = ref.forward_intermediates(torch.from_numpy(x), **kwargs)
        assert same(model.forward_intermediates(arg, **kwargs), theirs) <= TOL, kwargs


@pytest.mark.parametrize("name", ["deit_distilled", "deit3", "dinov2_reg4", "clip", "siglip"])
def test_dynamic_img_size_per_family(name):
    case = FAMILIES[name]
    ref = timm.create_model(case.arch, pretrained=False, dynamic_img_size=True, **{**SHRINK, **case.timm_args})
    from timm_models import randomise_

    randomise_(ref)
    model = get_backend("mindspore").build(case.spec.replace(dynamic_img_size=True), timm_state(ref))
    x = np.random.default_rng(2).standard_normal((2, 3, 24, 48)).astype(np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    assert max_rel_diff(model(ms.Tensor(x)).asnumpy(), expected) <= TOL


# Export -------------------------------------------------------------------------
_ONNX_RUNNER = textwrap.dedent(
    """
    import importlib.abc, sys

    class NoMindSpore(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("mindspore", "vitzoo"):
                raise ImportError(name + " is blocked: the ONNX file must run without it")

    sys.meta_path.insert(0, NoMindSpore())
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
    x = np.load(sys.argv[2])
    np.save(sys.argv[3], session.run(None, {session.get_inputs()[0].name: x})[0])
    assert not any(m.split(".")[0] == "mindspore" for m in sys.modules)
    """
)


def run_onnx_without_mindspore(path: Path, x: np.ndarray, tmp_path: Path) -> np.ndarray:
    pytest.importorskip("onnxruntime")
    np.save(tmp_path / "x.npy", x)
    script = tmp_path / "run_onnx.py"
    script.write_text(_ONNX_RUNNER)
    done = subprocess.run(
        [sys.executable, str(script), str(path), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return np.load(tmp_path / "y.npy")


def run_mindir(path: Path, x: np.ndarray) -> np.ndarray:
    return ms.nn.GraphCell(ms.load(str(path)))(ms.Tensor(x)).asnumpy()


@pytest.mark.parametrize("fmt", ["onnx", "mindir"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_export_per_family(name, fmt, tmp_path):
    ref = family_timm(name)
    spec = CASES[name].spec
    model = get_backend("mindspore").build(spec, timm_state(ref))
    out = tmp_path / f"{name}.{fmt}"
    summary = vitzoo.export(model, out, batch_size=2, verify=False)  # checked here instead (test_embed_export_cli tests verify)
    size = spec.img_size  # siglip_uneven: 36 px, which patch 8 does not divide
    assert summary["files"] == [str(out)] and summary["input_shape"] == [2, 3, size, size]
    x = np.random.default_rng(3).standard_normal((2, 3, size, size)).astype(np.float32)
    got = run_onnx_without_mindspore(out, x, tmp_path) if fmt == "onnx" else run_mindir(out, x)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    assert max_rel_diff(got, expected) <= TOL  # the file gives timm's output
    assert max_rel_diff(got, model(ms.Tensor(x)).asnumpy()) <= TOL  # and the model's


# Embeddings ---------------------------------------------------------------------
def family_embedding(name: str, ref, x: np.ndarray) -> np.ndarray:
    """What each family's own library calls the image embedding, computed with timm."""
    with torch.no_grad():
        t = torch.from_numpy(x)
        if name.startswith(("clip", "dinov2", "siglip")) and name != "siglip_classifier":
            return ref(t).numpy()  # CLIP: projection = head; DINOv2 / SigLIP towers: no classifier, pooled output
        return ref.forward_head(ref.forward_features(t), pre_logits=True).numpy()  # classifiers: pre-logits


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    from PIL import Image

    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(3):
        (root / f"sub{i % 2}").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (40 + 4 * i, 36, 3), dtype=np.uint8)).save(root / f"sub{i % 2}" / f"{i}.png")
    return root


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_default_embedding_per_family(name, photo_dir):
    from vitzoo.backends.mindspore.train.data import load_image
    from vitzoo.workflows.tasks import expand_images
    from vitzoo.transforms import transforms_for

    ref = family_timm(name)
    model = get_backend("mindspore").build(FAMILIES[name].spec, timm_state(ref))
    out = vitzoo.embed(photo_dir, model, batch_size=2)
    files = expand_images([photo_dir])
    assert out["files"] == ["sub0/0.png", "sub0/2.png", "sub1/1.png"]
    tf = transforms_for(model)
    x = np.stack([tf(load_image(f)) for f in files])
    assert max_rel_diff(out["embeddings"], family_embedding(name, ref, x)) <= TOL


def test_embed_file_round_trip_and_layers(photo_dir, tmp_path):
    from vitzoo.workflows.embedding import load_embeddings

    ref = family_timm("dinov2_reg4")
    model = get_backend("mindspore").build(FAMILIES["dinov2_reg4"].spec, timm_state(ref))
    out = vitzoo.embed([str(photo_dir / "sub1"), str(photo_dir / "sub0")], model, output=tmp_path / "e.safetensors",
                       layers=[0, -1], normalize=True, batch_size=4)
    back = load_embeddings(tmp_path / "e.safetensors")
    assert back["files"] == ["sub1/1.png", "sub0/0.png", "sub0/2.png"]
    assert np.array_equal(back["embeddings"], out["embeddings"]) and sorted(back["layers"]) == [0, 1]
    assert np.allclose(np.linalg.norm(back["embeddings"], axis=1), 1.0, atol=1e-5)
    meta = back["metadata"]
    assert json.loads(meta["spec"])["reg_tokens"] == 4 and meta["normalize"] == "true"
    # per-block features = class token of forward_intermediates(norm=True), L2-normalised
    from vitzoo.backends.mindspore.train.data import load_image
    from vitzoo.transforms import transforms_for

    tf = transforms_for(model)
    x = np.stack([tf(load_image(photo_dir / p)) for p in back["files"]])
    with torch.no_grad():
        inter = ref.forward_intermediates(torch.from_numpy(x), indices=[0, 1], norm=True, return_prefix_tokens=True, intermediates_only=True)
    for i, (_, prefix) in enumerate(inter):
        cls = prefix[:, 0].numpy()
        assert max_rel_diff(back["layers"][i], cls / np.linalg.norm(cls, axis=1, keepdims=True)) <= TOL
