"""An export-time copy of a ViT built only from operators that MindIR and ONNX both carry.

The fast path (``layers.py``) uses what is quickest on CPU: ``Unstack`` to split
q/k/v (10× cheaper than three slices in PyNative), ``Erf`` for the exact GELU, and
possibly custom kernels. MindSpore 2.10's ONNX exporter maps neither ``Unstack``,
``Erf``, ``Rsqrt``, ``Reciprocal``, ``Sign`` nor ``Pad``, and a custom kernel's
``.so`` does not travel with a MindIR file. So exporting swaps the parts of a model
that may use them for the versions below, rebuilt from the model's own canonical
weights; the model being used is never changed, and its forward pass costs nothing extra.

What is swapped is found by canonical name (``blocks.{i}.attn``, ``blocks.{i}.mlp``,
``…norm…``, ``attn_pool``), not by class, so it keeps working whatever the fast
path's classes become.

Example:
    >>> import vitzoo
    >>> model = vitzoo.create("vit_ti_16", img_size=32, depth=1, num_classes=3)
    >>> type(portable_copy(model).blocks[0].attn).__name__
    'PortableAttention'
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from mindspore import Tensor, nn, ops

from vitzoo.spec import ViTSpec

from .. import kernels
from ..model.cait import TalkingHeadAttention
from ..model.eva import EvaAttention, RelPosAttention, RopeAttention
from ..model.relpos_blocks import RelPosAttention as RelPosMlpAttention
from ..model.layers import GeluErf, Linear, to_parameter
from ..model.parallel import ParallelBlock

State = Mapping[str, np.ndarray]
_SQRT_HALF = 0.7071067811865476
_TANH_K = 2 * 0.7978845608028654
# Abramowitz & Stegun 7.1.26: erfc(z) ≈ t·(a1 + t·(a2 + …))·exp(-z²), t = 1/(1 + p·z); |error| ≤ 1.5e-7
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


class PortableLayerNorm(nn.Cell):
    """LayerNorm as MindSpore's ``LayerNorm`` primitive (ONNX: LayerNormalization)."""

    def __init__(self, state: State, name: str, eps: float) -> None:
        super().__init__()
        self.weight = to_parameter(state[name + ".weight"])
        self.bias = to_parameter(state[name + ".bias"])
        self.layer_norm = ops.LayerNorm(begin_norm_axis=-1, begin_params_axis=-1, epsilon=eps)

    def construct(self, x: Tensor) -> Tensor:
        return self.layer_norm(x, self.weight, self.bias)[0]


def gelu_exact_portable(x: Tensor) -> Tensor:
    """Exact GELU ``x·Φ(x)`` without ``Erf``: ``Φ(-|x|) = erfc(|x|/√2)/2`` by A&S 7.1.26 (error ≤ 1e-7·|x|)."""
    z = ops.abs(x) * _SQRT_HALF
    t = (z * 0.0 + 1.0) / (1.0 + _AS_P * z)  # a scalar numerator would become Reciprocal, which ONNX export lacks
    poly = t * _AS_A[4]
    for coef in (_AS_A[3], _AS_A[2], _AS_A[1], _AS_A[0]):
        poly = (poly + coef) * t
    tail = x * (0.5 * poly * ops.exp(-(z * z)))  # x·Φ(-|x|)
    return ops.where(x > 0, x - tail, tail)


def activation(x: Tensor, form: str) -> Tensor:
    if form == "tanh":
        return x * ops.sigmoid(x * (_TANH_K + (_TANH_K * 0.044715) * (x * x)))
    if form == "quick":
        return x * ops.sigmoid(1.702 * x)
    return gelu_exact_portable(x)


class PortableMlp(nn.Cell):
    """fc1 → activation → fc2; ``swiglu``: ``silu(first half of fc1) × second half`` (timm's SwiGLUPacked)."""

    def __init__(self, spec: ViTSpec, state: State, name: str, swiglu: bool = False) -> None:
        super().__init__()
        self.fc1 = Linear(state, name + ".fc1")
        self.fc2 = Linear(state, name + ".fc2")
        self.form = spec.gelu
        self.swiglu = swiglu
        self.hidden = int(self.fc2.in_features)

    def construct(self, x: Tensor) -> Tensor:
        h = self.fc1(x)
        if self.swiglu:
            h = ops.silu(h[..., : self.hidden]) * h[..., self.hidden :]
        else:
            h = activation(h, self.form)
        return self.fc2(h)


def _heads(x: Tensor, n: int, parts: int, heads: int, head_dim: int) -> Tensor:
    """``[B, n, parts·D]`` → ``[parts, B, heads, n, head_dim]``."""
    return x.reshape(x.shape[0], n, parts, heads, head_dim).transpose(2, 0, 3, 1, 4)


class PortableAttention(nn.Cell):
    """Self-attention whose q/k/v come from slices of the fused projection (no ``Unstack``)."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.num_heads, self.head_dim = spec.num_heads, spec.head_dim
        self.scale = spec.head_dim**-0.5
        self.qkv = Linear(state, name + ".qkv")
        self.qk_norm = spec.qk_norm
        if spec.qk_norm:
            self.q_norm = PortableLayerNorm(state, name + ".q_norm", spec.norm_eps)
            self.k_norm = PortableLayerNorm(state, name + ".k_norm", spec.norm_eps)
        self.proj = Linear(state, name + ".proj")
        self.scores = ops.BatchMatMul(transpose_b=True)
        self.mix = ops.BatchMatMul()

    def construct(self, x: Tensor, bias: Any = None) -> Tensor:
        # ``bias``: the NaFlex block's mask slot, always None on the exported (NCHW) path
        b, n, d = x.shape
        qkv = _heads(self.qkv(x), n, 3, self.num_heads, self.head_dim)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.qk_norm:
            q = self.q_norm(q)
            k = self.k_norm(k)
        attn = ops.softmax(self.scores(q * self.scale, k), -1)
        return self.proj(self.mix(attn, v).transpose(0, 2, 1, 3).reshape(b, n, d))


class PortableGelu(nn.Cell):
    """Exact GELU without ``Erf`` (see :func:`gelu_exact_portable`)."""

    def construct(self, x: Tensor) -> Tensor:
        return gelu_exact_portable(x)


class PortableEvaAttention(EvaAttention):
    """The EVA block's attention (RoPE included) with q/k/v taken as slices instead of ``Unstack``."""

    def _split(self, qkv: Tensor, b: int, n: int) -> tuple:
        parts = _heads(qkv, n, 3, self.num_heads, self.head_dim)
        return parts[0], parts[1], parts[2]


class PortableRopeAttention(RopeAttention):
    """timm's AttentionRope (Sapiens2: q/k norms, grouped-query attention) with q/k/v taken as slices instead of ``Unstack``."""

    def _split(self, qkv: Tensor, b: int, n: int) -> tuple:
        parts = _heads(qkv, n, 3, self.num_heads, self.head_dim)
        return parts[0], parts[1], parts[2]


class PortableRelPosAttention(RelPosAttention):
    """BEiT's attention with q/k/v taken as slices instead of ``Unstack``."""

    def _split(self, qkv: Tensor, b: int, n: int) -> tuple:
        parts = _heads(qkv, n, 3, self.num_heads, self.head_dim)
        return parts[0], parts[1], parts[2]


class PortableTalkingHeadAttention(TalkingHeadAttention):
    """CaiT's talking-heads attention with q/k/v taken as slices instead of ``Unstack``."""

    def _split(self, qkv: Tensor, b: int, n: int) -> tuple:
        parts = _heads(qkv, n, 3, self.num_heads, self.head_dim)
        return parts[0], parts[1], parts[2]


class PortableRelPosMlpAttention(RelPosMlpAttention):
    """The relpos ViT's attention (bias from its MLP or the shared one) with q/k/v taken as slices instead of ``Unstack``."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__(spec, state, name)
        if spec.qk_norm:
            self.q_norm = PortableLayerNorm(state, name + ".q_norm", spec.norm_eps)
            self.k_norm = PortableLayerNorm(state, name + ".k_norm", spec.norm_eps)

    def _split(self, qkv: Tensor, b: int, n: int) -> tuple:
        parts = _heads(qkv, n, 3, self.num_heads, self.head_dim)
        return parts[0], parts[1], parts[2]


def _portable_cait(copy: Any, spec: ViTSpec, state: State) -> None:
    """CaiT: the talking-heads attention's split and every exact GELU (class-attention blocks included) swapped."""
    for i, block in enumerate(copy.blocks):
        block.attn = PortableTalkingHeadAttention(spec, state, f"blocks.{i}.attn")
    for block in [*copy.blocks, *copy.blocks_token_only]:
        if isinstance(getattr(block.mlp, "act", None), GeluErf):
            block.mlp.act = PortableGelu()


def _portable_xcit(copy: Any) -> None:
    """XCiT: every exact GELU (stem, local patch interaction, MLPs) swapped; its attention splits by indexing already."""
    for _, cell in list(copy.cells_and_names()):
        for key, child in list(cell.name_cells().items()):
            if isinstance(child, GeluErf):
                if isinstance(cell, nn.CellList):
                    cell[int(key)] = PortableGelu()
                else:
                    setattr(cell, key, PortableGelu())


def _portable_eva_block(block: Any, spec: ViTSpec, state: State, name: str) -> None:
    """Swap an EVA block's attention and exact GELU (its norms are already the LayerNorm primitive here)."""
    attention = {RelPosAttention: PortableRelPosAttention, RopeAttention: PortableRopeAttention}.get(type(block.attn), PortableEvaAttention)
    block.attn = attention(spec, state, name + ".attn")
    if isinstance(getattr(block.mlp, "act", None), GeluErf):
        block.mlp.act = PortableGelu()


class PortableAttentionPool(nn.Cell):
    """timm's ``AttentionPoolLatent`` (SigLIP's MAP head): one learned query attends to the tokens, then an MLP."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.num_heads, self.dim = spec.map_heads, spec.embed_dim  # PE-Core's pool has its own head count
        self.head_dim = spec.embed_dim // spec.map_heads
        self.scale = self.head_dim**-0.5
        self.latent = to_parameter(state[name + ".latent"])
        self.q = Linear(state, name + ".q")
        self.kv = Linear(state, name + ".kv")
        self.proj = Linear(state, name + ".proj")
        self.norm = PortableLayerNorm(state, name + ".norm", spec.norm_eps)
        self.mlp = PortableMlp(spec, state, name + ".mlp")
        self.start = 0 if spec.pool_include_prefix else spec.num_prefix_tokens  # timm's eva.py pools every token
        self.scores = ops.BatchMatMul(transpose_b=True)
        self.mix = ops.BatchMatMul()

    def construct(self, x: Tensor) -> Tensor:
        x = x[:, self.start :]
        b, n, _ = x.shape
        latent = ops.broadcast_to(self.latent, (b, 1, self.dim))
        q = _heads(self.q(latent), 1, 1, self.num_heads, self.head_dim)[0]
        kv = _heads(self.kv(x), n, 2, self.num_heads, self.head_dim)
        attn = ops.softmax(self.scores(q * self.scale, kv[0]), -1)
        y = self.proj(self.mix(attn, kv[1]).transpose(0, 2, 1, 3).reshape(b, 1, self.dim))
        y = y + self.mlp(self.norm(y))
        return y[:, 0]


class PortableParallelBlock(ParallelBlock):
    """timm's parallel block with q, k, v split by indexing and the exact GELU without ``Erf``."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__(spec, state, name)
        if isinstance(self.act, GeluErf):
            self.act = PortableGelu()

    def _split(self, qkv: Tensor) -> tuple:
        return qkv[0], qkv[1], qkv[2]


def portable_copy(model: Any) -> Any:
    """A new model with the same weights whose every part exports to MindIR and ONNX (``model`` is left as it is)."""
    from .. import backend

    spec: ViTSpec = model.spec
    state = backend.state_dict(model)
    with kernels.primitive_ops():  # the fused CPU kernels live in a local .so that no exporter knows
        return _portable_copy(model, spec, state, backend)


def _portable_copy(model: Any, spec: ViTSpec, state: dict, backend: Any) -> Any:
    copy = backend.build(spec.replace(), state)
    copy.pretrained_cfg = dict(getattr(model, "pretrained_cfg", {}) or {})
    swiglu = getattr(spec, "mlp_type", "mlp") == "swiglu"
    blocks = copy.blocks if spec.block == "vit" else []
    if spec.block == "eva":  # built on primitive ops already: only Unstack and Erf need swapping
        for i, block in enumerate(copy.blocks):
            _portable_eva_block(block, spec, state, f"blocks.{i}")
    if spec.block == "cait":  # primitive ops here too, but Unstack and Erf
        _portable_cait(copy, spec, state)
    if spec.block == "xcit":  # primitive ops too, but Erf
        _portable_xcit(copy)
    if spec.backbone == "convstem":  # MobileCLIP's stem: GEMMs and a BatchNorm scale already, but the exact GELU's Erf
        for stage in copy.patch_embed.backbone:
            if stage.normed:
                stage.act = PortableGelu()
    if spec.block == "parallel":  # primitive ops too, but Unstack and Erf
        for i in range(len(copy.blocks)):
            copy.blocks[i] = PortableParallelBlock(spec, state, f"blocks.{i}")
    for i, block in enumerate(blocks):
        name = f"blocks.{i}"
        if not spec.diff_attn:  # differential attention is built from portable operators already
            block.attn = PortableAttention(spec, state, name + ".attn")
        block.mlp = PortableMlp(spec, state, name + ".mlp", swiglu=swiglu)
        block.norm1 = PortableLayerNorm(state, name + ".norm1", spec.norm_eps)
        block.norm2 = PortableLayerNorm(state, name + ".norm2", spec.norm_eps)
        if spec.rel_pos_type != "none":  # the relpos ViT's attention adds its bias MLP's output to the scores
            block.attn = PortableRelPosMlpAttention(spec, state, name + ".attn")
    for norm in ("norm_pre", "norm", "fc_norm"):
        if norm + ".weight" in state and spec.norm_type == "layer":  # RmsNorm is portable as built
            setattr(copy, norm, PortableLayerNorm(state, norm, spec.norm_eps))
    if spec.merge_size and spec.deepseek_vit:  # DeepSeek's aligner: no norm, its exact GELU
        copy.aligner.act = PortableGelu()
    elif spec.merge_size:  # Qwen3 ViT's projector: its norm and exact GELU
        copy.merger.norm = PortableLayerNorm(state, "merger.norm", spec.norm_eps)
        copy.merger.act = PortableGelu()
    if "attn_pool.latent" in state:
        from ..model.heads import borrow

        copy.attn_pool = PortableAttentionPool(spec, state, "attn_pool")
        borrow(copy, "pool", copy.attn_pool)  # the model pools through this reference
    for path, param in copy.parameters_and_names():  # cells attached late only got their local names
        param.name = path
    return copy
