"""timm-style random initialisation of a canonical state, framework-agnostic.

Linear and position weights: truncated normal (std 0.02, cut at 2 std); class and
register tokens: normal (std 1e-6; CaiT's class token as timm's, truncated normal std 0.02); DeiT's distillation token: truncated normal
(std 0.02); the attention pool's latent query: truncated normal (std D^-0.5);
biases zero; LayerNorm ones/zeros; layer scale ``spec.layer_scale_init`` (1e-5); RoPE-Mixed's frequencies as timm's
``init_random_2d_freqs`` (:func:`vitzoo.rotary.init_mixed_freqs`); the patch projection:
LeCun-style truncated normal over its fan-in. XCiT (as timm's ``Xcit``): its convolutions torch's default
``U(±1/√fan_in)`` (weights and biases), BatchNorm running statistics 0/1, temperatures 1, class token
truncated normal (std 0.02). timm's relative-position ViTs (``rel_pos_type``) keep
PyTorch's own layer init (timm's ``weight_init='reset'``): every Linear/conv weight and bias uniform in
``±fan_in^-0.5``, layer scale 1e-6; residual post-norm blocks start their norms' weights at the layer
scale's value (1e-6 there, 1e-5 in ``vit_base_patch16_rpn_224``), as timm's ``ResPostBlock.init_weights``.
A hybrid ViT's ResNetV2 backbone is drawn as timm's ``ResNetV2.init_weights``: convolutions normal with
std ``√(2 / fan_out)``, GroupNorms ones/zeros, each bottleneck's last norm weight zero; its patch
projection keeps PyTorch's uniform conv init.

Speed: every random tensor is drawn in blocks of ``_BLOCK`` values, each block from
its own stream keyed by (seed, tensor name, block number), on a thread pool (NumPy
releases the GIL while it fills arrays). The values depend only on the seed and the
tensor's name and shape, never on the thread count; ViT-L/16's 304 M values take
~1.5 s on 2 cores instead of ~6 s drawn one after another.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import numpy as np

from vitzoo import rotary
from vitzoo.canonical import expected_shapes
from vitzoo.spec import ViTSpec
from vitzoo.xcit_spec import conv_fan_in

LAYER_SCALE_INIT = 1e-5
RELPOS_LAYER_SCALE_INIT = 1e-6  # timm's VisionTransformerRelPos init_values
_BLOCK = 1 << 22  # values per random stream: 16 MB of float32, big enough to amortise the set-up
_CHUNK = 1 << 16  # values scanned at a time for truncation (temporaries stay in cache)


def init_state(spec: ViTSpec, seed: Optional[int] = 0) -> dict[str, np.ndarray]:
    """A fresh float32 state for ``spec`` (deterministic for a given ``seed``; ``None``: fresh entropy).

    Example:
        >>> state = init_state(ViTSpec(depth=1, embed_dim=64, num_heads=2, mlp_dim=128))
        >>> float(state["blocks.0.norm1.weight"].mean())
        1.0
        >>> bool(np.array_equal(state["pos_embed"], init_state(ViTSpec(depth=1, embed_dim=64, num_heads=2, mlp_dim=128))["pos_embed"]))
        True
    """
    root = np.random.SeedSequence(seed)
    state: dict[str, np.ndarray] = {}
    jobs: list[tuple[np.ndarray, np.random.SeedSequence, float, bool]] = []  # (block, stream, std, truncate)
    shapes = expected_shapes(spec)
    torch_init = spec.rel_pos_type != "none"  # timm's relpos ViTs: PyTorch's reset_parameters (weight_init='reset')
    ls_init = RELPOS_LAYER_SCALE_INIT if torch_init else spec.layer_scale_init
    for name, shape in shapes.items():
        leaf = name.rsplit(".", 1)[-1]
        owner = name.rsplit(".", 1)[0]
        if spec.block == "xcit" and (fan_in := conv_fan_in(name, shapes)):  # timm's Xcit keeps torch's default conv init
            state[name] = _uniform(root, name, shape, fan_in**-0.5)
            continue
        if spec.block == "xcit" and leaf in ("running_var", "temperature", "running_mean"):  # BatchNorm buffers, XCA's temperature
            state[name] = np.full(shape, 0.0 if leaf == "running_mean" else 1.0, np.float32)
            continue
        if spec.res_post_norm and leaf == "weight" and owner.rsplit(".", 1)[-1] in ("norm1", "norm2"):
            state[name] = np.full(shape, ls_init, np.float32)  # timm's ResPostBlock.init_weights
            continue
        if spec.backbone == "convstem" and name.startswith("patch_embed.backbone."):  # torch's defaults: Conv2d, BatchNorm2d
            if leaf in ("weight", "bias") and owner.endswith(".conv"):
                random = (int(np.prod(shapes[owner + ".weight"][1:])) ** -0.5, None)
            else:
                state[name] = np.full(shape, 0.0 if leaf in ("bias", "running_mean") else 1.0, np.float32)
                continue
        elif name.startswith("patch_embed.backbone."):  # timm's ResNetV2._init_weights (zero_init_last)
            if len(shape) == 4:
                random = ((2.0 / (shape[0] * shape[2] * shape[3])) ** 0.5, False)
            else:
                state[name] = np.full(shape, 0.0 if leaf == "bias" or name.endswith("norm3.weight") else 1.0, np.float32)
                continue
        elif spec.backbone != "none" and owner == "patch_embed.proj":  # a plain Conv2d's reset_parameters
            random = (int(np.prod(shapes[owner + ".weight"][1:])) ** -0.5, None)
        elif torch_init and name not in ("cls_token",) and (len(shape) > 1 or len(shapes.get(owner + ".weight", ())) > 1):
            fan_in = int(np.prod(shapes[owner + ".weight"][1:]))
            random = (fan_in**-0.5, None)  # None: uniform in ±bound (torch's kaiming_uniform(a=√5) and its bias rule)
        elif name == "cls_token" and spec.block in ("cait", "xcit"):  # timm's Cait and Xcit: truncated normal, std 0.02
            random = (0.02, True)
        elif name in ("cls_token", "reg_token"):
            random = (1e-6, False)
        elif name in ("pos_embed", "pos_embed_y", "pos_embed_x", "dist_token"):
            random = (0.02, True)
        elif name == "query_pool.query":  # transformers' Aimv2 init: normal, std initializer_range 0.02
            random = (0.02, False)
        elif name == "attn_pool.latent":
            random = (shape[-1] ** -0.5, True)
        elif name == "patch_embed.proj.weight":
            random = ((1.0 / int(np.prod(shape[1:]))) ** 0.5, True)
        elif name == "rope.freqs":  # RoPE-Mixed: timm's magnitudes, a random direction per block and head
            stream = np.random.SeedSequence(root.entropy, spawn_key=tuple(name.encode()))
            state[name] = rotary.init_mixed_freqs(spec, np.random.Generator(np.random.PCG64(stream)))
            continue
        elif leaf.startswith("lambda_"):  # differential attention's λ vectors: timm draws Normal(0, 0.1)
            random = (0.1, False)
        elif leaf in ("gamma", "gamma_1", "gamma_2", "gamma1", "gamma2", "gamma3"):  # XCiT's gamma1/2/3 start at its eta
            state[name] = np.full(shape, ls_init, np.float32)
            continue
        elif leaf.endswith("bias") or leaf == "relative_position_bias_table":  # EVA's q_bias/v_bias; BEiT's table (timm: zeros)
            state[name] = np.zeros(shape, np.float32)
            continue
        elif len(shape) == 1:  # LayerNorm weight
            state[name] = np.ones(shape, np.float32)
            continue
        else:
            random = (0.02, True)
        value = np.empty(shape, np.float32)
        flat = value.reshape(-1)
        key = tuple(name.encode())  # the stream depends on the name, not on the other tensors
        for i, start in enumerate(range(0, flat.size, _BLOCK)):
            stream = np.random.SeedSequence(root.entropy, spawn_key=(*key, i))
            jobs.append((flat[start : start + _BLOCK], stream, *random))
        state[name] = value
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda job: _fill(*job), jobs))
    else:
        for job in jobs:
            _fill(*job)
    return state


def _uniform(root: np.random.SeedSequence, name: str, shape: tuple, bound: float) -> np.ndarray:
    """``U(-bound, bound)`` from a stream keyed by the tensor's name (torch's default conv init; small tensors, one stream)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(root.entropy, spawn_key=(*tuple(name.encode()), 1 << 20))))
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def _fill(out: np.ndarray, stream: np.random.SeedSequence, std: float, truncate: Optional[bool]) -> None:
    """``out`` ← Normal(0, std) from ``stream``; with ``truncate``, values beyond ±2 std are redrawn; ``None``: Uniform(±std)."""
    rng = np.random.Generator(np.random.PCG64(stream))
    if truncate is None:
        rng.random(dtype=np.float32, out=out)
        out *= np.float32(2 * std)
        out -= np.float32(std)
        return
    rng.standard_normal(dtype=np.float32, out=out)
    if truncate:
        outside = np.concatenate([np.flatnonzero(np.abs(out[i : i + _CHUNK]) > 2.0) + i for i in range(0, out.size, _CHUNK)])
        while outside.size:  # ~4.6% at first, 4.6% of those next: a few rounds over a shrinking set
            out[outside] = rng.standard_normal(outside.size, dtype=np.float32)
            outside = outside[np.abs(out[outside]) > 2.0]
    out *= np.float32(std)
