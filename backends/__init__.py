"""Framework backends: each turns a :class:`~vitzoo.spec.ViTSpec` plus canonical weights into a runnable model.

Backends are plug-ins found through the ``vitzoo.backends`` entry-point group, so a
third party can add one without touching vitzoo::

    [project.entry-points."vitzoo.backends"]
    torch = "vitzoo_torch:backend"

A backend object has ``build(spec, state=None, *, jit=False)`` returning a model
(eval mode, with ``.spec``), and ``state_dict(model)`` returning canonical
float32 arrays. Nothing here imports a framework: a backend is imported on first use.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Mapping, Optional, Protocol

import numpy as np

from vitzoo.errors import BackendError
from vitzoo.spec import ViTSpec

ENTRY_POINT_GROUP = "vitzoo.backends"
# Built-ins are also found without installed metadata (a source checkout).
_BUILTIN = {"mindspore": "vitzoo.backends.mindspore:backend", "numpy": "vitzoo.backends.numpy:backend"}
_LOADED: dict[str, "Backend"] = {}


class Backend(Protocol):
    name: str

    def build(self, spec: ViTSpec, state: Optional[Mapping[str, np.ndarray]] = None, *, jit: bool = False) -> Any:
        """A model of ``spec`` in eval mode; ``state`` (canonical, validated) replaces random init."""

    def state_dict(self, model: Any) -> dict[str, np.ndarray]:
        """The model's weights as canonical float32 arrays."""


def _registered() -> dict[str, str]:
    """``{name: "module:attr"}`` of the installed ``vitzoo.backends`` entry points."""
    found = entry_points()
    if hasattr(found, "select"):  # Python >= 3.10
        group = found.select(group=ENTRY_POINT_GROUP)
    else:  # Python 3.9: a dict of group name -> entry points
        group = found.get(ENTRY_POINT_GROUP, ())
    return {ep.name: ep.value for ep in group}


def available_backends() -> list[str]:
    """Names of the installed backends."""
    return sorted(set(_BUILTIN) | set(_registered()))


def get_backend(name: str) -> Backend:
    """Import and return a backend by name.

    Example:
        >>> get_backend("numpy").name
        'numpy'
    """
    if name in _LOADED:
        return _LOADED[name]
    target = _registered().get(name) or _BUILTIN.get(name)
    if target is None:
        raise BackendError(f"Unknown backend {name!r}; installed backends: {', '.join(available_backends())}.")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendError(f"The {name!r} backend cannot be imported ({exc}); install its framework first.") from None
    backend = getattr(module, attr) if attr else module
    _LOADED[name] = backend
    return backend
