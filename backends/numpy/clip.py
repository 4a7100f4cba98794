"""The NumPy reference of a whole CLIP / SigLIP model: the text tower written out, the image tower the backend's ViT.

Example:
    >>> import numpy as np
    >>> from vitzoo.text_spec import TextSpec, init_text_state
    >>> spec = TextSpec(vocab_size=50, context_length=6, width=16, heads=2, layers=1, mlp_dim=32, proj_dim=8)
    >>> NumpyTextTransformer(spec, init_text_state(spec))(np.array([[49, 3, 0, 0, 0, 0]])).shape
    (1, 8)
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence, Union

import numpy as np

from vitzoo.text_spec import ClipSpec, TextSpec, check_text_state, checked_ids, pooled_prefix

from .ops import ACTIVATIONS, layer_norm, linear, softmax, state_arrays


class NumpyTextTransformer:
    """A CLIP / SigLIP text tower over canonical float32 arrays (names in :mod:`vitzoo.text_spec`)."""

    def __init__(self, spec: TextSpec, state: Mapping[str, np.ndarray]) -> None:
        check_text_state(state, spec)
        self.spec = spec
        self.state = state_arrays(state)
        self._act = ACTIVATIONS[spec.gelu]

    def __call__(self, ids: Any) -> np.ndarray:
        """Text embeddings ``[N, E]`` of token ids ``[N, L]``."""
        s, w = self.spec, self.state
        ids = pooled_prefix(checked_ids(np.asarray(ids), s), s)  # the tokens after the last pooled one change nothing
        n, length = ids.shape
        x = w["token_embed.weight"][ids] + w["pos_embed"][:, :length]
        mask = np.triu(np.full((length, length), -np.inf, np.float32), 1) if s.causal else None
        for i in range(s.layers):
            p = f"blocks.{i}."
            x = x + self._attention(self._norm(x, p + "norm1"), p + "attn.", mask)
            x = x + self._linear(self._act(self._linear(self._norm(x, p + "norm2"), p + "mlp.fc1")), p + "mlp.fc2")
        x = self._norm(x, "norm")
        if s.pool == "last":
            at = np.full(n, length - 1)
        else:  # np.argmax takes the first of equal values, as torch does
            at = ids.argmax(-1) if s.pool == "argmax" else (ids == s.eos_token_id).argmax(-1)
        pooled = x[np.arange(n), at]
        return self._linear(pooled, "head") if s.proj_dim else pooled

    def _attention(self, x: np.ndarray, p: str, mask: Any) -> np.ndarray:
        s = self.spec
        n, length, width = x.shape
        qkv = self._linear(x, p + "qkv").reshape(n, length, 3, s.heads, s.head_dim).transpose(2, 0, 3, 1, 4)
        scores = (qkv[0] * np.float32(s.head_dim**-0.5)) @ qkv[1].transpose(0, 1, 3, 2)
        if mask is not None:
            scores += mask
        out = (softmax(scores) @ qkv[2]).transpose(0, 2, 1, 3).reshape(n, length, width)
        return self._linear(out, p + "proj")

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return linear(x, self.state[name + ".weight"], self.state.get(name + ".bias"))

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        return layer_norm(x, self.state[name + ".weight"], self.state[name + ".bias"], self.spec.norm_eps)


class NumpyCLIP:
    """Both towers; ``clip(images, ids)`` gives ``logits_per_image`` ``[B, N]`` (see the MindSpore ``CLIP``)."""

    def __init__(self, spec: ClipSpec, visual: Any, state: Mapping[str, np.ndarray], tokenizer: Callable[[Sequence[str]], np.ndarray]) -> None:
        self.spec = spec
        self.pretrained_cfg: dict[str, Any] = {}
        self.visual = visual
        self.text = NumpyTextTransformer(spec.text, {k[5:]: v for k, v in state.items() if k.startswith("text.")})
        self.logit_scale = np.float32(np.asarray(state["logit_scale"]).reshape(()))
        self.logit_bias = np.float32(np.asarray(state["logit_bias"]).reshape(())) if spec.logit_bias else None
        self.tokenizer = tokenizer

    def tokenize(self, texts: Union[str, Sequence[str]]) -> np.ndarray:
        """Token ids ``[N, context_length]`` (int64)."""
        return self.tokenizer([texts] if isinstance(texts, str) else list(texts))

    def encode_image(self, images: Any) -> np.ndarray:
        if isinstance(images, Mapping):  # a NaFlex batch for a NaFlex image tower (SigLIP 2 NaFlex)
            return self.visual(images)
        return self.visual(np.asarray(images, dtype=np.float32))

    def encode_text(self, ids: Any) -> np.ndarray:
        return self.text(ids)

    def __call__(self, images: Any, ids: Any) -> np.ndarray:
        return self.logits(self.encode_image(images), self.encode_text(ids))

    def logits(self, image_embeds: np.ndarray, text_embeds: np.ndarray) -> np.ndarray:
        """``exp(logit_scale)`` × cosine similarity (+ ``logit_bias``)."""
        image = image_embeds / np.linalg.norm(image_embeds, axis=-1, keepdims=True)
        text = text_embeds / np.linalg.norm(text_embeds, axis=-1, keepdims=True)
        out = (image @ text.T) * np.exp(self.logit_scale)
        return out + self.logit_bias if self.logit_bias is not None else out
