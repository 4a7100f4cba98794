"""The MindSpore text tower of CLIP and SigLIP: token ids ``[N, L]`` → text embeddings ``[N, E]``.

Built from a canonical text state (names in :mod:`vitzoo.text_spec`) with the ViT's
LayerNorm, Linear and MLP Cells. The attention is its own: CLIP's text tower adds a
causal mask to the scores, which the fused attention kernel has no input for.

Example:
    >>> import numpy as np
    >>> from vitzoo.text_spec import TextSpec, init_text_state
    >>> spec = TextSpec(vocab_size=50, context_length=6, width=16, heads=2, layers=1, mlp_dim=32, proj_dim=8)
    >>> tower = TextTransformer(spec, init_text_state(spec))
    >>> tower(np.array([[49, 3, 0, 0, 0, 0]])).shape
    (1, 8)
"""

from __future__ import annotations

from typing import Any, Mapping

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops

from vitzoo.text_spec import TextSpec, check_text_state, checked_ids, pooled_prefix

from ..runtime import serialized
from .layers import LayerNorm, Linear, Mlp, to_parameter


class TextAttention(nn.Cell):
    """Multi-head self-attention over ``[N, L, W]`` with an optional additive mask ``[L, L]``."""

    def __init__(self, spec: TextSpec, state: Mapping[str, np.ndarray], name: str) -> None:
        super().__init__()
        self.heads, self.head_dim = spec.heads, spec.head_dim
        self.scale = spec.head_dim**-0.5
        self.qkv = Linear(state, name + ".qkv")
        self.proj = Linear(state, name + ".proj")
        self.scores = ops.BatchMatMul(transpose_b=True)
        self.mix = ops.BatchMatMul()

    def construct(self, x: Tensor, mask: Tensor) -> Tensor:
        n, length, width = x.shape
        qkv = self.qkv(x).reshape(n, length, 3, self.heads, self.head_dim).transpose(2, 0, 3, 1, 4)
        q, k, v = ops.unstack(qkv, 0)
        attn = ops.softmax(self.scores(q * self.scale, k) + mask, -1)
        return self.proj(self.mix(attn, v).transpose(0, 2, 1, 3).reshape(n, length, width))


class TextBlock(nn.Cell):
    """Pre-norm block ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))`` (the ViT's ``Block`` with a mask)."""

    attention_cls: Any = TextAttention  # export swaps in portable versions (deploy/text_export.py)
    mlp_cls: Any = Mlp

    def __init__(self, spec: TextSpec, state: Mapping[str, np.ndarray], name: str) -> None:
        super().__init__()
        self.norm1 = LayerNorm(state, name + ".norm1", spec.norm_eps)
        self.attn = self.attention_cls(spec, state, name + ".attn")
        self.norm2 = LayerNorm(state, name + ".norm2", spec.norm_eps)
        self.mlp = self.mlp_cls(spec, state, name + ".mlp")  # reads only spec.gelu

    def construct(self, x: Tensor, mask: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class TextTransformer(nn.Cell):
    """A CLIP / SigLIP text tower whose parameters carry the canonical text names.

    Args:
        spec: the architecture.
        state: canonical float32 arrays (copied).
        jit: run calls as a compiled MindSpore graph (one per input shape).

    ``ids`` may be shorter than ``context_length`` (the first positions are used, as
    transformers does); the embedding is the pooled token after the final norm, projected.
    """

    block_cls: Any = TextBlock

    def __init__(self, spec: TextSpec, state: Mapping[str, np.ndarray], *, jit: bool = False) -> None:
        super().__init__()
        check_text_state(state, spec)
        state = {k: np.array(v, dtype=np.float32, copy=True, order="C") for k, v in state.items()}
        self.spec = spec
        self.token_embed = nn.Cell()  # a holder, so the parameter is named token_embed.weight
        self.token_embed.weight = to_parameter(state["token_embed.weight"])
        self.pos_embed = to_parameter(state["pos_embed"])
        self.blocks = nn.CellList([self.block_cls(spec, state, f"blocks.{i}") for i in range(spec.layers)])
        self.norm = LayerNorm(state, "norm", spec.norm_eps)
        self.has_head = spec.proj_dim > 0
        if self.has_head:
            self.head = Linear(state, "head")
        mask = np.triu(np.full((spec.context_length,) * 2, -np.inf, np.float32), 1) if spec.causal else np.zeros((spec.context_length,) * 2, np.float32)
        self.mask = Tensor(mask)
        self.pool, self.eos = spec.pool, spec.eos_token_id
        self.use_jit = jit
        self._graph: Any = None
        self.set_train(False)

    @serialized
    def __call__(self, ids: Any) -> Tensor:
        ids = check_ids(ids, self.spec)
        if self.use_jit and ms.get_context("mode") == ms.PYNATIVE_MODE:
            if self._graph is None:
                self._graph = ms.jit(self.construct)
            return self._graph(ids)
        return super().__call__(ids)

    def construct(self, ids: Tensor) -> Tensor:
        """Text embeddings ``[N, proj_dim]`` (``[N, width]`` without a projection) of token ids ``[N, L]``."""
        length = ids.shape[1]
        x = ops.gather(self.token_embed.weight, ids, 0) + self.pos_embed[:, :length]
        mask = self.mask[:length, :length]
        for block in self.blocks:
            x = block(x, mask)
        x = self.norm(x)
        if self.pool == "last":
            pooled = x[:, length - 1]  # a positive index: ONNX export mis-shapes a negative one
        else:
            at = ops.argmax(ids, -1) if self.pool == "argmax" else ops.argmax((ids == self.eos).astype(ms.int32), -1)  # first of ties, as torch
            pooled = ops.gather_elements(x, 1, ops.broadcast_to(at.reshape(-1, 1, 1), (x.shape[0], 1, x.shape[2])))[:, 0]
        if self.has_head:
            pooled = self.head(pooled)
        return pooled


def check_ids(ids: Any, spec: TextSpec) -> Tensor:
    """Token ids as an int32 Tensor ``[N, L']``, after checking their shape and range (one clear error).

    ``L'`` ≤ ``L``: a causal tower's ids are cut after the last pooled token (``pooled_prefix``).
    """
    array = ids.asnumpy() if isinstance(ids, Tensor) else np.asarray(ids)
    return Tensor(pooled_prefix(checked_ids(array, spec), spec).astype(np.int32))
