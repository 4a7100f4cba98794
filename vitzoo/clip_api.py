"""``vitzoo.create_clip``: a whole CLIP / SigLIP model (both towers, a tokenizer, the logit scale) on a backend."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Optional, Union

from vitzoo.errors import BackendError, CheckpointError, UnknownNameError, VitzooError

PathLike = Union[str, "os.PathLike[str]"]


def create_clip(
    name: Optional[str] = None,
    pretrained: Union[PathLike, bool, None] = None,
    *,
    backend: str = "mindspore",
    jit: bool = False,
) -> Any:
    """Build a whole CLIP-style model: ``tokenize``, ``encode_image``, ``encode_text`` and ``model(images, ids)``.

    Args:
        name: an open_clip model name (``"ViT-B-16"``, ``"ViT-L-14-quickgelu"``), or a vitzoo / timm name
            of the image tower; a transformers ``CLIPModel`` / ``SiglipModel`` (SigLIP, fixed-resolution
            SigLIP 2) / ``Siglip2Model`` (SigLIP 2 NaFlex: ``encode_image`` also takes NaFlex batches) /
            ``MetaClip2Model`` folder needs none. open_clip models with timm image towers
            (``"EVA02-B-16"``, ``"PE-Core-B-16"``, ``"ViT-B-16-SigLIP2"``) are open_clip names too.
            ``"hf-hub:ORG/REPO[@REVISION]"`` loads a hub repo in open_clip's or transformers' layout;
            ``"ViT-B-16.laion2b_s34b_b88k"`` (open_clip's model name and weight tag) loads that tag.
        pretrained: a weight tag of the open_clip model (``"laion2b_s34b_b88k"``; ``True``: its default, the
            first open_clip lists; :func:`vitzoo.list_pretrained_clip` lists them), downloaded from the Hugging Face
            hub repo open_clip uses and preprocessed as open_clip's cfg for the tag says; or a whole-model
            checkpoint: an open_clip file (``open_clip_model.safetensors``, ``.bin``, a training ``.pt``) or
            folder (with ``open_clip_config.json``), or a transformers folder. ``None``/``False``: random
            weights of the named open_clip model (``None`` with a ``MODEL.tag`` name: that tag).
        backend: ``"mindspore"`` (one ``nn.Cell``) or ``"numpy"``.
        jit: run each tower as a compiled MindSpore graph.

    The model's ``encode_image`` / ``encode_text`` equal open_clip's ``encode_image`` /
    ``encode_text`` and transformers' ``get_image_features`` / ``get_text_features``;
    ``model(images, ids)`` is ``logits_per_image`` ``[B, N]``: ``exp(logit_scale)`` × cosine
    similarity, plus ``logit_bias`` for SigLIP.

    Example:
        >>> import numpy as np, vitzoo
        >>> clip = vitzoo.create_clip("ViT-S-32", backend="numpy")  # random weights
        >>> ids = clip.tokenize(["a photo of a dog", "a photo of a cat"])
        >>> clip(np.zeros((1, 3, 224, 224), np.float32), ids).shape
        (1, 2)
        >>> clip = vitzoo.create_clip("ViT-B-16", pretrained="laion2b_s34b_b88k")  # doctest: +SKIP
    """
    from vitzoo.backends import get_backend

    tagged = None
    if name is not None and name.startswith("hf-hub:"):  # a hub repo: its config names the model, its files are the weights
        from vitzoo.hub.repos import fetch_clip_repo

        if pretrained not in (None, True):
            raise VitzooError(f"{name!r} names its weights itself; drop pretrained= (a revision goes after '@' in the name).")
        name, pretrained = None, fetch_clip_repo(name)
    elif name is not None:
        name, tagged = _weight_tag(name, pretrained)
    if tagged is not None:  # open_clip's tag: its hub repo, fetched by the hf-hub: code, preprocessed as open_clip's cfg says
        from vitzoo.hub.repos import fetch_clip_repo

        pretrained = fetch_clip_repo(tagged.hub_name)
    if pretrained is None or pretrained is False:
        ckpt = _random(name)
    elif pretrained is True:
        raise VitzooError("create_clip(pretrained=True) needs an open_clip model name with weight tags (vitzoo.list_pretrained_clip() lists them).")
    else:
        if not Path(pretrained).exists():
            raise CheckpointError(f"Weight file {str(pretrained)!r} does not exist.")
        from vitzoo.weights.clip_model import read_clip

        ckpt = read_clip(pretrained, name)
        _check_image_tower_name(name, ckpt.spec.vision, str(pretrained))
    if tagged is not None:
        _check_tagged_model(tagged, ckpt.spec)
        ckpt.meta = {**ckpt.meta, "name": tagged.name, "pretrained_tag": tagged.tag, "hub_repo": tagged.hub_repo,
                                  "license": tagged.license, "pretrained_cfg": tagged.pretrained_cfg(ckpt.spec.vision.img_size)}
    chosen = get_backend(backend)
    build = getattr(chosen, "build_clip", None)
    if build is None:
        raise BackendError(f"The {backend!r} backend cannot build whole CLIP models; use backend='mindspore' or 'numpy'.")
    model = build(ckpt.spec, ckpt.state, make_tokenizer(ckpt.tokenizer), jit=jit)
    model.pretrained_cfg = dict(ckpt.meta)
    return model


_TAG = re.compile(r"[A-Za-z0-9_-]+")  # open_clip's tags: never a path


def _weight_tag(name: str, pretrained: Any) -> "tuple[str, Any]":
    """The model name and the :class:`~vitzoo.pretrained.clip_tags.ClipWeightSet` a name / ``pretrained`` pair asks for (or ``None``)."""
    from vitzoo.pretrained.clip_tags import clip_tags_of, get_clip_weight_set, split_clip_name
    from vitzoo.weights.open_clip_models import open_clip_model_config

    model, tag = split_clip_name(name)
    if tag is not None:  # "ViT-B-16.laion2b_s34b_b88k": the name says which weights; False still asks for random ones
        if pretrained not in (None, True, False):
            raise VitzooError(f"{name!r} names its weight tag already; drop pretrained= or pass the bare model name {model!r}.")
        return model, (None if pretrained is False else get_clip_weight_set(model, tag))
    if pretrained is True:
        return name, get_clip_weight_set(name)
    if isinstance(pretrained, str) and _TAG.fullmatch(pretrained) and not Path(pretrained).exists():
        if clip_tags_of(name) or open_clip_model_config(name) is not None:
            return name, get_clip_weight_set(name, pretrained)
    return name, None


def _check_tagged_model(ws: Any, found: Any) -> None:
    """The hub repo behind a tag must hold the model its name builds (open_clip would refuse to load other weights)."""
    from vitzoo.weights.open_clip_models import clip_spec_from_config, open_clip_model_config

    cfg = open_clip_model_config(ws.model)
    if cfg is None:
        return
    want = clip_spec_from_config(cfg, f"open_clip's config of {ws.model!r}")

    def shape(spec: Any) -> tuple:
        v, t = spec.vision, spec.text
        return (v.img_size, v.patch_size, v.embed_dim, v.depth, t.width, t.layers, t.vocab_size, t.context_length, spec.embed_dim, t.gelu)

    if shape(found) != shape(want):
        raise CheckpointError(
            f"Hub repo {ws.hub_repo!r} (tag {ws.name!r}) holds another model than open_clip's {ws.model!r} "
            f"(image size, patch, widths, depths, vocabulary, context, embedding, GELU: {shape(found)} instead of {shape(want)})."
        )


def _check_image_tower_name(name: Optional[str], found: Any, source: str) -> None:
    """A vitzoo / timm image-tower name given with the weights must describe their image tower (as ``create`` checks)."""
    from vitzoo.api import _check_same_architecture
    from vitzoo.variants import get_spec
    from vitzoo.weights.open_clip_models import open_clip_model_config

    if name is None or open_clip_model_config(name) is not None:
        return
    _check_same_architecture(get_spec(name), found, repr(source))


def make_tokenizer(info: dict) -> Any:
    """The tokenizer a checkpoint asks for: open_clip's (CLIP) or the model folder's own files (SigLIP, SigLIP 2)."""
    if info["kind"] == "open_clip":
        from vitzoo.tokenizer import SimpleTokenizer

        return SimpleTokenizer(info["context_length"])
    from vitzoo.hf_tokenizer import JsonTokenizer, is_json_tokenizer_folder
    from vitzoo.sp_tokenizer import FolderTokenizer

    if info["kind"] == "json" or is_json_tokenizer_folder(info["folder"]):  # SigLIP 2: Gemma's tokenizer.json
        return JsonTokenizer(info["folder"], info["context_length"], info.get("clean"))
    return FolderTokenizer(info["folder"], info["context_length"])


def _random(name: Optional[str]) -> Any:
    """A checkpoint of random weights for an open_clip model name (logit scale log(1/0.07), as open_clip starts)."""
    import numpy as np

    from vitzoo.init import init_state
    from vitzoo.text_spec import init_text_state
    from vitzoo.weights.clip_model import ClipCheckpoint, open_clip_preprocessing
    from vitzoo.weights.open_clip_models import clip_spec_from_config, open_clip_model_config, open_clip_model_names

    if name is None:
        raise VitzooError("create_clip() needs an open_clip model name for random weights, or pretrained=<file or folder>.")
    cfg = open_clip_model_config(name)
    if cfg is None:
        close = [n for n in open_clip_model_names() if n.lower().startswith(name.lower()[:5])][:5]
        raise UnknownNameError(f"Unknown open_clip model {name!r}; known: {', '.join(close or open_clip_model_names()[:8])}, ...")
    spec = clip_spec_from_config(cfg, f"open_clip's config of {name!r}")
    state = {"visual." + k: v for k, v in init_state(spec.vision).items()}
    state.update({"text." + k: v for k, v in init_text_state(spec.text).items()})
    state["logit_scale"] = np.asarray(math.log(1 / 0.07), np.float32)
    if spec.logit_bias:
        state["logit_bias"] = np.asarray(-10.0, np.float32)
    tokenizer = {"kind": "open_clip", "context_length": spec.text.context_length}
    return ClipCheckpoint(spec=spec, state=state, tokenizer=tokenizer, meta={"name": name, "pretrained_cfg": open_clip_preprocessing(spec.vision.img_size)})
