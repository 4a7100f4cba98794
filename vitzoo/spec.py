"""The abstract, framework-agnostic description of a Vision Transformer."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Mapping

from vitzoo import resnetv2
from vitzoo.errors import SpecError
from vitzoo.spec_checks import FAMILY_CHECKS

GELU_FORMS = ("exact", "tanh", "quick")
POOLING = ("token", "avg", "map", "query")
MLP_TYPES = ("mlp", "swiglu", "swiglu_split")
BLOCKS = ("vit", "eva", "cait", "xcit", "parallel")
ROPE_FORMS = ("none", "cat", "dinov3", "mixed")
REL_POS_FORMS = ("none", "block")
REL_POS_RESIZES = ("geometric", "bilinear")
NORM_TYPES = ("layer", "rms")
POS_INTERP = ("bicubic", "bilinear")


@dataclass(frozen=True)
class ViTSpec:
    """Everything needed to rebuild a ViT's forward pass exactly.

    The defaults are timm's ViT-B/16 at 224 px. Instances are immutable and
    validated on construction; use :meth:`replace` to derive a new spec.

    Example:
        >>> spec = ViTSpec(embed_dim=192, depth=12, num_heads=3, mlp_dim=768)
        >>> spec.head_dim, spec.num_patches
        (64, 196)
        >>> ViTSpec.from_json(spec.to_json()) == spec
        True
        >>> ViTSpec(class_token=False, global_pool="map", dist_token=True)
        Traceback (most recent call last):
        ...
        vitzoo.errors.SpecError: dist_token=True (DeiT distilled) needs class_token=True; the distilled head reads the class and distillation tokens.
    """

    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    num_classes: int = 1000
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_dim: int = 3072
    patch_bias: bool = True  # timm drops it when pre_norm is set
    qkv_bias: bool = True
    qk_norm: bool = False
    norm_eps: float = 1e-6
    gelu: str = "exact"  # "exact" (erf, torch/timm), "tanh" (MindSpore's default) or "quick" (OpenAI CLIP's x·sigmoid(1.702x))
    mlp_type: str = "mlp"  # "mlp" (fc1 → GELU → fc2), "swiglu" (packed fc1 [2·mlp_dim, D]: silu(first half) × second half)
    # or "swiglu_split" (timm's SwiGLU: fc2(silu(fc1_g(x)) · fc1_x(x)), EVA-02 B/L, DINOv3 S+/H+/7B, AIMv2)
    class_token: bool = True
    dist_token: bool = False  # DeiT distilled: a second prefix token with its own head, logits = mean of both heads
    reg_tokens: int = 0
    pos_embed_prefix: bool = True  # pos_embed also covers the class/distillation/register tokens
    global_pool: str = "token"  # "token" (class token), "avg" (mean of patch tokens) or "map" (attention pool, SigLIP)
    # or "query" (AIMv2's attention pooling head: a learned query token, no q projection, k/v projections, output_proj)
    fc_norm: bool = False  # norm after pooling instead of on every token
    pre_norm: bool = False  # extra LayerNorm before the blocks (CLIP style)
    layer_scale: bool = False  # per-channel residual scales ls1/ls2
    pre_logits_dim: int = 0  # >0: Linear(embed_dim, pre_logits_dim) + tanh before the head
    dynamic_img_size: bool = False  # any input H×W: pos_embed resampled at run time (timm's keyword)
    dynamic_img_pad: bool = False  # with dynamic_img_size: pad H, W up to patch multiples (bottom/right)
    # Families II (timm's eva.py: EVA-02, DINOv3, PE, RoPE-ViT). The defaults are the plain ViT.
    block: str = "vit"  # tensor names of a block: "vit" (ls1.gamma, attn.qkv.bias), "eva" (gamma_1/gamma_2, attn.q_bias/v_bias)
    # or "cait" (timm's cait.py: talking-heads attention with attn.proj_l/proj_w, gamma_1/gamma_2)
    abs_pos_embed: bool = True  # a learned absolute pos_embed (DINOv3 has none: rotary positions only)
    k_bias: bool = True  # with qkv_bias: False gives q and v a bias and k none (EVA/BEiT's q_bias, v_bias)
    qkv_fused: bool = True  # False: separate attn.q_proj/k_proj/v_proj (EVA-02 CLIP B/L)
    attn_norm: bool = False  # a LayerNorm on the attention output before attn.proj (EVA-CLIP's scale_attn_inner)
    mlp_norm: bool = False  # a LayerNorm on the MLP's hidden units before fc2 (EVA-02's scale_mlp)
    final_norm: bool = True  # False: no norm after the blocks at all (PE-Spatial)
    pool_heads: int = 0  # heads of the MAP pool (0: num_heads; PE-Core uses 8)
    pool_mlp_dim: int = 0  # hidden width of the MAP pool's MLP (0: mlp_dim; PE-Core G differs)
    pool_include_prefix: bool = False  # the MAP pool also reads the class/register tokens (timm's eva.py always does)
    rope: str = "none"  # rotary positions: "none", "cat" (timm's RotaryEmbeddingCat: EVA-02, PE), "dinov3", or "mixed"
    # (naver's RoPE-Mixed: learned frequencies per block and head, the tensor rope.freqs)
    rope_temperature: float = 10000.0  # the frequency base (DINOv3: 100)
    rope_ref_grid: int = 0  # "cat": coordinates scaled so the grid spans this many patches (EVA's ref_feat_shape; 0: none)
    rope_grid_offset: float = 0.0  # added to every coordinate (PE: 1)
    rope_grid_xy: bool = False  # coordinate channels (x, y) instead of (row, column) (PE's 'xy' indexing)
    rope_half: bool = False  # rotate-half layout (DINOv3) instead of interleaved pairs (EVA-02, PE)
    # BEiT/BEiTv2: "block" gives every block's attention a learned table of biases over the relative
    # positions of token pairs, (2·grid-1)² + 3 rows (the 3: class→patch, patch→class, class→class)
    rel_pos_bias: str = "none"
    # how a table is resized for another image size: "geometric" (timm's and BEiT's own fine-tuning code) or
    # "bilinear" (transformers' BeitModel, which interpolates the table as an image)
    rel_pos_resize: str = "geometric"
    # AIMv2 (timm's vision_transformer.py): RMSNorm (weight only) for the stem, block and final norms, a norm
    # on the patch embeddings, and projections without biases
    norm_type: str = "layer"  # "layer" (LayerNorm, weight and bias) or "rms" (timm's RmsNorm: x·rsqrt(mean(x²) + eps)·weight)
    patch_norm: bool = False  # a norm (norm_type) on the patch embeddings, before the position embedding
    # AIMv2 native resolution (transformers' is_native): no pos_embed tensor; a fixed 2-D sin-cos embedding of each
    # input's patch grid is added to the patch tokens (vitzoo.sincos: width terms, then height terms)
    sincos_pos: bool = False
    proj_bias: bool = True  # the attention output projection's bias
    mlp_bias: bool = True  # the MLP projections' biases
    # CaiT (block="cait"): the class token joins only after the blocks, in this many class-attention blocks
    # (timm's blocks_token_only, its depth_token_only argument) where it alone is updated
    depth_token_only: int = 0
    # NaFlex (timm's naflexvit.py, SigLIP 2 NaFlex): a learned position grid of its own size (pos_embed_grid² cells,
    # the patch tokens only), resampled to every input's patch grid, and timm's NaFlex dictionary inputs (patch-n'-pack:
    # patches, their (row, column) coordinates and a validity mask). Always any input size (dynamic_img_size).
    naflex: bool = False
    # side of the learned position grid (0: the image's grid, img_size // patch_size); NaFlex's, or without naflex the
    # Qwen3 ViT's (its own 48 × 48 grid resampled bilinearly with aligned corners, see vitzoo/qwen_spec.py)
    pos_embed_grid: int = 0
    pos_interp: str = "bicubic"  # how the grid is resampled: "bicubic" or "bilinear" (torch's F.interpolate modes)
    pos_antialias: bool = True  # F.interpolate's antialias (a widened filter when shrinking)
    pos_align_corners: bool = False  # F.interpolate's align_corners
    pos_ar_preserving: bool = False  # resample to a square of the longer side, then keep the top-left rows × columns
    pos_factorized: bool = False  # two 1-D tables (pos_embed_y, pos_embed_x: rows and columns, added), resampled linearly
    # XCiT (block="xcit", timm's xcit.py): cross-covariance blocks over the patch tokens, then depth_token_only
    # class-attention blocks (timm's cls_attn_layers) that also pass the patch tokens on; see vitzoo/xcit_spec.py
    tokens_norm: bool = False  # XCiT's class-attention blocks norm every token after the attention (else the class token only)
    layer_scale_init: float = 1e-5  # the value fresh layer scales start at (XCiT's eta: 1.0 for its 12-block models)
    # timm's vision_transformer_relpos.py: each attention adds a bias per head made by a small MLP (2 → rel_pos_dim,
    # ReLU → heads) from the log-spaced relative coordinates of every patch pair (timm's RelPosMlp): "mlp" is its
    # 'cr' mode (sign·ln(1+|d|)), "mlp_swin" Swin-V2's (coordinates scaled to ±8, log2, 16·sigmoid of the output)
    rel_pos_type: str = "none"
    rel_pos_dim: int = 0  # the MLP's hidden width (timm's rel_pos_dim, default 128); 0 without rel_pos_type
    rel_pos_shared: bool = False  # one MLP for every block (shared_rel_pos.*) instead of one per block (attn.rel_pos.*)
    # residual post-norm blocks (timm's ResPostBlock / ResPostRelPosBlock): x + norm1(attn(x)), x + norm2(mlp(x))
    res_post_norm: bool = False
    # timm's hybrid ViTs (vision_transformer_hybrid.py): a convolutional backbone before the patch projection,
    # "resnetv2" (BiT's ResNetV2 with weight-standardised convs and GroupNorm, see vitzoo/resnetv2.py) with
    # backbone_layers bottleneck blocks per stage (() = the stem alone); patch_size is then the projection's
    # kernel over the feature map; "convstem" (MobileCLIP's three BatchNorm convolutions, vitzoo/conv_stem.py): the
    # tokens themselves, no projection, patch_size 16
    backbone: str = "none"
    backbone_layers: tuple = ()
    # EVA-02-E (timm's use_post_norm, block="eva"): residual post-norm blocks, x + norm1(attn(x)) then
    # x + norm2(mlp(x)); the same tensors as the pre-norm block, and no layer scale (timm ignores it there)
    post_norm: bool = False
    # timm's DiffAttention (attn_layer='diff', block="vit"): each head's queries and keys in two halves, the second
    # softmax map subtracted with a learned weight (attn.lambda_q1/k1/q2/k2), an RMSNorm (attn.sub_norm) on the result
    diff_attn: bool = False
    # timm's parallel blocks (block="parallel": ParallelScalingBlock, DiffParallelScalingBlock with diff_attn): one norm
    # and one in_proj for the MLP's hidden units and q, k, v, the two branches side by side; parallel_out_fused: one
    # out_proj over both (timm's fuse_out_proj, always with diff_attn) instead of attn_out_proj + mlp_out_proj
    parallel_out_fused: bool = False
    # Qwen3 ViT (timm's qwen3_vit.py, the Qwen3-VL / Qwen3.5 vision tower): a learned grid of its own size without NaFlex
    # (pos_embed_grid, pos_interp='bilinear', pos_antialias=False, pos_align_corners=True: vitzoo/qwen_spec.py),
    # a LayerNorm without weight and bias after pooling (fc_norm_affine=False), and the VLM projector ("merger": norm,
    # merge_size² patches unshuffled into one token, fc1, exact GELU, fc2 to merge_dim); output_tokens: the model returns
    # the projector's tokens (no pool or head)
    fc_norm_affine: bool = True
    merge_size: int = 0
    merge_dim: int = 0
    output_tokens: bool = False
    # Sapiens2 (timm's eva.py): grouped-query attention in the middle blocks (timm's AttentionRope with num_kv_heads): the
    # first and last num_full_attn_blocks blocks keep num_heads key/value heads, those between num_kv_heads (0: all full);
    # a rule rather than a per-block list so a depth override stays coherent. Without such blocks both are 0 (canonical).
    num_kv_heads: int = 0
    num_full_attn_blocks: int = 0
    attn_only_layer_scale: bool = False  # layer scale on the attention branch only (gamma_1, no gamma_2)
    img_width: int = 0  # the default input's width when it is not img_size (Sapiens2's 1024 × 768, H × W); 0: square
    # DeepSeek-V4 ViT (timm's deepseek_vit.py): the token norm stays (final_norm) beside a weightless post-pool norm (fc_norm,
    # fc_norm_affine=False), and the projector is its "aligner" (aligner.*: merge_size² tokens unshuffled channel-major over a
    # grid zero-padded to multiples, fc1, exact GELU, fc2 to merge_dim; no norm). See vitzoo/deepseek_spec.py.
    deepseek_vit: bool = False

    def __post_init__(self) -> None:
        for name in ("img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads", "mlp_dim"):
            value = getattr(self, name)
            if not _is_int(value) or value <= 0:
                raise SpecError(f"ViT spec field {name!r} must be a positive integer, got {value!r}.")
        for name in ("num_classes", "reg_tokens", "pre_logits_dim", "pool_heads", "pool_mlp_dim", "rope_ref_grid", "depth_token_only",
                     "pos_embed_grid", "rel_pos_dim", "merge_size", "merge_dim", "num_kv_heads", "num_full_attn_blocks", "img_width"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise SpecError(f"ViT spec field {name!r} must be a non-negative integer, got {value!r}.")
        for name in ("patch_bias", "qkv_bias", "qk_norm", "class_token", "dist_token", "pos_embed_prefix", "fc_norm", "pre_norm",
                     "layer_scale", "dynamic_img_size", "dynamic_img_pad", "abs_pos_embed", "k_bias", "qkv_fused", "attn_norm",
                     "mlp_norm", "final_norm", "rope_grid_xy", "rope_half", "pool_include_prefix", "patch_norm", "proj_bias", "mlp_bias",
                     "naflex", "pos_antialias", "pos_align_corners", "pos_ar_preserving", "pos_factorized",
                     "tokens_norm", "sincos_pos", "rel_pos_shared", "res_post_norm",
                     "post_norm", "diff_attn", "parallel_out_fused", "fc_norm_affine", "output_tokens", "attn_only_layer_scale",
                     "deepseek_vit"):
            if not isinstance(getattr(self, name), bool):
                raise SpecError(f"ViT spec field {name!r} must be true or false, got {getattr(self, name)!r}.")
        if not isinstance(self.norm_eps, (int, float)) or isinstance(self.norm_eps, bool) or not 0 < self.norm_eps < 1:
            raise SpecError(f"ViT spec field 'norm_eps' must be a float in (0, 1), got {self.norm_eps!r}.")
        if self.gelu not in GELU_FORMS:
            raise SpecError(f"Unknown GELU form {self.gelu!r}; use one of {', '.join(GELU_FORMS)}.")
        if self.global_pool not in POOLING:
            raise SpecError(f"Unknown pooling {self.global_pool!r}; use one of {', '.join(POOLING)}.")
        if self.mlp_type not in MLP_TYPES:
            raise SpecError(f"Unknown MLP type {self.mlp_type!r}; use one of {', '.join(MLP_TYPES)}.")
        if self.block not in BLOCKS:
            raise SpecError(f"Unknown block form {self.block!r}; use one of {', '.join(BLOCKS)}.")
        if self.rope not in ROPE_FORMS:
            raise SpecError(f"Unknown rotary form {self.rope!r}; use one of {', '.join(ROPE_FORMS)}.")
        if self.norm_type not in NORM_TYPES:
            raise SpecError(f"Unknown norm type {self.norm_type!r}; use one of {', '.join(NORM_TYPES)}.")
        if self.pos_interp not in POS_INTERP:
            raise SpecError(f"Unknown position-grid interpolation {self.pos_interp!r}; use one of {', '.join(POS_INTERP)}.")
        if self.naflex:  # timm's NaFlexVit takes every size (it ignores dynamic_img_size=False)
            object.__setattr__(self, "dynamic_img_size", True)
        if self.rel_pos_bias not in REL_POS_FORMS:
            raise SpecError(f"Unknown relative position bias {self.rel_pos_bias!r}; use one of {', '.join(REL_POS_FORMS)}.")
        if self.rel_pos_resize not in REL_POS_RESIZES:
            raise SpecError(f"Unknown relative position table resize {self.rel_pos_resize!r}; use one of {', '.join(REL_POS_RESIZES)}.")
        for name in ("rope_temperature", "rope_grid_offset", "layer_scale_init"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value or abs(value) == float("inf"):
                raise SpecError(f"ViT spec field {name!r} must be a finite number, got {value!r}.")
            object.__setattr__(self, name, float(value))
        if self.rope_temperature <= 0:
            raise SpecError(f"ViT spec field 'rope_temperature' must be positive, got {self.rope_temperature!r}.")
        if self.embed_dim % self.num_heads:
            raise SpecError(
                f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}; "
                "choose a head count that divides it."
            )
        if self.img_size < self.patch_size and self.backbone == "none":
            raise SpecError(f"img_size {self.img_size} is smaller than patch_size {self.patch_size}; choose a larger image size.")
        if self.global_pool == "token" and not self.class_token:
            raise SpecError("global_pool='token' needs class_token=True; use global_pool='avg' or 'map' without a class token.")
        self._check_combinations()
        object.__setattr__(self, "norm_eps", float(self.norm_eps))

    def _check_combinations(self) -> None:
        """Refuse family features that do not combine (timm builds none of these)."""
        if self.dist_token:
            # the distilled head reads tokens 0 and 1 and averages two classifiers
            for bad, why in (
                (not self.class_token, "class_token=True"),
                (self.global_pool != "token", "global_pool='token'"),
                (self.reg_tokens > 0, "reg_tokens=0"),
                (self.fc_norm, "fc_norm=False"),
                (self.pre_logits_dim > 0, "pre_logits_dim=0"),
            ):
                if bad:
                    raise SpecError(f"dist_token=True (DeiT distilled) needs {why}; the distilled head reads the class and distillation tokens.")
        if self.global_pool == "map" and self.mlp_type != "mlp":
            raise SpecError("global_pool='map' needs mlp_type='mlp': the attention pool's MLP width is only defined for a plain MLP.")
        if self.block == "vit":  # timm's VisionTransformer block has none of eva.py's options
            for bad, why in ((not self.k_bias, "k_bias"), (not self.qkv_fused, "qkv_fused"), (self.attn_norm, "attn_norm"),
                             (self.mlp_norm, "mlp_norm"), (self.mlp_type == "swiglu_split", "mlp_type='swiglu_split'")):
                if bad:
                    raise SpecError(f"{why} is an option of the EVA block (timm's eva.py); set block='eva' to use it.")
        if self.rope != "none" and self.block != "eva":
            raise SpecError("Rotary positions are built into the EVA block; set block='eva' (timm's eva.py models).")
        if self.mlp_norm and self.mlp_type == "swiglu":
            raise SpecError("mlp_norm needs mlp_type 'mlp' or 'swiglu_split' (timm packs the SwiGLU only without the norm).")
        if self.rope == "mixed" and (self.rope_ref_grid or self.rope_grid_offset or self.rope_half):
            raise SpecError("rope='mixed' (learned frequencies over integer patch coordinates, interleaved pairs) has no "
                            "rope_ref_grid, rope_grid_offset or rope_half.")
        if self.rope != "none" and self.head_dim % 4:
            raise SpecError(f"Rotary positions need a head width divisible by 4, got {self.head_dim}.")
        if self.sincos_pos and (self.abs_pos_embed or self.num_prefix_tokens or self.embed_dim % 4):
            raise SpecError("sincos_pos (AIMv2 native) replaces the learned pos_embed (abs_pos_embed=False), has no prefix tokens "
                            "and needs embed_dim divisible by 4.")
        if (self.rope == "none" and self.rel_pos_bias == "none" and self.rel_pos_type == "none"
                and not self.abs_pos_embed and not self.sincos_pos
                and self.block != "xcit"):  # XCiT: Fourier features
            raise SpecError("A model with no abs_pos_embed, rotary positions or relative position bias has no position information; set one.")
        if self.rel_pos_bias != "none":
            # BEiT's table indexes (class token + square grid) pairs, built into the EVA block's attention
            for bad, why in ((self.block != "eva", "block='eva'"), (self.rope != "none", "rope='none'"),
                             (self.num_prefix_tokens != 1 or not self.class_token, "exactly one prefix token, the class token"),
                             (self.dynamic_img_size, "a fixed input size (dynamic_img_size=False)")):
                if bad:
                    raise SpecError(f"rel_pos_bias={self.rel_pos_bias!r} (BEiT) needs {why}.")
        for check in FAMILY_CHECKS:  # each family's own combinations (vitzoo/spec_checks.py)
            check(self)
        if self.pool_include_prefix and self.global_pool != "map":
            raise SpecError("pool_include_prefix is an option of the MAP pool; it needs global_pool='map'.")
        if self.pool_mlp_dim and self.global_pool != "map":
            raise SpecError(f"pool_mlp_dim={self.pool_mlp_dim} is the MAP pool's width; it needs global_pool='map'.")
        if self.pool_heads and (self.global_pool != "map" or self.embed_dim % self.pool_heads):
            raise SpecError(f"pool_heads={self.pool_heads} needs global_pool='map' and a head count that divides embed_dim {self.embed_dim}.")
        if self.norm_type == "rms":  # where vitzoo builds RMSNorm: stem, blocks, final norm (AIMv2's set)
            for bad, why in ((self.global_pool == "map", "global_pool='map'"), (self.qk_norm and self.block != "eva", "qk_norm outside the EVA block"),
                             (self.attn_norm or self.mlp_norm, "attn_norm/mlp_norm"), (self.block != "eva", "block='eva'")):
                if bad:
                    raise SpecError(f"norm_type='rms' does not combine with {why} yet; no registered model needs it.")
        if (not self.proj_bias or not self.mlp_bias or self.patch_norm) and self.block != "eva":
            raise SpecError("proj_bias=False, mlp_bias=False and patch_norm are options of the EVA block's builder; set block='eva'.")
        if not self.final_norm and self.fc_norm:
            raise SpecError("final_norm=False removes the norm after the blocks; it cannot also be an fc_norm.")

    @property
    def qwen_vit(self) -> bool:
        """Whether this is timm's Qwen3 ViT: a learned grid of its own size without NaFlex (see :mod:`vitzoo.qwen_spec`)."""
        return bool(self.pos_embed_grid) and not self.naflex

    @property
    def input_size(self) -> tuple[int, int]:
        """The default input's (height, width)."""
        return self.img_size, self.img_width or self.img_size

    def kv_heads(self, block: int) -> int:
        """Key/value heads of block ``block``: ``num_kv_heads`` between the first and last ``num_full_attn_blocks``."""
        full = block < self.num_full_attn_blocks or block >= self.depth - self.num_full_attn_blocks
        return self.num_heads if full or not self.num_kv_heads else self.num_kv_heads

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    @property
    def grid_size(self) -> int:
        """Patches along one side of the image.

        Like timm's strided convolution, a size that is not a multiple of the patch
        (SigLIP so400m/14 at 384 px: 27 patches) leaves the last rows and columns out.
        A hybrid ViT's patches are cut from its backbone's feature map.
        """
        if self.backbone == "resnetv2":
            return resnetv2.feature_size(self.img_size, self.backbone_layers) // self.patch_size
        return self.img_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid_size**2

    @property
    def num_prefix_tokens(self) -> int:
        """Class, distillation and register tokens, in front of the patch tokens."""
        return int(self.class_token) + int(self.dist_token) + self.reg_tokens

    @property
    def num_tokens(self) -> int:
        return self.num_prefix_tokens + self.num_patches

    @property
    def map_heads(self) -> int:
        """Heads of the attention pool (``global_pool='map'``)."""
        return self.pool_heads or self.num_heads

    @property
    def pos_grid(self) -> int:
        """Side of the learned position grid: ``pos_embed_grid`` (NaFlex, Qwen3 ViT) or the image's patch grid."""
        return self.pos_embed_grid or self.grid_size

    @property
    def pos_embed_len(self) -> int:
        if self.pos_embed_grid:  # NaFlex or the Qwen3 ViT: a learned grid of its own size, resampled per input
            return self.pos_embed_grid**2
        return self.num_tokens if self.pos_embed_prefix else self.num_patches

    @property
    def fc1_dim(self) -> int:
        """Output width of each block's ``mlp.fc1``: twice ``mlp_dim`` for the packed SwiGLU."""
        return 2 * self.mlp_dim if self.mlp_type == "swiglu" else self.mlp_dim

    @property
    def num_features(self) -> int:
        """Width of the pooled features fed to the classifier."""
        return self.pre_logits_dim or self.merge_dim or self.embed_dim

    # Conversions ----------------------------------------------------------
    def replace(self, **changes: Any) -> "ViTSpec":
        """A copy with some fields changed (validated again)."""
        unknown = sorted(set(changes) - _FIELD_NAMES)
        if unknown:
            raise SpecError(f"Unknown ViT spec field(s) {', '.join(unknown)}; valid fields: {', '.join(sorted(_FIELD_NAMES))}.")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ViTSpec":
        if not isinstance(data, Mapping):
            raise SpecError(f"A ViT spec must be a JSON object, got {type(data).__name__}.")
        unknown = sorted(set(data) - _FIELD_NAMES)
        if unknown:
            raise SpecError(f"Unknown ViT spec field(s) {', '.join(unknown)}; was it written by a newer vitzoo?")
        return cls(**dict(data))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ViTSpec":
        try:
            data = json.loads(text)
        except (TypeError, ValueError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
            raise SpecError(f"The ViT spec is not valid JSON ({exc}).") from None
        return cls.from_dict(data)


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(ViTSpec))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
