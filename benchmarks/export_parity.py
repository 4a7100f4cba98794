"""Max |difference| from timm per ViT family and format: the model, its MindIR file and its ONNX file.

The tiny random-weight timm models of tests/family_models.py and a plain ViT-Ti (32 px, 2 blocks), batch 2.
ONNX files run in onnxruntime in this process (the tests also run them where MindSpore
cannot be imported). Differences are absolute, with the output scale (max |timm|) shown.

Usage:
    python benchmarks/export_parity.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("GLOG_v", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def main() -> None:
    import mindspore as ms
    import onnxruntime as ort
    import torch
    from family_models import FAMILIES, family_timm, image, timm_state

    import vitzoo
    from vitzoo.backends import get_backend

    from timm_models import tiny_timm

    cases = {name: (lambda n=name: family_timm(n), FAMILIES[name].spec) for name in FAMILIES}
    cases["vit (plain)"] = (tiny_timm, vitzoo.get_spec("vit_ti_16", depth=2, img_size=32, patch_size=8, num_classes=5))
    x = image(seed=3)
    print(f"{'family':<18} {'scale':>7} {'model':>9} {'mindir':>9} {'onnx':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in sorted(cases):
            make, spec = cases[name]
            ref = make()
            with torch.no_grad():
                expected = ref(torch.from_numpy(x)).numpy()
            model = get_backend("mindspore").build(spec, timm_state(ref))
            row = [float(np.abs(model(ms.Tensor(x)).asnumpy() - expected).max())]
            for fmt in ("mindir", "onnx"):
                path = Path(tmp) / f"{name.split()[0]}.{fmt}"
                vitzoo.export(model, path, batch_size=2, verify=False)
                if fmt == "mindir":
                    got = ms.nn.GraphCell(ms.load(str(path)))(ms.Tensor(x)).asnumpy()
                else:
                    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
                    got = session.run(None, {session.get_inputs()[0].name: x})[0]
                row.append(float(np.abs(got - expected).max()))
            scale = float(np.abs(expected).max())
            print(f"{name:<18} {scale:7.3f} " + " ".join(f"{d:9.2e}" for d in row))


if __name__ == "__main__":
    main()
