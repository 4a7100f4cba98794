"""timm's NaFlexVit on NumPy: NCHW images of any size and NaFlex dictionaries (see :mod:`vitzoo.naflex`).

NCHW: the learned grid is resampled to the image's patch grid. Dictionaries: each image's grid
size comes from its patch coordinates, its resampled grid is added to its first ``h·w`` tokens,
attention is masked (timm's symmetric mask: padding neither attends nor is attended) and the
pooling leaves the padding out.

Example:
    >>> import numpy as np, vitzoo
    >>> from vitzoo.naflex import patchify
    >>> model = vitzoo.create("naflexvit_base_patch16_siglip", backend="numpy", depth=1)
    >>> batch = patchify([np.zeros((3, 32, 64), np.float32), np.zeros((3, 48, 16), np.float32)], 16)
    >>> model(batch).shape, model(np.zeros((1, 3, 32, 48), np.float32)).shape
    ((2, 768), (1, 768))
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from vitzoo import features, naflex

from .ops import softmax


class NaFlexForward:
    """The NaFlex parts of :class:`~vitzoo.backends.numpy.NumpyViT` (a mixin: the class itself is built there)."""

    def __call__(self, x: Any, patch_coord: Any = None, patch_valid: Any = None) -> np.ndarray:
        if naflex.is_naflex_input(x) or patch_coord is not None:
            out = self.forward_features(x, patch_coord, patch_valid)
            return self.forward_head(out["patches"], patch_valid=out["patch_valid"])
        return self.forward_head(self.forward_features(x))

    def forward_features(self, x: Any, patch_coord: Any = None, patch_valid: Any = None) -> Any:
        """NCHW: tokens ``[B, T, D]``; a NaFlex batch: timm's ``{"patches": tokens, "patch_valid": mask}``."""
        if not (naflex.is_naflex_input(x) or patch_coord is not None):
            return super().forward_features(x)
        s = self.spec
        patches, coord, valid = naflex.unpack(x, patch_coord, patch_valid, spec=s)
        patches = np.asarray(patches, np.float32)
        b, n, _ = patches.shape
        w = self.state
        weight = w["patch_embed.proj.weight"].transpose(0, 2, 3, 1).reshape(s.embed_dim, -1)  # the Linear over (p, p, C) patches
        tokens = patches.reshape(b * n, -1) @ weight.T
        if s.patch_bias:
            tokens += w["patch_embed.proj.bias"]
        tokens = tokens.reshape(b, n, s.embed_dim) + naflex.batch_positions_numpy(s, w, naflex.grid_sizes(coord), n)
        tokens = self._with_prefix(tokens)
        bias = naflex.attention_bias(valid, s.num_prefix_tokens)
        for i in range(s.depth):
            tokens = self._block(tokens, f"blocks.{i}.", bias)
        return {"patches": self._final_norm(tokens), "patch_valid": valid}

    def forward_head(self, x: np.ndarray, pre_logits: bool = False, patch_valid: Any = None) -> np.ndarray:
        """Pool (leaving out padding when ``patch_valid`` is given), ``fc_norm``, then classify."""
        if patch_valid is None:
            return super().forward_head(x, pre_logits)
        s = self.spec
        valid = np.asarray(patch_valid).astype(bool)
        n = s.num_prefix_tokens
        if s.global_pool == "map":
            keys = np.concatenate([np.ones((len(valid), n), bool), valid], 1) if s.pool_include_prefix and n else valid
            x = self._attention_pool(x, naflex.key_bias(keys))
        elif s.global_pool == "avg":  # timm's masked mean of the patch tokens (at least one counted)
            v = valid.astype(np.float32)
            x = (x[:, n:] * v[..., None]).sum(1) / np.maximum(v.sum(1, keepdims=True), 1.0)
        else:
            x = x[:, 0]
        if s.fc_norm and s.final_norm:
            x = self._norm(x, "fc_norm")
        return self._classify(x, pre_logits)

    def forward_intermediates(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        if naflex.is_naflex_input(x):
            raise features.FeatureError("forward_intermediates takes NCHW images; for a NaFlex batch use forward_features (per-image grids differ).")
        return super().forward_intermediates(x, *args, **kwargs)

    def _embed_tokens(self, x: np.ndarray) -> np.ndarray:
        """NCHW images → patch tokens plus the resampled grid, then the class/register tokens in front."""
        s, w = self.spec, self.state
        x = np.asarray(x, dtype=np.float32)
        rows, cols = features.check_input(s, x.shape)
        p = s.patch_size
        b, c, h, wd = x.shape
        if rows * p > h or cols * p > wd:  # dynamic_img_pad: zeros at the bottom and right
            x = np.pad(x, ((0, 0), (0, 0), (0, rows * p - h), (0, cols * p - wd)))
        patches = x.reshape(b, c, rows, p, cols, p).transpose(0, 2, 4, 1, 3, 5).reshape(b, rows * cols, c * p * p)
        tokens = patches @ w["patch_embed.proj.weight"].reshape(s.embed_dim, -1).T
        if s.patch_bias:
            tokens = tokens + w["patch_embed.proj.bias"]
        tokens = tokens + naflex.position_grid_numpy(s, w, rows, cols)
        return self._with_prefix(tokens)

    def _with_prefix(self, tokens: np.ndarray) -> np.ndarray:
        w, b = self.state, len(tokens)
        prefix = [np.broadcast_to(w[k], (b, w[k].shape[1], self.spec.embed_dim)) for k in ("cls_token", "reg_token") if k in w]
        x = np.concatenate([*prefix, tokens], axis=1) if prefix else tokens
        return self._norm(x, "norm_pre") if self.spec.pre_norm else x  # timm's norm_pre follows the embedding module

    def _block(self, x: np.ndarray, p: str, bias: Optional[np.ndarray] = None) -> np.ndarray:
        s, w = self.spec, self.state
        y = self._masked_attention(self._norm(x, p + "norm1"), p + "attn.", bias)
        x = x + (y * w[p + "ls1.gamma"] if s.layer_scale else y)
        y = self._mlp(self._norm(x, p + "norm2"), p + "mlp.")
        return x + (y * w[p + "ls2.gamma"] if s.layer_scale else y)

    def _masked_attention(self, x: np.ndarray, p: str, bias: Optional[np.ndarray]) -> np.ndarray:
        s = self.spec
        b, n, d = x.shape
        qkv = self._linear(x, p + "qkv").reshape(b, n, 3, s.num_heads, s.head_dim).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if s.qk_norm:
            q, k = self._norm(q, p + "q_norm"), self._norm(k, p + "k_norm")
        scores = (q * np.float32(s.head_dim**-0.5)) @ k.transpose(0, 1, 3, 2)
        if bias is not None:
            scores += bias
        out = (softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
        return self._linear(out, p + "proj")

    def _attention_pool(self, x: np.ndarray, bias: Optional[np.ndarray] = None) -> np.ndarray:
        """timm's AttentionPoolLatent, with an additive mask over the keys (``[B, 1, 1, N]``) for NaFlex batches."""
        s, w, p = self.spec, self.state, "attn_pool."
        x = x if s.pool_include_prefix else x[:, s.num_prefix_tokens :]
        b, n, d = x.shape
        heads = s.map_heads
        hd = d // heads
        q = self._linear(w[p + "latent"][0], p + "q").reshape(heads, 1, hd)
        kv = self._linear(x, p + "kv").reshape(b, n, 2, heads, hd).transpose(2, 0, 3, 1, 4)
        scores = (q * np.float32(hd**-0.5)) @ kv[0].transpose(0, 1, 3, 2)  # [B, heads, 1, N]
        if bias is not None:
            scores = scores + bias
        out = softmax(scores) @ kv[1]
        out = self._linear(out.reshape(b, d), p + "proj")
        return out + self._plain_mlp(self._norm(out, p + "norm"), p + "mlp.")
