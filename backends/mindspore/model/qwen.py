"""timm's Qwen3 ViT (``qwen3_vit.py``: the Qwen3-VL / Qwen3.5 vision tower) as Cells.

Chosen when a model is built from a spec with ``pos_embed_grid > 0`` and no NaFlex (:class:`Qwen3ViT`, a
:class:`~.vit.VisionTransformer` whose token path differs), so no other family's forward pass
changes. The blocks are the EVA blocks (:mod:`.eva`: packed qkv with its bias, tanh GELU, axial
rotary positions ``rope="cat"`` in the rotate-half layout). What Qwen adds, as small Cells:

- the learned ``pos_embed_grid²`` positions, resampled to each input's grid (bilinear,
  ``align_corners=True``, no antialias: NaFlex's :func:`.naflex.resampled_grid`, two constant matmuls);
- no norm on the patch tokens; the classifier pools (mean), normalises without weight or bias
  (:class:`PlainLayerNorm`) and classifies;
- the VLM projector :class:`PatchMerger` (``merge_size > 0``): per-token norm, ``k × k`` patch
  tokens unshuffled into one, ``fc1``, exact GELU, ``fc2`` to ``merge_dim``; the classifier pools
  its tokens (timm's ``_merge`` models); ``output_tokens`` returns them (timm's ``_enc`` models).

Parameter names are timm's encoder names (``pos_embed``, ``blocks.{i}.*``, ``merger.*``); timm's
classifier prefixes them with ``encoder.``, which the timm reader strips.

Example:
    >>> import numpy as np, mindspore as ms, vitzoo
    >>> model = vitzoo.create("qwen3_vit_88m_enc", img_size=64, depth=1)
    >>> type(model).__name__, model(ms.Tensor(np.zeros((1, 3, 64, 96), np.float32))).shape
    ('Qwen3ViT', (1, 6, 1024))
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from mindspore import Tensor, nn, ops

from vitzoo.spec import ViTSpec

from . import features
from .layers import GELU_CELLS, LayerNorm, Linear
from .naflex import resampled_grid
from .vit import VisionTransformer

State = Mapping[str, np.ndarray]


class PlainLayerNorm(nn.Cell):
    """LayerNorm without weight and bias (timm's ``LayerNorm(affine=False)``): no parameters."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.ones = Tensor(np.ones(dim, np.float32))
        self.zeros = Tensor(np.zeros(dim, np.float32))
        self.layer_norm = ops.LayerNorm(begin_norm_axis=-1, begin_params_axis=-1, epsilon=eps)

    def construct(self, x: Tensor) -> Tensor:
        return self.layer_norm(x, self.ones, self.zeros)[0]


class PatchMerger(nn.Cell):
    """timm's ``Qwen3VitPatchMerger``: ``fc2(gelu(fc1(unshuffle(norm(x)))))`` over ``[B, rows·cols, D]`` tokens."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.k = spec.merge_size
        self.norm = LayerNorm(state, name + ".norm", spec.norm_eps)
        self.fc1 = Linear(state, name + ".fc1")
        self.act = GELU_CELLS["exact"]()  # timm's merger keeps nn.GELU's default, whatever the blocks use
        self.fc2 = Linear(state, name + ".fc2")

    def construct(self, x: Tensor, rows: int, cols: int) -> Tensor:
        b, _, c = x.shape
        k = self.k
        x = self.norm(x).reshape(b, rows // k, k, cols // k, k, c).transpose(0, 1, 3, 2, 4, 5)
        x = x.reshape(b, (rows // k) * (cols // k), k * k * c)
        return self.fc2(self.act(self.fc1(x)))


class NoMerger(nn.Cell):
    """Classifiers without the projector: the patch tokens as they are."""

    def construct(self, x: Tensor, rows: int, cols: int) -> Tensor:
        return x


class TokensOut(nn.Cell):
    """timm's ``_enc`` models: no pooling, the projector's tokens are the output."""

    def construct(self, x: Tensor) -> Tensor:
        return x


class Qwen3ViT(VisionTransformer):
    """timm's ``Qwen3VitClassifier`` / ``Qwen3VitEncoder`` (see the module doc).

    ``forward_features`` gives the patch tokens ``[B, rows·cols, D]`` (timm's ``(B, H, W, D)``
    flattened), or with the projector its tokens ``[B, rows·cols/k², merge_dim]`` as timm's;
    ``forward_intermediates`` gives the blocks' patch tokens, the final features as ``forward_features``.
    """

    def __init__(self, spec: ViTSpec, state: State, *, jit: bool = False, copy: bool = True) -> None:
        super().__init__(spec, state, jit=jit, copy=copy)
        self.pos_grid = spec.pos_embed_grid
        self.pos_args = (spec.pos_interp, spec.pos_antialias, spec.pos_align_corners, spec.pos_ar_preserving)  # plain values for a graph
        if spec.merge_size:
            own = {k: v for k, v in state.items() if k.startswith("merger.")}
            if copy:
                own = {k: np.array(v, dtype=np.float32, copy=True, order="C") for k, v in own.items()}
            self.merger = PatchMerger(spec, own, "merger")
        else:
            self.merger = NoMerger()
        if spec.output_tokens:
            self.pool = TokensOut()

    def _make_fc_norm(self, spec: ViTSpec, state: State) -> nn.Cell:
        return PlainLayerNorm(spec.num_features, spec.norm_eps) if not spec.fc_norm_affine else super()._make_fc_norm(spec, state)

    def _add_tokens(self, x: Tensor, rows: int, cols: int) -> Tensor:
        """Patch tokens + the learned grid resampled to ``rows × cols`` (no prefix tokens)."""
        grid = resampled_grid(self.pos_embed, self.pos_grid, self.embed_dim, rows, cols, self.pos_args)
        return x + grid.reshape(1, rows * cols, self.embed_dim)

    def _features(self, x: Tensor) -> Tensor:
        rows, cols = self._patch_grid(x.shape[2], x.shape[3])
        rope = self._positions(x.shape[2], x.shape[3])
        x = self._embed_tokens(x)
        for block in self.blocks:
            x = block(x, rope)
        return self.merger(x, rows, cols)

    def _intermediates(self, x: Tensor, take: tuple, norm: bool, last: int, nchw: bool) -> tuple:
        rows, cols = self._patch_grid(x.shape[2], x.shape[3])
        final, spatial, _ = features.intermediates(self, x, take, norm, last, nchw)  # no final norm: norm changes nothing
        return self.merger(final, rows, cols), spatial, ()  # no prefix tokens; an empty list out of a graph is an Any type
