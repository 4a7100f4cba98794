"""MindSpore's official ViT checkpoints (the ViT tutorial / mindvision layout), read and written.

Files: ``vit_b_16_224.ckpt``, ``vit_b_16_384.ckpt``, ``vit_l_16_224.ckpt``, ... from
``download.mindspore.cn/vision/classification/``. Names (canonical ← official)::

    cls_token                 ← cls                       pos_embed ← pos_embedding
    patch_embed.proj.*        ← patch_embedding.conv.*
    blocks.{i}.norm1.weight   ← transformer.layers.{i}.0.cell.0.gamma   (.bias ← beta)
    blocks.{i}.attn.qkv.*     ← transformer.layers.{i}.0.cell.1.qkv.*
    blocks.{i}.attn.proj.*    ← transformer.layers.{i}.0.cell.1.out.*
    blocks.{i}.norm2.*        ← transformer.layers.{i}.1.cell.0.gamma|beta
    blocks.{i}.mlp.fc1|fc2.*  ← transformer.layers.{i}.1.cell.1.dense1|dense2.*
    norm.*                    ← norm.gamma|beta
    head.*                    ← dense.* (224 px), head.dense.* (384 px)

A ``backbone.`` prefix (mindvision's ``BaseClassifier``) and a ``head.classifier`` head
are accepted too. Semantics are MindSpore's defaults: LayerNorm eps 1e-7, tanh GELU,
class-token pooling. The tensors do not show the head count: it comes from the
``variant`` hint, else the registered variants of the same sizes when they agree; else
the read is refused.
Training state saved beside the weights (``moment1.*``, ``moments.*``, ``adam_m.*``,
``learning_rate``, ``global_step``, ``beta1_power``, ...) is listed in
``Checkpoint.dropped``, never taken as weights.

Example:
    >>> from vitzoo import weights
    >>> ckpt = weights.read("vit_b_16_224.ckpt")              # doctest: +SKIP
    >>> ckpt.spec.norm_eps, ckpt.spec.gelu, ckpt.dropped[:2]  # doctest: +SKIP
    (1e-07, 'tanh', [])
    >>> weights.write(ckpt, "copy.ckpt", format="mindspore")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional

import numpy as np

from vitzoo.errors import CheckpointError, SpecError
from vitzoo.spec import ViTSpec
from vitzoo.weights import ms_checkpoint
from vitzoo.weights.base import Checkpoint, WeightFormat, as_float32, register_format
from vitzoo.weights.infer import Hint, infer_spec

# What a MindSpore model computes, whatever the tensors say.
MINDSPORE_SEMANTICS = {"norm_eps": 1e-7, "gelu": "tanh"}
SPEC_ENTRY = "vitzoo_spec"  # optional string entry: the full spec as JSON
META_ENTRY = "vitzoo_meta"  # optional string entry: provenance as JSON (source, class names, preprocessing)
PROVENANCE_KEYS = ("source", "class_names", "pretrained_cfg", "name", "vitzoo_version")

# Bookkeeping scalars MindSpore optimizers, loss scalers and ModelCheckpoint save.
_TRAINING_NAMES = frozenset({
    "learning_rate", "global_step", "beta1_power", "beta2_power", "momentum", "weight_decay",
    "scale_sense", "loss_scale", "current_iterator_step", "last_overflow_iterator_step",
    "epoch_num", "step_num", "cur_epoch_num", "cur_step_num",
})
_HEADS = ("dense", "head.dense", "head.classifier")

# (canonical, official) name pairs; {i} is the block index, {p} weight|bias.
_PAIRS = [
    ("cls_token", "cls"),
    ("pos_embed", "pos_embedding"),
    ("patch_embed.proj.{p}", "patch_embedding.conv.{p}"),
    ("blocks.{i}.norm1.weight", "transformer.layers.{i}.0.cell.0.gamma"),
    ("blocks.{i}.norm1.bias", "transformer.layers.{i}.0.cell.0.beta"),
    ("blocks.{i}.attn.qkv.{p}", "transformer.layers.{i}.0.cell.1.qkv.{p}"),
    ("blocks.{i}.attn.proj.{p}", "transformer.layers.{i}.0.cell.1.out.{p}"),
    ("blocks.{i}.norm2.weight", "transformer.layers.{i}.1.cell.0.gamma"),
    ("blocks.{i}.norm2.bias", "transformer.layers.{i}.1.cell.0.beta"),
    ("blocks.{i}.mlp.fc1.{p}", "transformer.layers.{i}.1.cell.1.dense1.{p}"),
    ("blocks.{i}.mlp.fc2.{p}", "transformer.layers.{i}.1.cell.1.dense2.{p}"),
    ("norm.weight", "norm.gamma"),
    ("norm.bias", "norm.beta"),
]


def _pattern(template: str) -> "re.Pattern[str]":
    regex = re.escape(template).replace(r"\{i\}", r"(?P<i>\d+)").replace(r"\{p\}", r"(?P<p>weight|bias)")
    return re.compile(regex + r"\Z")


_TO_CANONICAL = [(_pattern(official), canonical) for canonical, official in _PAIRS]
_TO_OFFICIAL = [(_pattern(canonical), official) for canonical, official in _PAIRS]


def _fill(template: str, match: "re.Match[str]") -> str:
    groups = match.groupdict()
    return template.replace("{i}", groups.get("i") or "").replace("{p}", groups.get("p") or "")


def official_to_canonical(name: str, prefix: str = "", head: str = "dense") -> Optional[str]:
    """The canonical name of an official tensor name, or ``None`` if it is not a ViT weight.

    Example:
        >>> official_to_canonical("transformer.layers.3.1.cell.0.gamma")
        'blocks.3.norm2.weight'
        >>> official_to_canonical("moment1.cls") is None
        True
    """
    for suffix in ("weight", "bias"):
        if name == f"{head}.{suffix}":
            return f"head.{suffix}"
    if not name.startswith(prefix):
        return None
    rest = name[len(prefix):]
    for pattern, canonical in _TO_CANONICAL:
        if match := pattern.match(rest):
            return _fill(canonical, match)
    return None


def canonical_to_official(name: str, prefix: str = "", head: str = "dense") -> str:
    """The official tensor name of a canonical name (a :class:`CheckpointError` if the layout lacks it).

    Example:
        >>> canonical_to_official("blocks.0.attn.proj.bias"), canonical_to_official("head.weight", head="head.dense")
        ('transformer.layers.0.0.cell.1.out.bias', 'head.dense.weight')
    """
    if name in ("head.weight", "head.bias"):
        return f"{head}.{name.rsplit('.', 1)[1]}"
    for pattern, official in _TO_OFFICIAL:
        if match := pattern.match(name):
            return prefix + _fill(official, match)
    raise CheckpointError(f"The official MindSpore ViT layout has no place for tensor {name!r}; write the mindcv or vitzoo format instead.")


# Shared by the MindSpore-side formats ----------------------------------------------------
def split_entries(
    ck: ms_checkpoint.CkptFile, to_canonical: Callable[[str], Optional[str]], source: str, layout: str
) -> tuple[dict[str, np.ndarray], list[str], dict[str, object]]:
    """Sort a ``.ckpt``'s entries into canonical weights, dropped training state, and spec fields.

    Raises :class:`CheckpointError` for entries that are neither (another network's
    tensors) or for a file without any ViT weight.
    """
    state: dict[str, np.ndarray] = {}
    weight_tags: set[str] = set()
    for tag, array in ck.tensors.items():
        canonical = to_canonical(tag)
        if canonical is not None:
            if canonical in state:
                raise CheckpointError(f"{source} holds two tensors for {canonical!r}; it mixes layouts.")
            state[canonical] = as_float32(array, tag, source)
            weight_tags.add(tag)
    if "patch_embed.proj.weight" not in state or "pos_embed" not in state:
        raise CheckpointError(
            f"{source} holds no ViT weights in the {layout} layout (no patch or position embedding); "
            "it is probably a checkpoint of another network or layout."
        )
    dropped, foreign = [], []
    for tag, array in ck.tensors.items():
        if tag in weight_tags:
            continue
        # optimizer slots and EMA copies are weight names with a prefix (moment1.<tag>, adam_m.<tag>, ...);
        # scalars (step counters, loss scales, ...) are never ViT weights
        if tag in _TRAINING_NAMES or array.size <= 1 or any(tag.endswith("." + w) for w in weight_tags):
            dropped.append(tag)
        else:
            foreign.append(tag)
    if foreign:
        shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more" if len(foreign) > 4 else "")
        raise CheckpointError(f"{source} holds tensors that are not part of the {layout} ViT layout ({shown}); it is probably a checkpoint of another network.")
    config: dict[str, object] = {}
    if SPEC_ENTRY in ck.strings:
        try:
            config = dict(ViTSpec.from_json(ck.strings[SPEC_ENTRY]).to_dict())
        except SpecError as exc:
            raise CheckpointError(f"{source}: its {SPEC_ENTRY!r} entry is not a valid spec ({exc})") from None
    dropped += [s for s in ck.strings if s not in (SPEC_ENTRY, META_ENTRY)] + ck.skipped
    return state, dropped, config


def provenance_entry(meta: Mapping[str, object]) -> str:
    """The ``vitzoo_meta`` string entry for ``meta``: its provenance keys as JSON (read back by :func:`provenance`)."""
    return json.dumps({k: meta[k] for k in PROVENANCE_KEYS if k in meta}, sort_keys=True, default=str)


def provenance(ck: ms_checkpoint.CkptFile) -> dict[str, object]:
    """The provenance a ``vitzoo_meta`` entry records (empty without one, or when it is not a JSON object)."""
    try:
        meta = json.loads(ck.strings.get(META_ENTRY, "{}"))
    except ValueError:
        return {}
    return {k: meta[k] for k in PROVENANCE_KEYS if isinstance(meta, dict) and k in meta}


def build_checkpoint(
    state: dict[str, np.ndarray], dropped: list[str], config: Mapping[str, object], variant: Hint,
    path: Path, source_format: str, extra_meta: Optional[Mapping[str, object]] = None,
) -> Checkpoint:
    """A validated :class:`Checkpoint` with its spec inferred (``config`` wins over the tensors' guesses)."""
    source = repr(str(path))
    q_norm = state.get("blocks.0.attn.q_norm.weight")
    if q_norm is not None and q_norm.ndim == 1 and q_norm.shape[0] and "patch_embed.proj.weight" in state:
        # q/k norms span one head, so here the tensors do show the head count
        config = {"num_heads": state["patch_embed.proj.weight"].shape[0] // q_norm.shape[0], **config}
    try:
        spec = infer_spec(state, source, config=config, hint=variant)
    except SpecError as exc:  # e.g. a hint whose head count does not divide the width
        raise CheckpointError(f"{source} does not make a valid ViT: {str(exc).rstrip('.')}.") from None
    meta = {"source_format": source_format, "source": str(path), **(extra_meta or {})}
    return Checkpoint(state=state, spec=spec, meta=meta, dropped=dropped).validate(source)


def ordered(names: Iterable[str], first: Iterable[str]) -> list[str]:
    """``names`` with ``first`` moved to the front: MindSpore saves a Cell's own Parameters before its sub-cells'."""
    names = list(names)
    head = [n for n in first if n in names]
    return head + [n for n in names if n not in head]


# The official layout ---------------------------------------------------------------------
def _layout_of(tags: list[str]) -> Optional[tuple[str, str]]:
    """``(prefix, head)`` of an official-layout tag list, or ``None`` if it is not one."""
    tagset = set(tags)
    for prefix in ("", "backbone."):
        if {prefix + "pos_embedding", prefix + "patch_embedding.conv.weight"} <= tagset and any(
            t.startswith(prefix + "transformer.layers.") for t in tags
        ):
            head = next((h for h in _HEADS if h + ".weight" in tagset), "dense")
            return prefix, head
    return None


def detect(path: Path) -> bool:
    tags = ms_checkpoint.list_tags(path)
    return tags is not None and _layout_of(tags) is not None


def read(path: "str | os.PathLike[str]", variant: Hint = None) -> Checkpoint:
    """Read an official MindSpore ViT ``.ckpt`` (MindSpore itself is not needed)."""
    path = Path(path)
    ck = ms_checkpoint.read_ckpt(path)
    source = repr(str(path))
    prefix, head = _layout_of(list(ck.tensors)) or ("", "dense")
    state, dropped, config = split_entries(ck, lambda t: official_to_canonical(t, prefix, head), source, "official MindSpore")
    config = {**MINDSPORE_SEMANTICS, "global_pool": "token", "pos_embed_prefix": True, **config}
    meta = {"ms_head": head, "ms_prefix": prefix}
    return build_checkpoint(state, dropped, config, variant, path, "mindspore", meta)


_UNSUPPORTED = {
    "reg_tokens": "register tokens", "qk_norm": "q/k norms", "layer_scale": "layer scale", "fc_norm": "fc_norm",
    "pre_norm": "a pre-norm", "pre_logits_dim": "a pre-logits layer", "dist_token": "a distillation token",
}


def write(ckpt: Checkpoint, path: "str | os.PathLike[str]") -> None:
    """Write ``ckpt`` in the official layout, in the tutorial model's parameter order (atomically).

    The head is ``dense.*`` unless the checkpoint came with another head name
    (``meta["ms_head"]``) or is a 384 px model (``head.dense.*``, as the official
    384 px files). The file holds the tensors only: MindSpore's model applies its
    own eps 1e-7 and tanh GELU to them, whatever ``ckpt.spec`` says.
    """
    ckpt.validate()
    spec = ckpt.spec
    bad = [text for field, text in _UNSUPPORTED.items() if getattr(spec, field)]
    if not (spec.class_token and spec.pos_embed_prefix and spec.global_pool == "token"):
        bad.append("pooling other than a class token with a position embedding that covers it")
    if spec.mlp_type != "mlp":
        bad.append("a SwiGLU MLP")
    if not (spec.qkv_bias and spec.patch_bias):
        bad.append("bias-free qkv or patch projections")
    if bad:
        raise CheckpointError(f"The official MindSpore ViT layout cannot hold {', '.join(bad)}; write the mindcv or vitzoo format instead.")
    head = str(ckpt.meta.get("ms_head") or ("head.dense" if spec.img_size == 384 else "dense"))
    prefix = str(ckpt.meta.get("ms_prefix") or "")
    if head not in _HEADS or prefix not in ("", "backbone."):
        raise CheckpointError(f"Unknown official-layout head {head!r} or prefix {prefix!r} in the checkpoint's metadata.")
    names = ordered(ckpt.state, ["cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias", "norm.weight", "norm.bias"])
    entries = {canonical_to_official(n, prefix, head): ckpt.state[n] for n in names}
    ms_checkpoint.write_ckpt(path, entries)


FORMAT = register_format(
    WeightFormat(
        name="mindspore",
        description="MindSpore's official ViT .ckpt (tutorial / mindvision layout: cls, pos_embedding, transformer.layers...)",
        detect=detect,
        read=read,
        write=write,
    )
)

__all__ = ["FORMAT", "detect", "read", "write", "official_to_canonical", "canonical_to_official", "MINDSPORE_SEMANTICS", "SPEC_ENTRY", "META_ENTRY"]
