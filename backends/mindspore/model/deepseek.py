"""timm's DeepSeek-V4 ViT (``deepseek_vit.py``: the DeepSeek-V4 / V4.1 vision encoder) as Cells.

Chosen when a model is built from a spec with ``deepseek_vit=True`` (:class:`DeepseekViT`, a
:class:`~.vit.VisionTransformer` whose head and projector differ), so no other family's forward pass
changes. The blocks are the EVA blocks (:mod:`.eva`, with RMSNorms and the bias-free packed SwiGLU);
positions are the rotary tables of ``rope="cat"`` in the rotate-half layout. What DeepSeek adds, as
small Cells:

- the token RMSNorm (``norm``) kept after the blocks, and after the mean pool a second RMSNorm
  without weight (:class:`PlainRmsNorm`) before the head;
- the VLM projector :class:`Aligner` (``merge_size > 0``): the patch grid zero-padded to multiples of
  ``k``, each ``k × k`` block of tokens concatenated channel-major, ``fc1``, exact GELU, ``fc2`` to
  ``merge_dim``; the classifier pools its tokens (timm's ``_align`` models), ``output_tokens``
  returns them (timm's ``_enc`` models).

Parameter names are timm's encoder names (``blocks.{i}.*``, ``norm``, ``aligner.*``); timm's
classifier prefixes them with ``encoder.``, which the timm reader strips.

Example:
    >>> import numpy as np, mindspore as ms, vitzoo
    >>> model = vitzoo.create("deepseek_vit_412m_enc", depth=1, embed_dim=64, num_heads=4, mlp_dim=176, merge_dim=32)
    >>> type(model).__name__, model(ms.Tensor(np.zeros((1, 3, 56, 84), np.float32))).shape
    ('DeepseekViT', (1, 4, 32))
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from mindspore import Tensor, nn, ops

from vitzoo.spec import ViTSpec

from . import features
from .layers import GELU_CELLS, Linear, make_norm
from .qwen import NoMerger, TokensOut
from .vit import VisionTransformer

State = Mapping[str, np.ndarray]


class PlainRmsNorm(nn.Cell):
    """RMSNorm without weight (timm's ``RmsNormFp32(affine=False)``): ``x / sqrt(mean(x²) + eps)``, no parameters."""

    def __init__(self, eps: float) -> None:
        super().__init__()
        self.eps = eps

    def construct(self, x: Tensor) -> Tensor:
        return x / ops.sqrt(ops.mean(x * x, -1, keep_dims=True) + self.eps)  # Sqrt and Div: exports to ONNX as it is


class Aligner(nn.Cell):
    """timm's ``DeepseekVitAligner``: ``fc2(gelu(fc1(unshuffle(x))))`` over ``[B, rows·cols, D]`` tokens."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.k = spec.merge_size
        self.fc1 = Linear(state, name + ".fc1")
        self.act = GELU_CELLS["exact"]()  # timm's aligner keeps nn.GELU's default
        self.fc2 = Linear(state, name + ".fc2")

    def construct(self, x: Tensor, rows: int, cols: int) -> Tensor:
        b, _, c = x.shape
        k = self.k
        x = x.reshape(b, rows, cols, c)
        pad_rows, pad_cols = -rows % k, -cols % k  # plain ints (static shapes), so the branches are fixed per graph
        if pad_rows:  # zeros joined on rather than a pad op: the same graph exports to ONNX
            x = ops.cat((x, ops.zeros((b, pad_rows, cols, c), x.dtype)), 1)
        if pad_cols:
            x = ops.cat((x, ops.zeros((b, rows + pad_rows, pad_cols, c), x.dtype)), 2)
        h, w = (rows + pad_rows) // k, (cols + pad_cols) // k
        x = x.reshape(b, h, k, w, k, c).transpose(0, 1, 3, 5, 2, 4).reshape(b, h * w, c * k * k)  # channel-major blocks
        return self.fc2(self.act(self.fc1(x)))


class DeepseekViT(VisionTransformer):
    """timm's ``DeepseekVitClassifier`` / ``DeepseekVitEncoder`` (see the module doc).

    ``forward_features`` gives the normed patch tokens ``[B, rows·cols, D]`` (timm's ``(B, H, W, D)``
    flattened), or with the aligner its tokens ``[B, ⌈rows/k⌉·⌈cols/k⌉, merge_dim]`` as timm's;
    ``forward_intermediates`` gives the blocks' patch tokens, the final features as ``forward_features``.
    """

    def __init__(self, spec: ViTSpec, state: State, *, jit: bool = False, copy: bool = True) -> None:
        super().__init__(spec, state, jit=jit, copy=copy)
        own = {k: v for k, v in state.items() if k == "norm.weight" or k.startswith("aligner.")}
        if copy:
            own = {k: np.array(v, dtype=np.float32, copy=True, order="C") for k, v in own.items()}
        if self.use_fc_norm:  # the base class drops the token norm when the pool has one; DeepSeek keeps both
            self.use_norm = True
            self.norm = make_norm(spec, own, "norm")
        self.aligner = Aligner(spec, own, "aligner") if spec.merge_size else NoMerger()
        if spec.output_tokens:
            self.pool = TokensOut()

    def _make_fc_norm(self, spec: ViTSpec, state: State) -> nn.Cell:
        return PlainRmsNorm(spec.norm_eps)

    def _features(self, x: Tensor) -> Tensor:
        rows, cols = self._patch_grid(x.shape[2], x.shape[3])
        rope = self._positions(x.shape[2], x.shape[3])
        x = self._embed_tokens(x)
        for block in self.blocks:
            x = block(x, rope)
        return self.aligner(self._final_norm(x), rows, cols)

    def _intermediates(self, x: Tensor, take: tuple, norm: bool, last: int, nchw: bool) -> tuple:
        rows, cols = self._patch_grid(x.shape[2], x.shape[3])
        final, spatial, _ = features.intermediates(self, x, take, norm, last, nchw)
        return self.aligner(final, rows, cols), spatial, ()  # no prefix tokens; an empty list out of a graph is an Any type
