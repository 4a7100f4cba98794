"""The MindSpore building blocks of a ViT, built straight from canonical weights.

Every Cell takes the canonical ``state`` and the name prefix of its tensors, and
turns each array into a :class:`mindspore.Parameter` at once: there is no random
initialisation to throw away. Parameters are attributes named like the canonical
tensors (``weight``, ``bias``, ``gamma``), so the Cell tree yields canonical names.

Kernels: on CPU, LayerNorm, bias + GELU and the attention core run vitzoo's fused C++
kernels (:mod:`.kernels`, chosen when a layer is built; ``VITZOO_KERNELS=0`` turns them off).
Without them: LayerNorm is MindSpore's fused ``LayerNorm`` primitive (the functional
``ops.layer_norm`` maps to ``LayerNormExt``, which has no CPU kernel in 2.10),
GELU is written out from Erf/Sigmoid (MindSpore's own GELU kernels are slow on CPU;
``nn.GELU`` also defaults to tanh), attention is two batched matmuls around a fused
softmax. Each choice is measured in benchmarks/README.md.

Families are compositions: the MLP (GELU forms, QuickGELU, packed SwiGLU) is a
Cell chosen from the spec when the block is built; heads live in ``heads.py``.

Note: MindSpore's graph parser needs the first method argument to be called ``self``.

Example:
    >>> import numpy as np
    >>> from mindspore import Tensor
    >>> norm = LayerNorm({"n.weight": np.ones(4, np.float32), "n.bias": np.zeros(4, np.float32)}, "n", 1e-6)
    >>> norm(Tensor(np.arange(8, dtype=np.float32).reshape(2, 4))).shape
    (2, 4)
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from mindspore import Parameter, Tensor, nn, ops

from vitzoo.spec import ViTSpec

from .. import kernels
from .drop_path import DropPath

State = Mapping[str, np.ndarray]


def to_parameter(array: np.ndarray) -> Parameter:
    """A Parameter over ``array``'s own buffer (a copy only if it is not C-contiguous float32).

    The caller hands the array over: :class:`~.vit.VisionTransformer` copies a
    caller's state once, up front, and fresh random init is used as it is. No
    ``name=`` here on purpose: MindSpore then adopts the buffer instead of copying it.
    """
    return Parameter(Tensor.from_numpy(np.ascontiguousarray(array, dtype=np.float32)))


class LayerNorm(nn.Cell):
    """LayerNorm over the last axis with timm's parameter names ``weight``/``bias``."""

    def __init__(self, state: State, name: str, eps: float) -> None:
        super().__init__()
        self.weight = to_parameter(state[name + ".weight"])
        self.bias = to_parameter(state[name + ".bias"])
        fused = kernels.active()
        self.fused = fused is not None
        if self.fused:
            self.layer_norm = fused.layer_norm
            self.eps = fused.config(eps)
        else:
            self.layer_norm = ops.LayerNorm(begin_norm_axis=-1, begin_params_axis=-1, epsilon=eps)

    def construct(self, x: Tensor) -> Tensor:
        if self.fused:
            return self.layer_norm(x, self.weight, self.bias, self.eps)[0]
        return self.layer_norm(x, self.weight, self.bias)[0]


class RmsNorm(nn.Cell):
    """timm's ``RmsNorm`` (AIMv2): ``x / sqrt(mean(x²) + eps) · weight``, parameter ``weight`` only.

    Written with Sqrt and Div rather than Rsqrt, so the same Cell exports to ONNX.
    """

    def __init__(self, state: State, name: str, eps: float) -> None:
        super().__init__()
        self.weight = to_parameter(state[name + ".weight"])
        self.eps = eps

    def construct(self, x: Tensor) -> Tensor:
        return x / ops.sqrt(ops.mean(x * x, -1, keep_dims=True) + self.eps) * self.weight


def make_norm(spec: ViTSpec, state: State, name: str) -> nn.Cell:
    """The spec's norm (``norm_type``) over ``name``'s tensors."""
    return RmsNorm(state, name, spec.norm_eps) if spec.norm_type == "rms" else LayerNorm(state, name, spec.norm_eps)


class Linear(nn.Cell):
    """``y = x W^T + b`` with ``W`` stored ``[out, in]`` like torch's Linear; bias optional.

    One 2-D GEMM over all tokens plus BiasAdd: on CPU in PyNative this takes ~40% less
    time than ``ops.dense`` on the 3-D input (same in graph mode).
    """

    def __init__(self, state: State, name: str, add_bias: bool = True) -> None:
        super().__init__()
        self.weight = to_parameter(state[name + ".weight"])
        self.has_bias = name + ".bias" in state
        if self.has_bias:
            self.bias = to_parameter(state[name + ".bias"])
        self.add_bias = self.has_bias and add_bias  # False: a fused kernel after the GEMM adds it
        fused = kernels.active() if self.add_bias else None
        self.fused = fused is not None
        self.bias_add = ops.BiasAdd() if fused is None else fused.bias_add  # the kernel's bias gradient is fast
        self.out_features = int(self.weight.shape[0])
        self.in_features = int(self.weight.shape[1])
        self.matmul = ops.MatMul(transpose_b=True)

    def construct(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        y = self.matmul(x.reshape(-1, self.in_features), self.weight)
        if self.add_bias:
            y = self.bias_add(y, self.bias)
        return y.reshape(lead + (self.out_features,))


class PatchProj(nn.Cell):
    """The patch projection, timm's stride-``p`` ``p×p`` convolution, as one 2-D GEMM.

    The weight keeps the conv layout ``[D, C, p, p]`` (parameter ``weight``). The
    image is cut into patches by a reshape and one transpose, then multiplied by
    the weight seen as ``[D, C·p·p]``: on CPU, MindSpore 2.10's ``Conv2D`` takes
    ~4.3 s for a ViT-B/16 batch of 8, this takes ~20 ms (benchmarks/README.md).
    """

    def __init__(self, state: State, name: str, spec: ViTSpec) -> None:
        super().__init__()
        self.weight = to_parameter(state[name + ".weight"])
        self.has_bias = name + ".bias" in state
        if self.has_bias:
            self.bias = to_parameter(state[name + ".bias"])
        self.patch = spec.patch_size
        self.in_chans = spec.in_chans
        self.embed_dim = spec.embed_dim
        self.matmul = ops.MatMul(transpose_b=True)

    def construct(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        p, c = self.patch, self.in_chans
        gh, gw = h // p, w // p  # the spec's grid, or any grid with dynamic_img_size (one graph per shape)
        if gh * p != h or gw * p != w:  # a size the patch does not divide (SigLIP so400m/14 at 384 px): timm's conv drops the rest
            x = x[:, :, : gh * p, : gw * p]
        # [B, C, gh, p, gw, p] → [B, gh, gw, C, p, p]: each row is one patch in the weight's (C, p, p) order
        patches = x.reshape(b, c, gh, p, gw, p).transpose(0, 2, 4, 1, 3, 5).reshape(b * gh * gw, c * p * p)
        y = self.matmul(patches, self.weight.reshape(self.embed_dim, c * p * p))
        if self.has_bias:
            y = ops.bias_add(y, self.bias)
        return y.reshape(b, gh * gw, self.embed_dim)


class PatchEmbed(nn.Cell):
    """Image ``[B, C, H, W]`` → patch tokens ``[B, patches, D]``."""

    def __init__(self, spec: ViTSpec, state: State) -> None:
        super().__init__()
        self.proj = PatchProj(state, "patch_embed.proj", spec)

    def construct(self, x: Tensor) -> Tensor:
        return self.proj(x)


class NormedPatchEmbed(PatchEmbed):
    """Patch tokens followed by a norm (``patch_norm``: AIMv2's RMSNorm on the embeddings, ``patch_embed.norm``)."""

    def __init__(self, spec: ViTSpec, state: State) -> None:
        super().__init__(spec, state)
        self.norm = make_norm(spec, state, "patch_embed.norm")

    def construct(self, x: Tensor) -> Tensor:
        return self.norm(self.proj(x))


class Attention(nn.Cell):
    """Multi-head self-attention with a fused qkv projection; scale ``head_dim ** -0.5``."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.num_heads = spec.num_heads
        self.head_dim = spec.head_dim
        self.scale = spec.head_dim**-0.5
        self.qkv = Linear(state, name + ".qkv")
        self.qk_norm = spec.qk_norm
        if spec.qk_norm:
            self.q_norm = LayerNorm(state, name + ".q_norm", spec.norm_eps)
            self.k_norm = LayerNorm(state, name + ".k_norm", spec.norm_eps)
        self.proj = Linear(state, name + ".proj")
        self.scores = ops.BatchMatMul(transpose_b=True)  # q·kᵀ without materialising kᵀ
        self.mix = ops.BatchMatMul()
        fused = None if spec.qk_norm else kernels.active()
        self.fused = fused is not None
        if self.fused:  # head split, softmax(q·kᵀ)·v and head merge in one kernel
            self.attend, self.attend_train = fused.attention(self.num_heads)
            self.attend_cfg = fused.config(self.num_heads, self.scale)

    def construct(self, x: Tensor, bias: Any = None) -> Tensor:
        """``bias``: an additive mask over the scores (NaFlex padding, ``[B, 1, N, N]``); the fused kernel takes none."""
        if self.fused and bias is None:
            qkv = self.qkv(x)
            out = self.attend_train(qkv, self.attend_cfg)[0] if self.training else self.attend(qkv, self.attend_cfg)
            return self.proj(out)
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).transpose(2, 0, 3, 1, 4)
        q, k, v = ops.unstack(qkv, 0)  # each [B, heads, N, head_dim]; 10× cheaper than three slices
        if self.qk_norm:
            q = self.q_norm(q)
            k = self.k_norm(k)
        scores = self.scores(q * self.scale, k)
        if bias is not None:
            scores = scores + bias
        attn = ops.softmax(scores, -1)
        out = self.mix(attn, v).transpose(0, 2, 1, 3).reshape(b, n, d)
        return self.proj(out)


_SQRT_HALF = 0.7071067811865476
_TANH_K = 2 * 0.7978845608028654  # 2·sqrt(2/π): 0.5·(1 + tanh(z)) = sigmoid(2z)


def gelu_erf(x: Tensor) -> Tensor:
    """Exact GELU ``x·Φ(x) = x/2 + x/2·erf(x/√2)``, written with multiplications only.

    ``ops.gelu(approximate="none")`` decomposes into Erf, Div, Mul and Add; on CPU a
    PyNative Div takes ~14× as long as a Mul (3× its graph-mode time). Max error vs float64: 4e-7.
    """
    half = x * 0.5
    return half + half * ops.erf(x * _SQRT_HALF)


def gelu_tanh(x: Tensor) -> Tensor:
    """Tanh-form GELU ``x/2·(1 + tanh(√(2/π)(x + 0.044715x³)))`` as ``x·sigmoid(2·…)``.

    MindSpore 2.10's CPU ``GeLU`` kernel takes ~100 ms on a ViT-B batch-8 MLP
    activation, this ~15 ms; its ``Tanh`` kernel is off by up to 1e-4, ``Sigmoid``
    is accurate (max error of this form vs float64: 5e-7).
    """
    return x * ops.sigmoid(x * (_TANH_K + (_TANH_K * 0.044715) * (x * x)))


def gelu_quick(x: Tensor) -> Tensor:
    """OpenAI CLIP's QuickGELU ``x·sigmoid(1.702x)``."""
    return x * ops.sigmoid(x * 1.702)


class GeluErf(nn.Cell):
    """Exact GELU as a Cell (see :func:`gelu_erf`)."""

    def construct(self, x: Tensor) -> Tensor:
        return gelu_erf(x)


class GeluTanh(nn.Cell):
    """Tanh-form GELU as a Cell (see :func:`gelu_tanh`)."""

    def construct(self, x: Tensor) -> Tensor:
        return gelu_tanh(x)


class QuickGelu(nn.Cell):
    """QuickGELU as a Cell (see :func:`gelu_quick`)."""

    def construct(self, x: Tensor) -> Tensor:
        return gelu_quick(x)


GELU_CELLS = {"exact": GeluErf, "tanh": GeluTanh, "quick": QuickGelu}


class Mlp(nn.Cell):
    """fc1 → GELU (the spec's form, chosen once here) → fc2; with kernels, fc1's bias and the GELU are one fused op."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        fused = kernels.active() if name + ".fc1.bias" in state else None
        self.fused = fused is not None
        self.fc1 = Linear(state, name + ".fc1", add_bias=not self.fused)
        self.fc2 = Linear(state, name + ".fc2")
        if self.fused:  # fc1's bias add and the GELU in one pass (forward and backward)
            self.bias_gelu = fused.bias_gelu[spec.gelu]
        else:
            self.act = GELU_CELLS[spec.gelu]()

    def construct(self, x: Tensor) -> Tensor:
        if self.fused:
            return self.fc2(self.bias_gelu(self.fc1(x), self.fc1.bias))
        return self.fc2(self.act(self.fc1(x)))


class SwiGLU(nn.Cell):
    """timm's packed SwiGLU (``GluMlp``, DINOv2 giant): ``fc2(silu(a) · b)`` with ``fc1(x)`` split into ``[a, b]``."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        fused = kernels.active() if name + ".fc1.bias" in state else None
        self.fused = fused is not None
        self.fc1 = Linear(state, name + ".fc1", add_bias=not self.fused)
        self.fc2 = Linear(state, name + ".fc2")
        self.hidden = spec.mlp_dim
        if self.fused:  # fc1's bias, silu(a)·b in one pass (forward and backward)
            self.bias_swiglu = fused.bias_swiglu

    def construct(self, x: Tensor) -> Tensor:
        if self.fused:
            return self.fc2(self.bias_swiglu(self.fc1(x), self.fc1.bias))
        h = self.fc1(x)
        gate, value = h[..., : self.hidden], h[..., self.hidden :]
        return self.fc2(gate * ops.sigmoid(gate) * value)


MLP_CELLS = {"mlp": Mlp, "swiglu": SwiGLU}


class LayerScale(nn.Cell):
    """Per-channel residual scale (CaiT/DeiT III style), parameter ``gamma``."""

    def __init__(self, state: State, name: str) -> None:
        super().__init__()
        self.gamma = to_parameter(state[name + ".gamma"])

    def construct(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Block(nn.Cell):
    """Pre-norm transformer block: ``x + drop_path1(ls1(attn(norm1(x))))``, then ``x + drop_path2(ls2(mlp(norm2(x))))``."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.norm1 = LayerNorm(state, name + ".norm1", spec.norm_eps)
        self.attn = Attention(spec, state, name + ".attn")
        self.norm2 = LayerNorm(state, name + ".norm2", spec.norm_eps)
        self.mlp = MLP_CELLS[spec.mlp_type](spec, state, name + ".mlp")
        self.layer_scale = spec.layer_scale
        if spec.layer_scale:
            self.ls1 = LayerScale(state, name + ".ls1")
            self.ls2 = LayerScale(state, name + ".ls2")
        # Stochastic depth on the two residual branches: identity here (rate 0, no parameters);
        # training sets timm's rates with drop_path.set_drop_path before compiling its step.
        self.drop_path1 = DropPath()
        self.drop_path2 = DropPath()

    def construct(self, x: Tensor, rope: Any = None) -> Tensor:
        # ``rope``: the rotary tables every block receives; this block has no use for them
        if self.layer_scale:
            x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x))))
            return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))
        x = x + self.drop_path1(self.attn(self.norm1(x)))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class PreLogits(nn.Cell):
    """``tanh(fc(x))`` before the head (the original ViT's representation layer)."""

    def __init__(self, state: State, name: str) -> None:
        super().__init__()
        self.fc = Linear(state, name + ".fc")

    def construct(self, x: Tensor) -> Tensor:
        return ops.tanh(self.fc(x))
