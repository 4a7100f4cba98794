"""The heads of a ViT as small Cells: how tokens are pooled, and how pooled features are classified.

One pool and one classifier are chosen from the spec when the model is built, so a
family's head never adds a branch to another family's forward pass:

- pools: :class:`TokenPool` (class token), :class:`AvgPool` (mean of the patch tokens),
  :class:`AttentionPool` (SigLIP's MAP head, timm's ``AttentionPoolLatent``), :class:`QueryPool`
  (AIMv2's attention pooling head) and
  :class:`DistilledPool` (DeiT's class and distillation tokens, ``[B, 2, D]``);
- classifiers: :class:`LinearClassifier`, :class:`DistilledClassifier` (mean of ``head``
  and ``head_dist``) and :class:`NoClassifier` (pooled features out).

Parameters keep their canonical names because the model owns them under those
names (``head``, ``head_dist``, ``attn_pool``, ``query_pool``); a classifier or pool that uses
them only borrows them (:func:`borrow`), so they are not registered twice.

Example:
    >>> import numpy as np
    >>> from mindspore import Tensor
    >>> AvgPool(1)(Tensor(np.arange(12, dtype=np.float32).reshape(1, 3, 4))).shape
    (1, 4)
"""

from __future__ import annotations

from typing import Optional

from mindspore import Tensor, nn, ops

from vitzoo.spec import ViTSpec

from .layers import LayerNorm, Linear, Mlp, State, to_parameter


def borrow(owner: nn.Cell, attr: str, cell: nn.Cell) -> None:
    """Make ``owner.attr`` refer to ``cell`` without registering it as ``owner``'s child.

    A registered child renames its parameters after its attribute path; a borrowed
    one keeps the names its real owner gave it. Graph mode and gradients still see
    the parameters (they are found through the Cell, not through the name tree).
    """
    object.__setattr__(owner, attr, cell)


class TokenPool(nn.Cell):
    """The class token: ``x[:, 0]``."""

    def construct(self, x: Tensor) -> Tensor:
        return x[:, 0]


class AvgPool(nn.Cell):
    """The mean of the patch tokens (prefix tokens left out), timm's ``global_pool="avg"``."""

    def __init__(self, num_prefix_tokens: int) -> None:
        super().__init__()
        self.start = num_prefix_tokens

    def construct(self, x: Tensor) -> Tensor:
        return x[:, self.start :].mean(1)


class DistilledPool(nn.Cell):
    """DeiT distilled: the class and distillation tokens, ``[B, 2, D]``, for :class:`DistilledClassifier`."""

    def construct(self, x: Tensor) -> Tensor:
        return x[:, :2]


class AttentionPool(nn.Cell):
    """Multi-head attention pooling with one learned query (``latent``), as timm's ``AttentionPoolLatent``.

    ``q(latent)`` attends over ``kv(patch tokens)``, then ``proj`` and a residual
    ``mlp(norm(·))``; the result is the pooled ``[B, D]`` feature. Parameters:
    ``latent``, ``q``, ``kv``, ``proj``, ``norm``, ``mlp.fc1``, ``mlp.fc2``.
    """

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.latent = to_parameter(state[name + ".latent"])
        self.q = Linear(state, name + ".q")
        self.kv = Linear(state, name + ".kv")
        self.proj = Linear(state, name + ".proj")
        self.norm = LayerNorm(state, name + ".norm", spec.norm_eps)
        self.mlp = Mlp(spec, state, name + ".mlp")
        self.start = 0 if spec.pool_include_prefix else spec.num_prefix_tokens  # timm's ViT pools the patch tokens only
        self.num_heads = spec.map_heads  # PE-Core's pool has its own head count
        self.head_dim = spec.embed_dim // spec.map_heads
        self.scale = self.head_dim**-0.5
        self.scores = ops.BatchMatMul(transpose_b=True)
        self.mix = ops.BatchMatMul()

    def construct(self, x: Tensor, bias: Optional[Tensor] = None) -> Tensor:
        """``bias``: an additive mask over the pooled tokens (NaFlex padding, ``[B, 1, 1, N]``)."""
        x = x[:, self.start :]
        b, n, d = x.shape
        q = self.q(self.latent).reshape(1, self.num_heads, 1, self.head_dim)  # the same query for every image
        kv = self.kv(x).reshape(b, n, 2, self.num_heads, self.head_dim).transpose(2, 0, 3, 1, 4)
        k, v = ops.unstack(kv, 0)  # each [B, heads, N, head_dim]
        q = ops.broadcast_to(q * self.scale, (b, self.num_heads, 1, self.head_dim))
        scores = self.scores(q, k)
        if bias is not None:
            scores = scores + bias
        attn = ops.softmax(scores, -1)
        out = self.proj(self.mix(attn, v).reshape(b, d))
        return out + self.mlp(self.norm(out))


class QueryPool(nn.Cell):
    """AIMv2's attention pooling head (transformers' ``Aimv2AttentionPoolingHead``): a learned ``query`` token,
    with no projection of its own, attends over ``k(x)`` and ``v(x)`` of the patch tokens (``num_heads`` heads,
    scale ``head_dim ** -0.5``), then ``proj``. Unlike the MAP pool there is no residual MLP. Built from
    primitive operators only (no ``Unstack``), so the exporters take it as it is.
    """

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.query = to_parameter(state[name + ".query"])
        self.k = Linear(state, name + ".k")
        self.v = Linear(state, name + ".v")
        self.proj = Linear(state, name + ".proj")
        self.start = spec.num_prefix_tokens
        self.num_heads = spec.num_heads
        self.head_dim = spec.head_dim
        self.scale = spec.head_dim**-0.5
        self.scores = ops.BatchMatMul(transpose_b=True)
        self.mix = ops.BatchMatMul()

    def construct(self, x: Tensor) -> Tensor:
        x = x[:, self.start :]
        b, n, d = x.shape
        k = self.k(x).reshape(b, n, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)
        v = self.v(x).reshape(b, n, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)
        q = ops.broadcast_to((self.query * self.scale).reshape(1, 1, self.num_heads, self.head_dim).transpose(0, 2, 1, 3),
                             (b, self.num_heads, 1, self.head_dim))  # the same query for every image
        attn = ops.softmax(self.scores(q, k), -1)
        return self.proj(self.mix(attn, v).reshape(b, d))


class LinearClassifier(nn.Cell):
    """``head(x)``; ``pre_logits=True`` returns ``x``."""

    def __init__(self, head: nn.Cell) -> None:
        super().__init__()
        borrow(self, "head", head)

    def construct(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        if pre_logits:
            return x
        return self.head(x)


class NoClassifier(nn.Cell):
    """No head (``num_classes=0``): the pooled features are the output."""

    def construct(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        return x


class DistilledClassifier(nn.Cell):
    """DeiT distilled at eval, as timm: ``(head(x[:, 0]) + head_dist(x[:, 1])) / 2``.

    ``pre_logits=True`` (or no heads) gives the mean of the two tokens.
    """

    def __init__(self, head: Optional[nn.Cell], head_dist: Optional[nn.Cell]) -> None:
        super().__init__()
        self.has_heads = head is not None
        if head is not None:
            borrow(self, "head", head)
            borrow(self, "head_dist", head_dist)

    def construct(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        if pre_logits or not self.has_heads:
            return (x[:, 0] + x[:, 1]) * 0.5
        return (self.head(x[:, 0]) + self.head_dist(x[:, 1])) * 0.5


def make_pool(spec: ViTSpec) -> nn.Cell:
    """The parameter-free pool of ``spec`` (``"map"`` and ``"query"`` models use their ``attn_pool``/``query_pool`` instead)."""
    if spec.dist_token:
        return DistilledPool()
    if spec.global_pool == "avg":
        return AvgPool(spec.num_prefix_tokens)
    return TokenPool()
