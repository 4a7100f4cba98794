"""timm's XCiT (``xcit.py``) as Cells: a convolutional stem, cross-covariance blocks, then class attention.

Chosen when a model is built from a spec with ``block == "xcit"`` (:class:`Xcit`, a
:class:`~.vit.VisionTransformer` with its own patch embedding, positions and token path), so no other
family's forward pass changes. Parameter names are timm's (see :mod:`vitzoo.xcit_spec`).

The order of timm's ``Xcit.forward_features``: ``patch_embed`` (3×3 stride-2 conv + BatchNorm stages, GELU
between them) → + Fourier position features projected by ``pos_embed.token_projection`` → ``blocks``
(each: cross-covariance attention, local patch interaction, MLP, each with its layer scale) → the class
token prepended → ``cls_attn_blocks`` → ``norm``.

Cross-covariance attention (``XCA``) attends over channels, not tokens: per head, q and k ``[head_dim, N]``
are L2-normalised along the tokens, ``softmax(q·kᵀ · temperature)`` is ``[head_dim, head_dim]`` and
mixes v's channels. The class-attention Cell (``ClassAttention``) is CaiT's; XCiT's block around it differs
(the patch tokens pass through norm1 and the layer scale, and ``tokens_norm`` norms them all), so it is
its own :class:`XcitClassAttentionBlock`.

BatchNorm: in eval mode (the default) the running statistics, as timm's eval mode; in training mode the
batch statistics of MindSpore's BatchNorm operator (as ``nn.BatchNorm2d`` computes them), which also
update the running statistics with torch's momentum 0.1.

Example:
    >>> import numpy as np, mindspore as ms, vitzoo
    >>> model = vitzoo.create("xcit_nano_12_p16_224", img_size=32, depth=1, num_classes=3)
    >>> type(model).__name__, model(ms.Tensor(np.zeros((1, 3, 32, 48), np.float32))).shape
    ('Xcit', (1, 3))
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from mindspore import Tensor, nn, ops

from vitzoo.spec import ViTSpec
from vitzoo.xcit_spec import BN_EPS, fourier_features, patch_stages

from .cait import ClassAttention
from .drop_path import DropPath
from .layers import GELU_CELLS, LayerNorm, Linear, Mlp, to_parameter
from .vit import VisionTransformer

State = Mapping[str, np.ndarray]


class Conv(nn.Cell):
    """A 3×3 convolution with padding 1 (timm's ``nn.Conv2d``): ``weight`` ``[out, in/groups, 3, 3]``, optional ``bias``."""

    def __init__(self, state: State, name: str, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.weight = to_parameter(state[name + ".weight"])
        self.has_bias = name + ".bias" in state
        if self.has_bias:
            self.bias = to_parameter(state[name + ".bias"])
        out = int(self.weight.shape[0])
        self.conv = ops.Conv2D(out, (3, 3), pad_mode="pad", pad=(1, 1, 1, 1), stride=(stride, stride), group=groups)  # tuples: ONNX export needs them
        self.bias_add = ops.BiasAdd()

    def construct(self, x: Tensor) -> Tensor:
        y = self.conv(x, self.weight)
        return self.bias_add(y, self.bias) if self.has_bias else y


class BatchNorm(nn.Cell):
    """torch's ``BatchNorm2d`` with its names (``weight``, ``bias``, ``running_mean``, ``running_var``; eps 1e-5).

    Eval: a per-channel scale and shift from the running statistics. Training: MindSpore's BatchNorm
    operator on the batch statistics, updating the running ones (momentum 0.1, torch's convention).
    """

    def __init__(self, state: State, name: str) -> None:
        super().__init__()
        self.weight = to_parameter(state[name + ".weight"])
        self.bias = to_parameter(state[name + ".bias"])
        self.running_mean = to_parameter(state[name + ".running_mean"])
        self.running_var = to_parameter(state[name + ".running_var"])
        self.running_mean.requires_grad = False  # buffers, not weights: no gradient, no optimizer step
        self.running_var.requires_grad = False
        self.eps = BN_EPS

    def construct(self, x: Tensor) -> Tensor:
        if self.training:
            return ops.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, True, 0.1, self.eps)
        scale = self.weight / ops.sqrt(self.running_var + self.eps)
        shift = self.bias - self.running_mean * scale
        return x * scale.reshape(1, -1, 1, 1) + shift.reshape(1, -1, 1, 1)


class ConvBN(nn.CellList):
    """timm's ``conv3x3``: ``Sequential(conv, BatchNorm)``, so the names are ``{i}.0.weight`` and ``{i}.1.*``."""

    def __init__(self, state: State, name: str) -> None:
        super().__init__([Conv(state, name + ".0", stride=2), BatchNorm(state, name + ".1")])


class ConvPatchEmbed(nn.Cell):
    """Image ``[B, C, H, W]`` → patch tokens ``[B, H/p · W/p, D]`` through timm's ``proj`` stack.

    ``proj`` holds ``ConvBN, GELU, ConvBN, …`` (no GELU after the last) at timm's indices; the stages are
    called by index, as a graph cannot call a nested cell list.
    """

    def __init__(self, spec: ViTSpec, state: State) -> None:
        super().__init__()
        cells: list = []
        self.stages = len(patch_stages(spec))
        for i in range(self.stages):
            if i:
                cells.append(GELU_CELLS[spec.gelu]())
            cells.append(ConvBN(state, f"patch_embed.proj.{2 * i}"))
        self.proj = nn.CellList(cells)

    def construct(self, x: Tensor) -> Tensor:
        for i in range(self.stages):
            if i:
                x = self.proj[2 * i - 1](x)
            stage = self.proj[2 * i]
            x = stage[1](stage[0](x))
        return x.reshape(x.shape[0], x.shape[1], -1).transpose(0, 2, 1)


class TokenProjection(nn.Cell):
    """timm's 1×1 ``token_projection`` convolution as a matmul over the feature axis: ``[N, 64]`` → ``[1, N, D]``."""

    def __init__(self, state: State, name: str) -> None:
        super().__init__()
        self.weight = to_parameter(state[name + ".weight"])  # [D, 64, 1, 1]
        self.bias = to_parameter(state[name + ".bias"])

    def construct(self, feats: Tensor) -> Tensor:
        w = self.weight.reshape(self.weight.shape[0], -1)
        return (ops.matmul(feats, w.transpose(1, 0)) + self.bias).reshape(1, feats.shape[0], -1)


class FourierPositions(nn.Cell):
    """timm's ``PositionalEncodingFourier``: fixed sin/cos features of the grid (a constant per size), projected."""

    def __init__(self, state: State, name: str) -> None:
        super().__init__()
        self.token_projection = TokenProjection(state, name + ".token_projection")

    def construct(self, rows: int, cols: int) -> Tensor:
        return self.token_projection(Tensor(fourier_features(rows, cols)))  # a compile-time constant under jit


class XCA(nn.Cell):
    """timm's ``XCA``: cross-covariance attention over channels (see the module doc); ``temperature`` ``[H, 1, 1]``."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.num_heads = spec.num_heads
        self.head_dim = spec.head_dim
        self.temperature = to_parameter(state[name + ".temperature"])
        self.qkv = Linear(state, name + ".qkv")
        self.proj = Linear(state, name + ".proj")
        self.gram = ops.BatchMatMul(transpose_b=True)
        self.mix = ops.BatchMatMul()

    def construct(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        # [3, B, heads, head_dim, N], split by indexing (portable: ONNX has no Unstack)
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).transpose(2, 0, 3, 4, 1)
        q, k, v = _l2_normalize(qkv[0]), _l2_normalize(qkv[1]), qkv[2]
        attn = ops.softmax(self.gram(q, k) * self.temperature, -1)  # [B, heads, head_dim, head_dim]
        return self.proj(self.mix(attn, v).transpose(0, 3, 1, 2).reshape(b, n, d))


def _l2_normalize(t: Tensor) -> Tensor:
    """torch's ``F.normalize(t, dim=-1)``: ``t / max(‖t‖, 1e-12)`` along the last axis."""
    return t / ops.sqrt(ops.maximum((t * t).sum(-1, keepdims=True), 1e-24))


class LPI(nn.Cell):
    """timm's ``LPI``: on the token grid, depthwise 3×3 conv → GELU → BatchNorm → depthwise 3×3 conv."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        d = spec.embed_dim
        self.conv1 = Conv(state, name + ".conv1", groups=d)
        self.act = GELU_CELLS[spec.gelu]()
        self.bn = BatchNorm(state, name + ".bn")
        self.conv2 = Conv(state, name + ".conv2", groups=d)

    def construct(self, x: Tensor, rows: int, cols: int) -> Tensor:
        b, n, d = x.shape
        y = x.transpose(0, 2, 1).reshape(b, d, rows, cols)
        y = self.conv2(self.bn(self.act(self.conv1(y))))
        return y.reshape(b, d, n).transpose(0, 2, 1)


class XCABlock(nn.Cell):
    """timm's ``XCABlock``: attention (``gamma1``), local patch interaction (``gamma3``), MLP (``gamma2``), in that order."""

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.gamma1 = to_parameter(state[name + ".gamma1"])
        self.gamma3 = to_parameter(state[name + ".gamma3"])
        self.gamma2 = to_parameter(state[name + ".gamma2"])
        self.norm1 = LayerNorm(state, name + ".norm1", spec.norm_eps)
        self.attn = XCA(spec, state, name + ".attn")
        self.norm3 = LayerNorm(state, name + ".norm3", spec.norm_eps)
        self.local_mp = LPI(spec, state, name + ".local_mp")
        self.norm2 = LayerNorm(state, name + ".norm2", spec.norm_eps)
        self.mlp = Mlp(spec, state, name + ".mlp")
        self.drop_path1 = DropPath()  # timm's rates set for training by drop_path.set_drop_path
        self.drop_path3 = DropPath()
        self.drop_path2 = DropPath()

    def construct(self, x: Tensor, rows: int, cols: int) -> Tensor:
        x = x + self.drop_path1(self.gamma1 * self.attn(self.norm1(x)))
        x = x + self.drop_path3(self.gamma3 * self.local_mp(self.norm3(x), rows, cols))
        return x + self.drop_path2(self.gamma2 * self.mlp(self.norm2(x)))


class XcitClassAttentionBlock(nn.Cell):
    """timm's XCiT ``ClassAttentionBlock`` over ``[cls, patches]``: the class token attends, every token is carried on.

    ``x + gamma1·[attn(n1), n1_patches]`` with ``n1 = norm1(x)``; then norm2 on every token (``tokens_norm``)
    or on the class token only; then the class token's MLP (``gamma2``), while the patch tokens are added to
    themselves (timm's residual covers them too). timm gives these blocks no drop path.
    """

    def __init__(self, spec: ViTSpec, state: State, name: str) -> None:
        super().__init__()
        self.gamma1 = to_parameter(state[name + ".gamma1"])
        self.gamma2 = to_parameter(state[name + ".gamma2"])
        self.norm1 = LayerNorm(state, name + ".norm1", spec.norm_eps)
        self.attn = ClassAttention(spec, state, name + ".attn")
        self.norm2 = LayerNorm(state, name + ".norm2", spec.norm_eps)
        self.mlp = Mlp(spec, state, name + ".mlp")
        self.tokens_norm = spec.tokens_norm

    def construct(self, x: Tensor) -> Tensor:
        u = self.norm1(x)
        x = x + self.gamma1 * ops.cat((self.attn(u), u[:, 1:]), 1)
        if self.tokens_norm:
            x = self.norm2(x)
        else:
            x = ops.cat((self.norm2(x[:, :1]), x[:, 1:]), 1)
        cls = x[:, :1]
        # timm adds cat([gamma2·mlp(cls), patches]) to the residual, so the patch tokens come out doubled
        return ops.cat((cls + self.gamma2 * self.mlp(cls), x[:, 1:] * 2.0), 1)


class Xcit(VisionTransformer):
    """timm's ``Xcit``: a :class:`VisionTransformer` with XCiT's stem, positions and blocks (see the module doc).

    ``forward_features`` gives ``[B, 1 + patches, D]`` (class token first) as timm's does;
    ``forward_intermediates`` gives the cross-covariance blocks' patch tokens (no prefix tokens there,
    as in timm's ``Xcit``). Any input whose sides are multiples of the patch size is taken.
    """

    drop_path_schedule = "uniform"  # timm's Xcit: every block at drop_path_rate itself (no linear ramp)

    def __init__(self, spec: ViTSpec, state: State, *, jit: bool = False, copy: bool = True) -> None:
        super().__init__(spec, state, jit=jit, copy=copy)
        state = {k: v for k, v in state.items() if k.startswith(("pos_embed.", "cls_attn_blocks."))}
        if copy:
            state = {k: np.array(v, dtype=np.float32, copy=True, order="C") for k, v in state.items()}
        self.pos_embed = FourierPositions(state, "pos_embed")
        self.cls_attn_blocks = nn.CellList([XcitClassAttentionBlock(spec, state, f"cls_attn_blocks.{i}") for i in range(spec.depth_token_only)])

    def _make_patch_embed(self, spec: ViTSpec, state: State) -> nn.Cell:
        return ConvPatchEmbed(spec, state)

    def _make_block(self, spec: ViTSpec, state: State, name: str) -> nn.Cell:
        return XCABlock(spec, state, name)

    def _add_tokens(self, x: Tensor, rows: int, cols: int) -> Tensor:
        return x + self.pos_embed(rows, cols)  # patch tokens only: the class token joins in the class-attention blocks

    def _features(self, x: Tensor) -> Tensor:
        rows, cols = self._patch_grid(x.shape[2], x.shape[3])
        x = self._embed_tokens(x)
        for block in self.blocks:
            x = block(x, rows, cols)
        return self.norm(self._class_attend(x))

    def _class_attend(self, x: Tensor) -> Tensor:
        """timm's ``forward_cls``: ``[cls, patches]`` through every class-attention block."""
        x = ops.cat((ops.broadcast_to(self.cls_token, (x.shape[0], 1, self.embed_dim)), x), 1)
        for block in self.cls_attn_blocks:
            x = block(x)
        return x

    def forward_intermediates(self, x: Tensor, indices: Any = None, return_prefix_tokens: bool = False, norm: bool = False,
                              stop_early: bool = False, output_fmt: str = "NCHW", intermediates_only: bool = False,
                              output_dict: bool = False) -> Any:
        """timm's ``Xcit.forward_intermediates`` (the arguments of :meth:`VisionTransformer.forward_intermediates`)."""
        return super().forward_intermediates(x, indices, False, norm, stop_early, output_fmt, intermediates_only, output_dict)

    def _intermediates(self, x: Tensor, take: tuple, norm: bool, last: int, nchw: bool) -> tuple:
        b = x.shape[0]
        rows, cols = self._patch_grid(x.shape[2], x.shape[3])
        x = self._embed_tokens(x)
        spatial = []
        for i, block in enumerate(self.blocks):
            if i <= last:
                x = block(x, rows, cols)
                if i in take:
                    y = self.norm(x) if norm else x
                    spatial.append(y.reshape(b, rows, cols, -1).transpose(0, 3, 1, 2) if nchw else y)
        return self.norm(self._class_attend(x)), spatial, []
