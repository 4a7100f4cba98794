"""``--freeze-backbone``, ``--linear-probe``, ``--recipe``, the timm flag names on the CLI, and bad combinations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mindspore")

import vitzoo  # noqa: E402
from vitzoo.configs import TrainConfig  # noqa: E402
from vitzoo.errors import TrainError, VitzooError  # noqa: E402
from vitzoo.recipes import RECIPES, apply_recipe  # noqa: E402
from vitzoo.weights import load_file  # noqa: E402

from imagefolders import make_train_val  # noqa: E402

TINY = dict(img_size=32, patch_size=8, depth=1, embed_dim=32, num_heads=2, batch_size=12, lr=3e-3, progress=False, workers=1)
RUN = dict(batch_size=12, progress=False, workers=1, epochs=1)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pre")
    data = make_train_val(root / "data", train=8, val=2)
    vitzoo.train(data, output=root / "run", epochs=1, **TINY)
    return data, root / "run" / "last.safetensors"


@pytest.mark.parametrize("flag", ["freeze_backbone", "linear_probe"])
def test_head_only_training_keeps_the_backbone_bit_for_bit(flag: str, pretrained: tuple[Path, Path], tmp_path: Path) -> None:
    data, weights = pretrained
    vitzoo.train(data, output=tmp_path / "o", pretrained=str(weights), lr=1e-2, **{flag: True}, **RUN)
    base, tuned = load_file(weights).state, load_file(tmp_path / "o" / "last.safetensors").state
    backbone = [k for k in base if not k.startswith("head")]
    assert backbone and all(np.array_equal(base[k], tuned[k]) for k in backbone)
    assert not np.array_equal(base["head.weight"], tuned["head.weight"])  # the head trained (fresh head, then updated)
    config = json.loads((tmp_path / "o" / "config.json").read_text())
    assert config[flag] is True


@pytest.mark.parametrize("bad, match", [
    (dict(linear_probe=True, pretrained="x.safetensors", drop_path=0.1), "--drop-path does not apply with --linear-probe"),
    (dict(linear_probe=True), "--linear-probe measures pretrained features"),
    (dict(freeze_backbone=True, layer_decay=0.75), "--layer-decay has nothing to scale with --freeze-backbone"),
    (dict(recipe="imagenet"), "Unknown recipe 'imagenet'"),
])
def test_bad_combinations_are_one_sentence(bad: dict, match: str) -> None:
    with pytest.raises(VitzooError, match=match):
        TrainConfig("data", **bad)
    assert issubclass(TrainError, VitzooError)


def test_recipe_fills_only_what_is_not_given() -> None:
    options, filled = apply_recipe({"recipe": "deit", "drop_path": 0.2, "lr": 1e-3})
    assert options["drop_path"] == 0.2 and "drop_path" not in filled
    assert {k: options[k] for k in filled} == {k: v for k, v in RECIPES["deit"].items() if k != "drop_path"}
    assert options["lr"] == 1e-3
    assert apply_recipe({"lr": 1.0}) == ({"lr": 1.0}, {})


def test_recipe_run_prints_its_presets_and_writes_them_to_config_json(pretrained: tuple[Path, Path], tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    data, weights = pretrained
    vitzoo.train(data, output=tmp_path / "ft", pretrained=str(weights), recipe="finetune", drop_path=0.0, **RUN)
    err = capsys.readouterr().err
    assert "recipe finetune: " in err and "layer_decay=0.65" in err and "drop_path" not in err.split("recipe finetune: ")[1].splitlines()[0]
    config = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert config["recipe"] == "finetune" and config["layer_decay"] == 0.65 and config["mixup"] == 0.8 and config["drop_path"] == 0.0


def test_cli_takes_timms_flag_names_and_explicit_flags_beat_the_recipe(pretrained: tuple[Path, Path], tmp_path: Path) -> None:
    from vitzoo.cli.main import build_parser, main
    from vitzoo.cli.train_cmd import _given_flags

    args = build_parser().parse_args([
        "train", "d", "--drop-path", "0.1", "--layer-decay", "0.75", "--mixup", "0.8", "--cutmix", "1.0", "--cutmix-minmax", "0.2", "0.8",
        "--mixup-prob", "0.5", "--mixup-switch-prob", "0.4", "--mixup-mode", "pair", "--model-ema", "--model-ema-decay", "0.999",
        "--model-ema-warmup", "--grad-accum-steps", "2", "--freeze-backbone", "--linear-probe", "--recipe", "deit"])
    assert (args.drop_path, args.layer_decay, args.mixup, args.cutmix, args.cutmix_minmax) == (0.1, 0.75, 0.8, 1.0, [0.2, 0.8])
    assert (args.mixup_prob, args.mixup_switch_prob, args.mixup_mode, args.model_ema, args.model_ema_decay) == (0.5, 0.4, "pair", True, 0.999)
    assert (args.model_ema_warmup, args.grad_accum_steps, args.freeze_backbone, args.linear_probe, args.recipe) == (True, 2, True, True, "deit")
    assert _given_flags(["train", "d", "--drop-p", "0.2", "--weight-decay=0.1", "--m", "1"]) == {"drop_path", "weight_decay"}  # --m: ambiguous
    data, weights = pretrained
    out = tmp_path / "lp"
    argv = ["train", str(data), "--pretrained", str(weights), "--recipe", "linear-probe", "--weight-decay", "0.01", "--epochs", "1",
            "--batch-size", "12", "--output", str(out), "--no-progress", "--workers", "1"]
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["weight_decay"] == 0.01 and config["linear_probe"] is True and config["label_smoothing"] == 0.0
