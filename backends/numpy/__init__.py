"""The NumPy reference backend: the ViT forward pass in plain NumPy.

An independent implementation for tests, and the path for users without a
deep-learning framework. Inference only. As in the MindSpore backend, the MLP,
the pool and the classifier are chosen from the spec once, when the model is built.

Example:
    >>> import numpy as np, vitzoo
    >>> model = vitzoo.create("vit_ti_16", backend="numpy", depth=1)
    >>> model(np.zeros((1, 3, 224, 224), np.float32)).shape
    (1, 1000)
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from vitzoo.init import init_state
from vitzoo.spec import ViTSpec

from .cait import CaitForward
from .naflex import NaFlexForward
from .deepseek import DeepseekForward
from .qwen import QwenForward
from .xcit import XcitForward
from .conv_stem import ConvStemForward
from .hybrid import HybridForward
from .relpos import RelPosForward
from .vit import NumpyViT


class NumpyCait(CaitForward, NumpyViT):
    """timm's ``Cait`` on NumPy: talking-heads blocks over the patch tokens, then class attention (see :mod:`.cait`)."""


class NumpyNaFlex(NaFlexForward, NumpyViT):
    """timm's ``NaFlexVit`` on NumPy: per-image position grids, NaFlex dictionaries (see :mod:`.naflex`)."""


class NumpyXcit(XcitForward, NumpyViT):
    """timm's ``Xcit`` on NumPy: convolutional stem, cross-covariance blocks, then class attention (see :mod:`.xcit`)."""


class NumpyRelPos(RelPosForward, NumpyViT):
    """timm's ``VisionTransformerRelPos`` (and residual post-norm blocks) on NumPy (see :mod:`.relpos`)."""


class NumpyHybrid(HybridForward, NumpyViT):
    """timm's hybrid ViT (a ResNetV2 backbone before the patch projection) on NumPy (see :mod:`.hybrid`)."""


class NumpyConvStem(ConvStemForward, NumpyViT):
    """timm's ViT with MobileCLIP's convolutional stem as its patch embedding (see :mod:`.conv_stem`)."""


class NumpyQwen3ViT(QwenForward, NumpyViT):
    """timm's Qwen3 ViT on NumPy: the learned grid resampled per input, the projector (see :mod:`.qwen`)."""


class NumpyDeepseekViT(DeepseekForward, NumpyViT):
    """timm's DeepSeek-V4 ViT on NumPy: token and post-pool RMSNorms, the aligner (see :mod:`.deepseek`)."""


# Which model class a spec is built as, first match wins (the plain NumpyViT otherwise).
_FAMILY_MODELS: tuple = (
    (lambda s: s.block == "cait", NumpyCait),  # the class token joins after the blocks
    (lambda s: s.naflex, NumpyNaFlex),  # position grid resampled per input, NaFlex dictionaries
    (lambda s: s.block == "xcit", NumpyXcit),  # convolutional stem, cross-covariance blocks
    (lambda s: s.backbone == "convstem", NumpyConvStem),  # MobileCLIP's stem: its last convolution makes the tokens
    (lambda s: s.backbone != "none", NumpyHybrid),  # timm's hybrid ViT: the backbone's feature map makes the tokens
    (lambda s: s.rel_pos_type != "none" or s.res_post_norm, NumpyRelPos),  # relative-position bias MLPs, post-norm blocks
    (lambda s: s.qwen_vit, NumpyQwen3ViT),  # Qwen3 ViT: its own grid without NaFlex, the projector
    (lambda s: s.deepseek_vit, NumpyDeepseekViT),  # DeepSeek ViT: token and pool norms, the aligner
)


class NumpyBackend:
    name = "numpy"

    def build(self, spec: ViTSpec, state: Optional[Mapping[str, np.ndarray]] = None, *, jit: bool = False) -> NumpyViT:
        state = init_state(spec) if state is None else state
        for applies, model_class in _FAMILY_MODELS:  # the first family whose parts the spec has
            if applies(spec):
                return model_class(spec, state)
        return NumpyViT(spec, state)

    def state_dict(self, model: NumpyViT) -> dict[str, np.ndarray]:
        return dict(model.state)

    def build_clip(self, spec: Any, state: Mapping[str, np.ndarray], tokenizer: Any, *, jit: bool = False) -> Any:
        """A whole CLIP / SigLIP model (:class:`~.clip.NumpyCLIP`) from a canonical whole-model state."""
        from .clip import NumpyCLIP

        tower = NumpyNaFlex if spec.vision.naflex else NumpyViT
        visual = tower(spec.vision, {k[7:]: v for k, v in state.items() if k.startswith("visual.")})
        return NumpyCLIP(spec, visual, state, tokenizer)


backend = NumpyBackend()
