"""`vitzoo eval`: numbers against a hand computation, class-folder matching, bad images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mindspore")

import vitzoo  # noqa: E402
from vitzoo.errors import DataError  # noqa: E402
from vitzoo.init import init_state  # noqa: E402
from vitzoo.spec import ViTSpec  # noqa: E402
from vitzoo.weights import Checkpoint, save_file  # noqa: E402

from imagefolders import make_colour_folder  # noqa: E402

SPEC = ViTSpec(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, mlp_dim=64, num_classes=8)
NAMES = ["white", "blue", "black", "green", "grey", "red", "cyan", "pink"]


def _weights(path: Path, spec: ViTSpec = SPEC, names: list[str] | None = NAMES, seed: int = 7) -> Path:
    state = init_state(spec, seed=seed)
    rng = np.random.default_rng(seed)
    state["head.weight"] = rng.standard_normal(state["head.weight"].shape).astype(np.float32)  # spread the logits
    meta = {"pretrained_cfg": {"input_size": [3, 32, 32], "crop_pct": 1.0, "interpolation": "bilinear", "mean": [0.5] * 3, "std": [0.5] * 3}}
    if names is not None:
        meta["class_names"] = names
    save_file(Checkpoint(state=state, spec=spec, meta=meta), path)
    return path


def _by_hand(weights: Path, folder: Path) -> tuple[float, float, int]:
    """Top-1/top-5 with the NumPy reference backend, our own loop and argsort."""
    model = vitzoo.create_from_file(weights, backend="numpy")
    tf = vitzoo.transforms_for(model)
    names = model.pretrained_cfg["class_names"]
    hit1 = hit5 = n = 0
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        target = names.index(class_dir.name)
        for image in sorted(class_dir.iterdir()):
            from PIL import Image

            logits = model(tf(Image.open(image))[None])[0]
            order = list(np.argsort(-logits))
            hit1 += order[0] == target
            hit5 += target in order[:5]
            n += 1
    return 100.0 * hit1 / n, 100.0 * hit5 / n, n


def test_eval_matches_a_hand_computation(tmp_path: Path) -> None:
    weights = _weights(tmp_path / "w.safetensors")
    val = make_colour_folder(tmp_path / "val", {"red": 4, "green": 3, "blue": 5}, seed=2)  # a subset of the 8 classes
    top1, top5, n = _by_hand(weights, val)
    assert 0 < top5 < 100 or top1 < top5  # the check is not vacuous
    result = vitzoo.evaluate(val, weights=weights, batch_size=5)  # 12 images: a short last batch too
    assert result["images"] == n == 12 and result["classes"] == 3
    assert result["top1"] == pytest.approx(top1) and result["top5"] == pytest.approx(top5)
    assert result["img_per_s"] > 0 and result["skipped"] == []


def test_topk_hits_counts_ties_by_index() -> None:
    from vitzoo.backends.mindspore.train.evaluation import topk_hits

    logits = np.array([[0.1, 0.9, 0.0], [0.5, 0.5, 0.1], [0.2, 0.3, 0.5]])
    assert topk_hits(logits, np.array([1, 1, 0]), ks=(1, 2, 3)) == [1, 2, 3]


def test_synset_folders_map_to_imagenet_indices(tmp_path: Path) -> None:
    from vitzoo import labels
    from vitzoo.backends.mindspore.train.data import scan_image_folder
    from vitzoo.backends.mindspore.train.evaluation import class_mapping

    spec = SPEC.replace(num_classes=1000)
    weights = _weights(tmp_path / "in1k.safetensors", spec, labels.imagenet_class_names())
    val = make_colour_folder(tmp_path / "val", {"red": 2, "green": 2}, seed=2)
    (val / "red").rename(val / "n01443537")  # goldfish, index 1
    (val / "green").rename(val / "n01440764")  # tench, index 0
    model = vitzoo.create_from_file(weights)
    assert class_mapping(scan_image_folder(val), model).tolist() == [0, 1]
    assert vitzoo.evaluate(val, model)["images"] == 4
    (val / "n01443537").rename(val / "n99999999")
    with pytest.raises(DataError, match="n99999999"):
        class_mapping(scan_image_folder(val), model)


def test_class_folder_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    val = make_colour_folder(tmp_path / "val", {"red": 1, "green": 1}, seed=2)
    (val / "green").rename(val / "violet")
    with pytest.raises(DataError, match="violet"):
        vitzoo.evaluate(val, weights=_weights(tmp_path / "w.safetensors"))
    # without class names: folder order is used when the counts agree, else an error
    unnamed = _weights(tmp_path / "unnamed.safetensors", SPEC.replace(num_classes=2), None)
    assert vitzoo.evaluate(val, weights=unnamed)["images"] == 2
    with pytest.raises(DataError, match="cannot be matched"):
        vitzoo.evaluate(val, weights=_weights(tmp_path / "u8.safetensors", SPEC, None))


def test_corrupt_image_stops_or_is_skipped(tmp_path: Path) -> None:
    weights = _weights(tmp_path / "w.safetensors")
    val = make_colour_folder(tmp_path / "val", {"red": 3, "green": 3}, seed=2)
    bad = val / "green" / "001.png"
    bad.write_bytes(b"\x89PNG truncated")
    with pytest.raises(DataError, match=str(bad)):
        vitzoo.evaluate(val, weights=weights)
    result = vitzoo.evaluate(val, weights=weights, skip_bad=True)
    assert result["images"] == 5 and result["skipped"] == [str(bad)]


def test_empty_or_missing_dirs(tmp_path: Path) -> None:
    weights = _weights(tmp_path / "w.safetensors")
    with pytest.raises(DataError, match="does not exist"):
        vitzoo.evaluate(tmp_path / "nowhere", weights=weights)
    (tmp_path / "flat").mkdir()
    with pytest.raises(DataError, match="no class folders"):
        vitzoo.evaluate(tmp_path / "flat", weights=weights)
    (tmp_path / "flat" / "red").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        vitzoo.evaluate(tmp_path / "flat", weights=weights)


def test_cli_eval_json_is_the_last_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vitzoo.cli.main import main

    weights = _weights(tmp_path / "w.safetensors")
    val = make_colour_folder(tmp_path / "val", {"red": 2, "blue": 2}, seed=2)
    assert main(["eval", str(val), "--weights", str(weights), "--json", "--no-progress"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert out[0].startswith("top-1 ") and result["images"] == 4 and set(result) >= {"top1", "top5", "img_per_s"}
    assert main(["eval", str(val)]) == 1
    assert "--model" in capsys.readouterr().err
