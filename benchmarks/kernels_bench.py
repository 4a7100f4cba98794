"""Per-kernel timings: vitzoo's fused CPU kernels (each ISA build) vs MindSpore's primitives vs torch.

ViT-B/16 batch-8 shapes: LayerNorm on [8, 197, 768]; fc1 bias + exact GELU on [1576, 3072];
the attention core from qkv [8, 197, 2304] to [8, 197, 768] (12 heads); a bias add on [1576, 768]
(whose gradient is the column sum; MindSpore's is BiasAddGrad). Each is timed
forward, and forward + backward (``value_and_grad`` of a weighted sum), as a compiled
MindSpore graph (``mindspore.jit``) or torch eager; median milliseconds over ``--repeat``
calls, the sides alternating call by call so they share the machine's load::

    python benchmarks/kernels_bench.py            # prints a table and one JSON line
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("GLOG_v", "3")


def mindspore_cases(isa_libs: dict) -> dict:
    """name → {side → (forward fn, forward+backward fn)} for the MindSpore sides."""
    import mindspore as ms
    import numpy as np

    from vitzoo.backends.mindspore.model import layers
    from vitzoo.backends.mindspore.kernels.ops import KernelOps
    from vitzoo.init import init_state
    from vitzoo.spec import ViTSpec

    spec = ViTSpec(embed_dim=768, depth=1, num_heads=12, mlp_dim=3072)
    state = init_state(spec)
    rng = np.random.default_rng(0)
    shapes = {"layer_norm": (8, 197, 768), "bias_gelu": (1576, 3072), "attention": (8, 197, 2304), "bias_add": (1576, 768)}
    inputs = {k: ms.Tensor(rng.standard_normal(s, dtype=np.float32)) for k, s in shapes.items()}
    bias = ms.Parameter(ms.Tensor(rng.standard_normal(3072, dtype=np.float32)))
    bias768 = ms.Parameter(ms.Tensor(rng.standard_normal(768, dtype=np.float32)))
    ln = layers.LayerNorm(state, "blocks.0.norm1", 1e-6)  # only for its weights
    cfg = KernelOps.config(12, 64**-0.5)
    eps = KernelOps.config(1e-6)

    def primitive(name):
        prim_ln = ms.ops.LayerNorm(-1, -1, 1e-6)
        scores, mix = ms.ops.BatchMatMul(transpose_b=True), ms.ops.BatchMatMul()
        if name == "layer_norm":
            return lambda x: prim_ln(x, ln.weight, ln.bias)[0]
        if name == "bias_gelu":
            return lambda h: layers.gelu_erf(ms.ops.bias_add(h, bias))
        if name == "bias_add":
            return lambda h: ms.ops.bias_add(h, bias768)

        def attend(qkv):
            q, k, v = ms.ops.unstack(qkv.reshape(8, 197, 3, 12, 64).transpose(2, 0, 3, 1, 4), 0)
            p = ms.ops.softmax(scores(q * (64**-0.5), k), -1)
            return mix(p, v).transpose(0, 2, 1, 3).reshape(8, 197, 768)
        return attend

    def fused(ops, name):
        if name == "layer_norm":
            return lambda x: ops.layer_norm(x, ln.weight, ln.bias, eps)[0]
        if name == "bias_gelu":
            return lambda h: ops.bias_gelu["exact"](h, bias)
        if name == "bias_add":
            return lambda h: ops.bias_add(h, bias768)
        train = ops.attention(12)[1]
        return lambda qkv: train(qkv, cfg)[0]

    def pair(fn, x):
        weights = ms.ops.ones_like(fn(x))
        fwd = ms.jit(fn)

        def loss(inp):
            return (fn(inp) * weights).sum()
        both = ms.jit(ms.value_and_grad(loss, 0, [ln.weight, ln.bias, bias, bias768]))  # parameter grads too

        def run_fwd():
            fwd(x).asnumpy()

        def run_both():
            both(x)[0].asnumpy()
        return run_fwd, run_both

    out = {}
    for name, x in inputs.items():
        sides = {"MindSpore primitives": pair(primitive(name), x)}
        for isa, lib in isa_libs.items():
            sides[f"vitzoo kernel ({isa})"] = pair(fused(KernelOps(lib), name), x)
        out[name] = sides
    return out


def torch_cases() -> dict:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(os.cpu_count() or 1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 197, 768, generator=g, requires_grad=True)
    h = torch.randn(1576, 3072, generator=g, requires_grad=True)
    qkv = torch.randn(8, 197, 2304, generator=g, requires_grad=True)
    w, b, bias = torch.ones(768, requires_grad=True), torch.zeros(768, requires_grad=True), torch.randn(3072, requires_grad=True)
    h768, bias768 = torch.randn(1576, 768, generator=g, requires_grad=True), torch.randn(768, requires_grad=True)

    def attend(t):
        q, k, v = t.reshape(8, 197, 3, 12, 64).permute(2, 0, 3, 1, 4).unbind(0)
        return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(8, 197, 768)

    fns = {"layer_norm": (lambda: F.layer_norm(x, (768,), w, b, 1e-6)), "bias_gelu": (lambda: F.gelu(h + bias)),
           "attention": (lambda: attend(qkv)), "bias_add": (lambda: h768 + bias768)}

    def pair(fn):
        def run_fwd():
            with torch.no_grad():
                fn()

        def run_both():
            fn().sum().backward()
        return run_fwd, run_both

    return {name: {"torch": pair(fn)} for name, fn in fns.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from vitzoo.backends.mindspore.kernels.build import ISA_FLAGS, _ISA_ORDER, build_library, cpu_isa
    from vitzoo.paths import cache_dir

    best = cpu_isa()
    isas = [i for i in _ISA_ORDER[1:] if _ISA_ORDER.index(i) <= _ISA_ORDER.index(best)] or [best]
    libs = {isa: build_library(cache_dir(), isa) for isa in reversed(isas) if isa in ISA_FLAGS}
    cases = mindspore_cases(libs)
    for name, sides in torch_cases().items():
        cases[name].update(sides)
    results: dict = {}
    for name, sides in cases.items():
        for fwd, both in sides.values():  # warm up / compile
            fwd(), both()
        times = {side: {"forward": [], "forward+backward": []} for side in sides}
        for _ in range(args.repeat):
            for side, (fwd, both) in sides.items():
                for label, fn in (("forward", fwd), ("forward+backward", both)):
                    t = time.perf_counter()
                    fn()
                    times[side][label].append(time.perf_counter() - t)
        results[name] = {side: {k: round(statistics.median(v) * 1e3, 3) for k, v in d.items()} for side, d in times.items()}
    print(f"{'kernel':12s} {'side':28s} {'forward ms':>11s} {'fwd+bwd ms':>11s}")
    for name, sides in results.items():
        for side, r in sides.items():
            print(f"{name:12s} {side:28s} {r['forward']:11.2f} {r['forward+backward']:11.2f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
