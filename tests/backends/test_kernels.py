"""The fused CPU kernels (vitzoo.backends.mindspore.kernels) against MindSpore's primitive path and timm.

Each kernel is checked forward and backward against the same layer built with
``VITZOO_KERNELS=0``; the whole model is checked on both paths against timm (forward and
gradients). The build is checked with real processes (eight at once compile once), an
AVX2-only build, and the fallback without a compiler.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")

from vitzoo.backends.mindspore import kernels  # noqa: E402
from vitzoo.backends.mindspore.model import layers
from vitzoo.backends.mindspore.kernels import build as kbuild  # noqa: E402
from vitzoo.init import init_state  # noqa: E402
from vitzoo.spec import ViTSpec  # noqa: E402

REL = 2e-5  # float32 rounding of sums over a few hundred terms, relative to the largest value
needs_kernels = pytest.mark.skipif(kernels.active() is None, reason=f"kernels unavailable: {kernels.reason_off()}")
ENV = dict(os.environ, GLOG_v="3")


def noisy_state(spec: ViTSpec, seed: int = 0) -> dict:
    """Random weights with every norm/bias away from 1/0, so a wrong or missing term shows."""
    rng = np.random.default_rng(seed)
    state = init_state(spec, seed=seed)
    return {k: (v + 0.3 * rng.standard_normal(v.shape).astype(np.float32) if v.ndim == 1 else v * 4) for k, v in state.items()}


def build_pair(make, monkeypatch):
    """The layer ``make()`` builds with kernels, and the same layer on MindSpore's primitives."""
    fused = make()
    monkeypatch.setenv("VITZOO_KERNELS", "0")
    plain = make()
    monkeypatch.delenv("VITZOO_KERNELS")
    assert fused.fused and not plain.fused
    return fused, plain


def forward_and_grads(cell, x, weights, jit=False):
    """Output, d(sum(out * weights))/d(x), and the parameter gradients by name."""
    params = cell.trainable_params()
    w = ms.Tensor(weights)

    def loss(inputs):
        return (cell(inputs) * w).sum()

    grad_fn = ms.value_and_grad(loss, 0, params)
    if jit:
        grad_fn = ms.jit(grad_fn)
    _, (dx, dparams) = grad_fn(ms.Tensor(x))
    return cell(ms.Tensor(x)).asnumpy(), dx.asnumpy(), {p.name: g.asnumpy() for p, g in zip(params, dparams)}


def assert_close(got, want, what):
    scale = max(float(np.abs(want).max()), 1e-6)
    assert float(np.abs(got - want).max()) <= REL * scale, f"{what}: {np.abs(got - want).max():.3g} on scale {scale:.3g}"


def check_parity(fused, plain, x, jit=False):
    weights = np.random.default_rng(7).standard_normal(fused(ms.Tensor(x)).shape).astype(np.float32)
    a, b = forward_and_grads(fused, x, weights, jit), forward_and_grads(plain, x, weights, jit)
    assert_close(a[0], b[0], "forward")
    assert_close(a[1], b[1], "input gradient")
    assert set(a[2]) == set(b[2])
    for name in a[2]:
        assert_close(a[2][name], b[2][name], f"gradient of {name}")


# Each kernel against the primitive path ------------------------------------------
SPEC = ViTSpec(img_size=32, patch_size=8, embed_dim=40, depth=1, num_heads=2, mlp_dim=72, num_classes=3)
X = np.random.default_rng(1).standard_normal((3, 17, 40)).astype(np.float32) * 2 + 0.5  # 17 tokens, head_dim 20: ragged blocks


@needs_kernels
@pytest.mark.parametrize("jit", [False, True], ids=["pynative", "jit"])
def test_layer_norm_kernel_matches_primitive(monkeypatch, jit):
    state = noisy_state(SPEC)
    fused, plain = build_pair(lambda: layers.LayerNorm(state, "blocks.0.norm1", 1e-6), monkeypatch)
    check_parity(fused, plain, X, jit)


@needs_kernels
def test_bias_add_kernel_matches_primitive(monkeypatch):
    state = noisy_state(SPEC)
    fused, plain = build_pair(lambda: layers.Linear(state, "blocks.0.attn.proj"), monkeypatch)
    check_parity(fused, plain, X)


@needs_kernels
@pytest.mark.parametrize("gelu", ["exact", "tanh", "quick"])
def test_bias_gelu_kernel_matches_primitive(monkeypatch, gelu):
    spec = SPEC.replace(gelu=gelu)
    state = noisy_state(spec)
    fused, plain = build_pair(lambda: layers.Mlp(spec, state, "blocks.0.mlp"), monkeypatch)
    check_parity(fused, plain, X)


@needs_kernels
def test_bias_swiglu_kernel_matches_primitive(monkeypatch):
    spec = SPEC.replace(mlp_type="swiglu")
    state = noisy_state(spec)
    fused, plain = build_pair(lambda: layers.SwiGLU(spec, state, "blocks.0.mlp"), monkeypatch)
    check_parity(fused, plain, X)


@needs_kernels
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("jit", [False, True], ids=["pynative", "jit"])
def test_attention_kernel_matches_primitive(monkeypatch, train, jit):
    """Training mode keeps the softmax for backward; eval mode recomputes it (a user's grad on an eval model)."""
    state = noisy_state(SPEC)
    fused, plain = build_pair(lambda: layers.Attention(SPEC, state, "blocks.0.attn"), monkeypatch)
    fused.set_train(train)
    plain.set_train(train)
    check_parity(fused, plain, X, jit)


def test_qk_norm_attention_stays_on_primitives():
    spec = SPEC.replace(qk_norm=True)
    assert not layers.Attention(spec, noisy_state(spec), "blocks.0.attn").fused


# The whole model against timm, on both paths ---------------------------------------
@pytest.mark.parametrize("gelu", ["exact", "quick"])
@pytest.mark.parametrize("use_kernels", ["1", "0"], ids=["kernels", "primitives"])
def test_model_forward_and_gradients_match_timm(monkeypatch, use_kernels, gelu):
    torch = pytest.importorskip("torch")
    pytest.importorskip("timm")
    from timm.layers import QuickGELU
    from timm.models.vision_transformer import VisionTransformer as TimmViT

    from vitzoo.backends.mindspore import VisionTransformer

    monkeypatch.setenv("VITZOO_KERNELS", use_kernels)
    if use_kernels == "1" and kernels.active() is None:
        pytest.skip(f"kernels unavailable: {kernels.reason_off()}")
    spec = ViTSpec(img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=3, mlp_dim=96, num_classes=5, gelu=gelu)
    state = noisy_state(spec, seed=3)
    reference = TimmViT(img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=3, mlp_ratio=2.0, num_classes=5,
                        act_layer=QuickGELU if gelu == "quick" else None)
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    model = VisionTransformer(spec, state)
    assert model.blocks[0].attn.fused == (use_kernels == "1")
    model.set_train(True)
    x = np.random.default_rng(2).standard_normal((2, 3, 32, 32)).astype(np.float32)
    weights = np.random.default_rng(5).standard_normal((2, 5)).astype(np.float32)
    out = reference(torch.from_numpy(x))
    (out * torch.from_numpy(weights)).sum().backward()
    logits, _, grads = forward_and_grads(model, x, weights, jit=True)
    assert_close(logits, out.detach().numpy(), "logits")
    for name, p in reference.named_parameters():
        want = p.grad.numpy()
        got = grads[name]
        assert float(np.abs(got - want).max()) <= 1e-4 * max(1.0, float(np.abs(want).max())), name


def test_users_own_optimizer_step_matches_the_primitive_path(monkeypatch):
    """A user's value_and_grad + optimizer step in one jit, as MindSpore's tutorials write it: same new weights."""
    if kernels.active() is None:
        pytest.skip(f"kernels unavailable: {kernels.reason_off()}")
    from mindspore import nn

    from vitzoo.backends.mindspore import VisionTransformer

    spec = ViTSpec(img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=3, mlp_dim=96, num_classes=5)
    state = noisy_state(spec, seed=4)
    x = ms.Tensor(np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32))
    y = ms.Tensor(np.array([0, 1, 2, 3], np.int32))

    def train_once(flag):
        monkeypatch.setenv("VITZOO_KERNELS", flag)
        model = VisionTransformer(spec, state)
        model.set_train(True)
        opt = nn.Momentum(model.trainable_params(), learning_rate=0.1, momentum=0.9)  # linear in the gradients: comparable
        loss_fn = nn.CrossEntropyLoss()

        def forward(images, labels):
            return loss_fn(model(images), labels)

        grad_fn = ms.value_and_grad(forward, None, opt.parameters)

        @ms.jit
        def step(images, labels):
            loss, grads = grad_fn(images, labels)
            opt(grads)
            return loss

        losses = [float(step(x, y).asnumpy()) for _ in range(3)]
        return losses, {p.name: p.asnumpy().copy() for p in model.trainable_params()}

    (loss_k, w_k), (loss_p, w_p) = train_once("1"), train_once("0")
    assert np.allclose(loss_k, loss_p, rtol=1e-4, atol=1e-5)
    for name in w_p:
        assert_close(w_k[name], w_p[name], name)


# Building and loading ------------------------------------------------------------
_BUILD = """
import sys
from pathlib import Path
from vitzoo.backends.mindspore.kernels.build import build_library
print(build_library(Path(sys.argv[1])))
"""


def test_eight_processes_starting_together_compile_once(tmp_path):
    """A compiler wrapper logs each compile; eight fresh processes on an empty cache must log one."""
    cxx = kbuild.compiler()
    if cxx is None:
        pytest.skip("no C++ compiler")
    log = tmp_path / "compiles.log"
    wrapper = tmp_path / "cxx"
    wrapper.write_text(f"#!/bin/sh\ncase \"$*\" in *-o*) echo x >> {log};; esac\nexec {cxx} \"$@\"\n")
    wrapper.chmod(0o755)
    env = dict(ENV, CXX=str(wrapper))
    procs = [subprocess.Popen([sys.executable, "-c", _BUILD, str(tmp_path / "cache")], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(8)]
    paths = {p.communicate(timeout=300)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(paths) == 1 and Path(paths.pop()).is_file()
    assert log.read_text().count("x") == 1
    leftovers = [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file() and p.suffix not in (".so", ".lock")]
    assert leftovers == []


def test_cache_key_follows_sources_compiler_and_isa(tmp_path, monkeypatch):
    cxx = kbuild.compiler()
    if cxx is None:
        pytest.skip("no C++ compiler")
    root = Path("/cache")
    assert kbuild.library_path(root, cxx, "avx2") != kbuild.library_path(root, cxx, "generic")
    before = kbuild.cache_key(cxx, "avx2")
    src = tmp_path / "csrc"
    src.mkdir()
    for p in kbuild.sources():
        (src / p.name).write_bytes(p.read_bytes())
    monkeypatch.setattr(kbuild, "CSRC", src)
    assert kbuild.cache_key(cxx, "avx2") == before
    (src / "layer_norm.cpp").write_text((src / "layer_norm.cpp").read_text() + "\n// changed\n")
    assert kbuild.cache_key(cxx, "avx2") != before


_AVX2_PARITY = """
import os, sys
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import numpy as np, pytest
import test_kernels as t
from vitzoo.backends.mindspore import kernels
from vitzoo.backends.mindspore.model import layers
k = kernels.active()
assert k is not None and "/avx2-" in str(k.lib), k and k.lib
mp = pytest.MonkeyPatch()
state = t.noisy_state(t.SPEC)
for make in (lambda: layers.LayerNorm(state, "blocks.0.norm1", 1e-6), lambda: layers.Mlp(t.SPEC, state, "blocks.0.mlp"),
             lambda: layers.Attention(t.SPEC, state, "blocks.0.attn")):
    fused, plain = t.build_pair(make, mp)
    fused.set_train(True); plain.set_train(True)
    t.check_parity(fused, plain, t.X)
print("ok")
"""


@needs_kernels
def test_avx2_build_matches_primitive(tmp_path):
    """The AVX2 build (what machines without AVX-512 run) is exact too; run where the CPU has AVX2."""
    if "avx2" not in kbuild.cpu_flags():
        pytest.skip("CPU without AVX2")
    env = dict(ENV, VITZOO_KERNELS_ISA="avx2")
    out = subprocess.run([sys.executable, "-c", _AVX2_PARITY, __file__], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


def test_without_a_compiler_the_primitive_path_runs_after_one_notice(monkeypatch, capsys):
    monkeypatch.setattr(kernels, "_loaded", {})
    monkeypatch.setattr(kernels, "_noticed", set())
    monkeypatch.setattr(kernels, "build_library", lambda root: (_ for _ in ()).throw(kbuild.KernelBuildError("no C++ compiler found")))
    state = noisy_state(SPEC)
    norms = [layers.LayerNorm(state, "norm", 1e-6) for _ in range(3)]
    assert not any(n.fused for n in norms)
    err = capsys.readouterr().err
    assert err.count("fused CPU kernels are off (no C++ compiler found)") == 1
    assert norms[0](ms.Tensor(X)).shape == X.shape


def test_vitzoo_kernels_0_forces_the_primitive_path_quietly(monkeypatch, capsys):
    monkeypatch.setenv("VITZOO_KERNELS", "0")
    assert kernels.active() is None
    assert not layers.LayerNorm(noisy_state(SPEC), "norm", 1e-6).fused
    assert capsys.readouterr().err == ""


def test_isa_override_cannot_exceed_the_cpu(monkeypatch):
    monkeypatch.setattr(kbuild, "cpu_flags", lambda: {"sse2"})
    monkeypatch.setenv("VITZOO_KERNELS_ISA", "avx512")
    with pytest.raises(kbuild.KernelBuildError, match="more than this CPU has"):
        kbuild.cpu_isa()


def _call_bias_add_grad(lib, dy: np.ndarray) -> np.ndarray:
    """vz_bias_add_grad through its C entry point (MindSpore's AOT signature), from any thread."""
    import ctypes

    out = np.empty(dy.shape[1], np.float32)
    shapes = [(ctypes.c_int64 * 2)(*dy.shape), (ctypes.c_int64 * 1)(dy.shape[1])]
    params = (ctypes.c_void_p * 2)(dy.ctypes.data, out.ctypes.data)
    ndims = (ctypes.c_int * 2)(2, 1)
    shape_ptrs = (ctypes.POINTER(ctypes.c_int64) * 2)(*(ctypes.cast(s, ctypes.POINTER(ctypes.c_int64)) for s in shapes))
    assert lib.vz_bias_add_grad(2, params, ndims, shape_ptrs, None, None, None) == 0
    return out


@needs_kernels
def test_kernel_threads_are_vitzoos_own_and_sums_do_not_depend_on_who_calls():
    """No OpenMP (libgomp's idle threads spin and took a core from MindSpore's GEMMs); concurrent callers get the same bits."""
    import ctypes
    import shutil
    from concurrent.futures import ThreadPoolExecutor

    lib_path = kernels.active().lib
    if shutil.which("readelf"):
        needed = subprocess.run(["readelf", "-d", str(lib_path)], capture_output=True, text=True, check=True).stdout
        assert "NEEDED" in needed and "gomp" not in needed
    lib = ctypes.CDLL(str(lib_path))
    dy = np.random.default_rng(3).standard_normal((1001, 77)).astype(np.float32)
    alone = _call_bias_add_grad(lib, dy)
    np.testing.assert_allclose(alone, dy.sum(0), rtol=1e-4, atol=1e-4)
    with ThreadPoolExecutor(4) as pool:  # ctypes drops the GIL: callers overlap, and some run without the pool
        results = list(pool.map(lambda _: _call_bias_add_grad(lib, dy), range(64)))
    assert all(np.array_equal(r, alone) for r in results)
    names = [Path(f"/proc/self/task/{t}/comm").read_text().strip() for t in os.listdir("/proc/self/task")]
    assert names.count("vitzoo-kernels") == len(os.sched_getaffinity(0)) - 1  # one pool per process, one worker per extra CPU
