"""XCiT's part of the spec: what ``block="xcit"`` combines with, and its canonical tensors (timm's names).

timm's ``Xcit`` (``xcit.py``): a convolutional patch embedding (3×3 stride-2 convolutions, each with a
BatchNorm, GELU between them: three for patch 8, four for patch 16), Fourier position features projected
by a 1×1 convolution (``pos_embed.token_projection``), cross-covariance blocks (``attn.temperature`` per
head, a local patch interaction ``local_mp`` of depthwise convolutions and a BatchNorm, layer scales
``gamma1``/``gamma3``/``gamma2``), then ``depth_token_only`` class-attention blocks (``cls_attn_blocks``).
BatchNorm buffers ``running_mean``/``running_var`` are part of the state; timm's ``num_batches_tracked``
counter is not a weight (the timm reader drops integer tensors, torch fills it in on a strict load).

Example:
    >>> from vitzoo.spec import ViTSpec
    >>> spec = ViTSpec(block="xcit", patch_size=8, embed_dim=32, depth=1, num_heads=2, mlp_dim=128, depth_token_only=2,
    ...                abs_pos_embed=False, layer_scale=True, patch_bias=False, dynamic_img_size=True)
    >>> [k for k in xcit_shapes(spec) if k.startswith("patch_embed")][:2]
    ['patch_embed.proj.0.0.weight', 'patch_embed.proj.0.1.weight']
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import numpy as np

from vitzoo.errors import SpecError

if TYPE_CHECKING:
    from vitzoo.spec import ViTSpec

Shape = tuple[int, ...]
PATCH_SIZES = (8, 16)
FOURIER_DIM = 32  # timm's PositionalEncodingFourier(hidden_dim=32): 32 features per axis, 64 in all
FOURIER_TEMPERATURE = 10000.0
BN_EPS = 1e-5  # torch's BatchNorm2d default, which timm's Xcit keeps


def check_xcit(spec: "ViTSpec") -> None:
    """Refuse what timm's ``Xcit`` does not build (called by the spec for ``block="xcit"`` or ``tokens_norm``)."""
    if spec.block != "xcit":
        raise SpecError("tokens_norm is an option of XCiT's class-attention blocks; it needs block='xcit'.")
    for bad, why in ((spec.patch_size not in PATCH_SIZES, "patch_size 8 or 16 (its convolutional patch embedding)"),
                     (spec.embed_dim % (16 if spec.patch_size == 16 else 8), "an embed_dim its convolution stack divides (by 8 for patch 16)"),
                     (not spec.class_token or spec.dist_token or spec.reg_tokens, "one class token (no distillation or register tokens)"),
                     (spec.abs_pos_embed, "abs_pos_embed=False (its positions are Fourier features, no learned table)"),
                     (spec.patch_bias or spec.patch_norm, "patch_bias=False (its convolutions have none; BatchNorms follow)"),
                     (spec.global_pool not in ("token", "avg"), "global_pool 'token' or 'avg'"),
                     (spec.fc_norm or spec.pre_norm or not spec.final_norm or spec.pre_logits_dim, "the final norm only"),
                     (spec.qk_norm or not spec.qkv_fused or not spec.k_bias or spec.attn_norm or spec.mlp_norm or spec.mlp_type != "mlp",
                      "the plain packed qkv and MLP"),
                     (spec.norm_type != "layer" or not spec.proj_bias or not spec.mlp_bias, "LayerNorms and biased projections"),
                     (not spec.layer_scale, "layer_scale=True"), (spec.rope != "none" or spec.rel_pos_bias != "none", "no rotary or relative positions"),
                     (spec.dynamic_img_pad, "inputs a multiple of the patch size (dynamic_img_pad=False)")):
        if bad:
            raise SpecError(f"block='xcit' (timm's XCiT) needs {why}.")


@functools.lru_cache(maxsize=32)
def fourier_features(rows: int, cols: int) -> np.ndarray:
    """timm's ``PositionalEncodingFourier`` features before the projection: ``[rows · cols, 64]`` float32, row-major.

    Each axis's position ``1..n`` is scaled to ``(0, 2π]`` (divided by ``n + 1e-6``), divided by
    ``10000^(2⌊i/2⌋/32)`` for i < 32, and gives sin at even i, cos at odd i; the row features come first.
    Computed in float64 (timm: float32), rounded once; read-only, shared by both backends.

    Example:
        >>> fourier_features(2, 3).shape
        (6, 64)
    """

    def axis(n: int) -> np.ndarray:
        pos = np.arange(1, n + 1, dtype=np.float64) / (n + 1e-6) * (2 * math.pi)
        dim_t = FOURIER_TEMPERATURE ** (2 * (np.arange(FOURIER_DIM) // 2) / FOURIER_DIM)
        angles = pos[:, None] / dim_t
        return np.where(np.arange(FOURIER_DIM) % 2 == 0, np.sin(angles), np.cos(angles))  # [n, 32]

    y = np.broadcast_to(axis(rows)[:, None, :], (rows, cols, FOURIER_DIM))
    x = np.broadcast_to(axis(cols)[None, :, :], (rows, cols, FOURIER_DIM))
    out = np.concatenate([y, x], axis=-1).reshape(rows * cols, 2 * FOURIER_DIM).astype(np.float32)
    out.setflags(write=False)
    return out


def patch_stages(spec: "ViTSpec") -> list[tuple[int, int]]:
    """``(in, out)`` channels of each 3×3 stride-2 convolution of the patch embedding (timm's ``ConvPatchEmbed``)."""
    d = spec.embed_dim
    widths = [d // 8, d // 4, d // 2, d] if spec.patch_size == 16 else [d // 4, d // 2, d]
    return list(zip([spec.in_chans] + widths[:-1], widths))


def xcit_shapes(spec: "ViTSpec") -> dict[str, Shape]:
    """Canonical name → shape of every tensor of an XCiT model, in timm's state-dict order."""
    d, h, m = spec.embed_dim, spec.num_heads, spec.mlp_dim
    shapes: dict[str, Shape] = {"cls_token": (1, 1, d)}
    for i, (cin, cout) in enumerate(patch_stages(spec)):  # proj.{2i}: conv + BatchNorm; proj.{2i+1}: GELU
        shapes[f"patch_embed.proj.{2 * i}.0.weight"] = (cout, cin, 3, 3)
        shapes.update(_batch_norm(f"patch_embed.proj.{2 * i}.1", cout))
    shapes.update({"pos_embed.token_projection.weight": (d, 2 * FOURIER_DIM, 1, 1), "pos_embed.token_projection.bias": (d,)})
    for i in range(spec.depth):
        b = f"blocks.{i}."
        shapes.update({b + "gamma1": (d,), b + "gamma3": (d,), b + "gamma2": (d,), **_ln(b + "norm1", d), b + "attn.temperature": (h, 1, 1)})
        shapes.update(_linear(b + "attn.qkv", 3 * d, d, spec.qkv_bias))
        shapes.update({**_linear(b + "attn.proj", d, d), **_ln(b + "norm3", d)})
        shapes.update({b + "local_mp.conv1.weight": (d, 1, 3, 3), b + "local_mp.conv1.bias": (d,), **_batch_norm(b + "local_mp.bn", d)})
        shapes.update({b + "local_mp.conv2.weight": (d, 1, 3, 3), b + "local_mp.conv2.bias": (d,), **_ln(b + "norm2", d)})
        shapes.update({**_linear(b + "mlp.fc1", m, d), **_linear(b + "mlp.fc2", d, m)})
    for i in range(spec.depth_token_only):
        b = f"cls_attn_blocks.{i}."
        shapes.update({b + "gamma1": (d,), b + "gamma2": (d,), **_ln(b + "norm1", d)})
        for part in "qkv":
            shapes.update(_linear(f"{b}attn.{part}", d, d, spec.qkv_bias))
        shapes.update({**_linear(b + "attn.proj", d, d), **_ln(b + "norm2", d), **_linear(b + "mlp.fc1", m, d), **_linear(b + "mlp.fc2", d, m)})
    shapes.update(_ln("norm", d))
    if spec.num_classes:
        shapes.update(_linear("head", spec.num_classes, d))
    return shapes


def conv_fan_in(name: str, shapes: dict[str, Shape]) -> int:
    """The fan-in of the convolution ``name`` (its weight or bias) belongs to, or 0 for any other tensor.

    timm's ``Xcit`` leaves its convolutions at torch's default init, ``U(±1/√fan_in)`` for weight and bias.
    """
    base, _, leaf = name.rpartition(".")
    conv = base.startswith("patch_embed.proj.") and base.endswith(".0") or base.endswith(("local_mp.conv1", "local_mp.conv2", "token_projection"))
    if not conv or leaf not in ("weight", "bias"):
        return 0
    weight = shapes[base + ".weight"]
    return int(np.prod(weight[1:]))


def _ln(prefix: str, dim: int) -> dict[str, Shape]:
    return {prefix + ".weight": (dim,), prefix + ".bias": (dim,)}


def _batch_norm(prefix: str, dim: int) -> dict[str, Shape]:
    return {f"{prefix}.{leaf}": (dim,) for leaf in ("weight", "bias", "running_mean", "running_var")}


def _linear(prefix: str, out: int, inp: int, bias: bool = True) -> dict[str, Shape]:
    return {prefix + ".weight": (out, inp), **({prefix + ".bias": (out,)} if bias else {})}
