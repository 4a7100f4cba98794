"""timm's VisionTransformer state dicts: ``.safetensors``, or ``.pth``/``.bin`` through torch.

timm already uses vitzoo's canonical names, so reading is mostly unwrapping:
training checkpoints (``state_dict``/``state_dict_ema``/``model`` plus optimizer
state), a DDP ``module.`` prefix and DeiT-III's old ``gamma_1`` layer-scale names.
What the tensors cannot show comes from timm's ``config.json`` when it sits next to
the file (as in a Hugging Face hub snapshot): the architecture, ``model_args``,
pooling, label names and the preprocessing ``pretrained_cfg``.

PyTorch pickles are only opened with ``torch.load(weights_only=True)``.

Example:
    >>> from vitzoo import weights
    >>> ckpt = weights.read("vit_base_patch16_224.safetensors", format="timm")  # doctest: +SKIP
    >>> ckpt.spec.num_heads, ckpt.meta["pretrained_cfg"]["crop_pct"]  # doctest: +SKIP
    (12, 0.9)
"""

from __future__ import annotations

import json
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np

from vitzoo import conv_stem
from vitzoo.errors import CheckpointError, VitzooError, reason
from vitzoo.fileio import atomic_path
from vitzoo.spec import ViTSpec
from vitzoo.variants import get_spec
from vitzoo.weights import deepseek_timm, naflex_names, qwen_timm, safetensors_io, sapiens2_names, torch_pickle
from vitzoo.weights.base import Checkpoint, WeightFormat, as_float32, register_format, require_file
from vitzoo.weights.infer import UNSEEN_FIELDS, Hint, infer_spec

ANCHOR = "patch_embed.proj.weight"
XCIT_ANCHOR = "patch_embed.proj.0.0.weight"
# Training checkpoints wrap the weights; EMA weights first, as timm's own loader prefers them.
_WRAPPERS = ("state_dict_ema", "model_ema", "state_dict", "model")
# torch's legacy (pre-zip) format starts with this pickled magic number.
_LEGACY_MAGIC = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[:-1]
_TORCH_SUFFIXES = (".pth", ".pt", ".bin")
_ACT_LAYERS = {"gelu": "exact", "gelu_tanh": "tanh", "quick_gelu": "quick"}
_POOLS = ("token", "avg", "map")


def detect(path: Path) -> bool:
    """A safetensors file or torch pickle holding timm names (and not a vitzoo file), or a timm hub folder."""
    found = _weights_file(path) or path
    return (holds_tensor(found, ANCHOR, lambda n: qwen_timm.strip(_strip_prefix(n)))  # Qwen3 ViT classifiers: encoder.*
            or holds_tensor(found, naflex_names.ANCHOR, _strip_prefix)  # NaFlexVit: embeds.*
            or holds_tensor(found, XCIT_ANCHOR, _strip_prefix)  # XCiT: a convolutional stem
            or holds_tensor(found, conv_stem.ANCHOR, _strip_prefix)  # MobileCLIP's stem: no patch projection
            or holds_tensor(found, sapiens2_names.ANCHOR, _strip_prefix))  # Meta's Sapiens2 names


def read(path: Path, variant: Hint = None) -> Checkpoint:
    """Read a timm state dict (or hub folder).

    The head count, eps, GELU form and pooling come from ``config.json`` beside the file
    (its architecture and ``model_args``), else ``variant`` (a spec, or the fields given),
    else the registered variants of these sizes when they agree; else the read is refused.
    """
    path = weights_file(path, _weights_file, "timm's config.json and model.safetensors or pytorch_model.bin")
    source = repr(str(path))
    raw, dropped = load_state_file(path)
    state: dict[str, np.ndarray] = {}
    origin: dict[str, str] = {}
    for name, value in raw.items():
        if value.dtype.kind not in "f" and value.dtype.name != "bfloat16":
            if not name.endswith(".num_batches_tracked"):  # XCiT's BatchNorm step counters: torch refills them on a strict load
                dropped.append(name)  # integer buffers (step counters, ...) are not weights
            continue
        canonical = _canonical_name(name)
        if canonical in origin:  # e.g. "module.x" beside "x": which one is the model is anyone's guess
            raise CheckpointError(f"{source} holds both {origin[canonical]!r} and {name!r}, which are the same weight; the file is damaged.")
        origin[canonical] = name
        state[canonical] = as_float32(value, name, source)
    if sapiens2_names.is_sapiens2(state):  # Meta's Sapiens2 checkpoint, renamed as timm's filter does
        state, dropped = sapiens2_names.to_canonical(state, dropped)
    size = variant.img_size if isinstance(variant, ViTSpec) else dict(variant or {}).get("img_size")
    state, qwen_fields = deepseek_timm.from_timm(state, source, size)  # timm's DeepSeek ViT layouts (encoder.* without pos_embed)
    if not qwen_fields:
        state, qwen_fields = qwen_timm.from_timm(state, source)  # timm's Qwen3 ViT layouts: what they state
    cfg = read_timm_config(path)
    config: dict[str, Any] = {}
    if naflex_names.is_naflex(state):  # timm's NaFlexVit: embeds.* names, a Linear patch embedding, a [1, G, G, D] grid
        chans = variant.in_chans if isinstance(variant, ViTSpec) else dict(variant or {}).get("in_chans")
        state, layout = naflex_names.to_canonical(state, source, chans)
        config.update(layout)
    meta: dict[str, Any] = {"source_format": "timm", "source": str(path)}
    if cfg is not None:
        config.update(_config_fields(cfg, source))
        if isinstance(cfg.get("pretrained_cfg"), dict):
            meta["pretrained_cfg"] = cfg["pretrained_cfg"]
    config.update(qwen_fields)
    arch = _registered(cfg.get("architecture")) if cfg is not None else None
    if arch is not None and not isinstance(variant, ViTSpec):  # the architecture named in config.json (e.g. 384 px over a 27-patch grid)
        variant = {**arch.to_dict(), **dict(variant or {})}
    spec = infer_spec(state, source, config=config, hint=variant)
    if spec.block == "vit":  # DeiT-III's old layer-scale names; in an EVA block they are the names
        state = {_vit_layer_scale(k): v for k, v in state.items()}
    if cfg is not None and (names := _label_names(cfg, spec.num_classes)):
        meta["class_names"] = names
    return Checkpoint(state=state, spec=spec, meta=meta, dropped=dropped).validate(source)


def write(ckpt: Checkpoint, path: Path) -> None:
    """Write a state dict that timm's ``load_state_dict(strict=True)`` accepts.

    ``.pth``/``.pt``/``.bin`` targets are written with ``torch.save``; anything
    else as safetensors (what timm publishes).
    """
    ckpt.validate()
    if ckpt.spec.naflex:  # NaFlexVit's own names (embeds.*)
        save_state_file(path, naflex_names.from_canonical(ckpt.state, ckpt.spec))
        return
    if ckpt.spec.pre_logits_dim:
        raise CheckpointError(
            "timm's VisionTransformer has no pre-logits layer, so these weights cannot be written as a timm "
            "state dict; convert them to vitzoo or jax instead."
        )
    if ckpt.spec.global_pool == "query" or ckpt.spec.sincos_pos:  # transformers' AIMv2 parts; timm's aimv2_* has neither
        raise CheckpointError(
            "timm's AIMv2 has no attention pooling head and no native-resolution sin-cos positions, so these weights "
            "cannot be written as a timm state dict; convert them to vitzoo or hf instead."
        )
    save_state_file(path, qwen_timm.to_timm(ckpt.spec, ckpt.state))  # Qwen3 / DeepSeek ViT classifiers: encoder.* (other models as they are)


def save_state_file(path: Path, tensors: Mapping[str, np.ndarray]) -> None:
    """Write a state dict atomically: ``torch.save`` for ``.pth``/``.pt``/``.bin``, else safetensors."""
    if Path(path).suffix in _TORCH_SUFFIXES:
        torch = _import_torch(str(path))
        with atomic_path(path) as tmp:
            torch.save({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, tmp)
    else:
        safetensors_io.save(path, dict(tensors), {"format": "pt"})


def load_state_file(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """The tensors of a safetensors file (memory-mapped) or torch pickle, and the dropped non-tensor entries."""
    if safetensors_io.try_read_header(path) is not None:
        return safetensors_io.load_mmap(path)[0], []
    return load_torch_state(path)


def weights_file(path: Path, find: Callable[[Path], Optional[Path]], wanted: str) -> Path:
    """``path`` itself, or for a folder the weights file ``find`` picks in it; a folder without one says it lacks ``wanted``."""
    path = require_file(path)
    if not path.is_dir():
        return path
    found = find(path)
    if found is None:
        raise CheckpointError(f"{str(path)!r} is a folder without {wanted}.")
    return found


def holds_tensor(path: Path, name: str, strip: Callable[[str], str]) -> bool:
    """Whether a safetensors file (not a vitzoo one) or torch pickle names the tensor ``name`` (after ``strip``), from its header alone."""
    if not path.is_file():
        return False
    header = safetensors_io.try_read_header(path)
    if header is not None:
        meta = header.get("__metadata__")
        if isinstance(meta, dict) and meta.get("format") == "vitzoo":
            return False
        return any(strip(k) == name for k in header)
    return torch_file_mentions(path, name)


def _weights_file(path: Path) -> Optional[Path]:
    """The weights of a timm hub folder (``config.json`` naming an architecture); ``None`` otherwise."""
    if not path.is_dir() or read_timm_config(path / "config.json") is None:
        return None
    return next((path / n for n in ("model.safetensors", "pytorch_model.bin") if (path / n).is_file()), None)


# PyTorch pickles -----------------------------------------------------------------
def torch_file_mentions(path: Path, name: str) -> bool:
    """Whether a ``torch.save`` file names the tensor ``name``, found without unpickling."""
    needle = name.encode()
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                pickles = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
                return bool(pickles) and needle in zf.read(pickles[0])
        with open(path, "rb") as fh:
            head = fh.read(1 << 24)  # legacy pickles put every name before the tensor data
        return head.startswith(_LEGACY_MAGIC) and needle in head
    except Exception:  # noqa: BLE001 - zipfile raises many types (UnicodeDecodeError, struct.error, ...) on damage
        return False


def load_torch_state(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """The tensors of a torch pickle (a state dict, or a training checkpoint holding one) and the dropped entries.

    Only ``torch.load(weights_only=True)`` is used: no code in the file can run.
    """
    torch = _import_torch(str(path))
    torch_pickle.check(path)  # weights_only still lets a pickle make torch allocate what it claims: refuse that first
    is_zip = zipfile.is_zipfile(path)
    try:
        if str(path).endswith(".safetensors"):  # torch.load picks its loader by that suffix, not by content
            with open(path, "rb") as fh:
                obj = torch.load(fh, map_location="cpu", weights_only=True)
        else:
            obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=is_zip)
    except Exception as exc:  # torch raises many types for a bad or unsafe pickle
        raise CheckpointError(
            f"{str(path)!r} cannot be loaded with torch.load(weights_only=True) ({reason(exc)}); "
            "re-save its state dict with safetensors."
        ) from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{str(path)!r} holds a {type(obj).__name__}, not a state dict.")
    dropped: list[str] = []
    wrapper = next((k for k in _WRAPPERS if isinstance(obj.get(k), Mapping)), None)
    if wrapper is not None:
        dropped = [str(k) for k in obj if k != wrapper]  # optimizer state, epoch, args, other weight copies
        obj = obj[wrapper]
    state: dict[str, np.ndarray] = {}
    for name, value in obj.items():
        if not isinstance(name, str):
            raise CheckpointError(f"{str(path)!r} holds a tensor under the non-string key {name!r}; it is not a state dict.")
        if isinstance(value, torch.Tensor):
            value = value.detach()
            try:
                state[name] = (value.float() if value.dtype == torch.bfloat16 else value).numpy()
            except (RuntimeError, TypeError) as exc:  # sparse, quantized or meta tensors have no NumPy form
                raise CheckpointError(f"{str(path)!r}: tensor {name!r} cannot be read as an array ({reason(exc)}).") from None
        else:
            dropped.append(name)
    return state, dropped


def _import_torch(path: str) -> Any:
    try:
        import torch
    except ImportError:
        raise CheckpointError(
            f"{path!r} is a PyTorch pickle and reading or writing one needs torch; install torch "
            "(pip install torch) or use .safetensors instead."
        ) from None
    return torch


# timm's config.json -----------------------------------------------------------------
def read_timm_config(path: Path) -> Optional[dict[str, Any]]:
    """timm's ``config.json`` beside ``path`` (a hub snapshot holds both), or ``None``."""
    cfg_path = path.parent / "config.json"
    if not cfg_path.is_file():
        return None
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None  # an unrelated or broken file next to the weights: the tensors still decide
    return cfg if isinstance(cfg, dict) and isinstance(cfg.get("architecture"), str) else None


def _config_fields(cfg: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Spec fields that timm's config states: heads, pooling, act layer, position-embedding layout."""
    args = cfg.get("model_args") if isinstance(cfg.get("model_args"), dict) else {}
    fields: dict[str, Any] = {}
    arch = _registered(cfg.get("architecture"))
    if arch is not None:  # what the architecture's name says; model_args below may refine it
        fields.update({k: getattr(arch, k) for k in UNSEEN_FIELDS if k not in ("global_pool", "img_size")})
    if isinstance(args.get("num_heads"), int):
        fields["num_heads"] = args["num_heads"]
    pool = args.get("global_pool", cfg.get("global_pool"))
    if pool == "merge":  # timm's Qwen3 ViT encoder: its projector, which the merger.* tensors show (the spec's pool stays 'avg')
        pool = None
    if pool is not None:
        if pool not in _POOLS:
            raise CheckpointError(f"{source}: timm pooling {pool!r} is not supported (only {', '.join(map(repr, _POOLS))}).")
        fields["global_pool"] = pool
    act = args.get("act_layer")
    if act is not None:
        if act not in _ACT_LAYERS:
            raise CheckpointError(f"{source}: timm act_layer {act!r} is not supported (only {', '.join(_ACT_LAYERS)}).")
        fields["gelu"] = _ACT_LAYERS[act]
    pcfg = cfg.get("pretrained_cfg") if isinstance(cfg.get("pretrained_cfg"), dict) else {}
    input_size = pcfg.get("input_size")
    size = args.get("img_size", input_size[-1] if isinstance(input_size, list) and input_size else None)
    if isinstance(size, int) and not isinstance(size, bool):
        fields["img_size"] = size  # used only where it fits the position embedding's grid
    if args.get("no_embed_class"):
        fields["pos_embed_prefix"] = False
    return fields


def _label_names(cfg: Mapping[str, Any], num_classes: int) -> Optional[list[str]]:
    pcfg = cfg.get("pretrained_cfg") if isinstance(cfg.get("pretrained_cfg"), dict) else {}
    names = cfg.get("label_names", pcfg.get("label_names"))
    if isinstance(names, dict):  # {index: name}, possibly with string keys
        try:
            names = [names[k] for k in sorted(names, key=int)]
        except (TypeError, ValueError):
            return None
    if isinstance(names, list) and len(names) == num_classes and all(isinstance(n, str) for n in names):
        return list(names)
    return None


def _registered(architecture: Any) -> Optional[ViTSpec]:
    if not isinstance(architecture, str):
        return None
    try:
        return get_spec(architecture)
    except VitzooError:  # an architecture vitzoo does not register: the tensors and hints decide
        return None


# Names -------------------------------------------------------------------------------
def _strip_prefix(name: str) -> str:
    return name[len("module.") :] if name.startswith("module.") else name


def _canonical_name(name: str) -> str:
    return _strip_prefix(name)


def _vit_layer_scale(name: str) -> str:
    return re.sub(r"^(blocks\.\d+)\.gamma_([12])$", r"\1.ls\2.gamma", name)


FORMAT = register_format(
    WeightFormat(
        name="timm",
        description="timm VisionTransformer state dict (.safetensors; .pth/.bin with torch installed)",
        detect=detect,
        read=read,
        write=write,
    )
)
