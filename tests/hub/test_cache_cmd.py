"""`vitzoo cache list | verify | clear`: a flipped byte is found and named; loads refuse what a cheap look can see."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from vitzoo import hub, weights
from vitzoo.cli.main import main
from vitzoo.errors import CheckpointError
from vitzoo.init import init_state
from vitzoo.pretrained import WeightSet
from vitzoo.variants import get_spec

SPEC = get_spec("vit_ti_16", depth=1, img_size=32, patch_size=8, num_classes=10)


def weight_set(name: str) -> WeightSet:
    return WeightSet(name=name, source_format="timm", license="apache-2.0", label_set="none", num_classes=10, url=f"https://example.invalid/{name}.safetensors")


@pytest.fixture()
def cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Two weight sets converted into a fresh cache through the real cache write (the download is stood in for)."""
    monkeypatch.setenv("VITZOO_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "timm.safetensors"
    save_file(init_state(SPEC, seed=1), str(src), metadata={"format": "pt"})
    monkeypatch.setattr(hub.download, "fetch", lambda *a, **k: src)
    monkeypatch.setattr(hub.download, "_convert", lambda ws, source: weights.read(source, format="timm", variant=SPEC).replace(meta={"source": f"test:{ws.name}"}))
    for name in ("vit_ti_16.one", "vit_ti_16.two"):
        hub.load(weight_set(name))
    return {name: hub.converted_path(weight_set(name)) for name in ("vit_ti_16.one", "vit_ti_16.two")}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(["cache", *argv])
    return code, capsys.readouterr().out.splitlines()


def data_offset(path: Path) -> int:
    (size,) = struct.unpack("<Q", path.read_bytes()[:8])
    return 8 + size


def test_list_verify_and_clear(cached: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = cli(capsys, "list")
    assert code == 0 and len(lines) == 3
    assert lines[0].startswith("vit_ti_16.one  ") and lines[0].endswith("  test:vit_ti_16.one") and "1.9 MiB" in lines[0]
    assert lines[-1].startswith("2 weight set(s)")
    assert cli(capsys, "verify") == (0, ["vit_ti_16.one: ok", "vit_ti_16.two: ok", "2 of 2 intact"])

    path = cached["vit_ti_16.two"]
    raw = bytearray(path.read_bytes())
    raw[data_offset(path) + 100] ^= 0x01  # one bit of one weight: still a finite float, same size, valid header
    path.write_bytes(bytes(raw))
    code, lines = cli(capsys, "verify")
    assert code == 1
    assert lines[0] == "vit_ti_16.one: ok"
    assert lines[1].startswith("vit_ti_16.two: DAMAGED: its sha256 differs") and str(path) in lines[1]
    assert cli(capsys, "verify", "*.one")[0] == 0

    code, lines = cli(capsys, "clear", "vit_ti_16.two")
    assert code == 0 and lines[0].startswith("removed vit_ti_16.two")
    assert not path.exists() and not path.with_name(path.name + ".sha256.json").exists()
    assert cached["vit_ti_16.one"].exists()
    assert cli(capsys, "clear")[1][-1].startswith("removed 1 weight set(s)")
    assert cli(capsys, "list")[1] == [f"0 weight set(s), 0 B in {cached['vit_ti_16.one'].parent}"]


@pytest.mark.parametrize("damage", ["truncated", "header", "nan"])
def test_loading_refuses_cheaply_visible_damage(damage: str, cached: dict[str, Path]) -> None:
    path = cached["vit_ti_16.one"]
    raw = bytearray(path.read_bytes())
    if damage == "truncated":
        raw = raw[: len(raw) - 1000]
    elif damage == "header":
        raw[10:14] = b"\xff\xfe\x00\x01"
    else:  # a float32 whose exponent bits are all set: NaN, size and header unchanged
        start = data_offset(path) + 4 * 7
        raw[start : start + 4] = struct.pack("<f", np.nan)
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError) as err:
        hub.load(weight_set("vit_ti_16.one"))
    message = str(err.value)
    assert str(path) in message and "vitzoo cache verify" in message and "vitzoo cache clear vit_ti_16.one" in message
    assert "\n" not in message


def test_record_holds_size_and_digest(cached: dict[str, Path]) -> None:
    import hashlib

    path = cached["vit_ti_16.one"]
    record = json.loads(path.with_name(path.name + ".sha256.json").read_text())
    assert record == {"size": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
