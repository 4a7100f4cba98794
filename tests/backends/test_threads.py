"""Concurrent callers: one model called from several threads gives each caller its own right answer.

MindSpore 2.10 is not safe to drive from several Python threads at once (PyNative can
crash, graphs can return another call's values); vitzoo serialises model execution
with one process-wide lock, and these tests hold it to that.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import mindspore as ms
import numpy as np
import pytest

import vitzoo

THREADS, CALLS = 4, 6


def _batches(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal((2, 3, 32, 32)).astype(np.float32) for _ in range(n)]


def _run_concurrently(fn, batches: list[np.ndarray]) -> list[np.ndarray]:
    """Each of THREADS threads calls ``fn`` on its share of ``batches``; results in batch order."""
    def worker(start: int) -> list[tuple[int, np.ndarray]]:
        return [(i, fn(batches[i])) for i in range(start, len(batches), THREADS)]

    with ThreadPoolExecutor(THREADS) as pool:
        parts = [f.result() for f in [pool.submit(worker, t) for t in range(THREADS)]]
    return [out for _, out in sorted((pair for part in parts for pair in part), key=lambda p: p[0])]


@pytest.mark.parametrize("jit", [False, True], ids=["pynative", "jit"])
def test_threads_get_single_threaded_outputs(jit: bool) -> None:
    model = vitzoo.create("vit_ti_16", img_size=32, patch_size=8, depth=2, num_classes=5, jit=jit)
    batches = _batches(THREADS * CALLS)
    expected = [model(ms.Tensor(b)).asnumpy() for b in batches]
    got = _run_concurrently(lambda b: model(ms.Tensor(b)).asnumpy(), batches)
    for want, have in zip(expected, got):
        np.testing.assert_array_equal(have, want)


@pytest.mark.parametrize("jit", [False, True], ids=["pynative", "jit"])
def test_threads_mixing_entry_points(jit: bool) -> None:
    """forward_features, forward_head and forward_intermediates from different threads at once."""
    model = vitzoo.create("vit_ti_16", img_size=32, patch_size=8, depth=2, num_classes=5, jit=jit)
    batches = _batches(THREADS * CALLS)

    def call(i: int, b: np.ndarray) -> np.ndarray:
        x = ms.Tensor(b)
        kind = i % 3
        if kind == 0:
            return model.forward_head(model.forward_features(x)).asnumpy()
        if kind == 1:
            return model.forward_intermediates(x, indices=1, intermediates_only=True)[0].asnumpy()
        return model(x).asnumpy()

    expected = [call(i, b) for i, b in enumerate(batches)]
    index = {id(b): i for i, b in enumerate(batches)}
    got = _run_concurrently(lambda b: call(index[id(b)], b), batches)
    for want, have in zip(expected, got):
        np.testing.assert_array_equal(have, want)


def test_two_models_in_two_threads() -> None:
    """The lock is process-wide: MindSpore's runtime is shared by every model."""
    models = [vitzoo.create("vit_ti_16", img_size=32, patch_size=8, depth=1, num_classes=3, jit=j) for j in (False, True)]
    batches = _batches(8)
    expected = {(m, i): models[m](ms.Tensor(b)).asnumpy() for m in range(2) for i, b in enumerate(batches)}
    with ThreadPoolExecutor(4) as pool:
        futures = {(m, i): pool.submit(lambda m=m, b=b: models[m](ms.Tensor(b)).asnumpy()) for m in range(2) for i, b in enumerate(batches)}
    for key, fut in futures.items():
        np.testing.assert_array_equal(fut.result(), expected[key])
