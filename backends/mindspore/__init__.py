"""The MindSpore backend (the default): a ViTSpec plus canonical weights → an ``nn.Cell``.

Example:
    >>> import vitzoo
    >>> model = vitzoo.create("vit_ti_16", depth=1, num_classes=10)
    >>> type(model).__name__, model.training
    ('VisionTransformer', False)
    >>> list(backend.state_dict(model))[:3]
    ['patch_embed.proj.weight', 'patch_embed.proj.bias', 'cls_token']
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from vitzoo.canonical import expected_shapes
from vitzoo.errors import BackendError
from vitzoo.init import init_state
from vitzoo.spec import ViTSpec

from .runtime import tune_cpu_runtime
from .model.cait import Cait
from .model.naflex import NaFlexViT
from .model.conv_stem import ConvStemViT
from .model.hybrid import HybridViT
from .model.relpos import RelPosViT
from .model.deepseek import DeepseekViT
from .model.qwen import Qwen3ViT
from .model.vit import VisionTransformer
from .model.xcit import Xcit

tune_cpu_runtime()  # synchronous launches on CPU: must come before the first MindSpore operator

__all__ = ["MindSporeBackend", "VisionTransformer", "backend"]


class MindSporeBackend:
    """Builds :class:`VisionTransformer` Cells and reads their weights back as canonical arrays."""

    name = "mindspore"

    def build(self, spec: ViTSpec, state: Optional[Mapping[str, np.ndarray]] = None, *, jit: bool = False) -> VisionTransformer:
        """A model of ``spec`` in eval mode: weights from ``state`` (validated), else timm-style init.

        ``jit=True`` compiles the forward pass as a MindSpore graph (first call compiles).
        """
        # CaiT's class token joins after the blocks; NaFlex resamples its grid per input and takes NaFlex batches
        model_class = Cait if spec.block == "cait" else NaFlexViT if spec.naflex else VisionTransformer
        model_class = Xcit if spec.block == "xcit" else model_class  # XCiT: convolutional stem, cross-covariance blocks
        if spec.rel_pos_type != "none":  # timm's VisionTransformerRelPos: relative-position blocks, maybe a shared MLP
            model_class = RelPosViT
        if spec.backbone != "none":  # timm's hybrid ViT: a convolutional backbone makes the tokens (MobileCLIP: its stem alone)
            model_class = ConvStemViT if spec.backbone == "convstem" else HybridViT
        model_class = Qwen3ViT if spec.qwen_vit else model_class  # Qwen3 ViT: its own grid without NaFlex, the projector
        model_class = DeepseekViT if spec.deepseek_vit else model_class  # DeepSeek ViT: both token and pool norms, the aligner
        if state is None:  # the fresh arrays are the model's own: no copy
            return model_class(spec, init_state(spec), jit=jit, copy=False)
        return model_class(spec, state, jit=jit)

    def state_dict(self, model: VisionTransformer) -> dict[str, np.ndarray]:
        """Canonical name → float32 copy of every parameter, in canonical order."""
        if not isinstance(model, VisionTransformer):
            raise BackendError(f"The MindSpore backend cannot read weights from a {type(model).__name__}; pass a model it built.")
        params = {p.name: p for p in model.get_parameters()}
        return {name: np.array(params[name].asnumpy(), dtype=np.float32, copy=True) for name in expected_shapes(model.spec)}


    def build_clip(self, spec: Any, state: Mapping[str, np.ndarray], tokenizer: Any, *, jit: bool = False) -> Any:
        """A whole CLIP / SigLIP model (:class:`~.model.clip.CLIP`) from a canonical whole-model state."""
        from .model.clip import CLIP

        return CLIP(spec, state, tokenizer, jit=jit)


backend = MindSporeBackend()
