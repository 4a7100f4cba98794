"""NumPy operators shared by the backend's towers: softmax, the GELU forms, LayerNorm and Linear.

Example:
    >>> import numpy as np
    >>> softmax(np.zeros((1, 4), np.float32)).tolist()
    [[0.25, 0.25, 0.25, 0.25]]
"""

from __future__ import annotations

from typing import Mapping, Optional

import numpy as np


def softmax(scores: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in place: ``[B, heads, N, N]`` is the largest activation."""
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


def _gelu_quick(x: np.ndarray) -> np.ndarray:
    """OpenAI CLIP's QuickGELU ``x·sigmoid(1.702x)``."""
    with np.errstate(over="ignore"):  # exp overflow → inf for very negative x gives -0, as it should
        return x / (1 + np.exp(np.float32(-1.702) * x))


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    inner = x * x
    inner *= np.float32(0.7978845608028654 * 0.044715)
    inner += np.float32(0.7978845608028654)
    inner *= x
    np.tanh(inner, out=inner)
    inner += np.float32(1.0)
    inner *= x
    inner *= np.float32(0.5)
    return inner


def _gelu_erf(x: np.ndarray) -> np.ndarray:
    """Exact GELU ``x·Φ(x)`` to ~2e-7·|x| in float32 (NumPy has no erf).

    The upper tail ``Q(|x|) = 1 - Φ(|x|) = erfc(|x|/√2)/2`` uses Abramowitz & Stegun
    7.1.26 (absolute error ≤ 1.5e-7), so ``GELU(x) = x·Q`` for ``x < 0`` and ``x - x·Q``
    for ``x ≥ 0``.
    """
    z = np.abs(x)
    z *= np.float32(0.7071067811865476)
    t = z * np.float32(0.3275911)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(c)
        poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z
    poly *= np.float32(0.5)  # Q(|x|)
    poly *= x  # x·Q
    return np.where(x >= 0, x - poly, poly)


ACTIVATIONS = {"exact": _gelu_erf, "tanh": _gelu_tanh, "quick": _gelu_quick}


def linear(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
    """``x W^T + b`` as one 2-D GEMM over all leading axes (a 3-D matmul is one BLAS call per row block)."""
    y = x.reshape(-1, x.shape[-1]) @ weight.T
    if bias is not None:
        y += bias
    return y.reshape(*x.shape[:-1], y.shape[-1])


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """LayerNorm over the last axis (a fresh array)."""
    centred = x - x.mean(axis=-1, keepdims=True)
    var = np.einsum("...i,...i->...", centred, centred)[..., None] / np.float32(x.shape[-1])
    centred *= 1.0 / np.sqrt(var + np.float32(eps))
    centred *= weight
    centred += bias
    return centred


def state_arrays(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Contiguous float32 copies-where-needed of a canonical state."""
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}
