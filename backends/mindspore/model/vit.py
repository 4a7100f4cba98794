"""The MindSpore Vision Transformer: one ``nn.Cell`` for every :class:`~vitzoo.spec.ViTSpec`.

Its parameter names are the canonical names of :func:`vitzoo.canonical.expected_shapes`,
so ``{p.name: p for p in model.get_parameters()}`` is a canonical state.

Example:
    >>> import numpy as np, mindspore as ms
    >>> from vitzoo.spec import ViTSpec
    >>> from vitzoo.init import init_state
    >>> spec = ViTSpec(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, mlp_dim=64, num_classes=5)
    >>> model = VisionTransformer(spec, init_state(spec))
    >>> model(ms.Tensor(np.zeros((2, 3, 32, 32), np.float32))).shape
    (2, 5)
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence, Union

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops

from vitzoo.canonical import check_state, is_classifier
from vitzoo.features import check_input
from vitzoo.init import init_state
from vitzoo.spec import ViTSpec

from ..runtime import serialized
from . import features
from .heads import AttentionPool, DistilledClassifier, LinearClassifier, NoClassifier, QueryPool, borrow, make_pool
from .diff_attn import make_vit_block
from .eva import make_eva_block, make_rotary
from .parallel import ParallelBlock
from .layers import Linear, NormedPatchEmbed, PatchEmbed, PreLogits, make_norm, to_parameter
from .sincos import SinCosPositions
from .relpos_blocks import ResPostBlock

BLOCKS = {"vit": make_vit_block, "eva": make_eva_block, "parallel": ParallelBlock}


class VisionTransformer(nn.Cell):
    """A timm-equivalent ViT whose weights come from a canonical ``state`` (validated first).

    Args:
        spec: the architecture.
        state: canonical float32 arrays for every tensor of ``spec`` (copied, never aliased, unless ``copy=False``).
        jit: run calls of the model and of ``forward_features``/``forward_head`` as
            compiled MindSpore graphs (``mindspore.jit``, compiled on first call per
            input shape); the global context is left alone.
        copy: ``False`` hands ``state``'s arrays over to the model, which then owns
            them (the backend does this with its own fresh random init, saving a copy).

    The model starts in eval mode (``set_train(False)``); ViTs have no
    dropout/batch-norm here, so train and eval compute the same function.
    """

    def __init__(self, spec: ViTSpec, state: Mapping[str, np.ndarray], *, jit: bool = False, copy: bool = True) -> None:
        super().__init__()
        check_state(state, spec)
        if copy:  # private buffers: the caller's arrays (maybe read-only memory maps) stay apart from training updates
            state = {k: np.array(v, dtype=np.float32, copy=True, order="C") for k, v in state.items()}
        self.spec = spec
        self.pretrained_cfg: dict = {}
        self.patch_embed = self._make_patch_embed(spec, state)
        if spec.class_token:
            self.cls_token = to_parameter(state["cls_token"])
        if spec.dist_token:
            self.dist_token = to_parameter(state["dist_token"])
        if spec.reg_tokens:
            self.reg_token = to_parameter(state["reg_token"])
        self.prefix_names = tuple(n for n in ("cls_token", "dist_token", "reg_token") if n in state)
        self.has_pos_embed = spec.abs_pos_embed
        if spec.abs_pos_embed and spec.pos_factorized:  # NaFlex's two 1-D tables (see .naflex)
            self.pos_embed_y = to_parameter(state["pos_embed_y"])
            self.pos_embed_x = to_parameter(state["pos_embed_x"])
        elif spec.abs_pos_embed:
            self.pos_embed = to_parameter(state["pos_embed"])
        self.rope = make_rotary(spec, state)  # rotary tables per input grid, or none (timm's name: RoPE-Mixed's rope.freqs)
        self.has_sincos = spec.sincos_pos
        if spec.sincos_pos:  # AIMv2 native: a fixed sin-cos embedding of each input's grid
            self.sincos = SinCosPositions(spec)
        self.pos_embed_prefix = spec.pos_embed_prefix
        self.patch_size = spec.patch_size
        self.grid_size = spec.grid_size
        self.dynamic_img_size = spec.dynamic_img_size
        self.dynamic_img_pad = spec.dynamic_img_size and spec.dynamic_img_pad
        self.num_prefix_tokens = spec.num_prefix_tokens
        self.embed_dim = spec.embed_dim
        self.has_norm_pre = spec.pre_norm
        if spec.pre_norm:
            self.norm_pre = make_norm(spec, state, "norm_pre")
        self.blocks = nn.CellList([self._make_block(spec, state, f"blocks.{i}") for i in range(spec.depth)])
        self.use_fc_norm = spec.fc_norm and spec.final_norm
        self.use_norm = spec.final_norm and not spec.fc_norm
        if self.use_fc_norm:
            self.fc_norm = self._make_fc_norm(spec, state)
        if self.use_norm:
            self.norm = make_norm(spec, state, "norm")
        if spec.global_pool == "map":
            self.attn_pool = AttentionPool(spec, state, "attn_pool")
            borrow(self, "pool", self.attn_pool)  # parameters keep the canonical attn_pool.* names
        elif spec.global_pool == "query":
            self.query_pool = QueryPool(spec, state, "query_pool")
            borrow(self, "pool", self.query_pool)
        else:
            self.pool = make_pool(spec)
        self.has_pre_logits = spec.pre_logits_dim > 0
        if spec.pre_logits_dim:
            self.pre_logits = PreLogits(state, "pre_logits")
        self._set_head(spec, state)
        self.use_jit = jit
        self._graphs: dict = {}  # method name → mindspore.jit function (jit=True only)
        self._graph_weights: tuple = ()  # which parameter buffers the graphs were compiled with
        self.set_train(False)

    def _make_patch_embed(self, spec: ViTSpec, state: Mapping[str, np.ndarray]) -> nn.Cell:
        """Image → patch tokens of the spec's form (a family's model class may build its own: the hybrid ViT's backbone)."""
        return (NormedPatchEmbed if spec.patch_norm else PatchEmbed)(spec, state)

    def _make_block(self, spec: ViTSpec, state: Mapping[str, np.ndarray], name: str) -> nn.Cell:
        """Block ``name`` of the spec's form (a family's model class may build its own)."""
        if spec.res_post_norm:  # timm's ResPostBlock: the norms after the branches (vit_base_patch16_rpn_224)
            return ResPostBlock(spec, state, name)
        return BLOCKS[spec.block](spec, state, name)

    def _make_fc_norm(self, spec: ViTSpec, state: Mapping[str, np.ndarray]) -> nn.Cell:
        """The norm after pooling (a family's model class may build another: Qwen3 ViT's has no parameters)."""
        return make_norm(spec, state, "fc_norm")

    # The forward pass ---------------------------------------------------------
    @serialized
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Only Python-level calls land here; a graph that contains this cell parses
        # ``construct`` itself, so training steps compiled around the model still work.
        if args and isinstance(args[0], Tensor):
            check_input(self.spec, args[0].shape)  # a size the model cannot take: one clear error
        if self.use_jit and ms.get_context("mode") == ms.PYNATIVE_MODE:
            return self._run_graph("construct", *args, **kwargs)
        return super().__call__(*args, **kwargs)

    def construct(self, x: Tensor) -> Tensor:
        """Logits ``[B, num_classes]`` (pooled features when the model has no head)."""
        return self._head(self._features(x), False)

    @serialized
    def forward_features(self, x: Tensor) -> Tensor:
        """Tokens ``[B, prefix + patches, D]`` after the final norm (before it, with ``fc_norm``)."""
        check_input(self.spec, x.shape)
        if self.use_jit:
            return self._run_graph("_features", x)
        return self._features(x)

    @serialized
    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Pool the tokens from :meth:`forward_features`, then classify; ``pre_logits=True`` stops before the head."""
        if self.use_jit:
            return self._run_graph("_head", x, pre_logits)
        return self._head(x, pre_logits)

    @serialized
    def forward_intermediates(
        self,
        x: Tensor,
        indices: Union[int, Sequence[int], None] = None,
        return_prefix_tokens: bool = False,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
        output_dict: bool = False,
    ) -> Any:
        """Per-block features, with timm's arguments and results (``timm`` ``forward_intermediates``).

        Args:
            indices: ``None`` all blocks, an int ``n`` the last ``n``, a list those block indices (negative from the end).
            return_prefix_tokens: each intermediate becomes ``(spatial, prefix)``; prefix = class/register tokens.
            norm: pass each intermediate through the final norm.
            stop_early: stop after the last block asked for (the final features then come from it).
            output_fmt: ``"NCHW"`` feature maps ``[B, D, H/p, W/p]`` or ``"NLC"`` tokens ``[B, patches, D]``.
            intermediates_only: return only the list of intermediates.
            output_dict: a dict with ``image_intermediates`` (``_prefix``) and ``image_features``.

        Returns ``(final_tokens, intermediates)`` by default, final tokens as :meth:`forward_features`.

        Example:
            >>> spec = ViTSpec(img_size=32, patch_size=8, embed_dim=32, depth=3, num_heads=2, mlp_dim=64)
            >>> model = VisionTransformer(spec, init_state(spec))
            >>> final, maps = model.forward_intermediates(ms.Tensor(np.zeros((1, 3, 32, 32), np.float32)), indices=2)
            >>> tuple(final.shape), [tuple(m.shape) for m in maps]
            ((1, 17, 32), [(1, 32, 4, 4), (1, 32, 4, 4)])
        """
        return features.forward_intermediates(
            self, x, indices, return_prefix_tokens, norm, stop_early, output_fmt, intermediates_only, output_dict
        )

    def _intermediates(self, x: Tensor, take: tuple, norm: bool, last: int, nchw: bool) -> tuple:
        return features.intermediates(self, x, take, norm, last, nchw)

    def _embed(self, x: Tensor, pool: Any, take: tuple, normalize: bool, head_output: bool, layer_pool: str) -> tuple:
        return features.embed_graph(self, x, pool, take, normalize, head_output, layer_pool)  # vitzoo.embed's graph

    def _features(self, x: Tensor) -> Tensor:
        rope = self._positions(x.shape[2], x.shape[3])
        x = self._embed_tokens(x)
        for block in self.blocks:
            x = block(x, rope)
        return self._final_norm(x)

    def _positions(self, height: int, width: int) -> Any:
        """The rotary tables for an input of this size (``None`` for models without rotary positions)."""
        return self.rope(*self._patch_grid(height, width))

    def _final_norm(self, x: Tensor) -> Tensor:
        if self.use_norm:
            return self.norm(x)
        return x  # timm: the norm moves after pooling (fc_norm), or there is none (PE-Spatial)

    def _patch_grid(self, height: int, width: int) -> tuple:
        """Patch rows and columns of an input (static shapes: plain ints in a graph too)."""
        p = self.patch_size
        if self.dynamic_img_pad:
            return (height + p - 1) // p, (width + p - 1) // p
        return height // p, width // p

    def _embed_tokens(self, x: Tensor) -> Tensor:
        """Image → tokens entering the first block: patches, class/register tokens, positions, ``norm_pre``."""
        rows, cols = self._patch_grid(x.shape[2], x.shape[3])
        if self.dynamic_img_pad:
            x = features.pad_to_patches(x, self.patch_size)
        x = self.patch_embed(x)
        x = self._add_tokens(x, rows, cols)
        if self.has_norm_pre:
            x = self.norm_pre(x)
        return x

    def _add_tokens(self, x: Tensor, rows: int, cols: int) -> Tensor:
        """Prepend the prefix tokens and add the position embedding (timm's order: cls, dist or reg, patches)."""
        b = x.shape[0]
        if self.has_sincos:  # AIMv2 native (no prefix tokens): computed for this grid
            return x + self.sincos(rows, cols)
        if not self.has_pos_embed:  # rotary positions only (DINOv3): the blocks add them
            if self.num_prefix_tokens:
                x = ops.cat((ops.broadcast_to(self._prefix_tokens(), (b, self.num_prefix_tokens, self.embed_dim)), x), 1)
            return x
        pos_embed = self.pos_embed
        if self.dynamic_img_size:  # resampled to this input's grid (unchanged at the native size)
            n = self.num_prefix_tokens if self.pos_embed_prefix else 0
            pos_embed = features.resampled_pos_embed(pos_embed, self.grid_size, rows, cols, n)
        if not self.pos_embed_prefix:
            x = x + pos_embed
        if self.num_prefix_tokens:
            x = ops.cat((ops.broadcast_to(self._prefix_tokens(), (b, self.num_prefix_tokens, self.embed_dim)), x), 1)
        if self.pos_embed_prefix:
            x = x + pos_embed
        return x

    def _prefix_tokens(self) -> Tensor:
        """``[1, prefix, D]``: the class token, then the distillation token or the register tokens."""
        tokens = [getattr(self, name) for name in self.prefix_names]
        return tokens[0] if len(tokens) == 1 else ops.cat(tokens, 1)

    def _head(self, x: Tensor, pre_logits: bool) -> Tensor:
        x = self.pool(x)
        if self.use_fc_norm:
            x = self.fc_norm(x)
        if self.has_pre_logits:
            x = self.pre_logits(x)
        return self.classifier(x, pre_logits)

    # Head management --------------------------------------------------------
    def reset_classifier(self, num_classes: int, seed: int = 0) -> None:
        """Replace the head by a freshly initialised one for ``num_classes`` classes; 0 removes it.

        DeiT distilled models get both heads (``head`` and ``head_dist``) replaced, as in timm.
        The new head uses :func:`vitzoo.init.init_state` (zero bias, truncated-normal
        weight), as the NumPy backend does; ``self.spec`` is updated.

        Example:
            >>> spec = ViTSpec(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, mlp_dim=64)
            >>> model = VisionTransformer(spec, init_state(spec))
            >>> model.reset_classifier(10)
            >>> model.spec.num_classes, tuple(model.head.weight.shape)
            (10, (10, 32))
        """
        spec = self.spec.replace(num_classes=num_classes)
        fresh = {k: v for k, v in init_state(spec, seed=seed).items() if is_classifier(k)}
        self.spec = spec
        self._set_head(spec, fresh)  # compiled graphs notice the new parameters and recompile

    def _set_head(self, spec: ViTSpec, state: Mapping[str, np.ndarray]) -> None:
        """The classifier Linears under their canonical names, and the classifier Cell that uses them."""
        for name in ("head", "head_dist"):
            if name in self._cells:
                delattr(self, name)
        if spec.num_classes:
            self.head = Linear(state, "head")
        if spec.num_classes and spec.dist_token:
            self.head_dist = Linear(state, "head_dist")
        if spec.dist_token:
            self.classifier = DistilledClassifier(getattr(self, "head", None), getattr(self, "head_dist", None))
        elif spec.num_classes:
            self.classifier = LinearClassifier(self.head)
        else:
            self.classifier = NoClassifier()

    # Graph mode (jit=True) ------------------------------------------------------
    @serialized
    def _run_graph(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``method`` as a compiled graph, recompiling if parameters were replaced.

        A graph compiled in PyNative keeps the parameter buffers it was compiled
        with: ``Parameter.set_data`` / ``load_param_into_net`` afterwards would go
        unseen (in-place updates such as optimizer steps are seen). A new buffer shows
        as a new address (:func:`_buffer_address`, ~50 µs to check for ViT-B), and then
        the graphs are rebuilt. MindSpore caches graphs per (code, cell creation time,
        cell id, input shapes), so a fresh creation time is what makes it compile anew.

        A buffer with no memory yet (address ``None``: MindSpore 2.7 allocates it on
        the first graph run) is one no graph holds, so its first address is no change.
        """
        weights = self._weight_addresses()
        if not _same_buffers(self._graph_weights, weights):
            if self._graph_weights:
                object.__setattr__(self, "_create_time", time.time_ns())
            self._graphs = {}
        self._graph_weights = weights
        graph = self._graphs.get(method)
        if graph is None:
            graph = self._graphs[method] = ms.jit(getattr(self, method))
            out = graph(*args, **kwargs)
            self._graph_weights = self._weight_addresses()  # what this first run allocated
            return out
        return graph(*args, **kwargs)

    def _weight_addresses(self) -> tuple:
        return tuple((id(p), _buffer_address(p)) for p in self.get_parameters())


def _same_buffers(before: tuple, now: tuple) -> bool:
    """True when every parameter still has the buffer it had (``None`` before: not allocated yet)."""
    if len(before) != len(now):
        return False
    return all(a[0] == b[0] and (a[1] is None or a[1] == b[1]) for a, b in zip(before, now))


# MindSpore 2.7's ``data_ptr`` logs an ERROR line for a tensor with no memory yet,
# so there the storage is asked first (it raises, quietly, with "no device").
_QUIET_DATA_PTR = tuple(int(part) for part in ms.__version__.split(".")[:2]) >= (2, 8)


def _buffer_address(param: ms.Parameter) -> Any:
    """The address of ``param``'s memory, or ``None`` when it has none yet."""
    if not _QUIET_DATA_PTR:
        try:
            param.untyped_storage()
        except RuntimeError as exc:
            if "no device" in str(exc):
                return None
    return param.data_ptr() or None
