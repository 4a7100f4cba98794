"""The NumPy reference backend: the ViT forward pass in plain NumPy.

An independent implementation for tests, and the path for users without a
deep-learning framework. Inference only.

Example:
    >>> import numpy as np, vitzoo
    >>> model = vitzoo.create("vit_ti_16", backend="numpy", depth=1)
    >>> model(np.zeros((1, 3, 224, 224), np.float32)).shape
    (1, 1000)
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from vitzoo.canonical import check_state
from vitzoo.init import init_state
from vitzoo.spec import ViTSpec


class NumpyViT:
    """A ViT whose weights are a dict of canonical float32 arrays."""

    def __init__(self, spec: ViTSpec, state: Mapping[str, np.ndarray]) -> None:
        check_state(state, spec)
        self.spec = spec
        self.state = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}
        self.pretrained_cfg: dict[str, Any] = {}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward_head(self.forward_features(x))

    def forward_features(self, x: np.ndarray) -> np.ndarray:
        """Tokens ``[B, prefix + patches, D]`` after the final norm."""
        s, w = self.spec, self.state
        x = np.asarray(x, dtype=np.float32)
        b, c, h, wd = x.shape
        if (c, h, wd) != (s.in_chans, s.img_size, s.img_size):
            raise ValueError(f"expected input [B, {s.in_chans}, {s.img_size}, {s.img_size}], got {list(x.shape)}")
        g, p = s.grid_size, s.patch_size
        patches = x.reshape(b, c, g, p, g, p).transpose(0, 2, 4, 1, 3, 5).reshape(b, g * g, c * p * p)
        x = patches @ w["patch_embed.proj.weight"].reshape(s.embed_dim, -1).T
        if s.patch_bias:
            x = x + w["patch_embed.proj.bias"]
        prefix = []
        if s.class_token:
            prefix.append(np.broadcast_to(w["cls_token"], (b, 1, s.embed_dim)))
        if s.reg_tokens:
            prefix.append(np.broadcast_to(w["reg_token"], (b, s.reg_tokens, s.embed_dim)))
        if s.pos_embed_prefix:
            x = np.concatenate([*prefix, x], axis=1) + w["pos_embed"]
        else:
            x = np.concatenate([*prefix, x + w["pos_embed"]], axis=1)
        if s.pre_norm:
            x = self._norm(x, "norm_pre")
        for i in range(s.depth):
            x = self._block(x, f"blocks.{i}.")
        return x if s.fc_norm else self._norm(x, "norm")

    def forward_head(self, x: np.ndarray, pre_logits: bool = False) -> np.ndarray:
        """Pool the tokens, then classify (or return the pooled features)."""
        s, w = self.spec, self.state
        x = x[:, 0] if s.global_pool == "token" else x[:, s.num_prefix_tokens :].mean(axis=1)
        if s.fc_norm:
            x = self._norm(x, "fc_norm")
        if s.pre_logits_dim:
            x = np.tanh(x @ w["pre_logits.fc.weight"].T + w["pre_logits.fc.bias"])
        if pre_logits or not s.num_classes:
            return x
        return x @ w["head.weight"].T + w["head.bias"]

    def reset_classifier(self, num_classes: int, seed: int = 0) -> None:
        """Replace the head with a freshly initialised one for ``num_classes`` classes (0 removes it)."""
        spec = self.spec.replace(num_classes=num_classes)
        fresh = init_state(spec, seed=seed)
        state = {k: v for k, v in self.state.items() if not k.startswith("head.")}
        state.update({k: v for k, v in fresh.items() if k.startswith("head.")})
        self.spec, self.state = spec, state

    # Building blocks --------------------------------------------------------
    def _block(self, x: np.ndarray, p: str) -> np.ndarray:
        s, w = self.spec, self.state
        y = self._attention(self._norm(x, p + "norm1"), p + "attn.")
        x = x + (y * w[p + "ls1.gamma"] if s.layer_scale else y)
        y = self._linear(self._gelu(self._linear(self._norm(x, p + "norm2"), p + "mlp.fc1")), p + "mlp.fc2")
        return x + (y * w[p + "ls2.gamma"] if s.layer_scale else y)

    def _attention(self, x: np.ndarray, p: str) -> np.ndarray:
        s = self.spec
        b, n, d = x.shape
        qkv = self._linear(x, p + "qkv").reshape(b, n, 3, s.num_heads, s.head_dim).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if s.qk_norm:
            q, k = self._norm(q, p + "q_norm"), self._norm(k, p + "k_norm")
        scores = (q * np.float32(s.head_dim**-0.5)) @ k.transpose(0, 1, 3, 2)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        out = (scores @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
        return self._linear(out, p + "proj")

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        y = x @ self.state[name + ".weight"].T
        bias = self.state.get(name + ".bias")
        return y if bias is None else y + bias

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        centred = x - mean
        var = (centred * centred).mean(axis=-1, keepdims=True)
        return centred / np.sqrt(var + np.float32(self.spec.norm_eps)) * self.state[name + ".weight"] + self.state[name + ".bias"]

    def _gelu(self, x: np.ndarray) -> np.ndarray:
        if self.spec.gelu == "tanh":
            return 0.5 * x * (1.0 + np.tanh(np.float32(0.7978845608028654) * (x + np.float32(0.044715) * x * x * x)))
        return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to ~1e-7 absolute (Abramowitz & Stegun 7.1.26); NumPy has no erf of its own."""
    sign = np.sign(x)
    a = np.abs(x).astype(np.float64)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)


class NumpyBackend:
    name = "numpy"

    def build(self, spec: ViTSpec, state: Optional[Mapping[str, np.ndarray]] = None, *, jit: bool = False) -> NumpyViT:
        return NumpyViT(spec, init_state(spec) if state is None else state)

    def state_dict(self, model: NumpyViT) -> dict[str, np.ndarray]:
        return dict(model.state)


backend = NumpyBackend()
