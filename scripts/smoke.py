"""Smoke test of an installed vitzoo: the user paths on this Python, MindSpore and NumPy.

CI runs it in a fresh venv per declared Python / MindSpore / NumPy version (``.ci/run``),
after ``pip install .``; the full test suite runs on the reference versions only.
It checks ``vitzoo predict --demo``, that the fused kernels build (where there is a C++
compiler), a model built in PyNative and with ``jit=True`` (parity with the NumPy
backend, one compile, replaced weights seen), a canonical save/load round trip and one
training epoch, and that MindSpore logged no ERROR line.
It ends with one line, ``SMOKE PASS ...`` or ``SMOKE FAIL ...``, and exit status 0 or 1.

Example:
    $ python scripts/smoke.py
    ...
    SMOKE PASS python 3.9.18, mindspore 2.9.0, numpy 1.26.4 (41 s)
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ERROR_LINE = re.compile(r"^\[ERROR\]|Traceback \(most recent call last\)", re.MULTILINE)
TOL = 1e-4


def check_demo() -> None:
    script = Path(sys.executable).with_name("vitzoo")  # the installed console script
    out = subprocess.run([str(script), "predict", "--demo"], check=True, stdout=subprocess.PIPE, text=True).stdout
    found = re.findall(r"(\d)\.png: (\d) \(", out)
    right = sum(a == b for a, b in found)
    assert len(found) == 10 and right >= 9, f"vitzoo predict --demo classified {right}/{len(found)} digits:\n{out}"


def check_models() -> None:
    import mindspore as ms
    import numpy as np

    import vitzoo
    from vitzoo.backends import get_backend

    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    eager = vitzoo.create("vit_ti_16", img_size=64, num_classes=7)
    from vitzoo.backends.mindspore import kernels
    from vitzoo.backends.mindspore.kernels.build import compiler

    if compiler() is not None and kernels.requested():  # the installed package carries every kernel source it compiles
        assert kernels.active() is not None, f"the fused kernels did not build: {kernels.reason_off()}"
    state = get_backend("mindspore").state_dict(eager)
    want = get_backend("numpy").build(eager.spec, state)(x)
    scale = max(1.0, float(np.abs(want).max()))
    got = eager(ms.Tensor(x)).asnumpy()
    assert np.abs(got - want).max() <= TOL * scale, f"PyNative differs from NumPy by {np.abs(got - want).max():.2e}"

    compiled = vitzoo.create("vit_ti_16", img_size=64, num_classes=7, jit=True)
    same = get_backend("mindspore").state_dict(compiled)
    assert all(np.array_equal(same[k], v) for k, v in state.items()), "random init differs between two creates"
    first = compiled(ms.Tensor(x)).asnumpy()
    graph, created = compiled._graphs["construct"], compiled._create_time
    for _ in range(2):
        again = compiled(ms.Tensor(x)).asnumpy()
    assert compiled._graphs["construct"] is graph and compiled._create_time == created, "jit model compiled twice"
    assert np.abs(first - want).max() <= TOL * scale, f"jit differs from NumPy by {np.abs(first - want).max():.2e}"
    assert np.array_equal(first, again), "jit calls disagree"

    new_head = np.full((7, 192), 0.01, np.float32)  # replaced weights reach the compiled graph
    compiled.head.weight.set_data(ms.Tensor(new_head))
    eager.head.weight.set_data(ms.Tensor(new_head))
    got, want2 = compiled(ms.Tensor(x)).asnumpy(), eager(ms.Tensor(x)).asnumpy()
    assert np.abs(got - first).max() > 1e-3 and np.abs(got - want2).max() <= TOL * scale, "jit missed set_data"

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.safetensors")
        vitzoo.save(eager, path)
        back = vitzoo.create_from_file(path)
        assert back.spec == eager.spec, "round trip changed the spec"
        assert np.array_equal(back(ms.Tensor(x)).asnumpy(), want2), "round trip changed the outputs"


def check_training() -> None:
    import numpy as np
    from PIL import Image

    import vitzoo

    colours = {"blue": (30, 60, 230), "green": (40, 210, 60), "red": (230, 40, 40)}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for split, count in (("train", 12), ("val", 3)):
            for name, rgb in colours.items():
                folder = Path(tmp, "data", split, name)
                folder.mkdir(parents=True)
                for i in range(count):
                    pixels = rng.integers(0, 60, (32, 32, 3)).astype(np.uint8)
                    pixels[8:20, 8:20] = rgb
                    Image.fromarray(pixels).save(folder / f"{i}.png")
        result = vitzoo.train(
            Path(tmp, "data"), output=Path(tmp, "out"), epochs=1, img_size=32, patch_size=8, depth=1,
            embed_dim=32, num_heads=2, batch_size=12, lr=3e-3, progress=False, workers=1,
        )
        loss = result.history[-1]["loss"]
        assert np.isfinite(loss) and os.path.exists(result.last), f"training ended with loss {loss}"


def run_checks() -> int:
    for check in (check_demo, check_models, check_training):
        start = time.perf_counter()
        check()
        print(f"smoke: {check.__name__[6:]} ok ({time.perf_counter() - start:.1f} s)", flush=True)
    return 0


def versions() -> str:
    code = "import mindspore, numpy; print(mindspore.__version__, numpy.__version__)"
    found = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ms_version, np_version = (found.stdout.split() + ["?", "?"])[:2]
    return f"python {platform.python_version()}, mindspore {ms_version}, numpy {np_version}"


def main() -> int:
    """Run the checks in a child process and read its whole output, MindSpore's C++ log included."""
    if sys.argv[1:] == ["--child"]:
        return run_checks()
    start = time.perf_counter()
    env = dict(os.environ, GLOG_logtostderr="1", GLOG_v="2")  # MindSpore logs WARNING and up to stderr
    child = subprocess.run([sys.executable, __file__, "--child"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sys.stdout.write(child.stdout)
    errors = [line for line in child.stdout.splitlines() if ERROR_LINE.search(line)]
    took = f"({time.perf_counter() - start:.0f} s)"
    if child.returncode == 0 and not errors:
        print(f"SMOKE PASS {versions()} {took}")
        return 0
    why = f"exit status {child.returncode}" if child.returncode else f"{len(errors)} ERROR lines, first: {errors[0]}"
    print(f"SMOKE FAIL {versions()} {took}: {why}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
