"""ONNX for the plain ViT block family, written directly from the canonical weights in the shapes runtimes fuse.

MindSpore 2.10's ONNX exporter writes opset 11: LayerNorm decomposed through
``ReduceSumSquare``, the exact GELU as a polynomial (it has no ``Erf``), every Linear as
``Reshape → Gemm → Reshape`` and the batch size baked into every ``Reshape``. onnxruntime and
OpenVINO recognise none of that, so the file ran at two thirds of timm's own export.
This writer builds the graph the way ``torch.onnx.export`` does for timm (opset 17):
``LayerNormalization``, the erf GELU pattern ``x·(erf(x/√2)+1)·½`` that both runtimes turn
into one Gelu, ``MatMul`` + ``Add`` on 3-D tokens, the attention as
``MatMul → Softmax → MatMul``, and a symbolic batch dimension (``Reshape`` copies it with 0),
so one file takes any batch size.

It covers ``block="vit"`` models (ViT, DeiT, DeiT-III, DINOv2, CLIP and SigLIP towers,
registers, layer scale, qk-norm, packed SwiGLU, token/avg/MAP pools, distilled heads);
:func:`supports` says whether a spec is covered, and export falls back to MindSpore's
exporter for the others. Needs the ``onnx`` package (``pip install "vitzoo[onnx]"``).

Example:
    >>> from vitzoo.spec import ViTSpec
    >>> supports(ViTSpec(rope="cat", block="eva", qkv_bias=True, k_bias=False))
    False
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

import numpy as np

from vitzoo.spec import ViTSpec

OPSET = 17  # LayerNormalization's first opset; onnxruntime ≥ 1.16 and OpenVINO ≥ 2023 read it
State = Mapping[str, np.ndarray]


# The spec fields this writer follows, with the values it takes (None: any). Every other field must
# keep its default, so a field added for a new family sends that family to MindSpore's exporter
# instead of into a graph that ignores it.
_FOLLOWED = {
    "img_size": None, "patch_size": None, "in_chans": None, "num_classes": None, "embed_dim": None, "depth": None,
    "num_heads": None, "mlp_dim": None, "patch_bias": None, "qkv_bias": None, "qk_norm": None, "norm_eps": None,
    "gelu": None, "mlp_type": ("mlp", "swiglu"), "class_token": None, "dist_token": None, "reg_tokens": None,
    "pos_embed_prefix": None, "global_pool": None, "fc_norm": None, "pre_norm": None, "layer_scale": None,
    "pre_logits_dim": None, "dynamic_img_size": None, "dynamic_img_pad": None, "final_norm": None, "pool_heads": None,
    "pool_mlp_dim": None, "pool_include_prefix": None,
}


def supports(spec: ViTSpec) -> bool:
    """Whether :func:`build_graph` writes ``spec``'s forward pass (else MindSpore's exporter is used)."""
    default = ViTSpec()
    for field in dataclasses.fields(ViTSpec):
        value, allowed = getattr(spec, field.name), _FOLLOWED.get(field.name, ())
        if field.name not in _FOLLOWED:
            if value != getattr(default, field.name):
                return False
        elif allowed is not None and value not in allowed:
            return False
    return True


def available() -> bool:
    """Whether the ``onnx`` package is installed."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


class _Graph:
    """Nodes and initializers of one graph, with fresh names for every intermediate."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._count = 0
        self._consts: dict[tuple, str] = {}

    def weight(self, name: str, value: np.ndarray) -> str:
        self.inits.append(self.numpy_helper.from_array(np.array(value, order="C"), name))  # ascontiguousarray would make scalars 1-D
        return name

    def const(self, value: Any, dtype: Any = np.float32) -> str:
        array = np.asarray(value, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._consts:
            self._consts[key] = self.weight(f"const_{len(self._consts)}", array)
        return self._consts[key]

    def op(self, kind: str, *inputs: str, **attrs: Any) -> str:
        self._count += 1
        out = f"{kind.lower()}_{self._count}"
        self.nodes.append(self.helper.make_node(kind, list(inputs), [out], **attrs))
        return out


class _ViTGraph:
    """The ViT's forward pass as ONNX nodes (mirrors the NumPy backend, one method per part)."""

    def __init__(self, spec: ViTSpec, state: State) -> None:
        self.s, self.w, self.g = spec, {k: np.asarray(v, np.float32) for k, v in state.items()}, _Graph()

    # parts ---------------------------------------------------------------------------------
    def linear(self, x: str, name: str) -> str:
        y = self.g.op("MatMul", x, self.g.weight(name + ".weight.T", self.w[name + ".weight"].T))
        if name + ".bias" in self.w:
            y = self.g.op("Add", y, self.g.weight(name + ".bias", self.w[name + ".bias"]))
        return y

    def norm(self, x: str, name: str) -> str:
        return self.g.op("LayerNormalization", x, self.g.weight(name + ".weight", self.w[name + ".weight"]),
                         self.g.weight(name + ".bias", self.w[name + ".bias"]), axis=-1, epsilon=float(self.s.norm_eps))

    def gelu(self, x: str) -> str:
        g = self.g
        if self.s.gelu == "quick":  # OpenAI CLIP: x·σ(1.702x)
            return g.op("Mul", x, g.op("Sigmoid", g.op("Mul", x, g.const(1.702))))
        if self.s.gelu == "tanh":  # ½x(1 + tanh(√(2/π)(x + 0.044715x³))): onnxruntime's FastGelu pattern
            inner = g.op("Mul", g.op("Add", x, g.op("Mul", g.op("Mul", g.op("Mul", x, x), x), g.const(0.044715))), g.const(0.7978845608028654))
            return g.op("Mul", g.op("Mul", x, g.const(0.5)), g.op("Add", g.op("Tanh", inner), g.const(1.0)))
        erf = g.op("Erf", g.op("Div", x, g.const(1.4142135623730951)))  # torch's export of the exact GELU
        return g.op("Mul", g.op("Mul", x, g.op("Add", erf, g.const(1.0))), g.const(0.5))

    def mlp(self, x: str, p: str) -> str:
        h = self.linear(x, p + "fc1")
        if self.s.mlp_type == "swiglu":  # packed [gate, value]: silu(gate)·value
            d = self.s.mlp_dim
            gate = self.g.op("Slice", h, self.g.const([0], np.int64), self.g.const([d], np.int64), self.g.const([-1], np.int64))
            value = self.g.op("Slice", h, self.g.const([d], np.int64), self.g.const([2 * d], np.int64), self.g.const([-1], np.int64))
            h = self.g.op("Mul", self.g.op("Mul", gate, self.g.op("Sigmoid", gate)), value)
        else:
            h = self.gelu(h)
        return self.linear(h, p + "fc2")

    def heads(self, x: str, parts: int, heads: int, head_dim: int) -> str:
        """``[B, N, parts·D]`` → ``[parts, B, heads, N, head_dim]`` (the batch and token counts copied, not baked in)."""
        shaped = self.g.op("Reshape", x, self.g.const([0, 0, parts, heads, head_dim], np.int64))
        return self.g.op("Transpose", shaped, perm=[2, 0, 3, 1, 4])

    def part(self, x: str, i: int) -> str:
        return self.g.op("Gather", x, self.g.const(i, np.int64), axis=0)

    def attend(self, q: str, k: str, v: str, head_dim: int, width: int) -> str:
        q = self.g.op("Mul", q, self.g.const(head_dim**-0.5))
        scores = self.g.op("MatMul", q, self.g.op("Transpose", k, perm=[0, 1, 3, 2]))
        out = self.g.op("MatMul", self.g.op("Softmax", scores, axis=-1), v)
        return self.g.op("Reshape", self.g.op("Transpose", out, perm=[0, 2, 1, 3]), self.g.const([0, 0, width], np.int64))

    def attention(self, x: str, p: str) -> str:
        s = self.s
        qkv = self.heads(self.linear(x, p + "qkv"), 3, s.num_heads, s.head_dim)
        q, k, v = self.part(qkv, 0), self.part(qkv, 1), self.part(qkv, 2)
        if s.qk_norm:
            q, k = self.norm(q, p + "q_norm"), self.norm(k, p + "k_norm")
        return self.linear(self.attend(q, k, v, s.head_dim, s.embed_dim), p + "proj")

    def block(self, x: str, i: int) -> str:
        p = f"blocks.{i}."
        y = self.attention(self.norm(x, p + "norm1"), p + "attn.")
        if self.s.layer_scale:
            y = self.g.op("Mul", y, self.g.weight(p + "ls1.gamma", self.w[p + "ls1.gamma"]))
        x = self.g.op("Add", x, y)
        y = self.mlp(self.norm(x, p + "norm2"), p + "mlp.")
        if self.s.layer_scale:
            y = self.g.op("Mul", y, self.g.weight(p + "ls2.gamma", self.w[p + "ls2.gamma"]))
        return self.g.op("Add", x, y)

    def embed(self, x: str) -> str:
        s, g = self.s, self.g
        patches = g.op("Conv", x, g.weight("patch_embed.proj.weight", self.w["patch_embed.proj.weight"]),
                       *([g.weight("patch_embed.proj.bias", self.w["patch_embed.proj.bias"])] if s.patch_bias else []),
                       kernel_shape=[s.patch_size] * 2, strides=[s.patch_size] * 2)
        tokens = g.op("Transpose", g.op("Reshape", patches, g.const([0, s.embed_dim, -1], np.int64)), perm=[0, 2, 1])
        names = [n for n in ("cls_token", "dist_token", "reg_token") if n in self.w]
        pos = g.weight("pos_embed", self.w["pos_embed"])
        if not s.pos_embed_prefix:
            tokens = g.op("Add", tokens, pos)
        if names:
            prefix = np.concatenate([self.w[n] for n in names], axis=1)  # [1, prefix, D]
            batch = g.op("Slice", g.op("Shape", x), g.const([0], np.int64), g.const([1], np.int64))
            shape = g.op("Concat", batch, g.const(prefix.shape[1:], np.int64), axis=0)
            tokens = g.op("Concat", g.op("Expand", g.weight("prefix_tokens", prefix), shape), tokens, axis=1)
        if s.pos_embed_prefix:
            tokens = g.op("Add", tokens, pos)
        return self.norm(tokens, "norm_pre") if s.pre_norm else tokens

    def pool(self, x: str) -> str:
        s, g = self.s, self.g
        n = s.num_prefix_tokens
        if s.dist_token:
            return x  # the distilled head reads tokens 0 and 1 itself
        if s.global_pool == "token":
            return g.op("Gather", x, g.const(0, np.int64), axis=1)
        if s.global_pool == "avg":
            patches = g.op("Slice", x, g.const([n], np.int64), g.const([2**62], np.int64), g.const([1], np.int64))
            return g.op("ReduceMean", patches, axes=[1], keepdims=0)
        return self.attention_pool(x)

    def attention_pool(self, x: str) -> str:
        """timm's AttentionPoolLatent: one learned query over the (patch) tokens, then a residual MLP."""
        s, g, p = self.s, self.g, "attn_pool."
        if not s.pool_include_prefix and s.num_prefix_tokens:
            x = g.op("Slice", x, g.const([s.num_prefix_tokens], np.int64), g.const([2**62], np.int64), g.const([1], np.int64))
        heads, d = s.map_heads, s.embed_dim
        hd = d // heads
        q = self.w[p + "latent"][0] @ self.w[p + "q.weight"].T + self.w.get(p + "q.bias", 0.0)  # the query is a constant
        kv = self.heads(self.linear(x, p + "kv"), 2, heads, hd)
        query = g.weight(p + "query", q.reshape(1, 1, heads, hd).transpose(0, 2, 1, 3).astype(np.float32))
        out = self.attend(query, self.part(kv, 0), self.part(kv, 1), hd, d)  # [B, 1, D]
        out = self.linear(out, p + "proj")
        out = g.op("Add", out, self.mlp_plain(self.norm(out, p + "norm"), p + "mlp."))
        return g.op("Gather", out, g.const(0, np.int64), axis=1)

    def mlp_plain(self, x: str, p: str) -> str:
        return self.linear(self.gelu(self.linear(x, p + "fc1")), p + "fc2")

    def head(self, x: str) -> str:
        s, g = self.s, self.g
        if s.dist_token:
            cls, dist = (g.op("Gather", x, g.const(i, np.int64), axis=1) for i in (0, 1))
            if s.num_classes:
                cls, dist = self.linear(cls, "head"), self.linear(dist, "head_dist")
            return g.op("Mul", g.op("Add", cls, dist), g.const(0.5))
        if s.fc_norm and s.final_norm:
            x = self.norm(x, "fc_norm")
        if s.pre_logits_dim:
            x = g.op("Tanh", self.linear(x, "pre_logits.fc"))
        return self.linear(x, "head") if s.num_classes else x

    def forward(self, x: str) -> str:
        x = self.embed(x)
        for i in range(self.s.depth):
            x = self.block(x, i)
        if self.s.final_norm and not self.s.fc_norm:
            x = self.norm(x, "norm")
        return self.head(self.pool(x))


def build_graph(spec: ViTSpec, state: State, batch_size: Optional[int] = None) -> Any:
    """The ``onnx.ModelProto`` of ``model(x)`` for ``x [batch, C, img_size, img_size]`` (``batch_size=None``: any)."""
    from onnx import TensorProto, checker, helper

    graph = _ViTGraph(spec, state)
    out = graph.forward("x")
    batch: Any = batch_size if batch_size else "batch"
    out_dim = spec.num_classes or (spec.pre_logits_dim or spec.embed_dim)
    g = graph.g
    g.nodes.append(helper.make_node("Identity", [out], ["logits"]))
    model = helper.make_model(
        helper.make_graph(
            g.nodes, "vitzoo",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, spec.in_chans, spec.img_size, spec.img_size])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, out_dim])],
            g.inits,
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="vitzoo",
    )
    model.ir_version = 8  # the IR onnxruntime ≥ 1.14 reads, whatever the installed onnx would stamp
    checker.check_model(model)
    return model
