"""Reference MindSpore ViTs in the two MindSpore checkpoint layouts, for the weight-format tests.

``TutorialViT`` follows the Cell tree of MindSpore's ViT tutorial (the layout of the
official ``vit_b_16_224.ckpt`` and siblings): ``PatchEmbedding`` (a strided conv),
class token Parameter named ``cls`` concatenated in front, ``pos_embedding`` added
after the concat, pre-norm blocks built as ``SequentialCell([ResidualCell(
SequentialCell([LayerNorm, Attention])), ResidualCell(SequentialCell([LayerNorm,
FeedForward]))])``, a final ``norm``, class-token pooling and a ``dense`` head
(``head.dense`` in the 384 px checkpoints). MindSpore defaults throughout:
``nn.LayerNorm`` eps 1e-7, ``nn.GELU()`` tanh form, attention scale ``head_dim**-0.5``.

``MindCVViT`` follows MindCV's ``VisionTransformer`` (``mindcv/models/vit.py``):
``patch_embed.proj``, ``cls_token``, ``pos_embed``, ``blocks.{i}`` with ``norm1``,
``attn.qkv|proj`` (optional ``q_norm``/``k_norm``), optional layer scale ``ls1|ls2.gamma``,
``norm2``, ``mlp.fc1|fc2``, then ``norm`` (or ``fc_norm`` with average pooling) and
``head``. Like MindCV it scales q and k by ``scale**0.5`` each and runs softmax in float32.

Both are written from the published structure, not copied; weights are random
(:func:`randomize`), so the tests compare computations, not trained accuracy.
"""

from __future__ import annotations

import numpy as np
import mindspore as ms
from mindspore import Parameter, Tensor, nn, ops


# MindSpore tutorial layout -------------------------------------------------------
class PatchEmbedding(nn.Cell):
    def __init__(self, image_size: int, patch_size: int, embed_dim: int, input_channels: int) -> None:
        super().__init__()
        self.num_patches = (image_size // patch_size) ** 2
        # pad_mode 'same' (the default) equals 'valid' here: image_size is a multiple of patch_size
        self.conv = nn.Conv2d(input_channels, embed_dim, kernel_size=patch_size, stride=patch_size, has_bias=True)

    def construct(self, x):
        x = self.conv(x)
        b, c, h, w = x.shape
        return ops.transpose(ops.reshape(x, (b, c, h * w)), (0, 2, 1))


class Attention(nn.Cell):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = Tensor((dim // num_heads) ** -0.5, ms.float32)
        self.qkv = nn.Dense(dim, dim * 3)
        self.attn_drop = nn.Dropout(p=0.0)
        self.out = nn.Dense(dim, dim)
        self.out_drop = nn.Dropout(p=0.0)
        self.q_matmul_k = ops.BatchMatMul(transpose_b=True)
        self.attn_matmul_v = ops.BatchMatMul()
        self.softmax = nn.Softmax(axis=-1)

    def construct(self, x):
        b, n, c = x.shape
        qkv = ops.transpose(ops.reshape(self.qkv(x), (b, n, 3, self.num_heads, c // self.num_heads)), (2, 0, 3, 1, 4))
        q, k, v = ops.unstack(qkv, axis=0)
        attn = self.attn_drop(self.softmax(ops.mul(self.q_matmul_k(q, k), self.scale)))
        out = ops.reshape(ops.transpose(self.attn_matmul_v(attn, v), (0, 2, 1, 3)), (b, n, c))
        return self.out_drop(self.out(out))


class FeedForward(nn.Cell):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.dense1 = nn.Dense(dim, hidden)
        self.activation = nn.GELU()
        self.dense2 = nn.Dense(hidden, dim)
        self.dropout = nn.Dropout(p=0.0)

    def construct(self, x):
        x = self.dropout(self.activation(self.dense1(x)))
        return self.dropout(self.dense2(x))


class ResidualCell(nn.Cell):
    def __init__(self, cell: nn.Cell) -> None:
        super().__init__()
        self.cell = cell

    def construct(self, x):
        return self.cell(x) + x


class TransformerEncoder(nn.Cell):
    def __init__(self, dim: int, num_layers: int, num_heads: int, mlp_dim: int) -> None:
        super().__init__()
        layers = []
        for _ in range(num_layers):
            attention = ResidualCell(nn.SequentialCell([nn.LayerNorm((dim,)), Attention(dim, num_heads)]))
            feedforward = ResidualCell(nn.SequentialCell([nn.LayerNorm((dim,)), FeedForward(dim, mlp_dim)]))
            layers.append(nn.SequentialCell([attention, feedforward]))
        self.layers = nn.SequentialCell(layers)

    def construct(self, x):
        return self.layers(x)


class DenseHead(nn.Cell):
    """The 384 px checkpoints' head: a cell named ``head`` holding ``dense``."""

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.dense = nn.Dense(dim, num_classes)

    def construct(self, x):
        return self.dense(x)


class TutorialViT(nn.Cell):
    """The MindSpore tutorial's ViT; ``head="head.dense"`` gives the 384 px checkpoints' head name."""

    def __init__(self, image_size: int = 224, input_channels: int = 3, patch_size: int = 16, embed_dim: int = 768,
                 num_layers: int = 12, num_heads: int = 12, mlp_dim: int = 3072, num_classes: int = 1000,
                 head: str = "dense") -> None:
        super().__init__()
        self.patch_embedding = PatchEmbedding(image_size, patch_size, embed_dim, input_channels)
        n = self.patch_embedding.num_patches
        rng = np.random.default_rng(0)
        self.cls_token = Parameter(Tensor(rng.normal(size=(1, 1, embed_dim)).astype(np.float32)), name="cls")
        self.pos_embedding = Parameter(Tensor(rng.normal(size=(1, n + 1, embed_dim)).astype(np.float32)), name="pos_embedding")
        self.pos_dropout = nn.Dropout(p=0.0)
        self.norm = nn.LayerNorm((embed_dim,))
        self.transformer = TransformerEncoder(embed_dim, num_layers, num_heads, mlp_dim)
        self.dropout = nn.Dropout(p=0.0)
        self.head_name = head
        if head == "dense":
            self.dense = nn.Dense(embed_dim, num_classes)
        elif head == "head.dense":
            self.head = DenseHead(embed_dim, num_classes)
        else:
            raise ValueError(f"unknown head name {head!r}")

    def construct(self, x):
        x = self.patch_embedding(x)
        cls_tokens = ops.tile(self.cls_token.astype(x.dtype), (x.shape[0], 1, 1))
        x = ops.concat((cls_tokens, x), axis=1)
        x = x + self.pos_embedding
        x = self.norm(self.transformer(self.pos_dropout(x)))
        x = x[:, 0]
        return self.dense(x) if self.head_name == "dense" else self.head(x)


# MindCV layout -----------------------------------------------------------------------
class MindCVAttention(nn.Cell):
    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, qk_norm: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = Tensor(self.head_dim**-0.5, ms.float32)
        self.qkv = nn.Dense(dim, dim * 3, has_bias=qkv_bias)
        self.q_norm = nn.LayerNorm((self.head_dim,)) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm((self.head_dim,)) if qk_norm else nn.Identity()
        self.attn_drop = nn.Dropout(p=0.0)
        self.proj = nn.Dense(dim, dim)
        self.proj_drop = nn.Dropout(p=0.0)
        self.q_matmul_k = ops.BatchMatMul(transpose_b=True)
        self.attn_matmul_v = ops.BatchMatMul()

    def construct(self, x):
        b, n, c = x.shape
        qkv = ops.transpose(ops.reshape(self.qkv(x), (b, n, 3, self.num_heads, self.head_dim)), (2, 0, 3, 1, 4))
        q, k, v = ops.unstack(qkv, axis=0)
        q, k = self.q_norm(q), self.k_norm(k)
        root = self.scale**0.5  # MindCV splits the scale between q and k
        attn = self.q_matmul_k(q * root, k * root)
        attn = self.attn_drop(ops.softmax(attn.astype(ms.float32), axis=-1).astype(attn.dtype))
        out = ops.reshape(ops.transpose(self.attn_matmul_v(attn, v), (0, 2, 1, 3)), (b, n, c))
        return self.proj_drop(self.proj(out))


class LayerScale(nn.Cell):
    def __init__(self, dim: int, init_values: float) -> None:
        super().__init__()
        self.gamma = Parameter(Tensor(np.full((dim,), init_values, np.float32)))

    def construct(self, x):
        return self.gamma * x


class Mlp(nn.Cell):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Dense(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Dense(hidden, dim)
        self.drop = nn.Dropout(p=0.0)

    def construct(self, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class MindCVBlock(nn.Cell):
    def __init__(self, dim: int, num_heads: int, mlp_dim: int, qkv_bias: bool, qk_norm: bool, init_values) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm((dim,))
        self.attn = MindCVAttention(dim, num_heads, qkv_bias, qk_norm)
        self.ls1 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.norm2 = nn.LayerNorm((dim,))
        self.mlp = Mlp(dim, mlp_dim)
        self.ls2 = LayerScale(dim, init_values) if init_values else nn.Identity()

    def construct(self, x):
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Cell):
    def __init__(self, patch_size: int, in_chans: int, embed_dim: int, bias: bool) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size, pad_mode="valid", has_bias=bias)

    def construct(self, x):
        x = self.proj(x)
        b, c, h, w = x.shape
        return ops.transpose(ops.reshape(x, (b, c, h * w)), (0, 2, 1))


class MindCVViT(nn.Cell):
    """MindCV's ``VisionTransformer`` with the options that change parameter names or semantics."""

    def __init__(self, image_size: int = 224, patch_size: int = 16, in_channels: int = 3, global_pool: str = "token",
                 embed_dim: int = 768, depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, qk_norm: bool = False, init_values=None, no_embed_class: bool = False,
                 pre_norm: bool = False, fc_norm=None, class_token: bool = True, num_classes: int = 1000) -> None:
        super().__init__()
        use_fc_norm = global_pool == "avg" if fc_norm is None else fc_norm
        self.global_pool = global_pool
        self.num_prefix_tokens = 1 if class_token else 0
        self.no_embed_class = no_embed_class
        self.patch_embed = PatchEmbed(patch_size, in_channels, embed_dim, bias=not pre_norm)
        num_patches = (image_size // patch_size) ** 2
        rng = np.random.default_rng(0)
        self.cls_token = Parameter(Tensor(rng.normal(size=(1, 1, embed_dim)).astype(np.float32))) if class_token else None
        embed_len = num_patches if no_embed_class else num_patches + self.num_prefix_tokens
        self.pos_embed = Parameter(Tensor(rng.normal(size=(1, embed_len, embed_dim)).astype(np.float32)))
        self.norm_pre = nn.LayerNorm((embed_dim,)) if pre_norm else nn.Identity()
        mlp_dim = int(embed_dim * mlp_ratio)
        self.blocks = nn.CellList([
            MindCVBlock(embed_dim, num_heads, mlp_dim, qkv_bias, qk_norm, init_values) for _ in range(depth)
        ])
        self.norm = nn.LayerNorm((embed_dim,)) if not use_fc_norm else nn.Identity()
        self.fc_norm = nn.LayerNorm((embed_dim,)) if use_fc_norm else nn.Identity()
        self.head = nn.Dense(embed_dim, num_classes) if num_classes > 0 else nn.Identity()

    def _pos_embed(self, x):
        if self.no_embed_class:
            x = x + self.pos_embed
            if self.cls_token is not None:
                x = ops.concat((ops.broadcast_to(self.cls_token, (x.shape[0], -1, -1)), x), axis=1)
            return x
        if self.cls_token is not None:
            x = ops.concat((ops.broadcast_to(self.cls_token, (x.shape[0], -1, -1)), x), axis=1)
        return x + self.pos_embed

    def construct(self, x):
        x = self.norm_pre(self._pos_embed(self.patch_embed(x)))
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        x = x[:, self.num_prefix_tokens:].mean(axis=1) if self.global_pool == "avg" else x[:, 0]
        return self.head(self.fc_norm(x))


# Helpers -------------------------------------------------------------------------------
def randomize(net: nn.Cell, seed: int = 0) -> nn.Cell:
    """Give every parameter random values (LayerNorm/LayerScale gammas around 1), so name mix-ups show."""
    rng = np.random.default_rng(seed)
    for name, param in net.parameters_and_names():
        shape = param.shape
        if name.endswith("gamma"):
            value = 1.0 + 0.2 * rng.standard_normal(shape)
        elif name.endswith(("cls", "cls_token", "pos_embedding", "pos_embed")):
            value = 0.5 * rng.standard_normal(shape)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 16
            value = rng.standard_normal(shape) / np.sqrt(fan_in) + (0.05 * rng.standard_normal(shape) if len(shape) == 1 else 0)
        param.set_data(Tensor(np.asarray(value, np.float32)))
    net.set_train(False)
    return net


def logits(net: nn.Cell, x: np.ndarray) -> np.ndarray:
    """The network's output for a float32 NCHW batch, as NumPy."""
    return net(Tensor(x, ms.float32)).asnumpy()
