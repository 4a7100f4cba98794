"""The plain ViT forward pass in NumPy (:class:`NumpyViT`), which every NumPy family model builds on.

The MLP, the pool and the classifier are chosen from the spec once, when the model is built; the families
(backends/numpy/__init__.py) combine it with their own parts.

Example:
    >>> import numpy as np, vitzoo
    >>> model = vitzoo.create("vit_ti_16", backend="numpy", depth=1)
    >>> type(model).__name__
    'NumpyViT'
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence, Union

import numpy as np

from vitzoo import features, rel_pos, rotary, sincos
from vitzoo.canonical import check_state, is_classifier
from vitzoo.init import init_state
from vitzoo.spec import ViTSpec

from .diff_attn import diff_attention
from .rope_attention import attn_scale_block, rope_attention
from .parallel import parallel_block
from .ops import ACTIVATIONS as _ACTIVATIONS, softmax as _softmax


class NumpyViT:
    """A ViT whose weights are a dict of canonical float32 arrays."""

    def __init__(self, spec: ViTSpec, state: Mapping[str, np.ndarray]) -> None:
        check_state(state, spec)
        self.spec = spec
        self.state = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}
        self.pretrained_cfg: dict[str, Any] = {}
        self._act = _ACTIVATIONS[spec.gelu]
        self._mlp = {"mlp": self._normed_mlp if spec.mlp_norm else self._plain_mlp, "swiglu": self._swiglu,
                     "swiglu_split": self._swiglu_split}[spec.mlp_type]
        self._ls = ("gamma_1", "gamma_2") if spec.block == "eva" else ("ls1.gamma", "ls2.gamma")
        # BEiT: the table row of every token pair, for the one grid the tables were made for
        self._rel_index = rel_pos.relative_position_index(spec.grid_size) if spec.rel_pos_bias == "block" else None
        if spec.diff_attn:  # timm's differential attention in the plain block
            self._attention = lambda x, p, rope=None: diff_attention(self, x, p, rope)
        if spec.block == "eva" and (spec.qk_norm or spec.num_kv_heads):  # timm's AttentionRope (Sapiens2)
            self._attention = lambda x, p, rope=None: rope_attention(self, x, p, rope)
        if spec.attn_only_layer_scale:  # Sapiens2: no layer scale on the MLP branch
            self._block = lambda x, p, rope=None: attn_scale_block(self, x, p, rope)
        if spec.post_norm:  # EVA-02-E: the norms after attention and MLP
            self._block = self._post_norm_block
        if spec.block == "parallel":  # timm's ParallelScalingBlock: attention and MLP side by side
            self._block = lambda x, p, rope=None: parallel_block(self, x, p, rope)
        # RoPE-Mixed gives every block its own tables; the other forms one table for all blocks
        self._block_rope = self._own_rope if spec.rope == "mixed" else self._shared_rope
        if spec.dist_token:
            self._pool = self._distilled_pool
        else:
            self._pool = {"token": self._token_pool, "avg": self._avg_pool, "map": self._attention_pool,
                          "query": self._query_pool}[spec.global_pool]
        self._set_classifier()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward_head(self.forward_features(x))

    def forward_features(self, x: np.ndarray) -> np.ndarray:
        """Tokens ``[B, prefix + patches, D]`` after the final norm."""
        rope = self._positions(x)
        x = self._embed_tokens(x)
        for i in range(self.spec.depth):
            x = self._block(x, f"blocks.{i}.", self._block_rope(rope, i))
        return self._final_norm(x)

    def _positions(self, x: np.ndarray) -> Any:
        """``(cos, sin)`` rotary tables for this input's patch grid, or ``None`` (kept per call: no shared state)."""
        s = self.spec
        if s.rope == "none":
            return None
        rows, cols = features.check_input(s, np.shape(x))
        if s.rope == "mixed":
            return rotary.mixed_tables(s, self.state["rope.freqs"], rows, cols, s.num_prefix_tokens)
        return rotary.tables(s, rows, cols, s.num_prefix_tokens)

    @staticmethod
    def _shared_rope(rope: Any, i: int) -> Any:
        return rope

    @staticmethod
    def _own_rope(rope: Any, i: int) -> Any:
        return rope[0][i], rope[1][i]  # block i's [heads, N, head_dim] tables

    def forward_intermediates(
        self,
        x: np.ndarray,
        indices: Union[int, Sequence[int], None] = None,
        return_prefix_tokens: bool = False,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
        output_dict: bool = False,
    ) -> Any:
        """Per-block features with timm's arguments and results (see the MindSpore model's method)."""
        s = self.spec
        nchw = features.check_output_fmt(output_fmt)
        take, max_index = features.take_indices(s.depth, indices)
        x = np.asarray(x, dtype=np.float32)
        rows, cols = features.check_input(s, x.shape)
        rope = self._positions(x)
        x = self._embed_tokens(x)
        n = s.num_prefix_tokens
        spatial, prefix = [], []
        for i in range(max_index + 1 if stop_early else s.depth):
            x = self._block(x, f"blocks.{i}.", self._block_rope(rope, i))
            if i in take:
                y = self._final_norm(x) if norm else x
                prefix.append(y[:, :n])
                y = y[:, n:]
                spatial.append(y.reshape(len(y), rows, cols, -1).transpose(0, 3, 1, 2) if nchw else y)
        return features.pack_intermediates(self._final_norm(x), spatial, prefix, n > 0, return_prefix_tokens, intermediates_only, output_dict)

    def _final_norm(self, x: np.ndarray) -> np.ndarray:
        return self._norm(x, "norm") if self.spec.final_norm and not self.spec.fc_norm else x

    def _embed_tokens(self, x: np.ndarray) -> np.ndarray:
        s, w = self.spec, self.state
        x = np.asarray(x, dtype=np.float32)
        rows, cols = features.check_input(s, x.shape)
        p = s.patch_size
        b, c, h, wd = x.shape
        if rows * p > h or cols * p > wd:  # dynamic_img_pad: zeros at the bottom and right
            x = np.pad(x, ((0, 0), (0, 0), (0, rows * p - h), (0, cols * p - wd)))
        x = x[:, :, : rows * p, : cols * p]  # a fixed size the patch does not divide: timm's strided conv leaves the rest out
        patches = x.reshape(b, c, rows, p, cols, p).transpose(0, 2, 4, 1, 3, 5).reshape(b, rows * cols, c * p * p)
        x = patches @ w["patch_embed.proj.weight"].reshape(s.embed_dim, -1).T
        if s.patch_bias:
            x = x + w["patch_embed.proj.bias"]
        if s.patch_norm:
            x = self._norm(x, "patch_embed.norm")
        prefix = [np.broadcast_to(w[n], (b, w[n].shape[1], s.embed_dim)) for n in ("cls_token", "dist_token", "reg_token") if n in w]
        if s.sincos_pos:  # AIMv2 native: no prefix tokens, a sin-cos embedding of this grid
            x = x + sincos.table(rows, cols, s.embed_dim)
        elif not s.abs_pos_embed:
            x = np.concatenate([*prefix, x], axis=1)
        else:
            pos = self._pos_embed(rows, cols)
            if s.pos_embed_prefix:
                x = np.concatenate([*prefix, x], axis=1) + pos
            else:
                x = np.concatenate([*prefix, x + pos], axis=1)
        if s.pre_norm:
            x = self._norm(x, "norm_pre")
        return x

    def _pos_embed(self, rows: int, cols: int) -> np.ndarray:
        """``pos_embed`` for a ``rows × cols`` patch grid (resampled with ``dynamic_img_size``)."""
        s, pos = self.spec, self.state["pos_embed"]
        if s.dynamic_img_size:
            return features.resample_pos_embed_numpy(pos, s.grid_size, rows, cols, s.num_prefix_tokens if s.pos_embed_prefix else 0)
        return pos

    def forward_head(self, x: np.ndarray, pre_logits: bool = False) -> np.ndarray:
        """Pool the tokens, then classify (or return the pooled features)."""
        s, w = self.spec, self.state
        x = self._pool(x)
        if s.fc_norm and s.final_norm:
            x = self._norm(x, "fc_norm")
        if s.pre_logits_dim:
            x = np.tanh(x @ w["pre_logits.fc.weight"].T + w["pre_logits.fc.bias"])
        return self._classify(x, pre_logits)

    def reset_classifier(self, num_classes: int, seed: int = 0) -> None:
        """Replace the head(s) with freshly initialised ones for ``num_classes`` classes (0 removes them)."""
        spec = self.spec.replace(num_classes=num_classes)
        fresh = init_state(spec, seed=seed)
        state = {k: v for k, v in self.state.items() if not is_classifier(k)}
        state.update({k: v for k, v in fresh.items() if is_classifier(k)})
        self.spec, self.state = spec, state
        self._set_classifier()

    # Heads: one pool and one classifier per model, chosen from the spec ----------
    def _set_classifier(self) -> None:
        s = self.spec
        self._classify = self._distilled_classifier if s.dist_token else self._linear_classifier if s.num_classes else self._no_classifier

    def _token_pool(self, x: np.ndarray) -> np.ndarray:
        return x[:, 0]

    def _avg_pool(self, x: np.ndarray) -> np.ndarray:
        return x[:, self.spec.num_prefix_tokens :].mean(axis=1)

    def _distilled_pool(self, x: np.ndarray) -> np.ndarray:
        return x[:, :2]  # class and distillation tokens

    def _attention_pool(self, x: np.ndarray) -> np.ndarray:
        """timm's AttentionPoolLatent: one learned query attends over the patch tokens, then a residual MLP."""
        s, w, p = self.spec, self.state, "attn_pool."
        x = x if s.pool_include_prefix else x[:, s.num_prefix_tokens :]
        b, n, d = x.shape
        heads = s.map_heads
        hd = d // heads
        q = self._linear(w[p + "latent"][0], p + "q").reshape(heads, 1, hd)
        kv = self._linear(x, p + "kv").reshape(b, n, 2, heads, hd).transpose(2, 0, 3, 1, 4)
        out = _softmax((q * np.float32(hd**-0.5)) @ kv[0].transpose(0, 1, 3, 2)) @ kv[1]  # [B, heads, 1, head_dim]
        out = self._linear(out.reshape(b, d), p + "proj")
        return out + self._plain_mlp(self._norm(out, p + "norm"), p + "mlp.")

    def _query_pool(self, x: np.ndarray) -> np.ndarray:
        """AIMv2's attention pooling head: the learned query token (no projection) attends over k(x), v(x), then proj."""
        s, p = self.spec, "query_pool."
        x = x[:, s.num_prefix_tokens :]
        b, n, d = x.shape
        heads, hd = s.num_heads, s.head_dim
        q = self.state[p + "query"].reshape(heads, 1, hd) * np.float32(hd**-0.5)
        k = self._linear(x, p + "k").reshape(b, n, heads, hd).transpose(0, 2, 1, 3)
        v = self._linear(x, p + "v").reshape(b, n, heads, hd).transpose(0, 2, 1, 3)
        out = _softmax(q @ k.transpose(0, 1, 3, 2)) @ v  # [B, heads, 1, head_dim]
        return self._linear(out.reshape(b, d), p + "proj")

    def _linear_classifier(self, x: np.ndarray, pre_logits: bool) -> np.ndarray:
        return x if pre_logits else self._linear(x, "head")

    def _no_classifier(self, x: np.ndarray, pre_logits: bool) -> np.ndarray:
        return x

    def _distilled_classifier(self, x: np.ndarray, pre_logits: bool) -> np.ndarray:
        """DeiT distilled at eval: the mean of ``head`` on the class token and ``head_dist`` on the distillation token."""
        if pre_logits or not self.spec.num_classes:
            return (x[:, 0] + x[:, 1]) * np.float32(0.5)
        return (self._linear(x[:, 0], "head") + self._linear(x[:, 1], "head_dist")) * np.float32(0.5)

    # Building blocks --------------------------------------------------------
    def _block(self, x: np.ndarray, p: str, rope: Any = None) -> np.ndarray:
        s, w = self.spec, self.state
        y = self._attention(self._norm(x, p + "norm1"), p + "attn.", rope)
        x = x + (y * w[p + self._ls[0]] if s.layer_scale else y)
        y = self._mlp(self._norm(x, p + "norm2"), p + "mlp.")
        return x + (y * w[p + self._ls[1]] if s.layer_scale else y)

    def _post_norm_block(self, x: np.ndarray, p: str, rope: Any = None) -> np.ndarray:
        """timm's ``EvaBlockPostNorm``: ``x + norm1(attn(x))``, then ``x + norm2(mlp(x))``."""
        x = x + self._norm(self._attention(x, p + "attn.", rope), p + "norm1")
        return x + self._norm(self._mlp(x, p + "mlp."), p + "norm2")

    def _plain_mlp(self, x: np.ndarray, p: str) -> np.ndarray:
        return self._linear(self._gelu(self._linear(x, p + "fc1")), p + "fc2")

    def _normed_mlp(self, x: np.ndarray, p: str) -> np.ndarray:
        return self._linear(self._norm(self._gelu(self._linear(x, p + "fc1")), p + "norm"), p + "fc2")

    def _swiglu_split(self, x: np.ndarray, p: str) -> np.ndarray:
        """timm's SwiGLU: ``fc2(norm(silu(fc1_g(x)) · fc1_x(x)))`` (the norm with ``mlp_norm``)."""
        gate = self._linear(x, p + "fc1_g")
        with np.errstate(over="ignore"):
            h = gate / (1 + np.exp(-gate)) * self._linear(x, p + "fc1_x")
        if self.spec.mlp_norm:
            h = self._norm(h, p + "norm")
        return self._linear(h, p + "fc2")

    def _swiglu(self, x: np.ndarray, p: str) -> np.ndarray:
        """timm's packed SwiGLU: ``fc1`` gives ``[gate, value]``; ``fc2(silu(gate) · value)``."""
        h = self._linear(x, p + "fc1")
        gate, value = h[..., : self.spec.mlp_dim], h[..., self.spec.mlp_dim :]
        with np.errstate(over="ignore"):  # exp(-gate) → inf for very negative gates gives silu = -0, as it should
            silu = gate / (1 + np.exp(-gate))
        return self._linear(silu * value, p + "fc2")

    def _attention(self, x: np.ndarray, p: str, rope: Any = None) -> np.ndarray:
        s = self.spec
        b, n, d = x.shape
        qkv = self._qkv(x, p).reshape(b, n, 3, s.num_heads, s.head_dim).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if rope is not None:  # timm: x·cos + rotate(x)·sin on q and k (prefix rows: cos 1, sin 0)
            cos, sin = rope
            turn = rotary.rotation(s.head_dim, s.rope_half)
            q, k = q * cos + (q @ turn) * sin, k * cos + (k @ turn) * sin
        if s.qk_norm:
            q, k = self._norm(q, p + "q_norm"), self._norm(k, p + "k_norm")
        scores = (q * np.float32(s.head_dim**-0.5)) @ k.transpose(0, 1, 3, 2)
        if self._rel_index is not None:
            scores = scores + rel_pos.bias(self.state[p + "relative_position_bias_table"], self._rel_index)
        out = (_softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
        if s.attn_norm:
            out = self._norm(out, p + "norm")
        return self._linear(out, p + "proj")

    def _qkv(self, x: np.ndarray, p: str) -> np.ndarray:
        """The packed ``[.., 3D]`` projection, from ``qkv`` (plus EVA's q/v biases) or from q/k/v apart."""
        w = self.state
        if not self.spec.qkv_fused:
            return np.concatenate([self._linear(x, p + part + "_proj") for part in "qkv"], axis=-1)
        qkv = self._linear(x, p + "qkv")
        if p + "q_bias" in w:
            qkv += np.concatenate([w[p + "q_bias"], np.zeros_like(w[p + "q_bias"]), w[p + "v_bias"]])
        return qkv

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        # one 2-D GEMM over all tokens (a 3-D matmul is one BLAS call per image), bias added in place
        y = x.reshape(-1, x.shape[-1]) @ self.state[name + ".weight"].T
        bias = self.state.get(name + ".bias")
        if bias is not None:
            y += bias
        return y.reshape(*x.shape[:-1], y.shape[-1])

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        if self.spec.norm_type == "rms":  # timm's RmsNorm: no centring, no bias
            ms_ = np.einsum("...i,...i->...", x, x)[..., None] / np.float32(x.shape[-1])
            return x / np.sqrt(ms_ + np.float32(self.spec.norm_eps)) * self.state[name + ".weight"]
        mean = x.mean(axis=-1, keepdims=True)
        centred = x - mean
        var = np.einsum("...i,...i->...", centred, centred)[..., None] / np.float32(x.shape[-1])
        centred *= 1.0 / np.sqrt(var + np.float32(self.spec.norm_eps))
        centred *= self.state[name + ".weight"]
        centred += self.state[name + ".bias"]
        return centred

    def _gelu(self, x: np.ndarray) -> np.ndarray:
        """GELU in place on ``x`` (a fresh fc1 output), a block of rows at a time so temporaries stay in cache."""
        x = np.ascontiguousarray(x)  # so that the flat view below is a view
        flat = x.reshape(-1)
        step = 1 << 15
        for i in range(0, flat.size, step):
            part = flat[i : i + step]
            part[...] = self._act(part)
        return x
