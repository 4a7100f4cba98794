"""transformers' Siglip2VisionModel (SigLIP 2 NaFlex) folders: read, run and written back, against transformers.

The reference is transformers' own model with random weights, fed as its image processor feeds it:
``pixel_values`` ``[B, N, C·P·P]`` (channel-last patches, zero padding), ``pixel_attention_mask`` and
``spatial_shapes``. vitzoo takes the same dictionary (or timm's) and gives ``.pooler_output``.
transformers resizes the position table as ``F.interpolate(bilinear, antialias=True,
align_corners=False)``, which is timm's ``naflexvit_*_siglip`` setting: the same weights written as a
timm file give timm's NaFlexVit the same embeddings.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
T = pytest.importorskip("transformers")
timm = pytest.importorskip("timm")
from safetensors.torch import load_file  # noqa: E402

import vitzoo  # noqa: E402
from vitzoo import weights  # noqa: E402
from vitzoo.naflex import patchify  # noqa: E402

from family_models import max_rel_diff  # noqa: E402
from timm_models import randomise_  # noqa: E402

TOL = 1e-4
RUNS = [dict(backend="numpy"), {}, dict(jit=True)]
VISION = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, patch_size=4, num_patches=64)
SIZES = [(3, 5), (8, 8), (2, 11), (1, 1), (12, 4)]  # patch rows × columns: smaller, equal to and beyond the 8 × 8 table


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    model = randomise_(T.Siglip2VisionModel(T.Siglip2VisionConfig(**VISION)), scale=0.3)
    path = tmp_path_factory.mktemp("siglip2") / "vision"
    model.save_pretrained(path)
    return path, model


def batch(sizes=SIZES, seq_len=64):
    rng = np.random.default_rng(0)
    return patchify([rng.standard_normal((3, 4 * h, 4 * w)).astype(np.float32) for h, w in sizes], 4, seq_len=seq_len)


def hf_inputs(b, sizes=SIZES):
    return {"pixel_values": b["patches"], "pixel_attention_mask": b["patch_valid"].astype(np.int64), "spatial_shapes": np.array(sizes)}


def pooled(model, inputs):
    with torch.no_grad():
        return model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).pooler_output.numpy()


def numpy_out(y):
    return y if isinstance(y, np.ndarray) else y.asnumpy()


@pytest.mark.parametrize("run", RUNS, ids=["numpy", "pynative", "jit"])
def test_pooler_output_equals_transformers_for_naflex_batches(folder, run):
    path, model = folder
    b = batch()
    ref = pooled(model, hf_inputs(b))
    m = vitzoo.create_from_file(path, **run)
    assert m.spec.naflex and m.spec.pos_grid == 8 and m.spec.pos_interp == "bilinear" and m.spec.pos_antialias
    for inputs in (hf_inputs(b), b):  # transformers' keys or timm's: the same batch
        assert max_rel_diff(numpy_out(m(inputs)), ref) <= TOL


def test_nchw_images_of_any_size_equal_transformers_on_the_patchified_image(folder):
    path, model = folder
    m = vitzoo.create_from_file(path, backend="numpy")
    x = np.random.default_rng(1).standard_normal((2, 3, 24, 44)).astype(np.float32)  # 6 × 11 patches
    b = patchify(list(x), 4)
    assert max_rel_diff(m(x), pooled(model, hf_inputs(b, [(6, 11)] * 2))) <= TOL


def test_same_weights_in_timm_give_the_same_embeddings(folder, tmp_path):
    """transformers' position resize (its own antialiased bilinear weights) and timm's F.interpolate agree."""
    path, model = folder
    ckpt = weights.read(path)
    weights.write(ckpt, tmp_path / "timm.safetensors", format="timm")
    tm = timm.create_model("naflexvit_base_patch16_siglip", pretrained=False, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0,
                           patch_size=4, pos_embed_grid_size=(8, 8), num_classes=0).eval()
    tm.load_state_dict(load_file(str(tmp_path / "timm.safetensors")), strict=True)
    b = batch()
    with torch.no_grad():
        ref = tm({k: torch.from_numpy(v) for k, v in b.items()}).numpy()
    assert max_rel_diff(pooled(model, hf_inputs(b)), ref) <= TOL


def test_written_back_as_a_siglip2_folder_that_transformers_loads(folder, tmp_path):
    path, model = folder
    ckpt = weights.read(path)
    weights.write(ckpt, tmp_path / "back", format="hf")
    back = T.Siglip2VisionModel.from_pretrained(tmp_path / "back").eval()
    original, written = load_file(str(path / "model.safetensors")), load_file(str(tmp_path / "back" / "model.safetensors"))
    assert sorted(original) == sorted(written)
    for k, v in original.items():
        assert torch.equal(v, written[k]), k
    b = batch()
    assert max_rel_diff(pooled(back, hf_inputs(b)), pooled(model, hf_inputs(b))) <= 1e-6
    canonical = tmp_path / "canonical.safetensors"
    weights.save_file(ckpt, canonical)
    assert max_rel_diff(vitzoo.create_from_file(canonical, backend="numpy")(b), pooled(model, hf_inputs(b))) <= TOL


def test_a_non_square_position_table_is_refused(folder, tmp_path):
    path, _ = folder
    from safetensors.numpy import load_file as load_np, save_file as save_np

    tensors = load_np(str(path / "model.safetensors"))
    tensors["embeddings.position_embedding.weight"] = tensors["embeddings.position_embedding.weight"][:60]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((path / "config.json").read_text())
    save_np(tensors, str(bad / "model.safetensors"), {"format": "pt"})
    with pytest.raises(vitzoo.CheckpointError, match="not a square grid"):
        weights.read(bad)
