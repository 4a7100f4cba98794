"""The pretrained-weight registry (checked against timm's own pretrained configs), labels and the CLI."""

import json
import sys
from pathlib import Path

import pytest

import vitzoo
from vitzoo import UnknownNameError, VitzooError, labels, pretrained, weights
from vitzoo.cli.main import main
from vitzoo.pretrained import MS_ORIGIN, WeightSet, default_tag, get_weight_set, list_pretrained

ALL = [get_weight_set(n) for n in list_pretrained()]


def test_every_entry_is_complete_and_consistent():
    assert len(ALL) > 50
    for ws in ALL:
        spec = vitzoo.get_spec(ws.variant)
        assert ws.source_format in weights.FORMATS, ws.name
        pre = ws.preprocessing
        # DINOv2's repos evaluate below the model's size; DINOv3 and NaFlex models take any size, their processors pick one
        if not (ws.source_format == "hf" and ("img_size=" in ws.notes or spec.dynamic_img_size)):
            assert list(pre["input_size"]) == [3, *spec.input_size], ws.name  # (H, W): Sapiens2's default input is 1024 × 768
        assert pre["interpolation"] in ("bicubic", "bilinear") and pre["crop_mode"] in ("center", "squash", "border")
        assert 0.8 < pre["crop_pct"] <= 1.0 and len(pre["mean"]) == len(pre["std"]) == 3
        assert ws.top1 is None or 60 < ws.top1 < 92  # EVA-02-L at 448 px: 90.06
        assert ws.num_classes == labels.LABEL_SET_SIZES.get(ws.label_set, ws.num_classes) >= 0
        assert ws.sha256 is None or len(ws.sha256) == 64
        if ws.url is not None:
            assert ws.url.startswith(MS_ORIGIN + "/") and ws.url.endswith(".ckpt")
            assert ws.label_set == "imagenet-1k" and pre["crop_pct"] == 0.875 and pre["mean"][0] == 0.485


def _timm_table():
    from importlib import resources

    return json.loads(resources.files("vitzoo.data").joinpath(pretrained.registry.TIMM_TABLE).read_text(encoding="utf-8"))


def test_timm_entries_match_timms_own_pretrained_cfg():
    """Every timm entry: hub repo, classes, label set, license and eval preprocessing exactly as timm's pretrained_cfg."""
    timm = pytest.importorskip("timm", reason="pip install timm (the test extra) to check the registry against timm")
    from timm.data import infer_imagenet_subset
    from timm.models import get_pretrained_cfg

    from vitzoo.variants import resolve_name

    rows = _timm_table()["entries"]
    assert len(rows) >= 90
    for row in rows:
        ws = get_weight_set(row["name"])
        arch, tag = row["timm"].split(".", 1)
        if arch.startswith("qwen3_vit") and arch.endswith(("_merge", "_enc")):  # the projector's width is the source LLM's, per tag
            from timm.models.qwen3_vit import _resolve_qwen3_out_features
            from vitzoo.variants import get_spec

            width = _resolve_qwen3_out_features(arch, tag)
            assert ws.variant in (resolve_name(arch), f"{resolve_name(arch)}_{width}") and get_spec(ws.variant).merge_dim == width, row["timm"]
        elif arch.startswith("deepseek_vit"):  # V4-Flash Vision-Exp: its own tower (392 px, 4096-wide aligner) per tag
            from timm.models import get_pretrained_cfg
            from vitzoo.variants import get_spec

            assert ws.variant in (resolve_name(arch), f"{resolve_name(arch)}_392", f"{resolve_name(arch)}_4096"), row["timm"]
            assert get_spec(ws.variant).input_size == tuple(get_pretrained_cfg(row["timm"]).to_dict()["input_size"][-2:]), row["timm"]
        else:
            assert (ws.variant, ws.tag) == (resolve_name(arch), tag), row["timm"]
        assert ws.tag == tag
        cfg = get_pretrained_cfg(row["timm"]).to_dict()
        assert ws.hub_repo == cfg["hf_hub_id"] and ws.source_format == "timm", row["timm"]
        for key in ("input_size", "interpolation", "crop_pct", "crop_mode", "mean", "std"):
            assert _plain(cfg[key]) == _plain(ws.preprocessing[key]), (row["timm"], key)
        assert cfg["num_classes"] == ws.num_classes, row["timm"]
        assert (cfg.get("license") or "unknown") == ws.license, row["timm"]
        subset = infer_imagenet_subset(cfg)  # timm's own label-set names (it calls Google's 21k "imagenet-21k-goog")
        assert ws.label_set == {None: ws.label_set, "imagenet-21k-goog": "imagenet-21k"}.get(subset, subset), row["timm"]
    assert timm.__version__ == _timm_table()["timm_version"] or pytest.skip("the table was generated with another timm")


def test_timm_table_accounts_for_every_timm_weight_set():
    """Each timm ViT/DeiT weight set is either an entry or left out with a reason that still holds."""
    pytest.importorskip("timm", reason="pip install timm (the test extra) to check the registry against timm")
    import timm

    from vitzoo.variants import resolve_name

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from make_pretrained_table import in_issue_scope, timm_weight_sets

    table = _timm_table()
    if timm.__version__ != table["timm_version"]:
        pytest.skip(f"the table was generated with timm {table['timm_version']}; run scripts/make_pretrained_table.py")
    covered = [row["timm"] for row in table["entries"]]
    left_out = {row["timm"]: row["reason"] for row in table["left_out"]}
    assert sorted(covered + list(left_out)) == sorted(timm_weight_sets())
    assert all(reason.strip() for reason in left_out.values())
    for name, reason in left_out.items():
        if reason == "architecture not registered in vitzoo":  # registering it means regenerating the table
            with pytest.raises(UnknownNameError):
                resolve_name(name.split(".")[0])
    in_scope = [n for n in timm_weight_sets() if in_issue_scope(n)]
    assert len(in_scope) == 291  # issue #12's count for timm 1.0.31


def test_real_names_and_timm_spellings():
    names = list_pretrained("vit_b_16.*")
    for tag in ("augreg2_in21k_ft_in1k", "augreg_in21k_ft_in1k", "orig_in21k_ft_in1k", "augreg_in1k", "orig_in21k",
                "google_in21k_ft_in1k", "ms_in1k"):
        assert f"vit_b_16.{tag}" in names
    assert list_pretrained("vit_base_patch16_224.*") == names
    assert vitzoo.list_pretrained("vit_l_32.mindcv*") == ["vit_l_32.mindcv_in1k"]
    assert get_weight_set("vit_base_patch16_224.augreg_in1k") is get_weight_set("vit_b_16.augreg_in1k")
    assert get_weight_set("vit_b_16.ms_in1k").url == "https://download.mindspore.cn/vision/classification/vit_b_16_224.ckpt"
    assert get_weight_set("vit_b_16.google_in21k_ft_in1k").hub_repo == "google/vit-base-patch16-224"


def test_default_is_the_best_published_imagenet_1k_top1():
    for variant in vitzoo.list_models(include_aliases=False):
        entries = [get_weight_set(n) for n in list_pretrained(f"{variant}.*")]
        if not entries:  # a variant registered by another test
            continue
        ranked = [ws.top1 for ws in entries if ws.label_set == "imagenet-1k" and ws.top1 is not None]
        chosen = get_weight_set(variant)
        if ranked:
            assert chosen.top1 == max(ranked), variant
    for variant in ("vit_ti_16", "vit_s_16", "vit_s_32", "vit_b_16", "vit_b_32", "vit_b_8", "vit_l_16", "vit_l_32", "vit_h_14",
                    "vit_b_16_384", "vit_l_16_384", "vit_b_32_384"):
        assert list_pretrained(f"{variant}.*"), variant
    assert default_tag("vit_b_16") == "augreg2_in21k_ft_in1k"
    assert default_tag("vit_l_32") == "mindcv_in1k"  # MindCV's 74.57 is the only published number
    assert default_tag("vit_h_14") == "orig_in21k"  # nothing published: the first listed


def test_unknown_names_suggest_close_ones(monkeypatch):
    with pytest.raises(UnknownNameError, match="vit_b_16.augreg_in1k"):
        get_weight_set("vit_b_16.augreg_in1")
    with pytest.raises(UnknownNameError, match="Did you mean"):
        get_weight_set("vit_b_17.augreg_in1k")
    monkeypatch.setattr(pretrained.registry, "_REGISTRY", {k: v for k, v in pretrained.registry._REGISTRY.items() if not k.startswith("vit_ti_16.")})
    with pytest.raises(UnknownNameError, match="no pretrained weights"):
        vitzoo.create("vit_ti_16", pretrained=True, backend="numpy")
    assert vitzoo.transforms_for("vit_ti_16").img_size == 224  # timm's defaults without weights


def test_bad_registrations_are_refused():
    with pytest.raises(VitzooError, match="exactly one of hub_repo and url"):
        WeightSet("vit_b_16.x", "timm", "mit", "none", 0)
    with pytest.raises(VitzooError, match="label set"):
        WeightSet("vit_b_16.x", "timm", "mit", "coco", 0, hub_repo="a/b")
    with pytest.raises(VitzooError, match="already registered"):
        pretrained.register_pretrained(get_weight_set("vit_b_16.ms_in1k"))
    with pytest.raises(VitzooError, match="short variant name"):
        pretrained.register_pretrained(WeightSet("vit_base_patch16_224.x", "timm", "mit", "none", 0, hub_repo="a/b"))


def test_pretrained_cfg_carries_provenance():
    cfg = get_weight_set("vit_b_16.augreg_in1k").pretrained_cfg()
    assert cfg == {"input_size": [3, 224, 224], "interpolation": "bicubic", "crop_pct": 0.9, "crop_mode": "center",
                   "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "num_classes": 1000, "label_set": "imagenet-1k",
                   "license": "apache-2.0", "top1": 79.154, "source": "hf-hub:timm/vit_base_patch16_224.augreg_in1k"}
    json.dumps(cfg)  # stored in the canonical file's header


def test_imagenet_labels():
    synsets, names = labels.imagenet_synsets(), labels.imagenet_class_names()
    assert len(synsets) == len(set(synsets)) == len(names) == 1000
    assert synsets == sorted(synsets)  # the class order of ImageNet's sorted synset folders
    assert names[0] == "tench" and names[207] == "golden retriever" and names[999] == "toilet tissue"
    assert labels.imagenet_descriptions()[0] == "tench, Tinca tinca"
    assert labels.index_of_synset("n01440764") == 0
    with pytest.raises(UnknownNameError):
        labels.index_of_synset("n00000000")
    assert labels.class_names_for("imagenet-1k", 1000) == names
    assert labels.class_names_for("imagenet-1k", 10) is None and labels.class_names_for("none", 0) is None


def test_labels_agree_with_timm():
    pytest.importorskip("timm")
    from timm.data import ImageNetInfo

    info = ImageNetInfo("imagenet-1k")
    assert labels.imagenet_synsets() == list(info.label_names())
    assert labels.imagenet_descriptions() == list(info.label_descriptions())


def test_list_and_info_commands(capsys):
    assert main(["list", "--pretrained", "vit_b_32*"]) == 0
    captured = capsys.readouterr()
    out = captured.out.split()
    assert out == list_pretrained("vit_b_32*") and "vit_b_32.mindcv_in1k" in out
    assert captured.err.startswith(f"{len(out)} weight sets for 2 variants (timm ")  # the count stays out of pipes
    assert main(["list", "--pretrained"]) == 0
    assert capsys.readouterr().err.startswith(f"{len(list_pretrained())} weight sets for ")
    assert main(["info", "vit_b_16"]) == 0
    text = capsys.readouterr().out
    assert "86.6M parameters" in text and "* vit_b_16.augreg2_in21k_ft_in1k" in text
    assert main(["info", "vit_b_16.ms_in1k"]) == 0
    text = capsys.readouterr().out
    for part in ("download.mindspore.cn", "75.24", "apache-2.0", "resize shorter side to 256 (bilinear)", "centre crop 224"):
        assert part in text
    assert main(["info", "vit_base_patch16_384.augreg_in21k_ft_in1k", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["variant"] == "vit_b_16_384" and data["weight_set"]["top1"] == 86.01
    assert main(["info", "vit_b_16.nope"]) == 1
    assert "Unknown weight tag 'nope'" in capsys.readouterr().err


def _plain(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def test_transformers_family_repos_match_timms_copies_of_the_same_weights():
    """Each hf_<tag> entry (a transformers repo) agrees with timm's entry of the same training run where timm states it."""
    hf = [get_weight_set(n) for n in list_pretrained("*.hf_*")]
    assert {ws.hub_repo.split("/")[0] for ws in hf} == {"facebook", "openai", "google", "microsoft"}
    assert len(hf) >= 37
    for ws in hf:
        assert ws.source_format == "hf" and ws.fallback_file == "pytorch_model.bin", ws.name
        twin = get_weight_set(f"{ws.variant}.{ws.tag[len('hf_'):]}")  # timm's copy
        assert twin.source_format == "timm", ws.name
        assert (ws.license, ws.label_set, ws.num_classes) == (twin.license, twin.label_set, twin.num_classes), ws.name
        assert ws.preprocessing["mean"] == twin.preprocessing["mean"] and ws.preprocessing["std"] == twin.preprocessing["std"]
        # bilinear where the processor resizes so (DINOv3ViTImageProcessorFast, Siglip2ImageProcessor), else bicubic
        bilinear = ws.variant.startswith(("dinov3", "siglip2_naflex"))
        assert ws.preprocessing["interpolation"] == ("bilinear" if bilinear else "bicubic") and ws.notes, ws.name
    clip = get_weight_set("clip_l_14_quickgelu_336.hf_openai")
    assert clip.preprocessing["mean"] == (0.48145466, 0.4578275, 0.40821073) and clip.preprocessing["input_size"] == (3, 336, 336)
    deit = vitzoo.transforms_for("deit_b_16_distilled_384.hf_fb_in1k")
    assert (deit.resize_size, deit.img_size, deit.crop_mode) == (438, 384, "squash")  # transformers' int(256/224 * 384)
    dino = vitzoo.transforms_for("dinov2_b_14.hf_lvd142m")
    assert (dino.resize_size, dino.img_size) == (256, 224)
