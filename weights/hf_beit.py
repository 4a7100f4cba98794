"""transformers BEiT and data2vec-vision (``BeitModel``, ``Data2VecVisionModel``, their ``…ForImageClassification``).

The layout is the ViT one (``encoder.layer.{i}.attention.attention.query|key|value``, ``layernorm_before``,
``intermediate.dense``, …) with BEiT's parts: a relative position bias table in every layer
(``attention.attention.relative_position_bias.relative_position_bias_table``, config
``use_relative_position_bias``), layer scale ``lambda_1``/``lambda_2`` (``layer_scale_init_value > 0``),
q and v biases but none on k, and an optional absolute position embedding
(``use_absolute_position_embeddings``). ``pooler_output`` is the patch tokens' mean through
``pooler.layernorm`` (``use_mean_pooling``, the default), else the class token after ``layernorm``.
vitzoo's names are timm's ``beit.py`` names (``attn.qkv`` with ``q_bias``/``v_bias``, ``gamma_1``/``gamma_2``,
``attn.relative_position_bias_table``, ``fc_norm``), so a folder read here and timm's ``beit_*`` file of the
same weights are the same canonical state. For another image size (``vitzoo.create(..., img_size=S)``) transformers
interpolates the tables bilinearly, as an image, where timm spreads them geometrically: the spec says which
(``rel_pos_resize="bilinear"`` from here), so the model at that size is transformers'.

One table shared by all layers (``use_shared_relative_position_bias``, BEiT's self-supervised pre-training)
is refused, as for timm's files. Both the on-disk names and transformers 5's in-memory ones
(``layers.{i}.attention.q_proj``, ``layers.{i}.relative_position_bias.…``) are read.

Example:
    >>> from vitzoo import weights
    >>> ckpt = weights.read("beit-base-patch16-224/")  # doctest: +SKIP
    >>> ckpt.spec.rel_pos_bias, ckpt.spec.global_pool, ckpt.spec.fc_norm  # doctest: +SKIP
    ('block', 'avg', True)
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

from vitzoo import rel_pos
from vitzoo.errors import CheckpointError
from vitzoo.spec import ViTSpec
from vitzoo.weights.base import Checkpoint, as_float32
from vitzoo.weights.hf_format import HFFamily, Mapped, Renamer, class_labels, encoder_config, fuse_qkv, register_family, split_rows, unwritable

_TOP = {
    "embeddings.cls_token": "cls_token",
    "embeddings.position_embeddings": "pos_embed",
    "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
    "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
    "layernorm.weight": "norm.weight",
    "layernorm.bias": "norm.bias",
    "pooler.layernorm.weight": "fc_norm.weight",
    "pooler.layernorm.bias": "fc_norm.bias",
}
_SHARED = ("encoder.relative_position_bias.relative_position_bias_table", "shared_position_bias.relative_position_bias_table")
_LAYER = re.compile(r"^(?:encoder\.layer|layers)\.(\d{1,6})\.(.+)$")
# a layer's sub-name (on disk or transformers 5 in memory) -> canonical part; "q"/"k"/"v" are fused
_PARTS = {
    "attention.attention.query": "q", "attention.q_proj": "q",
    "attention.attention.key": "k", "attention.k_proj": "k",
    "attention.attention.value": "v", "attention.v_proj": "v",
    "attention.output.dense": "attn.proj", "attention.o_proj": "attn.proj",
    "layernorm_before": "norm1", "layernorm_after": "norm2",
    "intermediate.dense": "mlp.fc1", "mlp.fc1": "mlp.fc1",
    "output.dense": "mlp.fc2", "mlp.fc2": "mlp.fc2",
}  # fmt: skip
_TABLES = ("attention.attention.relative_position_bias.relative_position_bias_table", "relative_position_bias.relative_position_bias_table")
_DISK = {"norm1": "layernorm_before", "norm2": "layernorm_after", "attn.proj": "attention.output.dense",
         "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense"}
_PREFIXES = ("beit.", "data2vec_vision.")  # the ForImageClassification models hold the backbone under one of these


def _strip(name: str) -> str:
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def to_canonical(raw: Mapping[str, np.ndarray], cfg: Mapping[str, Any], source: str) -> Mapped:
    """BEiT names to canonical (timm beit.py) ones; the config's switches are checked against the tensors."""
    out = Renamer(source)
    qkv: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for name, value in raw.items():
        short = _strip(name)
        if short in _SHARED:
            raise CheckpointError(f"{source} is a BEiT with one relative position table shared by all layers "
                                  "(use_shared_relative_position_bias, BEiT's pre-training), which vitzoo does not build; "
                                  "use a fine-tuned BEiT (a table in every layer).")
        if short.endswith("relative_position_index") or short == "embeddings.mask_token":
            out.dropped.append(name)  # a buffer transformers rebuilds; the mask token serves masked pre-training only
        elif name in ("classifier.weight", "classifier.bias"):
            out.put("head." + name.split(".")[1], name, value)
        elif short in _TOP:
            out.put(_TOP[short], name, value)
        elif (m := _LAYER.match(short)) is None:
            out.unknown.append(name)
        else:
            i, rest = m.groups()
            part, _, kind = rest.rpartition(".")
            if rest in ("lambda_1", "lambda_2"):
                out.put(f"blocks.{i}.gamma_{rest[-1]}", name, value)
            elif rest in _TABLES:
                out.put(f"blocks.{i}.attn.relative_position_bias_table", name, value)
            elif kind in ("weight", "bias") and _PARTS.get(part) in ("q", "k", "v"):
                out.claim(f"blocks.{i}.{_PARTS[part]}.{kind}", name)
                qkv.setdefault((i, kind), {})[_PARTS[part]] = value
            elif kind in ("weight", "bias") and part in _PARTS:
                out.put(f"blocks.{i}.{_PARTS[part]}.{kind}", name, value)
            else:
                out.unknown.append(name)
    state = out.finish("BeitModel")
    for (i, kind), parts in qkv.items():
        a = f"blocks.{i}.attn."
        if kind == "weight":
            state[a + "qkv.weight"] = fuse_qkv(parts, f"layer {i}", kind, source)
        elif sorted(parts) == ["q", "v"]:  # BEiT's key projection has no bias
            state[a + "q_bias"] = as_float32(parts["q"], f"layer {i} query bias", source)
            state[a + "v_bias"] = as_float32(parts["v"], f"layer {i} value bias", source)
        else:
            raise CheckpointError(f"{source}: layer {i} has a {'/'.join(sorted(parts))} projection bias; BEiT gives query and value one each, key none.")
    _check_switches(state, cfg, source)
    config: dict[str, Any] = {"global_pool": "avg" if cfg.get("use_mean_pooling", True) else "token", "block": "eva",
                              "rope": "none", "pool_heads": 0, "pool_include_prefix": False}
    if "blocks.0.attn.relative_position_bias_table" in state:
        config["rel_pos_resize"] = "bilinear"  # at another image size transformers interpolates the tables as images
    size = cfg.get("image_size", 224)
    if not isinstance(size, int) or isinstance(size, bool):
        raise CheckpointError(f"{source}: config.json's image_size {size!r} is not one integer; vitzoo runs BEiT on square images.")
    proj = state.get("patch_embed.proj.weight")  # the conv's own patch size (a config.json that disagrees is refused later)
    _check_grid(state, size, int(proj.shape[-1]) if proj is not None and proj.ndim == 4 else cfg.get("patch_size", 16), source)
    config["img_size"] = size
    return Mapped(state, out.dropped, [], config)


def _check_grid(state: Mapping[str, np.ndarray], size: int, patch: Any, source: str) -> None:
    """The tables and the position embedding are made for config.json's image_size: another grid is a damaged folder."""
    if not isinstance(patch, int) or isinstance(patch, bool) or patch <= 0 or size < patch:
        raise CheckpointError(f"{source}: config.json's image_size {size!r} and patch_size {patch!r} give no patch grid.")
    grid = size // patch
    table, pos = state.get("blocks.0.attn.relative_position_bias_table"), state.get("pos_embed")
    if table is not None and table.shape[0] != rel_pos.table_rows(grid):
        raise CheckpointError(f"{source}: config.json's image_size {size} gives a {grid}x{grid} patch grid, but the relative position "
                              f"tables have {table.shape[0]} rows, not {rel_pos.table_rows(grid)}; the folder is damaged.")
    if pos is not None and pos.ndim == 3 and pos.shape[1] != grid * grid + 1:
        raise CheckpointError(f"{source}: config.json's image_size {size} gives {grid * grid} patches, but position_embeddings has "
                              f"{pos.shape[1]} rows, not {grid * grid + 1}; the folder is damaged.")


def _check_switches(state: Mapping[str, np.ndarray], cfg: Mapping[str, Any], source: str) -> None:
    """Each of the config's BEiT switches must describe the tensors (a disagreement is a damaged folder, not a guess)."""
    if "blocks.0.mlp.fc1.weight" not in state:
        return  # the spec inference names what is missing
    checks = (  # (field, transformers' default, what the tensors show, what that is)
        ("use_relative_position_bias", False, "blocks.0.attn.relative_position_bias_table" in state, "relative position tables"),
        ("use_absolute_position_embeddings", False, "pos_embed" in state, "position_embeddings"),
        ("use_mean_pooling", True, "norm.weight" not in state, "no final layernorm (a mean pool)"),
    )
    for key, default, found, what in checks:
        said = cfg.get(key, default)
        if not isinstance(said, bool):
            raise CheckpointError(f"{source}: config.json's {key} {said!r} is not true or false.")
        if said != found:
            shows = what if found else what.replace("no final layernorm (a mean pool)", "a final layernorm (a class-token pool)")
            raise CheckpointError(f"{source}: config.json says {key}={str(said).lower()} but the weights "
                                  f"{'have' if found or key == 'use_mean_pooling' else 'lack'} {shows}; the folder is damaged.")
    scale = cfg.get("layer_scale_init_value", 0.1)
    if not isinstance(scale, (int, float)) or isinstance(scale, bool):
        raise CheckpointError(f"{source}: config.json's layer_scale_init_value {scale!r} is not a number.")
    if (scale > 0) != ("blocks.0.gamma_1" in state):
        raise CheckpointError(f"{source}: config.json's layer_scale_init_value {scale!r} says the layers "
                              f"{'have' if scale > 0 else 'lack'} lambda_1/lambda_2, but the weights disagree; the folder is damaged.")
    if cfg.get("use_shared_relative_position_bias", False) is not False:
        raise CheckpointError(f"{source}: config.json says use_shared_relative_position_bias, but the weights hold no shared table; the folder is damaged.")


def claims(names: "list[str]") -> bool:
    """BEiT's tensors: relative position tables or ``lambda_1``, or else a query bias without a key bias (ViT has both)."""
    short = {_strip(n) for n in names}
    if any(".relative_position_bias." in n or n.endswith(".lambda_1") for n in short):
        return True
    return bool({"encoder.layer.0.attention.attention.query.bias", "layers.0.attention.q_proj.bias"} & short) and not (
        {"encoder.layer.0.attention.attention.key.bias", "layers.0.attention.k_proj.bias"} & short)


def owns(spec: ViTSpec) -> bool:
    return spec.rel_pos_bias == "block" or (spec.block == "eva" and spec.rope == "none" and spec.qkv_bias and not spec.k_bias
                                            and spec.norm_type == "layer" and spec.mlp_type == "mlp")


def from_canonical(ckpt: Checkpoint) -> "tuple[dict[str, np.ndarray], dict[str, Any]]":
    """Tensors and config.json of a ``BeitModel`` (``BeitForImageClassification`` with a classifier, ``Data2VecVisionModel``
    for a mean with no norm), on-disk names."""
    spec, state = ckpt.spec, ckpt.state
    mean = spec.global_pool == "avg"
    unwritable(
        [
            (not spec.class_token or spec.dist_token or spec.reg_tokens, "one class token and no other prefix token"),
            (spec.global_pool == "map" or (mean and spec.final_norm and not spec.fc_norm) or (not mean and (spec.fc_norm or not spec.final_norm)),
             "the patch tokens' mean (through a norm, or through none as data2vec-vision's), or the class token after the final norm"),
            (spec.abs_pos_embed and not spec.pos_embed_prefix, "a position embedding that covers the class token"),
            (not spec.qkv_bias or spec.k_bias or not spec.qkv_fused or spec.qk_norm or spec.attn_norm or spec.mlp_norm,
             "query and value biases (none on the key) and no inner norms"),
            (spec.mlp_type != "mlp" or spec.norm_type != "layer" or spec.patch_norm or not spec.proj_bias or not spec.mlp_bias
             or not spec.patch_bias or spec.pre_norm or spec.pre_logits_dim, "LayerNorms and a plain, biased MLP"),
            (spec.rope != "none", "no rotary positions"),
        ],
        "BeitModel",
    )
    classify = spec.num_classes > 0
    # without any norm after the blocks: data2vec-vision's backbone, which transformers builds without the pooler's norm
    bare = mean and not spec.final_norm
    if bare and classify:
        raise CheckpointError("transformers' BeitForImageClassification needs a norm on the patch tokens' mean; these weights have "
                              "none, so they cannot be written as a Hugging Face BEiT classifier. Convert them to vitzoo or timm instead.")
    prefix = "beit." if classify else ""
    inverse_top = {v: k for k, v in _TOP.items()}
    tensors: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if name in ("head.weight", "head.bias"):
            tensors["classifier." + name[5:]] = value
            continue
        if name in inverse_top:
            tensors[prefix + inverse_top[name]] = value
            continue
        i, rest = re.match(r"^blocks\.(\d+)\.(.+)$", name).groups()
        base = f"{prefix}encoder.layer.{i}."
        if rest in ("gamma_1", "gamma_2"):
            tensors[f"{base}lambda_{rest[-1]}"] = value
        elif rest == "attn.relative_position_bias_table":
            tensors[base + _TABLES[0]] = value
        elif rest in ("attn.q_bias", "attn.v_bias"):
            tensors[f"{base}attention.attention.{'query' if rest[5] == 'q' else 'value'}.bias"] = value
        elif rest == "attn.qkv.weight":
            for which, rows in zip(("query", "key", "value"), split_rows(value, 3)):
                tensors[f"{base}attention.attention.{which}.weight"] = rows
        else:
            part, kind = rest.rsplit(".", 1)
            tensors[f"{base}{_DISK[part]}.{kind}"] = value
    cfg: dict[str, Any] = {
        "architectures": ["Data2VecVisionModel" if bare else "BeitForImageClassification" if classify else "BeitModel"],
        "model_type": "data2vec-vision" if bare else "beit",
        **encoder_config(spec),
        "use_absolute_position_embeddings": spec.abs_pos_embed,
        "use_relative_position_bias": spec.rel_pos_bias == "block",
        "use_shared_relative_position_bias": False,
        "use_mean_pooling": mean,
        "use_mask_token": False,
        "layer_scale_init_value": 0.1 if spec.layer_scale else 0.0,
        "drop_path_rate": 0.0, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
    }
    if classify:
        cfg.update(class_labels(ckpt))
    return tensors, cfg


FAMILY = register_family(
    HFFamily(
        name="beit",
        model_types=("beit", "data2vec-vision"),
        marker=".relative_position_bias.relative_position_bias_table",  # transformers' name; timm's has no ".relative_position_bias."
        defaults={"num_heads": 12, "norm_eps": 1e-12, "gelu": "exact"},  # transformers' BeitConfig
        to_canonical=to_canonical,
        owns=owns,
        from_canonical=from_canonical,
        claims=claims,
    )
)
