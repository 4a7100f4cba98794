"""MindCV's ViT ``.ckpt`` layout, and vitzoo's own MindSpore ``.ckpt`` (canonical names).

MindCV (``mindcv/models/vit.py``, ``VisionTransformer``; files such as
``vit_b_32_224-4a1c9d8e.ckpt``) uses timm's names except that its LayerNorms
(MindSpore ``nn.LayerNorm``) hold ``gamma``/``beta`` instead of ``weight``/``bias``::

    blocks.{i}.norm1.weight ← blocks.{i}.norm1.gamma    (also norm2, attn.q_norm, attn.k_norm,
    blocks.{i}.norm1.bias   ← blocks.{i}.norm1.beta      norm, fc_norm, norm_pre)

Everything else keeps its name: ``cls_token``, ``pos_embed`` (without the class
token when MindCV's ``no_embed_class`` is set), ``patch_embed.proj.*``,
``blocks.{i}.attn.qkv|proj.*``, ``blocks.{i}.ls1|ls2.gamma`` (layer scale, not a norm),
``blocks.{i}.mlp.fc1|fc2.*``, ``head.*``. Semantics: eps 1e-7 and tanh GELU
(``nn.LayerNorm``/``nn.GELU`` defaults); the head count, and the pooling of a model
with a class token, come from the ``variant`` hint or the registered variants of these
sizes. MindCV has no register tokens or pre-logits.

The ``vitzoo_ckpt`` format is a ``.ckpt`` holding canonical names exactly (what a
vitzoo MindSpore model saves) plus a ``vitzoo_spec`` string entry with the spec; the
names tell the three MindSpore layouts apart: ``cls``/``transformer.layers`` (official),
``norm1.gamma`` (MindCV), ``norm1.weight`` (vitzoo).

Example:
    >>> from vitzoo import weights
    >>> ckpt = weights.read("vit_b_32_224-4a1c9d8e.ckpt")   # doctest: +SKIP
    >>> weights.write(ckpt, "vit_b_32.ckpt", format="mindcv")   # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

from vitzoo.canonical import expected_shapes
from vitzoo.errors import CheckpointError
from vitzoo.weights import ms_checkpoint
from vitzoo.weights.base import Checkpoint, WeightFormat, register_format
from vitzoo.weights.mindspore_format import (
    META_ENTRY, MINDSPORE_SEMANTICS, SPEC_ENTRY, build_checkpoint, ordered, provenance, provenance_entry, split_entries,
)
from vitzoo.weights.infer import Hint

_NORM = r"(?:blocks\.\d+\.(?:norm1|norm2|attn\.q_norm|attn\.k_norm)|norm|fc_norm|norm_pre)"
_OTHER = (
    r"cls_token|pos_embed|patch_embed\.proj\.(?:weight|bias)|blocks\.\d+\.attn\.(?:qkv|proj)\.(?:weight|bias)"
    r"|blocks\.\d+\.mlp\.fc[12]\.(?:weight|bias)|blocks\.\d+\.ls[12]\.gamma|head\.(?:weight|bias)"
)
_MINDCV_NORM = re.compile(rf"(?P<n>{_NORM})\.(?P<p>gamma|beta)\Z")
_CANONICAL_NORM = re.compile(rf"(?P<n>{_NORM})\.(?P<p>weight|bias)\Z")
_MINDCV_OTHER = re.compile(rf"(?:{_OTHER})\Z")
_VITZOO_OTHER = re.compile(rf"(?:{_OTHER}|reg_token|pre_logits\.fc\.(?:weight|bias))\Z")
_TO_CANONICAL = {"gamma": "weight", "beta": "bias"}
_TO_MINDCV = {"weight": "gamma", "bias": "beta"}


def mindcv_to_canonical(name: str) -> Optional[str]:
    """The canonical name of a MindCV ViT tensor name, or ``None`` if it is not a ViT weight.

    Example:
        >>> mindcv_to_canonical("blocks.2.attn.q_norm.beta"), mindcv_to_canonical("blocks.2.ls1.gamma")
        ('blocks.2.attn.q_norm.bias', 'blocks.2.ls1.gamma')
    """
    if match := _MINDCV_NORM.match(name):
        return f"{match['n']}.{_TO_CANONICAL[match['p']]}"
    return name if _MINDCV_OTHER.match(name) else None


def canonical_to_mindcv(name: str) -> str:
    """The MindCV name of a canonical tensor name.

    Example:
        >>> canonical_to_mindcv("fc_norm.weight")
        'fc_norm.gamma'
    """
    if match := _CANONICAL_NORM.match(name):
        return f"{match['n']}.{_TO_MINDCV[match['p']]}"
    return name


def _canonical_name(name: str) -> Optional[str]:
    return name if _CANONICAL_NORM.match(name) or _VITZOO_OTHER.match(name) else None


def _has_core(tags: list[str]) -> bool:
    return {"pos_embed", "patch_embed.proj.weight"} <= set(tags)


# MindCV ---------------------------------------------------------------------------
def detect(path: Path) -> bool:
    tags = ms_checkpoint.list_tags(path)
    return tags is not None and _has_core(tags) and any(re.fullmatch(r"blocks\.\d+\.norm1\.gamma", t) for t in tags)


def read(path: "str | os.PathLike[str]", variant: Hint = None) -> Checkpoint:
    """Read a MindCV ViT ``.ckpt`` (MindSpore itself is not needed)."""
    path = Path(path)
    ck = ms_checkpoint.read_ckpt(path)
    state, dropped, config = split_entries(ck, mindcv_to_canonical, repr(str(path)), "MindCV")
    # nn.LayerNorm and nn.GELU fix eps and GELU form; pooling with a class token is the model's choice (the hint or registry decides)
    return build_checkpoint(state, dropped, {**MINDSPORE_SEMANTICS, **config}, variant, path, "mindcv")


def write(ckpt: Checkpoint, path: "str | os.PathLike[str]") -> None:
    """Write ``ckpt`` with MindCV's names, in ``VisionTransformer``'s parameter order (atomically).

    The file holds the tensors only: MindCV applies eps 1e-7 and tanh GELU to them.
    """
    ckpt.validate()
    spec = ckpt.spec
    bad = [text for ok, text in (
        (not spec.reg_tokens, "register tokens"),
        (not spec.pre_logits_dim, "a pre-logits layer"),
        (not (spec.pre_norm and spec.patch_bias), "a patch bias together with a pre-norm"),
        (not spec.dist_token, "a distillation token"),
        (spec.mlp_type == "mlp", "a SwiGLU MLP"),
        (spec.global_pool != "map", "an attention-pool head"),
        (spec.block != "xcit", "XCiT's convolutional stem and cross-covariance blocks"),
    ) if not ok]
    if bad:
        raise CheckpointError(f"MindCV's ViT cannot hold {', '.join(bad)}; write the vitzoo format instead.")
    names = ordered(expected_shapes(spec), ["cls_token", "pos_embed"])
    ms_checkpoint.write_ckpt(path, {canonical_to_mindcv(n): ckpt.state[n] for n in names})


# vitzoo's own .ckpt ----------------------------------------------------------------------
def detect_vitzoo(path: Path) -> bool:
    tags = ms_checkpoint.list_tags(path)
    return tags is not None and _has_core(tags) and ("blocks.0.norm1.weight" in tags or SPEC_ENTRY in tags)


def read_vitzoo(path: "str | os.PathLike[str]", variant: Hint = None) -> Checkpoint:
    """Read a ``.ckpt`` with canonical names; its ``vitzoo_spec`` entry, when present, gives the spec (``vitzoo_meta`` the provenance)."""
    path = Path(path)
    ck = ms_checkpoint.read_ckpt(path)
    state, dropped, config = split_entries(ck, _canonical_name, repr(str(path)), "vitzoo")
    recorded = provenance(ck)
    if "source" in recorded:  # where the trained weights started from; this file is where they are now
        recorded["trained_from"] = recorded.pop("source")
    return build_checkpoint(state, dropped, config, variant, path, "vitzoo_ckpt", recorded)


def write_vitzoo(ckpt: Checkpoint, path: "str | os.PathLike[str]") -> None:
    """Write canonical names and the spec (``vitzoo_spec`` string entry) to a ``.ckpt`` (atomically)."""
    ckpt.validate()
    if ckpt.spec.block == "xcit":  # its .ckpt reader knows the ViT stem's names only: a file it could not read back
        raise CheckpointError("vitzoo's .ckpt layout does not hold XCiT weights yet; write vitzoo's .safetensors (format 'vitzoo') or timm's instead.")
    names = ordered(expected_shapes(ckpt.spec), ["cls_token", "reg_token", "pos_embed"])
    entries: dict[str, ms_checkpoint.Entry] = {n: ckpt.state[n] for n in names}
    entries[SPEC_ENTRY] = ckpt.spec.to_json()
    entries[META_ENTRY] = provenance_entry(ckpt.meta)
    ms_checkpoint.write_ckpt(path, entries)


FORMAT = register_format(
    WeightFormat(
        name="mindcv",
        description="MindCV ViT .ckpt (timm-like names, LayerNorm gamma/beta)",
        detect=detect,
        read=read,
        write=write,
    )
)
VITZOO_CKPT_FORMAT = register_format(
    WeightFormat(
        name="vitzoo_ckpt",
        description="MindSpore .ckpt with vitzoo's canonical names and a vitzoo_spec entry",
        detect=detect_vitzoo,
        read=read_vitzoo,
        write=write_vitzoo,
    )
)
