"""The MindSpore CPU levers behind vitzoo's backend, each measured A/B in one process: ``python benchmarks/levers.py``.

Every row times two or more ways of computing the same thing on ViT-B/16 batch-8
shapes (tokens 8×197, width 768, MLP 3072, 12 heads), interleaved round by round,
median milliseconds, each lever in a fresh process (some settings only take effect
before the first MindSpore operator). The ``torch`` rows time the same op in PyTorch
(same thread count) so MindSpore's own CPU kernels can be compared with timm's.
benchmarks/README.md explains which were kept and why.

Usage:
    python benchmarks/levers.py [--rounds 9] [--only gelu_erf layernorm]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

B, N, D, H, F = 8, 197, 768, 12, 3072
HD = D // H


def ab(cases: dict[str, tuple[Callable, tuple]], rounds: int) -> dict[str, float]:
    """Median ms of each case, the cases interleaved round by round (first call excluded: compile)."""
    for fn, args in cases.values():
        _done(fn(*args))
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(rounds):
        for name, (fn, args) in cases.items():
            t = time.perf_counter()
            _done(fn(*args))
            times[name].append(time.perf_counter() - t)
    return {k: round(statistics.median(v) * 1e3, 2) for k, v in times.items()}


def _done(out: Any) -> None:
    """Wait for a MindSpore result (``asnumpy`` of the first output); torch/NumPy results are ready."""
    first = out[0] if isinstance(out, (tuple, list)) else out
    if hasattr(first, "asnumpy"):
        first.asnumpy()


def _ms(blocking: bool = True):
    os.environ.setdefault("GLOG_v", "3")
    import mindspore as ms

    if blocking:
        ms.runtime.launch_blocking()
    return ms


def _rand(ms, *shape: int, scale: float = 1.0):
    import numpy as np

    return ms.Tensor(np.random.default_rng(len(shape)).standard_normal(shape, dtype=np.float32) * np.float32(scale))


# Levers: each returns {case: ms}. -------------------------------------------------
def patch_embed(rounds: int) -> dict:
    ms = _ms()
    from mindspore import ops

    img, w, b = _rand(ms, B, 3, 224, 224), _rand(ms, D, 3, 16, 16, scale=0.05), _rand(ms, D)
    conv, mm = ops.Conv2D(D, 16, pad_mode="valid", stride=16), ops.MatMul(transpose_b=True)

    def conv2d(x, w, b):
        return ops.bias_add(conv(x, w), b).reshape(B, D, -1).transpose(0, 2, 1)

    def gemm(x, w, b):
        p = x.reshape(B, 3, 14, 16, 14, 16).transpose(0, 2, 4, 1, 3, 5).reshape(B * 196, 768)
        return ops.bias_add(mm(p, w.reshape(D, -1)), b).reshape(B, 196, D)

    return ab({"Conv2D (jit)": (ms.jit(conv2d), (img, w, b)), "reshape+transpose+MatMul (jit)": (ms.jit(gemm), (img, w, b))}, max(3, rounds // 3))


def qkv_split(rounds: int) -> dict:
    ms = _ms()
    from mindspore import ops

    x, w, b = _rand(ms, B * N, D), _rand(ms, 3 * D, D, scale=0.03), _rand(ms, 3 * D)
    mm = ops.MatMul(transpose_b=True)

    def heads(x, w, b):
        return ops.bias_add(mm(x, w), b).reshape(B, N, 3, H, HD).transpose(2, 0, 3, 1, 4)

    def slices(x, w, b):
        qkv = heads(x, w, b)
        return qkv[0] + qkv[1] + qkv[2]

    def unstack(x, w, b):
        q, k, v = ops.unstack(heads(x, w, b), 0)
        return q + k + v

    def split(x, w, b):
        q, k, v = ops.split(ops.bias_add(mm(x, w), b), D, axis=1)
        q, k, v = (q.reshape(B, N, H, HD).transpose(0, 2, 1, 3), k.reshape(B, N, H, HD).transpose(0, 2, 1, 3),
                   v.reshape(B, N, H, HD).transpose(0, 2, 1, 3))
        return q + k + v

    def matmul_only(x, w, b):
        return ops.bias_add(mm(x, w), b)

    cases = {"qkv GEMM alone": matmul_only, "+ transpose + 3 slices": slices, "+ transpose + Unstack": unstack, "Split then 3 transposes": split}
    return ab({k: (ms.jit(f), (x, w, b)) for k, f in cases.items()}, rounds)


def gelu_erf(rounds: int) -> dict:
    ms = _ms()
    from mindspore import ops

    from vitzoo.backends.mindspore.model.layers import gelu_erf as ours

    h = _rand(ms, B * N, F)

    def builtin(x):
        return ops.gelu(x, approximate="none")

    def erf_only(x):
        return ops.erf(x)

    out = {}
    for mode in ("jit", "pynative"):
        wrap = ms.jit if mode == "jit" else (lambda f: f)
        got = ab({"ops.gelu(approximate='none')": (wrap(builtin), (h,)), "x/2 + x/2·erf(x/√2) (vitzoo)": (wrap(ours), (h,)),
                  "Erf alone": (wrap(erf_only), (h,))}, rounds)
        out.update({f"{k} ({mode})": v for k, v in got.items()})
    return out


def gelu_tanh(rounds: int) -> dict:
    ms = _ms()
    from mindspore import ops

    from vitzoo.backends.mindspore.model.layers import gelu_tanh as ours

    h = _rand(ms, B * N, F)

    def builtin(x):
        return ops.gelu(x, approximate="tanh")

    return ab({"ops.gelu(approximate='tanh') (jit)": (ms.jit(builtin), (h,)), "x·sigmoid(2·√(2/π)(x+0.044715x³)) (jit)": (ms.jit(ours), (h,))}, rounds)


def bias(rounds: int) -> dict:
    ms = _ms()
    from mindspore import ops

    x, w, b = _rand(ms, B * N, D), _rand(ms, F, D, scale=0.03), _rand(ms, F)
    mm = ops.MatMul(transpose_b=True)

    def none(x, w, b):
        return mm(x, w)

    def bias_add(x, w, b):
        return ops.bias_add(mm(x, w), b)

    def add(x, w, b):
        return mm(x, w) + b

    def dense(x, w, b):
        return ops.dense(x, w, b)

    cases = {"MatMul, no bias": none, "MatMul + BiasAdd (vitzoo)": bias_add, "MatMul + Add": add, "ops.dense": dense}
    return ab({f"{k} (jit)": (ms.jit(f), (x, w, b)) for k, f in cases.items()}, rounds)


def kernels(rounds: int) -> dict:
    """MindSpore (jit) against torch, op by op, on the shapes of one ViT-B/16 block at batch 8."""
    import numpy as np

    ms = _ms()
    from mindspore import ops

    import torch
    import torch.nn.functional as TF

    torch.set_num_threads(os.cpu_count() or 1)
    arrays = {"x": (B, N, D), "x2": (B * N, D), "h": (B * N, F), "w1": (F, D), "g": (D,), "b": (D,), "q": (B, H, N, HD), "s": (B, H, N, N),
              "qkv": (B, N, 3 * D)}
    rng = np.random.default_rng(0)
    npy = {k: rng.standard_normal(s, dtype=np.float32) for k, s in arrays.items()}
    m, t = {k: ms.Tensor(v) for k, v in npy.items()}, {k: torch.from_numpy(v) for k, v in npy.items()}
    mm, bmm_t, ln = ops.MatMul(transpose_b=True), ops.BatchMatMul(transpose_b=True), ops.LayerNorm(-1, -1, 1e-6)

    def ms_fc1(x, w):
        return mm(x, w)

    def ms_scores(q, k):
        return bmm_t(q, k)

    def ms_softmax(s):
        return ops.softmax(s, -1)

    def ms_layernorm(x, g, b):
        return ln(x, g, b)[0]

    def ms_erf(h):
        return ops.erf(h)

    def ms_add(x):
        return x + x

    def ms_qkv_transpose(x):
        return x.reshape(B, N, 3, H, HD).transpose(2, 0, 3, 1, 4)

    pairs = {
        "fc1 GEMM 1576×768·768×3072": ((ms_fc1, (m["x2"], m["w1"])), (lambda x, w: x @ w.T, (t["x2"], t["w1"]))),
        "q·kᵀ batched matmul": ((ms_scores, (m["q"], m["q"])), (lambda q, k: q @ k.transpose(-1, -2), (t["q"], t["q"]))),
        "softmax [8,12,197,197]": ((ms_softmax, (m["s"],)), (lambda s: s.softmax(-1), (t["s"],))),
        "LayerNorm [8,197,768]": ((ms_layernorm, (m["x"], m["g"], m["b"])), (lambda x, g, b: TF.layer_norm(x, (D,), g, b, 1e-6), (t["x"], t["g"], t["b"]))),
        "erf [1576,3072]": ((ms_erf, (m["h"],)), (torch.erf, (t["h"],))),
        "residual add [8,197,768]": ((ms_add, (m["x"],)), (lambda x: x + x, (t["x"],))),
        "qkv head transpose (copy)": ((ms_qkv_transpose, (m["qkv"],)), (lambda x: x.reshape(B, N, 3, H, HD).permute(2, 0, 3, 1, 4).contiguous(), (t["qkv"],))),
    }
    out = {}
    with torch.inference_mode():
        for name, ((mf, margs), (tf, targs)) in pairs.items():
            got = ab({"ms": (ms.jit(mf), margs), "torch": (tf, targs)}, rounds)
            out[f"{name}: MindSpore jit"], out[f"{name}: torch"] = got["ms"], got["torch"]
        out["GELU [1576,3072]: torch (whole op)"] = ab({"torch": (TF.gelu, (t["h"],))}, rounds)["torch"]
    return out


def _vit_forward(rounds: int, jit: bool, model: str = "vit_s_16") -> dict:
    """One model's forward, batch 8, in this process's runtime settings."""
    ms = _ms(blocking=False)  # the caller sets (or not) the runtime first
    import numpy as np

    import vitzoo

    net = vitzoo.create(model, jit=jit)
    x = ms.Tensor(np.random.default_rng(0).standard_normal((B, 3, 224, 224), dtype=np.float32))
    return ab({"forward": (net, (x,))}, rounds)


def launch(rounds: int) -> dict:
    """PyNative forward, MindSpore's asynchronous launches vs synchronous (must be set before any operator)."""
    out = {}
    for mode in ("async", "blocking"):
        env = dict(os.environ, GLOG_v="3", VITZOO_MS_ASYNC="1" if mode == "async" else "0")
        got = _child("_forward_pynative", rounds, env)
        out[f"ViT-S/16 batch 8 PyNative, {mode} launches"] = got["forward"]
    return out


def threads(rounds: int) -> dict:
    out = {}
    for n in ("default", "1", "2"):
        env = dict(os.environ, GLOG_v="3", LEVER_THREADS=n)
        out[f"ViT-S/16 batch 8 jit, op threads {n}"] = _child("_forward_jit", rounds, env)["forward"]
    return out


def jit_level(rounds: int) -> dict:
    ms = _ms()
    import numpy as np

    import vitzoo

    x = ms.Tensor(np.random.default_rng(0).standard_normal((B, 3, 224, 224), dtype=np.float32))
    cases = {}
    for level in ("O0", "O1"):
        net = vitzoo.create("vit_s_16")
        cases[f"ViT-S/16 batch 8, jit_level={level}"] = (ms.jit(net.construct, jit_level=level), (x,))
    return ab(cases, rounds)


def _forward_pynative(rounds: int) -> dict:
    return _vit_forward(rounds, jit=False)


def _forward_jit(rounds: int) -> dict:
    n = os.environ.get("LEVER_THREADS", "default")
    if n != "default":
        import mindspore as ms

        ms.device_context.cpu.op_tuning.threads_num(int(n))
    return _vit_forward(rounds, jit=True)


LEVERS = {"patch_embed": patch_embed, "qkv_split": qkv_split, "gelu_erf": gelu_erf, "gelu_tanh": gelu_tanh, "bias": bias,
          "kernels": kernels, "launch": launch, "threads": threads, "jit_level": jit_level}
_HELPERS = {"_forward_pynative": _forward_pynative, "_forward_jit": _forward_jit}


def _child(name: str, rounds: int, env: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", name, "--rounds", str(rounds)], capture_output=True, text=True,
                          env=env or dict(os.environ, GLOG_v="3"))
    if proc.returncode:
        raise SystemExit(f"lever {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--only", nargs="+", choices=sorted(LEVERS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps({**LEVERS, **_HELPERS}[args.child](args.rounds)))
        return
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("| lever | case | ms |\n|---|---|---|")
    for name in args.only or LEVERS:
        for case, value in _child(name, args.rounds).items():
            print(f"| {name} | {case} | {value:.2f} |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
