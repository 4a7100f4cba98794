"""Hugging Face transformers image models: ViT, DeiT, DINOv2, DINOv3, BEiT, AIMv2, CLIP and SigLIP image towers.

A source is a directory with ``config.json`` and ``model.safetensors`` (or shards
listed in ``model.safetensors.index.json``, or ``pytorch_model.bin`` when torch is
installed), or a bare HF-named safetensors file. ``config.json``'s ``model_type``
picks the family (without one, the tensor names do); each family is a
:class:`HFFamily` that maps its names to canonical ones and back. This module holds
what they share (files, config fields, q/k/v fusion); the families live in ``hf_vit``
(ViT, DeiT), ``hf_dinov2``, ``hf_dinov3``, ``hf_beit`` (BEiT, data2vec-vision), ``hf_aimv2`` and ``hf_clip`` (CLIP, SigLIP).
Both the on-disk names that ``save_pretrained`` writes
(``vit.encoder.layer.{i}.attention.attention.query``) and transformers 5's in-memory
names (``vit.layers.{i}.attention.q_proj``) are read; q/k/v are concatenated into the
canonical ``qkv``. The writer picks the family that fits the spec and produces a
directory that transformers' ``from_pretrained`` loads.

Example:
    >>> from vitzoo import weights
    >>> ckpt = weights.read("vit-base-patch16-224/")  # doctest: +SKIP
    >>> ckpt.spec.norm_eps, ckpt.class_names[:2]  # doctest: +SKIP
    (1e-12, ['tench, Tinca tinca', 'goldfish, Carassius auratus'])
    >>> weights.write(ckpt, "hf_out", format="hf")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np

from vitzoo.errors import CheckpointError
from vitzoo.fileio import atomic_dir
from vitzoo.spec import ViTSpec
from vitzoo.weights import safetensors_io
from vitzoo.weights.base import Checkpoint, WeightFormat, as_float32, register_format, require_file
from vitzoo.weights.infer import Hint, infer_spec
from vitzoo.weights.timm_format import load_torch_state, torch_file_mentions

_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
# transformers' hidden_act -> the spec's GELU form, and back
GELU = {"gelu": "exact", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "quick_gelu": "quick"}
HIDDEN_ACT = {"exact": "gelu", "tanh": "gelu_pytorch_tanh", "quick": "quick_gelu"}


@dataclass
class Mapped:
    """A family's reading of the raw tensors: canonical state, what was dropped, and spec fields the layout fixes."""

    state: dict[str, np.ndarray]
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HFFamily:
    """One transformers model family that the ``hf`` format reads and writes.

    ``marker`` is a substring of a tensor name only this layout has (the fallback
    when no config.json says the ``model_type``); ``defaults`` are the spec fields
    its config class implies when config.json leaves them out.
    """

    name: str
    model_types: tuple[str, ...]
    marker: str
    defaults: Mapping[str, Any]
    to_canonical: Callable[[Mapping[str, np.ndarray], Mapping[str, Any], str], Mapped]
    owns: Callable[[ViTSpec], bool]  # whether ``--to hf`` writes this spec as this family
    from_canonical: Callable[[Checkpoint], "tuple[dict[str, np.ndarray], dict[str, Any]]"]
    fallback: bool = False  # tried last: ViT, whose marker DINOv2 shares and which writes any other spec
    claims: Optional[Callable[[list[str]], bool]] = None  # a finer test of the tensor names than ``marker`` (BEiT: no key bias)


FAMILIES: list[HFFamily] = []


def register_family(family: HFFamily) -> HFFamily:
    """Add a family (kept in the order they are tried: the fallback last)."""
    FAMILIES.append(family)
    FAMILIES.sort(key=lambda f: f.fallback)
    return family


def detect(path: Path) -> bool:
    """A directory (or safetensors file) whose weights carry one family's names, as its config (if any) says."""
    cfg = _read_config(path if path.is_dir() else path.parent)
    candidates = _candidates(cfg)
    if not candidates:
        return False
    if path.is_dir():
        weights = next((path / n for n in _WEIGHT_FILES if (path / n).is_file()), None)
        if weights is None:
            return False
        if weights.name.endswith(".index.json"):
            return _family_of(list(_weight_map(weights)), candidates) is not None
        if weights.suffix == ".bin":
            return any(torch_file_mentions(weights, f.marker) for f in candidates)
        path = weights
    header = safetensors_io.try_read_header(path) if path.is_file() else None
    return header is not None and _family_of(list(header), candidates) is not None


def read(path: Path, variant: Hint = None) -> Checkpoint:
    """Read an HF model directory or file; its ``config.json`` decides heads, eps and GELU form."""
    path = require_file(path)
    source = repr(str(path))
    cfg = _read_config(path if path.is_dir() else path.parent) or {}
    candidates = _candidates(cfg)
    if not candidates:
        known = ", ".join(sorted(t for f in FAMILIES for t in f.model_types))
        raise CheckpointError(f"{source}: config.json says model_type {cfg.get('model_type')!r}; vitzoo reads transformers' {known}.")
    raw, dropped = _load_tensors(path)
    family = _family_of(list(raw), candidates) or candidates[-1]  # no marker found: the fallback (ViT) names the problem
    vision = vision_config(cfg)
    mapped = family.to_canonical(raw, vision, source)
    config = dict(family.defaults) if cfg else {}  # a config class's defaults are what transformers builds from a config.json that omits them
    try:
        config.update(config_fields(vision, mapped.state, source))
    except (TypeError, ValueError, OverflowError) as exc:  # a config field of the wrong type
        raise CheckpointError(f"{source}: config.json has an invalid field ({exc}).") from None
    config.update(mapped.config)
    spec = infer_spec(mapped.state, source, config=config, hint=variant)
    meta: dict[str, Any] = {"source_format": "hf", "source": str(path)}
    names = _class_names(cfg, spec.num_classes)
    if names:
        meta["class_names"] = names
    ckpt = Checkpoint(state=mapped.state, spec=spec, meta=meta, dropped=dropped + mapped.dropped, notes=mapped.notes)
    return ckpt.validate(source)


def write(ckpt: Checkpoint, path: Path) -> None:
    """Write a directory with ``config.json`` and ``model.safetensors`` (atomically).

    The family is the one whose layout the spec has (SigLIP's attention pool,
    CLIP's pre-norm, DINOv2's layer scale, else ViT or DeiT); ``id2label`` comes
    from the class names where the model classifies.
    """
    with atomic_dir(path) as tmp:
        write_files(ckpt, tmp)


def write_files(ckpt: Checkpoint, folder: Path) -> dict[str, Any]:
    """Write ``config.json`` and ``model.safetensors`` into an existing ``folder`` (the caller makes it atomic); return the config."""
    ckpt.validate()
    family = next((f for f in FAMILIES if f.owns(ckpt.spec)), None)
    if family is None:
        raise CheckpointError("No transformers model family can hold these weights; convert them to vitzoo or timm instead.")
    tensors, cfg = family.from_canonical(ckpt)
    cfg.setdefault("dtype", "float32")
    (folder / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    safetensors_io.save(folder / "model.safetensors", tensors, {"format": "pt"})
    return cfg


def _candidates(cfg: Optional[Mapping[str, Any]]) -> list[HFFamily]:
    """The families config.json allows: the one naming its model_type, or all when it names none."""
    model_type = cfg.get("model_type") if cfg else None
    if model_type is None:
        return list(FAMILIES)
    return [f for f in FAMILIES if model_type in f.model_types]


def _family_of(names: list[str], candidates: list[HFFamily]) -> Optional[HFFamily]:
    return next((f for f in candidates if (f.claims(names) if f.claims else any(f.marker in n for n in names))), None)


def vision_config(cfg: Mapping[str, Any]) -> Mapping[str, Any]:
    """The image tower's config: ``vision_config`` of a two-tower model (CLIPModel, SiglipModel), else the config."""
    inner = cfg.get("vision_config")
    return inner if isinstance(inner, dict) else cfg


# Shared by the family modules ----------------------------------------------------------
class Renamer:
    """Collects canonical tensors from source names, refusing two source names for one weight.

    ``qkv`` gathers separate query/key/value projections, fused by :meth:`finish`.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.state: dict[str, np.ndarray] = {}
        self.origin: dict[str, str] = {}  # canonical (or q/k/v) target -> the source name that filled it
        self.qkv: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self.dropped: list[str] = []
        self.unknown: list[str] = []

    def claim(self, target: str, name: str) -> None:
        if target in self.origin:  # e.g. both the on-disk and the transformers 5 name, or prefixed and bare names
            raise CheckpointError(f"{self.source} holds both {self.origin[target]!r} and {name!r}, which are the same weight; the file is damaged.")
        self.origin[target] = name

    def put(self, target: str, name: str, value: Any) -> None:
        self.claim(target, name)
        self.state[target] = as_float32(value, name, self.source)

    def put_block(self, layer: str, part: str, kind: str, name: str, value: Any) -> None:
        """A block tensor: q/k/v wait to be fused into ``attn.qkv``, the rest lands as ``blocks.{layer}.{part}``."""
        if part in ("q", "k", "v"):
            self.put_qkv(layer, part, kind, name, value)
        else:
            self.put(f"blocks.{layer}.{part}.{kind}", name, value)

    def put_qkv(self, layer: str, which: str, kind: str, name: str, value: Any) -> None:
        self.claim(f"blocks.{layer}.{which}.{kind}", name)
        self.qkv.setdefault((layer, kind), {})[which] = value

    def finish(self, what: str) -> dict[str, np.ndarray]:
        """The state with q/k/v fused; unknown names are an error that names ``what`` the file should be."""
        if self.unknown:
            shown = ", ".join(self.unknown[:5]) + (f" and {len(self.unknown) - 5} more" if len(self.unknown) > 5 else "")
            raise CheckpointError(f"{self.source} has tensors that are not part of a transformers {what}: {shown}.")
        for (i, kind), parts in sorted(self.qkv.items(), key=lambda item: (len(item[0][0]), item[0])):  # numeric order
            self.state[f"blocks.{i}.attn.qkv.{kind}"] = fuse_qkv(parts, f"layer {i}", kind, self.source)
        return self.state


def fuse_qkv(parts: Mapping[str, Any], where: str, kind: str, source: str) -> np.ndarray:
    """Concatenate separate q, k, v projections (rows) into one fused tensor."""
    if sorted(parts) != ["k", "q", "v"]:
        raise CheckpointError(f"{source}: {where} lacks one of the query/key/value {kind} tensors.")
    q, k, v = (as_float32(parts[p], f"{where} {p}", source) for p in ("q", "k", "v"))
    if not (q.ndim == k.ndim == v.ndim >= 1 and q.shape[1:] == k.shape[1:] == v.shape[1:]):
        raise CheckpointError(f"{source}: {where} query/key/value {kind} shapes {q.shape}, {k.shape}, {v.shape} do not stack.")
    fused = np.concatenate([q, k, v])
    for p in parts.values():
        safetensors_io.release(p)  # only the fused copy is needed from here on
    return fused


def split_rows(value: np.ndarray, n: int) -> list[np.ndarray]:
    """``n`` equal row blocks of a fused tensor, as views (no copy)."""
    rows = value.shape[0] // n
    return [value[j * rows : (j + 1) * rows] for j in range(n)]


def unwritable(problems: "list[tuple[bool, str]]", what: str) -> None:
    """Raise when any problem holds: ``what`` cannot carry these weights."""
    bad = [text for failed, text in problems if failed]
    if bad:
        raise CheckpointError(
            f"transformers' {what} needs {', '.join(bad)}; these weights cannot be written as a Hugging Face "
            f"{what}. Convert them to vitzoo or timm instead."
        )


def class_labels(ckpt: Checkpoint) -> dict[str, Any]:
    """``id2label``/``label2id`` for a classifier (transformers' placeholders without class names)."""
    n = ckpt.spec.num_classes
    names = ckpt.class_names if ckpt.class_names and len(ckpt.class_names) == n else None
    names = names or [f"LABEL_{i}" for i in range(n)]
    return {"id2label": {str(i): name for i, name in enumerate(names)}, "label2id": {name: i for i, name in enumerate(names)}}


def encoder_config(spec: ViTSpec) -> dict[str, Any]:
    """The config.json fields every transformers image encoder shares."""
    return {
        "hidden_size": spec.embed_dim,
        "num_hidden_layers": spec.depth,
        "num_attention_heads": spec.num_heads,
        "intermediate_size": spec.mlp_dim,
        "hidden_act": HIDDEN_ACT[spec.gelu],
        "layer_norm_eps": spec.norm_eps,
        "image_size": spec.img_size,
        "patch_size": spec.patch_size,
        "num_channels": spec.in_chans,
    }


# Reading files ---------------------------------------------------------------------------
def _read_config(folder: Path) -> Optional[dict[str, Any]]:
    path = folder / "config.json"
    if not path.is_file():  # a FIFO or device named config.json would block the read
        return None
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    return cfg if isinstance(cfg, dict) else None


def _weight_map(index: Path) -> dict[str, str]:
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
        mapping = data["weight_map"]
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        raise CheckpointError(f"{str(index)!r} is not a valid shard index (no weight_map); download it again.") from None
    if not isinstance(mapping, dict):
        raise CheckpointError(f"{str(index)!r} is not a valid shard index (weight_map is not an object).")
    return {str(k): str(v) for k, v in mapping.items()}


def _load_file(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    if safetensors_io.try_read_header(path) is not None:
        return safetensors_io.load_mmap(path)[0], []
    return load_torch_state(path)


def _load_tensors(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """All tensors of an HF directory (single file or shards) or file, memory-mapped where possible."""
    if path.is_file():
        return _load_file(path)
    weights = next((path / n for n in _WEIGHT_FILES if (path / n).is_file()), None)
    if weights is None:
        raise CheckpointError(f"{str(path)!r} holds no model.safetensors or pytorch_model.bin; it is not a Hugging Face model directory.")
    if not weights.name.endswith(".index.json"):
        return _load_file(weights)
    tensors: dict[str, np.ndarray] = {}
    dropped: list[str] = []
    for shard in dict.fromkeys(_weight_map(weights).values()):
        if Path(shard).name != shard or shard in (".", ".."):  # a bare file name: an index never points out of its folder
            raise CheckpointError(f"Shard {shard!r} listed in {str(weights)!r} is not a file name inside the model directory.")
        if not (path / shard).is_file():
            raise CheckpointError(f"Shard {shard!r} listed in {str(weights)!r} is missing; download the model again.")
        part, part_dropped = _load_file(path / shard)
        if twice := sorted(set(part) & set(tensors)):
            raise CheckpointError(f"{str(weights)!r} lists shards that both hold {twice[0]!r}; the model directory is damaged.")
        tensors.update(part)
        dropped += part_dropped
    return tensors, dropped


def config_fields(cfg: Mapping[str, Any], state: Mapping[str, np.ndarray], source: str) -> dict[str, Any]:
    """Spec fields from a (vision) config, after checking it describes these tensors."""
    fields: dict[str, Any] = {}
    if "num_attention_heads" in cfg:
        fields["num_heads"] = int(cfg["num_attention_heads"])
    if "layer_norm_eps" in cfg:
        fields["norm_eps"] = float(cfg["layer_norm_eps"])
    if "hidden_act" in cfg:
        act = cfg["hidden_act"]
        if act == "silu" and "blocks.0.mlp.fc1_g.weight" in state:
            pass  # the split SwiGLU's gate activation (DINOv3's gated MLP): no GELU in the model
        elif not isinstance(act, str) or act not in GELU:
            raise CheckpointError(f"{source}: hidden_act {act!r} is not supported; vitzoo runs {', '.join(GELU)}.")
        else:
            fields["gelu"] = GELU[act]
    if "pre_logits.fc.weight" in state and cfg.get("pooler_act", "tanh") != "tanh":
        raise CheckpointError(f"{source}: pooler_act {cfg['pooler_act']!r} is not supported (only tanh).")
    proj = state.get("patch_embed.proj.weight")
    if proj is not None and proj.ndim == 4:
        found = {"hidden_size": proj.shape[0], "num_channels": proj.shape[1], "patch_size": proj.shape[2]}
        found["num_hidden_layers"] = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
        wrong = [f"{k}={cfg[k]} (weights: {v})" for k, v in found.items() if k in cfg and cfg[k] != v]
        head_dim = cfg.get("head_dim")
        if head_dim is not None and "num_attention_heads" in cfg and head_dim * cfg["num_attention_heads"] != proj.shape[0]:
            wrong.append(f"head_dim={head_dim}")
        if wrong:
            raise CheckpointError(f"{source}: config.json does not match its weights: {', '.join(wrong)}.")
    return fields


def _class_names(cfg: Mapping[str, Any], num_classes: int) -> Optional[list[str]]:
    id2label = cfg.get("id2label")
    if not isinstance(id2label, dict) or not num_classes:
        return None
    try:
        names = [str(id2label[k]) for k in sorted(id2label, key=int)]
    except (TypeError, ValueError):
        return None
    if len(names) != num_classes or names == [f"LABEL_{i}" for i in range(num_classes)]:
        return None  # transformers' placeholders are not class names
    return names


FORMAT = register_format(
    WeightFormat(
        name="hf",
        description="Hugging Face transformers ViT, DeiT, DINOv2, DINOv3, CLIP and SigLIP image models (directory with config.json)",
        detect=detect,
        read=read,
        write=write,
    )
)
