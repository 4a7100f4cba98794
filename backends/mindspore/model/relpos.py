"""timm's relative-position ViT (``vision_transformer_relpos.py``) as a model class over the relpos blocks.

Chosen when a model is built from a spec with ``rel_pos_type`` set (:class:`RelPosViT`, a
:class:`~.vit.VisionTransformer` with no absolute positions), so no other family's forward pass
changes. Each attention adds a bias per head to its scores, made by a small MLP over the relative
offsets (:mod:`.relpos_blocks`, :mod:`vitzoo.rel_pos_mlp`); a class token gets zero bias. The MLP is
the attention's own (``blocks.{i}.attn.rel_pos.mlp.*``) or one for all blocks
(``shared_rel_pos.mlp.*``, ``rel_pos_shared``), computed once per forward pass and handed to every
block where rotary tables would go.

The blocks are pre-norm (``RelPosBlock``) or residual post-norm (``ResPostBlock``, ``res_post_norm``).

Example:
    >>> import numpy as np, mindspore as ms, vitzoo
    >>> model = vitzoo.create("vit_relpos_small_patch16_224", img_size=32, depth=1, num_classes=3)
    >>> type(model).__name__, model(ms.Tensor(np.zeros((1, 3, 32, 32), np.float32))).shape
    ('RelPosViT', (1, 3))
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from mindspore import nn

from vitzoo.canonical import check_state
from vitzoo.spec import ViTSpec

from .relpos_blocks import RelPosBlock, RelPosMlp, ResPostBlock
from .vit import VisionTransformer

State = Mapping[str, np.ndarray]


class _NoSharedBias(nn.Cell):
    """Stands in for the shared MLP where every block has its own: no bias to hand over."""

    def construct(self) -> Any:
        return None


class RelPosViT(VisionTransformer):
    """timm's ``VisionTransformerRelPos``: patch tokens (a class token in front where the model has one), no
    absolute positions, relative-position blocks, then the final norm or the fc_norm after pooling."""

    def __init__(self, spec: ViTSpec, state: State, *, jit: bool = False, copy: bool = True) -> None:
        check_state(state, spec)
        if copy:  # as the parent would, once, so the shared MLP below holds the same private buffers
            state = {k: np.array(v, dtype=np.float32, copy=True, order="C") for k, v in state.items()}
        super().__init__(spec, state, jit=jit, copy=False)
        self.shared_rel_pos = RelPosMlp(spec, state, "shared_rel_pos") if spec.rel_pos_shared else _NoSharedBias()

    def _make_block(self, spec: ViTSpec, state: State, name: str) -> nn.Cell:
        return ResPostBlock(spec, state, name) if spec.res_post_norm else RelPosBlock(spec, state, name)

    def _positions(self, height: int, width: int) -> Any:
        """The shared bias, computed once for all blocks (``None`` where each block has its own MLP)."""
        return self.shared_rel_pos()
