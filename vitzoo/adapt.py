"""Adapt pretrained weights to a changed model, as timm does on load."""

from __future__ import annotations

from typing import Any, Optional

from vitzoo.errors import VitzooError
from vitzoo.init import init_state


def adapt_checkpoint(ckpt: Any, *, num_classes: Optional[int] = None, img_size: Optional[int] = None, in_chans: Optional[int] = None) -> Any:
    """A checkpoint whose spec and tensors have the requested classes, image size and input channels."""
    spec = ckpt.spec
    state = dict(ckpt.state)
    if img_size is not None and img_size != spec.img_size:
        raise VitzooError("Changing img_size of pretrained weights is not supported yet.")
    if in_chans is not None and in_chans != spec.in_chans:
        raise VitzooError("Changing in_chans of pretrained weights is not supported yet.")
    if num_classes is not None and num_classes != spec.num_classes:
        spec = spec.replace(num_classes=num_classes)
        fresh = init_state(spec)
        state = {k: v for k, v in state.items() if not k.startswith("head.")}
        state.update({k: v for k, v in fresh.items() if k.startswith("head.")})
    return ckpt.replace(spec=spec, state=state).validate()
