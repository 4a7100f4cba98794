"""Feature extraction for the MindSpore ViT: timm's ``forward_intermediates`` and run-time image sizes.

:class:`~.vit.VisionTransformer` calls into this module from small hooks, so the
model file keeps to the forward pass. Everything that runs on tensors here can be
parsed by MindSpore's graph compiler (``jit=True``, ``mindspore.export``): image
sizes come from static shapes, and the position-embedding resampling matrices are
computed in NumPy at compile time (one graph per input shape).

Example:
    >>> import numpy as np, mindspore as ms, vitzoo
    >>> model = vitzoo.create("vit_ti_16", img_size=32, depth=2, num_classes=0)
    >>> maps = model.forward_intermediates(ms.Tensor(np.zeros((1, 3, 32, 32), np.float32)), intermediates_only=True)
    >>> [tuple(m.shape) for m in maps]
    [(1, 192, 2, 2), (1, 192, 2, 2)]
"""

from __future__ import annotations

from typing import Any, Optional, Union

from mindspore import Tensor, ops

from vitzoo.features import Indices, _matrix, check_input, check_output_fmt, pack_intermediates, take_indices


def pad_to_patches(x: Tensor, patch: int) -> Tensor:
    """Zero-pad an NCHW image at the bottom and right up to multiples of ``patch`` (timm's ``dynamic_img_pad``).

    Written as concatenations: MindSpore's ONNX exporter has no mapping for its Pad op.
    """
    b, c, h, w = x.shape
    pad_h = (patch - h % patch) % patch
    pad_w = (patch - w % patch) % patch
    if pad_w:
        x = ops.cat((x, ops.zeros((b, c, h, pad_w), x.dtype)), 3)
    if pad_h:
        x = ops.cat((x, ops.zeros((b, c, pad_h, w + pad_w), x.dtype)), 2)
    return x


def resampled_pos_embed(pos_embed: Tensor, old_grid: int, rows: int, cols: int, num_prefix_tokens: int) -> Tensor:
    """``pos_embed`` for a ``rows × cols`` patch grid, as timm's ``resample_abs_pos_embed`` (bicubic, antialiased).

    The prefix (class/register) positions pass through; the grid is resampled as
    ``R_rows · G · R_colsᵀ`` with constant matrices, so gradients reach ``pos_embed``.
    """
    if rows == old_grid and cols == old_grid:
        return pos_embed
    d = pos_embed.shape[-1]
    r_rows = Tensor(_matrix(old_grid, rows))  # [rows, old]; a compile-time constant under jit
    r_cols = Tensor(_matrix(old_grid, cols))  # [cols, old]
    grid = pos_embed[:, num_prefix_tokens:].reshape(old_grid, old_grid * d)
    grid = ops.matmul(r_rows, grid).reshape(rows, old_grid, d)  # along the height
    grid = ops.matmul(ops.broadcast_to(r_cols, (rows, cols, old_grid)), grid)  # along the width: [rows, cols, d]
    grid = grid.reshape(1, rows * cols, d)
    if num_prefix_tokens:
        return ops.cat((pos_embed[:, :num_prefix_tokens], grid), 1)
    return grid


def intermediates(model: Any, x: Tensor, take: tuple, norm: bool, last: int, nchw: bool) -> tuple:
    """The graph part of ``forward_intermediates``: ``(final_tokens, spatial_list, prefix_list)``.

    ``take`` (absolute block indices), ``norm``, ``last`` (the last block to run)
    and ``nchw`` are Python constants, so each combination is its own graph.
    """
    b = x.shape[0]
    rows, cols = model._patch_grid(x.shape[2], x.shape[3])
    rope = model._positions(x.shape[2], x.shape[3])
    x = model._embed_tokens(x)
    n = model.num_prefix_tokens
    spatial = []
    prefix = []
    for i, block in enumerate(model.blocks):
        if i <= last:
            x = block(x, rope)
            if i in take:
                y = model._final_norm(x) if norm else x
                if n:
                    prefix.append(y[:, :n])
                y = y[:, n:]
                if nchw:
                    y = y.reshape(b, rows, cols, -1).transpose(0, 3, 1, 2)
                spatial.append(y)
    return model._final_norm(x), spatial, prefix


def forward_intermediates(
    model: Any,
    x: Tensor,
    indices: Indices = None,
    return_prefix_tokens: bool = False,
    norm: bool = False,
    stop_early: bool = False,
    output_fmt: str = "NCHW",
    intermediates_only: bool = False,
    output_dict: bool = False,
) -> Union[list, tuple, dict]:
    """timm's ``VisionTransformer.forward_intermediates`` (see the model method for the arguments)."""
    nchw = check_output_fmt(output_fmt)
    take, max_index = take_indices(len(model.blocks), indices)
    check_input(model.spec, x.shape)  # a clear error for a size the model cannot take
    last = max_index if stop_early else len(model.blocks) - 1
    args = (x, tuple(take), bool(norm), last, nchw)
    final, spatial, prefix = model._run_graph("_intermediates", *args) if model.use_jit else model._intermediates(*args)
    return pack_intermediates(final, list(spatial), list(prefix), model.num_prefix_tokens > 0, return_prefix_tokens, intermediates_only, output_dict)


# vitzoo.embed's graph ------------------------------------------------------------
def _pool_tokens(model: Any, tokens: Tensor, pool: str) -> Tensor:
    n = model.num_prefix_tokens
    if pool == "cls":
        return tokens[:, 0]
    if pool == "map":
        return model.attn_pool(tokens)  # it leaves the prefix tokens out itself
    return tokens[:, n:].mean(1)


def _finish(model: Any, pooled: Tensor) -> Tensor:
    """What the model does between pooling and its head: ``fc_norm``, then a pre-logits layer."""
    if model.use_fc_norm:
        pooled = model.fc_norm(pooled)
    if model.has_pre_logits:
        pooled = model.pre_logits(pooled)
    return pooled


def embed_graph(model: Any, x: Tensor, pool: Optional[str], take: tuple, normalize: bool, head_output: bool, layer_pool: str) -> tuple:
    """``images → (embeddings, per-block pooled features...)``; every argument after ``x`` is a graph constant."""
    spatial = []
    prefix = []
    if take:
        tokens, spatial, prefix = model._intermediates(x, take, True, len(model.blocks) - 1, False)  # the model's own (CaiT's differ)
    else:
        tokens = model._features(x)
    if pool is None:
        emb = model._head(tokens, not head_output)
    else:
        emb = _finish(model, _pool_tokens(model, tokens, pool))
    outs = [emb]
    for i in range(len(take)):
        if layer_pool == "cls":
            outs.append(prefix[i][:, 0])
        else:
            outs.append(spatial[i].mean(1))
    if normalize:
        outs = [o / ops.maximum(ops.sqrt((o * o).sum(-1, keepdims=True)), 1e-12) for o in outs]  # torch's F.normalize
    return tuple(outs)
