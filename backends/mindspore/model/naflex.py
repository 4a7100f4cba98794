"""timm's NaFlexVit (``naflexvit.py``) as a Cell: NCHW images of any size and NaFlex dictionaries.

Chosen when a model is built from a spec with ``naflex=True`` (:class:`NaFlexViT`, a
:class:`~.vit.VisionTransformer` whose position embedding and inputs differ), so no other family's
forward pass changes.

- NCHW ``[B, C, H, W]`` (sides multiples of the patch): the learned grid is resampled to the
  image's patch grid by two constant matrices (:func:`vitzoo.naflex.resample_pair`, computed from
  the static shape, so ``jit=True`` and export compile it).
- NaFlex batches (timm's ``{"patches", "patch_coord", "patch_valid"}`` or transformers'
  ``{"pixel_values", "pixel_attention_mask", "spatial_shapes"}``; or ``model(patches,
  patch_coord=..., patch_valid=...)``): each image's grid size is read from its coordinates on the
  host, its grid resampled (one resampling per distinct size, MindSpore ops on the parameter, so
  gradients reach it in PyNative) and added to its first ``h·w`` tokens; the rest is one forward
  pass with timm's symmetric attention mask and masked pooling. With ``jit=True`` that rest is a
  compiled graph taking positional tensors ``(patches, positions, patch_valid)``, one graph per
  ``(B, N)``; the per-image resampling, whose sizes are data, runs before it in PyNative.

Example:
    >>> import numpy as np, mindspore as ms, vitzoo
    >>> from vitzoo.naflex import patchify
    >>> model = vitzoo.create("naflexvit_base_patch16_siglip", depth=1, embed_dim=64, num_heads=2, mlp_dim=128)
    >>> batch = patchify([np.zeros((3, 32, 64), np.float32), np.zeros((3, 16, 16), np.float32)], 16)
    >>> model(batch).shape, model(ms.Tensor(np.zeros((1, 3, 32, 48), np.float32))).shape
    ((2, 64), (1, 64))
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from mindspore import Tensor, ops

from vitzoo import naflex
from vitzoo.features import FeatureError
from vitzoo.spec import ViTSpec

from ..runtime import serialized
from .layers import Block
from .vit import VisionTransformer

State = Mapping[str, np.ndarray]
_MIN = float(np.finfo(np.float32).min)  # timm's mask value: finfo.min, not -inf (a padding row stays finite)


class MaskedBlock(Block):
    """The ViT block with an optional additive attention mask (``None``: the plain block, fused kernels and all)."""

    def construct(self, x: Tensor, bias: Any = None) -> Tensor:
        if self.layer_scale:
            x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x), bias)))
            return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))
        x = x + self.drop_path1(self.attn(self.norm1(x), bias))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class NaFlexViT(VisionTransformer):
    """timm's ``NaFlexVit``: a position grid of its own size, resampled per input; NaFlex dictionaries."""

    def __init__(self, spec: ViTSpec, state: State, *, jit: bool = False, copy: bool = True) -> None:
        super().__init__(spec, state, jit=jit, copy=copy)
        self.pos_grid = spec.pos_grid
        self.pos_factorized = spec.pos_factorized
        # what the grid's resampling needs, as plain values a graph can read
        self.pos_args = (spec.pos_interp, spec.pos_antialias, spec.pos_align_corners, spec.pos_ar_preserving)
        self.pool_kind = spec.global_pool
        self.pool_prefix = spec.pool_include_prefix
        self.linear_k = spec.patch_size * spec.patch_size * spec.in_chans

    def _make_block(self, spec: ViTSpec, state: State, name: str) -> MaskedBlock:
        return MaskedBlock(spec, state, name)

    # NCHW images ---------------------------------------------------------------------------
    def _add_tokens(self, x: Tensor, rows: int, cols: int) -> Tensor:
        """Patch tokens plus the grid resampled to ``rows × cols``, then the class/register tokens in front (timm's order)."""
        x = x + self._grid_positions(rows, cols)
        if self.num_prefix_tokens:
            b = x.shape[0]
            x = ops.cat((ops.broadcast_to(self._prefix_tokens(), (b, self.num_prefix_tokens, self.embed_dim)), x), 1)
        return x

    def _grid_positions(self, rows: int, cols: int) -> Tensor:
        """``[rows·cols, D]``: the position grid for ``rows × cols`` patches (row-major)."""
        d, g = self.embed_dim, self.pos_grid
        if self.pos_factorized:
            pair = naflex.resample_pair(g, rows, cols, "linear", False, False, self.pos_args[3])
            if pair is None:
                pe_y, pe_x = self.pos_embed_y[0], self.pos_embed_x[0]
            else:
                pe_y = ops.matmul(Tensor(pair[0]), self.pos_embed_y[0])  # [rows, D]
                pe_x = ops.matmul(Tensor(pair[1]), self.pos_embed_x[0])  # [cols, D]
            return (pe_y.reshape(rows, 1, d) + pe_x.reshape(1, cols, d)).reshape(rows * cols, d)
        return resampled_grid(self.pos_embed, g, d, rows, cols, self.pos_args)

    # NaFlex batches --------------------------------------------------------------------------
    @serialized
    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        if naflex.is_naflex_input(x) or args or kwargs:
            return self._naflex(x, *args, head=True, **kwargs)
        return super().__call__(x)

    @serialized
    def forward_features(self, x: Any, patch_coord: Any = None, patch_valid: Any = None) -> Any:
        """NCHW: tokens ``[B, T, D]``; a NaFlex batch: timm's ``{"patches": tokens, "patch_valid": mask}``."""
        if naflex.is_naflex_input(x) or patch_coord is not None or patch_valid is not None:
            return self._naflex(x, patch_coord, patch_valid, head=False)
        return super().forward_features(x)

    @serialized
    def forward_head(self, x: Tensor, pre_logits: bool = False, patch_valid: Any = None) -> Tensor:
        """Pool (leaving out padding when ``patch_valid`` is given), ``fc_norm``, then classify."""
        if patch_valid is None:
            return super().forward_head(x, pre_logits)
        valid = Tensor(np.asarray(_to_numpy(patch_valid), np.float32))
        if self.use_jit:
            return self._run_graph("_naflex_head", x, valid, pre_logits)
        return self._naflex_head(x, valid, pre_logits)

    def forward_intermediates(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        if naflex.is_naflex_input(x):
            raise FeatureError("forward_intermediates takes NCHW images; for a NaFlex batch use forward_features (per-image grids differ).")
        return super().forward_intermediates(x, *args, **kwargs)

    def _naflex(self, x: Any, patch_coord: Any = None, patch_valid: Any = None, *, head: bool) -> Any:
        patches, coord, valid = naflex.unpack(x, patch_coord, patch_valid, spec=self.spec, to_numpy=_to_numpy)
        if not isinstance(patches, Tensor):
            patches = Tensor(np.ascontiguousarray(_to_numpy(patches), np.float32))
        n = int(patches.shape[1])
        positions = self._batch_positions(naflex.grid_sizes(coord), n)
        valid_f = Tensor(valid.astype(np.float32))
        args = (patches.astype(positions.dtype), positions, valid_f)
        if head:
            return self._run_graph("_naflex_logits", *args) if self.use_jit else self._naflex_logits(*args)
        tokens = self._run_graph("_naflex_features", *args) if self.use_jit else self._naflex_features(*args)
        return {"patches": tokens, "patch_valid": Tensor(valid)}

    def _batch_positions(self, sizes: list, n: int) -> Tensor:
        """``[B, N, D]``: each image's resampled grid on its first ``h·w`` tokens, zeros after (timm's placement)."""
        grids: dict = {}
        rows = []
        for h, w in sizes:
            if (h, w) not in grids:
                grids[(h, w)] = self._grid_positions(h, w)
            pos = grids[(h, w)]
            m = h * w
            if m >= n:
                rows.append(pos[:n])
            else:
                rows.append(ops.cat((pos, ops.zeros((n - m, self.embed_dim), pos.dtype)), 0))
        return ops.stack(rows, 0)

    def _naflex_features(self, patches: Tensor, positions: Tensor, valid: Tensor) -> Tensor:
        """Tokens ``[B, prefix + N, D]`` after the final norm, from padded patches, their positions and validity."""
        b, n, k = patches.shape
        proj = self.patch_embed.proj
        weight = proj.weight.transpose(0, 2, 3, 1).reshape(self.embed_dim, k)  # the Linear over (p, p, C) patches
        x = ops.matmul(patches.reshape(b * n, k), weight.T)
        if proj.has_bias:
            x = ops.bias_add(x, proj.bias)
        x = x.reshape(b, n, self.embed_dim) + positions
        if self.num_prefix_tokens:
            x = ops.cat((ops.broadcast_to(self._prefix_tokens(), (b, self.num_prefix_tokens, self.embed_dim)), x), 1)
            valid = ops.cat((ops.ones((b, self.num_prefix_tokens), valid.dtype), valid), 1)
        if self.has_norm_pre:
            x = self.norm_pre(x)
        t = x.shape[1]
        both = valid.reshape(b, 1, t, 1) * valid.reshape(b, 1, 1, t)
        bias = (1.0 - both) * _MIN  # timm's symmetric mask: a pair counts only when both tokens are real
        for block in self.blocks:
            x = block(x, bias)
        return self._final_norm(x)

    def _naflex_head(self, x: Tensor, valid: Tensor, pre_logits: bool) -> Tensor:
        """timm's masked pooling: the MAP head's keys or the mean over real patches only (the class token as it is)."""
        b = x.shape[0]
        n0 = self.num_prefix_tokens
        if self.pool_kind == "map":
            keys = valid
            if self.pool_prefix and n0:
                keys = ops.cat((ops.ones((b, n0), valid.dtype), valid), 1)
            pooled = self.attn_pool(x, ((1.0 - keys) * _MIN).reshape(b, 1, 1, keys.shape[1]))
        elif self.pool_kind == "avg":
            count = ops.clamp(valid.sum(1, keepdims=True), 1.0)
            pooled = (x[:, n0:] * valid.reshape(b, valid.shape[1], 1)).sum(1) / count
        else:
            pooled = x[:, 0]
        if self.use_fc_norm:
            pooled = self.fc_norm(pooled)
        return self.classifier(pooled, pre_logits)

    def _naflex_logits(self, patches: Tensor, positions: Tensor, valid: Tensor) -> Tensor:
        return self._naflex_head(self._naflex_features(patches, positions, valid), valid, False)


def resampled_grid(pos_embed: Tensor, g: int, d: int, rows: int, cols: int, pos_args: tuple) -> Tensor:
    """``[rows·cols, D]``: a learned ``[1, g², D]`` grid resampled to ``rows × cols`` (row-major) by two constant matrices.

    ``pos_args`` are the spec's ``(pos_interp, pos_antialias, pos_align_corners, pos_ar_preserving)``; NaFlex's
    grids and the Qwen3 ViT's (bilinear, aligned corners) both go through here. The matrices depend only on the
    static sizes, so under ``jit`` they are compile-time constants.
    """
    pair = naflex.resample_pair(g, rows, cols, *pos_args)
    if pair is None:
        return pos_embed[0]
    grid = ops.matmul(Tensor(pair[0]), pos_embed.reshape(g, g * d)).reshape(rows, g, d)  # along the height
    grid = ops.matmul(ops.broadcast_to(Tensor(pair[1]), (rows, cols, g)), grid)  # along the width: [rows, cols, D]
    return grid.reshape(rows * cols, d)


def _to_numpy(value: Any) -> np.ndarray:
    """A MindSpore Tensor, NumPy array, torch tensor or list as a NumPy array (host side)."""
    if isinstance(value, Tensor):
        return value.asnumpy()
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor from timm's collator
        return value.detach().cpu().numpy()
    return np.asarray(value)
