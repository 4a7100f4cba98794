"""MindSpore operators over the compiled kernels: ``ops.Custom(func_type="aot")`` with a ``bprop`` each.

Every forward operator has a backward operator from the same library, so the model trains
through them in graph mode (``mindspore.jit``), PyNative, under a user's own
``mindspore.value_and_grad``, and under data-parallel gradient reduction. Scalars a kernel
needs (LayerNorm's eps, attention's head count and scale) travel as a small constant
tensor input, whose gradient is zero.

Example (a library built by :func:`vitzoo.backends.mindspore.kernels.library`):
    >>> import numpy as np, mindspore as ms
    >>> from vitzoo.backends.mindspore import kernels
    >>> k = kernels.active()
    >>> if k is not None:
    ...     x, w, b = (ms.Tensor(np.ones(s, np.float32)) for s in ((2, 4), 4, 4))
    ...     print(k.layer_norm(x, w, b, k.config(1e-6))[0].shape)
    (2, 4)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mindspore import Tensor, ops

GELU_FORMS = ("exact", "tanh", "quick")
_GELU_SYMBOL = {"exact": "erf", "tanh": "tanh", "quick": "quick"}


def _same(x, *_):
    return x


class KernelOps:
    """The Custom operators of one compiled kernel library (shared by every layer of every model)."""

    def __init__(self, lib: Path) -> None:
        self.lib = Path(lib)
        aot = self._aot

        ln_grad = aot("vz_layer_norm_grad", lambda dy, x, w, m, r: (x, w, w), lambda dy, x, w, m, r: (x, w, w))

        def ln_bprop(x, w, b, cfg, out, dout):
            dx, dw, db = ln_grad(dout[0], x, w, out[1], out[2])
            return dx, dw, db, ops.zeros_like(cfg)

        self.layer_norm = aot("vz_layer_norm", lambda x, w, b, c: (x, x[:-1], x[:-1]), lambda x, w, b, c: (x, x, x), ln_bprop)

        self.bias_gelu = {form: self._bias_gelu(_GELU_SYMBOL[form]) for form in GELU_FORMS}

        bias_grad = aot("vz_bias_add_grad", lambda dy: dy[-1:], _same)

        def bias_bprop(x, b, out, dout):
            return dout, bias_grad(dout)

        self.bias_add = aot("vz_bias_add", _same, _same, bias_bprop)

        swiglu_grad = aot("vz_bias_swiglu_grad", lambda dy, h, b: (h, b), lambda dy, h, b: (h, b))

        def swiglu_bprop(h, b, out, dout):
            return swiglu_grad(dout, h, b)

        self.bias_swiglu = aot("vz_bias_swiglu", lambda h, b: h[:-1] + [h[-1] // 2], _same, swiglu_bprop)

        self._attention: dict = {}

    def attention(self, heads: int) -> tuple:
        """(inference op, training op) for ``heads`` heads: ``qkv [B, N, 3D], cfg [heads, scale] -> out [B, N, D]``.

        The training op also returns the softmax probabilities ``[B, heads, N, N]`` for its
        backward; the inference op's backward recomputes them (gradients through a model
        left in eval mode still work).
        """
        if heads not in self._attention:
            aot = self._aot
            grad = aot("vz_attention_grad", lambda dy, qkv, p, c: qkv, lambda dy, qkv, p, c: qkv)

            def out_shape(qkv, c):
                return qkv[:-1] + [qkv[-1] // 3]

            def train_shape(qkv, c):
                return out_shape(qkv, c), [qkv[0], heads, qkv[1], qkv[1]]

            def train_bprop(qkv, cfg, out, dout):
                return grad(dout[0], qkv, out[1], cfg), ops.zeros_like(cfg)

            train = aot("vz_attention_train", train_shape, lambda qkv, c: (qkv, qkv), train_bprop)

            def infer_bprop(qkv, cfg, out, dout):
                probs = train(qkv, cfg)[1]
                return grad(dout, qkv, probs, cfg), ops.zeros_like(cfg)

            infer = aot("vz_attention", out_shape, _same, infer_bprop)
            self._attention[heads] = (infer, train)
        return self._attention[heads]

    def _aot(self, symbol: str, out_shape, out_dtype, bprop=None) -> ops.Custom:
        return ops.Custom(f"{self.lib}:{symbol}", out_shape=out_shape, out_dtype=out_dtype, func_type="aot", bprop=bprop)

    def _bias_gelu(self, symbol: str) -> ops.Custom:
        grad = self._aot(f"vz_bias_gelu_{symbol}_grad", lambda dy, h, b: (h, b), lambda dy, h, b: (h, b))

        def bprop(h, b, out, dout):
            return grad(dout, h, b)

        return self._aot(f"vz_bias_gelu_{symbol}", _same, _same, bprop)

    @staticmethod
    def config(*values: float) -> Tensor:
        """The constant scalar input of a kernel (eps; heads and scale)."""
        return Tensor(np.array(values, np.float32))
