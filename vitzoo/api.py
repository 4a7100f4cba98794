"""The public entry points: create a model, rebuild one from a file, save one."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Optional, Union

from vitzoo.errors import CheckpointError, VitzooError
from vitzoo.spec import ViTSpec
from vitzoo.variants import get_spec, split_name

Pretrained = Union[bool, str, "os.PathLike[str]", None]

_log = logging.getLogger("vitzoo")
# Names MindSpore's and torch's optimizers and loss scalers give their state.
_OPTIMIZER_STATE = frozenset({
    "moment1", "moment2", "moments", "accum", "adam_m", "adam_v", "beta1_power", "beta2_power", "learning_rate",
    "global_step", "optimizer", "scale_sense", "loss_scale", "momentum", "vhat",
})

# Fields that decide tensor shapes: a weight file must agree with the named variant on them.
_ARCH_FIELDS = ("patch_size", "embed_dim", "depth", "mlp_dim", "mlp_type", "class_token", "dist_token", "reg_tokens", "naflex")


def create(
    name: Optional[str] = None,
    pretrained: Pretrained = False,
    *,
    backend: str = "mindspore",
    num_classes: Optional[int] = None,
    img_size: Optional[int] = None,
    in_chans: Optional[int] = None,
    jit: bool = False,
    **overrides: Any,
) -> Any:
    """Build a ViT, optionally with weights, on a backend (MindSpore by default).

    Args:
        name: a variant (``"vit_b_16"``, timm's ``"vit_base_patch16_224"``), a
            weight set ``"variant.tag"``, or a Hugging Face hub repo
            ``"hf-hub:ORG/REPO[@REVISION]"`` in timm's, transformers' or open_clip's layout
            (its config says the architecture). May be omitted when ``pretrained`` is a file.
        pretrained: ``False`` for random init; ``True`` for the variant's default
            weights (or the named tag); a weight tag (for an ``hf-hub:`` name: a revision);
            a checkpoint file/directory in any supported format (detected by content);
            or ``"hf-hub:ORG/REPO"``.
        backend: ``"mindspore"`` (an ``nn.Cell``), ``"numpy"``, or a plug-in's name.
        num_classes, img_size, in_chans: adapt the model (and its weights: new head,
            resampled position embedding, adapted first conv) as timm does.
        jit: compile the forward pass (MindSpore graph mode).
        **overrides: other spec fields, e.g. ``depth=6`` or ``norm_eps=1e-7``. With a weight
            file they also say what its tensors cannot show (``num_heads=4``); a file that
            leaves such a field open, with no name or override to settle it, is refused.

    Example:
        >>> import numpy as np, vitzoo
        >>> model = vitzoo.create("vit_ti_16", backend="numpy", num_classes=10)
        >>> model(np.zeros((2, 3, 224, 224), np.float32)).shape
        (2, 10)
    """
    from vitzoo.backends import get_backend

    adapt = {k: v for k, v in dict(num_classes=num_classes, img_size=img_size, in_chans=in_chans).items() if v is not None}
    if name is None and _is_hub_name(pretrained):  # create(pretrained="hf-hub:...") names the repo as a weight file would
        name, pretrained = str(pretrained), True
    if _is_hub_name(name):
        return _create_from_hub(str(name), pretrained, backend=backend, jit=jit, adapt=adapt, overrides=overrides)
    if pretrained is None or pretrained is False:
        if name is None:
            raise VitzooError("create() needs a model name, or pretrained=<file> to rebuild a model from weights.")
        spec = get_spec(name, **overrides, **adapt)
        model = get_backend(backend).build(spec, None, jit=jit)
        model.pretrained_cfg = {}
        return model
    ckpt = _load_weights(name, pretrained, overrides, img_size)
    return build_from_checkpoint(ckpt, name, backend=backend, jit=jit, adapt=adapt, overrides=overrides)


def _is_hub_name(name: Optional[str]) -> bool:
    return isinstance(name, str) and name.startswith("hf-hub:")


def _create_from_hub(name: str, pretrained: Pretrained, *, backend: str, jit: bool, adapt: dict[str, int], overrides: dict[str, Any]) -> Any:
    """A model from a hub repo: its weights (``pretrained=True``) or its architecture with random weights (``False``)."""
    from vitzoo.backends import get_backend
    from vitzoo.hub.repos import load_repo

    if isinstance(pretrained, str) and pretrained != name:  # a weight tag of a hub repo is a revision
        if "@" in name:
            raise VitzooError(f"Two revisions given: {name!r} and pretrained={pretrained!r}; give one.")
        name, pretrained = f"{name}@{pretrained}", True
    elif pretrained not in (None, False, True) and pretrained != name:
        raise VitzooError(f"{name!r} names its weights itself; pass pretrained=True, False or a revision.")
    ckpt = load_repo(name, variant=overrides or None)
    if ckpt.dropped:
        _log.info("%s", _left_out(name, ckpt.dropped))
    if pretrained:
        return build_from_checkpoint(ckpt, None, backend=backend, jit=jit, adapt=adapt, overrides=overrides)
    spec = ckpt.spec.replace(**overrides, **adapt) if (overrides or adapt) else ckpt.spec
    model = get_backend(backend).build(spec, None, jit=jit)
    model.pretrained_cfg = {}
    return model


def create_from_file(path: "str | os.PathLike[str]", *, backend: str = "mindspore", jit: bool = False, **kwargs: Any) -> Any:
    """Rebuild the exact model stored in a checkpoint file (any supported format).

    Example:
        >>> model = vitzoo.create_from_file("vit_b_16.safetensors")  # doctest: +SKIP
    """
    return create(None, pretrained=path, backend=backend, jit=jit, **kwargs)


def save(model: Any, path: "str | os.PathLike[str]", *, backend: Optional[str] = None, **meta: Any) -> None:
    """Save a model as a canonical checkpoint (spec, provenance and class names in the header).

    ``meta`` adds provenance keys (``source``, ``class_names``, ...) to what the
    model already carries in ``model.pretrained_cfg``.
    """
    from vitzoo.backends import get_backend
    from vitzoo.weights import Checkpoint, save_file

    backend_obj = get_backend(backend or _backend_of(model))
    carried = dict(getattr(model, "pretrained_cfg", {}) or {})
    ckpt = Checkpoint(state=backend_obj.state_dict(model), spec=model.spec, meta={**carried, **meta})
    save_file(ckpt, path)


def build_from_checkpoint(
    ckpt: Any,
    name: Optional[str] = None,
    *,
    backend: str = "mindspore",
    jit: bool = False,
    adapt: Optional[dict[str, int]] = None,
    overrides: Optional[dict[str, Any]] = None,
) -> Any:
    """Build a model from an in-memory :class:`~vitzoo.weights.Checkpoint`, adapted as asked."""
    from vitzoo.adapt import adapt_checkpoint
    from vitzoo.backends import get_backend

    adapt = dict(adapt or {})
    if name is not None:
        variant = get_spec(name, **(overrides or {}))
        _check_same_architecture(variant, ckpt.spec, repr(str(ckpt.meta.get("source", "the checkpoint"))))
        adapt.setdefault("img_size", variant.img_size)
    ckpt = adapt_checkpoint(ckpt, **adapt)
    if overrides:
        ckpt = ckpt.replace(spec=ckpt.spec.replace(**overrides)).validate()
    model = get_backend(backend).build(ckpt.spec, ckpt.state, jit=jit)
    model.pretrained_cfg = dict(ckpt.meta)
    return model


def _load_weights(name: Optional[str], pretrained: Pretrained, overrides: dict[str, Any], img_size: Optional[int] = None) -> Any:
    from vitzoo import weights

    # what the caller said settles what the tensors cannot show (head count, eps, GELU, pooling; the
    # size of a model with no position embedding to show it)
    said = {**overrides, **({"img_size": img_size} if img_size is not None else {})}
    hint = get_spec(name, **overrides) if name is not None else (said or None)
    if isinstance(pretrained, (str, os.PathLike)) and Path(pretrained).exists():
        ckpt = weights.read(pretrained, variant=hint)
        if ckpt.dropped:
            _log.warning("%s", _left_out(str(pretrained), ckpt.dropped))
        return ckpt
    if name is None:
        raise CheckpointError(f"Weight file {str(pretrained)!r} does not exist.")
    from vitzoo.hub import load_pretrained

    variant, tag = split_name(name)
    if isinstance(pretrained, str):
        if tag is not None and pretrained != tag:
            raise VitzooError(f"Two weight tags given: {name!r} and pretrained={pretrained!r}; give one.")
        tag = pretrained
    return load_pretrained(variant if tag is None else f"{variant}.{tag}")


def _left_out(source: str, dropped: list[str]) -> str:
    """One line naming what a file holds beside the model's weights (optimizer state, a text tower, ...)."""
    groups = list(dict.fromkeys(n.split(".", 1)[0] + (".*" if "." in n else "") for n in dropped))
    shown = ", ".join(groups[:6]) + (f" and {len(groups) - 6} more" if len(groups) > 6 else "")
    optimizer = any(g.split(".")[0] in _OPTIMIZER_STATE for g in groups)
    what = "optimizer and training state" if optimizer else "entries that are not model weights"
    return f"vitzoo: loaded the model's weights from {source!r} and left out its {what} ({len(dropped)} entries: {shown})."


def _check_same_architecture(variant: ViTSpec, found: ViTSpec, source: str) -> None:
    diff = [f"{f} {getattr(found, f)} (variant has {getattr(variant, f)})" for f in _ARCH_FIELDS if getattr(variant, f) != getattr(found, f)]
    # an attention-pool head (SigLIP's MAP, AIMv2's query pool) is in the tensors or not
    if any((variant.global_pool == pool) != (found.global_pool == pool) for pool in ("map", "query")):
        diff.append(f"global_pool {found.global_pool!r} (variant has {variant.global_pool!r})")
    if diff:
        raise CheckpointError(f"The weights from {source} do not match the named variant: {', '.join(diff)}; name the right variant or omit it.")


def _backend_of(model: Any) -> str:
    module = type(model).__module__
    if module.startswith("vitzoo.backends."):
        return module.split(".")[2]
    raise VitzooError(f"Cannot tell the backend of a {type(model).__name__}; pass backend=.")
