"""A whole CLIP / SigLIP model on MindSpore: the image tower, the text tower, the logit scale (and bias), a tokenizer.

Parameter names are the canonical whole-model names: ``visual.*`` (the ViT's),
``text.*`` (:mod:`vitzoo.text_spec`), ``logit_scale`` and ``logit_bias``.

Example:
    >>> import vitzoo
    >>> clip = vitzoo.create_clip("clip_test_tiny")  # doctest: +SKIP
    >>> clip(images, clip.tokenize(["a dog", "a cat"])).shape  # doctest: +SKIP
    (2, 2)
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence, Union

import numpy as np
from mindspore import Parameter, Tensor, nn, ops

from vitzoo.text_spec import ClipSpec

from ..runtime import serialized
from .naflex import NaFlexViT
from .text import TextTransformer
from .vit import VisionTransformer


class CLIP(nn.Cell):
    """Both towers of a CLIP-style model; ``clip(images, ids)`` gives ``logits_per_image`` ``[B, N]``.

    Args:
        spec: both towers' specs and the family (``"clip"``: softmax over texts; ``"siglip"``: sigmoid per pair).
        state: the whole canonical state (``visual.*``, ``text.*``, ``logit_scale``, ``logit_bias``).
        tokenizer: texts → ids ``[N, context_length]`` (see :mod:`vitzoo.tokenizer`).
        jit: run each tower as a compiled MindSpore graph.
    """

    def __init__(self, spec: ClipSpec, state: Mapping[str, np.ndarray], tokenizer: Callable[[Sequence[str]], np.ndarray], *, jit: bool = False) -> None:
        super().__init__()
        self.spec = spec
        self.pretrained_cfg: dict = {}
        tower = NaFlexViT if spec.vision.naflex else VisionTransformer  # SigLIP 2 NaFlex: any aspect ratio, NaFlex batches
        self.visual = tower(spec.vision, _part(state, "visual."), jit=jit)
        self.text = TextTransformer(spec.text, _part(state, "text."), jit=jit)
        self.logit_scale = Parameter(Tensor(np.asarray(state["logit_scale"], np.float32).reshape(())), name="logit_scale")
        self.has_bias = spec.logit_bias
        if self.has_bias:
            self.logit_bias = Parameter(Tensor(np.asarray(state["logit_bias"], np.float32).reshape(())), name="logit_bias")
        self.tokenizer = tokenizer
        self.set_train(False)

    def tokenize(self, texts: Union[str, Sequence[str]]) -> np.ndarray:
        """Token ids ``[N, context_length]`` (int64), identical to the model's reference tokenizer."""
        return self.tokenizer([texts] if isinstance(texts, str) else list(texts))

    @serialized
    def encode_image(self, images: Any) -> Tensor:
        """Unnormalised image embeddings ``[B, E]`` (open_clip's ``encode_image``, transformers' ``get_image_features``).

        A NaFlex image tower (SigLIP 2 NaFlex) also takes a NaFlex batch, as its ``model(batch)`` does.
        """
        if isinstance(images, Mapping):
            return self.visual(images)
        return self.visual(_tensor(images))

    @serialized
    def encode_text(self, ids: Any) -> Tensor:
        """Unnormalised text embeddings ``[N, E]`` of token ids ``[N, L]`` (``encode_text``, ``get_text_features``)."""
        return self.text(ids)

    @serialized
    def __call__(self, images: Any, ids: Any) -> Tensor:
        # the towers run as their own (maybe compiled) calls; the similarity is a few small ops
        return self.logits(self.encode_image(images), self.encode_text(ids))

    def construct(self, images: Tensor, ids: Tensor) -> Tensor:
        return self.logits(self.visual(images), self.text(ids))

    def logits(self, image_embeds: Tensor, text_embeds: Tensor) -> Tensor:
        """``exp(logit_scale)`` × cosine similarity ``[B, N]`` (+ ``logit_bias`` for SigLIP) of embeddings."""
        image = image_embeds / ops.norm(image_embeds, dim=-1, keepdim=True)
        text = text_embeds / ops.norm(text_embeds, dim=-1, keepdim=True)
        out = ops.matmul(image, text.T) * ops.exp(self.logit_scale)
        return out + self.logit_bias if self.has_bias else out


def _part(state: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.ascontiguousarray(x, dtype=np.float32))
