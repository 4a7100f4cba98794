"""Any Hugging Face hub repo by name: ``hf-hub:ORG/REPO[@REVISION]`` in timm's, transformers' or open_clip's layout.

The repo's own config says what it is, never a guess from the tensors:

* open_clip: ``open_clip_config.json`` beside ``open_clip_model.safetensors`` (or ``open_clip_pytorch_model.bin``);
* timm: ``config.json`` naming an ``architecture`` (with ``model_args``, ``pretrained_cfg``,
  ``label_names``) beside ``model.safetensors`` (or ``pytorch_model.bin``);
* transformers: ``config.json`` naming a ``model_type`` / ``architectures`` beside ``model.safetensors``,
  shards listed in ``model.safetensors.index.json``, or ``pytorch_model.bin`` (preprocessing from
  ``preprocessor_config.json``, labels from ``id2label``).

Pickles are read only with ``torch.load(weights_only=True)``. Only the files the layout needs
are downloaded (configs, tokenizer files of a CLIP model, one weights file or its shards), through
huggingface_hub; each large file is checked against the sha256 the hub lists for it. Offline, the
snapshot in the hub cache is used as it is.

Example:
    >>> ckpt = load_repo("hf-hub:timm/vit_base_patch16_224.augreg2_in21k_ft_in1k")  # doctest: +SKIP
    >>> ckpt.meta["pretrained_cfg"]["crop_pct"], ckpt.class_names[0]  # doctest: +SKIP
    (0.9, 'tench, Tinca tinca')
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from vitzoo.errors import CheckpointError, DownloadError, UnknownNameError, VitzooError

from .hf import HubUnreachable, download_file, hub_cache_dir, hub_errors, verify_blob

PREFIX = "hf-hub:"
_log = logging.getLogger("vitzoo")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_CONFIGS = ("config.json", "open_clip_config.json", "preprocessor_config.json")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "spiece.model", "vocab.json", "merges.txt")
_WEIGHTS = {
    "open_clip": ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"),
    "timm": ("model.safetensors", "pytorch_model.bin"),
    "transformers": ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json"),
}
_FORMAT = {"open_clip": "open_clip", "timm": "timm", "transformers": "hf"}
_CLIP_TYPES = ("clip", "siglip")


@dataclass(frozen=True)
class HubName:
    """A parsed ``hf-hub:`` name."""

    repo_id: str
    revision: Optional[str] = None

    @property
    def what(self) -> str:
        """How error sentences name the repo."""
        return f"hub repo {self.repo_id!r}" + (f" at revision {self.revision!r}" if self.revision else "")

    def __str__(self) -> str:
        return PREFIX + self.repo_id + (f"@{self.revision}" if self.revision else "")


def is_hub_name(name: Any) -> bool:
    """Whether ``name`` is an ``hf-hub:`` model name."""
    return isinstance(name, str) and name.startswith(PREFIX)


def parse_hub_name(name: str) -> HubName:
    """``"hf-hub:ORG/REPO@rev"`` -> ``HubName("ORG/REPO", "rev")``; a malformed repo id is one :class:`UnknownNameError`.

    Example:
        >>> parse_hub_name("hf-hub:timm/vit_small_patch16_224.augreg_in21k@main")
        HubName(repo_id='timm/vit_small_patch16_224.augreg_in21k', revision='main')
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    body = name[len(PREFIX) :] if name.startswith(PREFIX) else name
    repo_id, _, revision = body.partition("@")
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise UnknownNameError(f"{name!r} is not a hub repo name; write hf-hub:ORG/REPO or hf-hub:ORG/REPO@REVISION.") from None
    if "@" in body and not revision:
        raise UnknownNameError(f"{name!r} ends in '@' without a revision; give a branch, tag or commit after it, or drop the '@'.")
    return HubName(repo_id, revision or None)


def fetch_repo(name: "str | HubName", *, force: bool = False, clip: bool = False) -> Path:
    """The local snapshot folder of a hub repo, holding its configs and the weights its layout needs.

    ``force`` downloads the files again even when cached; ``clip`` asks for the whole CLIP model where a
    repo holds both timm's image tower and open_clip's whole model (as timm's CLIP repos do).
    Offline (``HF_HUB_OFFLINE``/``VITZOO_OFFLINE``)
    the cached snapshot is used; a repo that is missing, gated, private without a token, at a
    revision that does not exist, or not cached while offline is one :class:`DownloadError`.
    """
    from .download import is_offline

    hub = name if isinstance(name, HubName) else parse_hub_name(name)
    fix = f"run `vitzoo download {hub}` on a connected machine and copy the Hugging Face cache here, or go online"
    if is_offline():
        folder = _cached_snapshot(hub)
        if folder is None:
            where = hub_cache_dir() or "the Hugging Face cache (HF_HOME)"
            raise DownloadError(f"{hub.what} is not in {where} and vitzoo is offline (HF_HUB_OFFLINE/VITZOO_OFFLINE); {fix}.")
        layout = repo_layout(folder, hub, clip=clip)
        if _weights_in(folder, layout) is None:
            raise DownloadError(f"{hub.what} is cached without its weights and vitzoo is offline; {fix}.")
        return folder
    try:
        return _download_repo(hub, fix, force, clip)
    except HubUnreachable:
        folder = _cached_snapshot(hub)  # as huggingface_hub does: no connection, use what is cached
        if folder is None or _weights_in(folder, repo_layout(folder, hub, clip=clip)) is None:
            raise
        _log.warning("vitzoo: the hub is unreachable; using the cached snapshot %s of %s.", folder.name, hub.what)
        return folder


def _download_repo(hub: HubName, fix: str, force: bool, clip: bool) -> Path:
    """Download the configs, then the files the layout needs, into the hub cache; return the snapshot folder."""
    with hub_errors(hub.what, fix_offline=fix, revision=hub.revision):
        info = _repo_info(hub)
        files = {s.rfilename: s for s in info.siblings or []}
        got = [_get(hub, f, files, force) for f in _CONFIGS if f in files]
        if not got:
            raise UnknownNameError(_no_config(hub, sorted(files)))
        folder = got[0].parent
        layout = repo_layout(folder, hub, clip=clip)
        if _is_clip_repo(folder, layout):
            got += [_get(hub, f, files, force) for f in _TOKENIZER_FILES if f in files]
        weights = next((f for f in _WEIGHTS[layout] if f in files), None)
        if weights is None:
            raise DownloadError(f"{hub.what} holds no weights file vitzoo reads for its {layout} layout (one of {', '.join(_WEIGHTS[layout])}).")
        got.append(_get(hub, weights, files, force))
        if weights.endswith(".index.json"):
            got += [_get(hub, shard, files, force) for shard in _shards(got[-1], hub)]
    if any(p.parent != folder for p in got):  # a commit landed between two downloads
        raise DownloadError(f"{hub.what} changed while it was downloading; run the command again.")
    return folder


def repo_layout(folder: Path, hub: "HubName | str" = "", *, clip: bool = False) -> str:
    """``"open_clip"``, ``"timm"`` or ``"transformers"``, as the repo's config files say; anything else is refused.

    A repo with both timm's ``config.json`` and ``open_clip_config.json`` is timm's image model, or
    with ``clip`` open_clip's whole model.
    """
    what = hub.what if isinstance(hub, HubName) else repr(str(folder))
    cfg = _json(folder / "config.json")
    open_clip = (folder / "open_clip_config.json").is_file()
    if open_clip and (clip or cfg is None or not isinstance(cfg.get("architecture"), str)):
        return "open_clip"
    if cfg is None:
        raise UnknownNameError(_no_config(hub if isinstance(hub, HubName) else HubName(str(folder)), sorted(p.name for p in folder.iterdir())))
    if isinstance(cfg.get("architecture"), str):
        from vitzoo.variants import get_spec

        try:
            get_spec(cfg["architecture"])
        except VitzooError:
            if open_clip:  # timm's name for a tower vitzoo does not register: open_clip's config still describes it
                return "open_clip"
            raise UnknownNameError(_unsupported(what, f"timm architecture {cfg['architecture']!r}")) from None
        return "timm"
    model_type = cfg.get("model_type")
    known = _hf_model_types()
    if isinstance(model_type, str) and model_type in known:
        return "transformers"
    named = f"transformers model_type {model_type!r}" if model_type else "config.json without 'architecture' or 'model_type'"
    archs = cfg.get("architectures")
    if isinstance(archs, list) and archs:
        named += f" ({', '.join(map(str, archs))})"
    raise UnknownNameError(_unsupported(what, named))


def load_repo(name: str, *, variant: Any = None, force: bool = False) -> Any:
    """The image model of a hub repo as a canonical :class:`~vitzoo.weights.Checkpoint` (a CLIP repo gives its image tower).

    ``variant`` (fields given by the caller) settles only what the repo's config leaves open.
    """
    from vitzoo import weights

    hub = parse_hub_name(name)
    folder = fetch_repo(hub, force=force)
    layout = repo_layout(folder, hub)
    weights_path = _weights_in(folder, layout)
    if weights_path is not None and not weights_path.name.endswith(".index.json"):
        verify_blob(weights_path, hub.what)
    ckpt = weights.read(folder, format=_FORMAT[layout], variant=variant)
    meta = dict(ckpt.meta)
    meta.update(name=str(hub), source=f"{PREFIX}{hub.repo_id}@{folder.name}", hub_layout=layout)
    if weights_path is not None and weights_path.is_file():
        from .download import _sha256_of

        meta["source_sha256"] = _sha256_of(weights_path)
    pre = _preprocessing(folder, layout, ckpt.spec.img_size, meta.get("pretrained_cfg"))
    if pre:
        meta["pretrained_cfg"] = pre
    return ckpt.replace(meta=meta)


def fetch_clip_repo(name: str, *, force: bool = False) -> Path:
    """The snapshot folder of a hub repo holding a whole CLIP / SigLIP model (open_clip's layout or transformers')."""
    hub = parse_hub_name(name)
    folder = fetch_repo(hub, force=force, clip=True)
    if not _is_clip_repo(folder, repo_layout(folder, hub, clip=True)):
        raise CheckpointError(f"{hub.what} holds an image model, not a whole CLIP model; load it with vitzoo.create({str(hub)!r}, pretrained=True).")
    return folder


# Downloading -------------------------------------------------------------------------------
def _repo_info(hub: HubName) -> Any:
    from huggingface_hub import HfApi

    from .hf import hub_kwargs

    endpoint = hub_kwargs().get("endpoint")
    return HfApi(endpoint=endpoint).model_info(hub.repo_id, revision=hub.revision, files_metadata=True)


def _get(hub: HubName, filename: str, files: dict[str, Any], force: bool) -> Path:
    path = download_file(hub.repo_id, filename, revision=hub.revision, force=force)
    lfs = getattr(files.get(filename), "lfs", None)
    verify_blob(path, f"{filename!r} of {hub.what}", getattr(lfs, "sha256", None))
    return path


def _shards(index: Path, hub: HubName) -> list[str]:
    from vitzoo.weights.hf_format import _weight_map

    shards = list(dict.fromkeys(_weight_map(index).values()))
    bad = [s for s in shards if Path(s).name != s or s in (".", "..")]
    if bad:
        raise DownloadError(f"{hub.what}: {index.name} lists shard {bad[0]!r}, which is not a file name inside the repo.")
    return shards


def _cached_snapshot(hub: HubName) -> Optional[Path]:
    """The cached snapshot of the revision (a commit, or a branch/tag through ``refs/``), as huggingface_hub lays it out."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    root = Path(hub_cache_dir() or constants.HF_HUB_CACHE) / repo_folder_name(repo_id=hub.repo_id, repo_type="model")
    revision = hub.revision or "main"
    commit = revision
    if not _COMMIT.fullmatch(revision):
        ref = root / "refs" / revision
        if not ref.is_file():
            return None
        commit = ref.read_text().strip()
    folder = root / "snapshots" / commit
    return folder if folder.is_dir() else None


# Reading the repo's configs -------------------------------------------------------------------
def _weights_in(folder: Path, layout: str) -> Optional[Path]:
    return next((folder / f for f in _WEIGHTS[layout] if (folder / f).is_file()), None)


def _is_clip_repo(folder: Path, layout: str) -> bool:
    return layout == "open_clip" or (layout == "transformers" and (_json(folder / "config.json") or {}).get("model_type") in _CLIP_TYPES)


def _hf_model_types() -> list[str]:
    from vitzoo.weights.hf_format import FAMILIES

    return sorted(t for f in FAMILIES for t in f.model_types)


def _unsupported(what: str, named: str) -> str:
    from vitzoo.variants.registry import SUPPORTED_FAMILIES

    return (
        f"{what} holds a {named}, which vitzoo does not run; vitzoo runs the {SUPPORTED_FAMILIES} families "
        f"(timm architectures of vitzoo.list_models(), transformers model types {', '.join(_hf_model_types())}, open_clip CLIP ViTs)."
    )


def _no_config(hub: HubName, files: list[str]) -> str:
    shown = ", ".join(files[:8]) + (", ..." if len(files) > 8 else "") if files else "no files"
    return (
        f"{hub.what} has no config.json or open_clip_config.json ({shown}), so nothing states its architecture and vitzoo "
        "does not guess it; download its weights file and pass it with the variant's name: vitzoo.create(NAME, pretrained=FILE)."
    )


def _preprocessing(folder: Path, layout: str, img_size: int, found: Any) -> Optional[dict[str, Any]]:
    """The eval preprocessing: timm's ``pretrained_cfg``, open_clip's ``preprocess_cfg``, or transformers' image processor."""
    if layout == "timm":
        return found if isinstance(found, dict) else None
    if layout == "open_clip":
        from vitzoo.weights.clip_model import open_clip_preprocessing

        return open_clip_preprocessing(img_size, folder)
    proc = _json(folder / "preprocessor_config.json")
    return image_processor_cfg(proc, img_size) if proc else None


_PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


def image_processor_cfg(proc: dict[str, Any], img_size: int) -> dict[str, Any]:
    """A transformers ``preprocessor_config.json`` as vitzoo's preprocessing config (timm's keys).

    ``size`` ``{height, width}`` without a centre crop is a squash to that size (ViTImageProcessor);
    ``{shortest_edge}`` then ``crop_size`` is a resize of the shorter side and a centre crop (BitImageProcessor,
    DINOv2's), so ``crop_pct`` = crop / shortest edge.

    Example:
        >>> image_processor_cfg({"size": {"height": 224, "width": 224}, "resample": 2, "image_mean": [0.5] * 3,
        ...                      "image_std": [0.5] * 3}, 224)["crop_mode"]
        'squash'
    """
    size = proc.get("size") if isinstance(proc.get("size"), dict) else {}
    crop = proc.get("crop_size") if isinstance(proc.get("crop_size"), dict) else {}
    out: dict[str, Any] = {"input_size": [3, img_size, img_size], "interpolation": _PIL_RESAMPLE.get(proc.get("resample", 2), "bilinear")}
    if proc.get("do_center_crop") and isinstance(size.get("shortest_edge"), int) and isinstance(crop.get("height"), int):
        out.update(input_size=[3, crop["height"], crop.get("width", crop["height"])], crop_pct=crop["height"] / size["shortest_edge"], crop_mode="center")
    else:
        side = size.get("height", size.get("shortest_edge", img_size))
        out.update(input_size=[3, side, size.get("width", side)], crop_pct=1.0, crop_mode="squash")
    for key in ("mean", "std"):
        value = proc.get("image_" + key)
        if isinstance(value, (list, tuple)) and len(value) == 3:
            out[key] = [float(v) for v in value]
    if proc.get("do_normalize") is False:
        out.update(mean=[0.0] * 3, std=[1.0] * 3)
    return out


def _json(path: Path) -> Optional[dict[str, Any]]:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
