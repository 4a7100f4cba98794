"""One inference worker process: builds one model, then times forward passes on request.

The parent (benchmarks/run.py) keeps a vitzoo worker and a timm worker alive side by
side and asks them in turn (``"<n>"`` on stdin → ``n`` timed forward passes, one JSON
line on stdout), so both frameworks see the same machine load, each in its own process
with the same thread count. The idle worker blocks on stdin and uses no CPU.

Both load the same weights file (timm layout, written by the parent), feed the same
input, and report their logits, so the parent can check that they compute the same thing.

Peers: ``--framework timm --compile`` (``torch.compile``), and ``--framework onnxruntime|openvino
--onnx FILE`` runs an exported file (vitzoo's or timm's) in that runtime; OpenVINO at ``--precision
fp32`` or at its ``default`` (bf16 on CPUs with AVX512-BF16 or AMX).

Usage (normally started by run.py):
    python benchmarks/worker.py --framework vitzoo --model vit_b_16 --weights w.safetensors --batch 8 --jit --threads 2
    python benchmarks/worker.py --framework openvino --onnx vitzoo.onnx --precision fp32 --model vit_b_16 --weights w.safetensors
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

# Timm names of vitzoo's short names, for the timm side.
TIMM_ARCH = {"vit_ti_16": "vit_tiny_patch16_224", "vit_s_16": "vit_small_patch16_224", "vit_b_16": "vit_base_patch16_224",
             "vit_l_16": "vit_large_patch16_224", "dinov2_b_14": "vit_base_patch14_dinov2", "clip_b_16": "vit_base_patch16_clip_224",
             "dinov3_b_16": "vit_base_patch16_dinov3", "beitv2_b_16": "beitv2_base_patch16_224", "eva02_b_14": "eva02_base_patch14_224"}


def build_vitzoo(args: argparse.Namespace):
    """The vitzoo MindSpore (or NumPy) model and a function that runs it on a NumPy batch."""
    os.environ.setdefault("GLOG_v", "3")

    if args.backend == "mindspore":
        import mindspore as ms

        ms.device_context.cpu.op_tuning.threads_num(args.threads)  # before the first operator
    import vitzoo

    model = vitzoo.create(args.model, pretrained=args.weights, backend=args.backend, jit=args.jit, img_size=args.img_size)
    if args.backend == "numpy":
        return lambda x: model(x)
    import mindspore as ms

    return lambda x: model(ms.Tensor(x)).asnumpy()


def build_timm(args: argparse.Namespace):
    """timm's model on the same weights file, and a function that runs it under ``inference_mode``."""
    import torch
    import timm

    torch.set_num_threads(args.threads)
    model = timm.create_model(TIMM_ARCH.get(args.model, args.model), pretrained=True, img_size=args.img_size,
                              pretrained_cfg_overlay=dict(file=args.weights)).eval()
    if args.compile:
        model = torch.compile(model)  # compiled on the first call, which the parent reports apart

    def forward(x):
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()

    return forward


def build_runtime(args: argparse.Namespace):
    """An exported ONNX file in onnxruntime or OpenVINO, with the same thread count."""
    if args.framework == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
        session = ort.InferenceSession(args.onnx, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})[0]
    import openvino as ov

    config = {"INFERENCE_NUM_THREADS": args.threads, "PERFORMANCE_HINT": "LATENCY"}
    if args.precision == "fp32":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    compiled = ov.Core().compile_model(args.onnx, "CPU", config)
    request = compiled.create_infer_request()
    return lambda x: request.infer({0: x})[0].copy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--framework", choices=["vitzoo", "timm", "onnxruntime", "openvino"], required=True)
    parser.add_argument("--compile", action="store_true", help="timm under torch.compile")
    parser.add_argument("--onnx", help="the ONNX file an onnxruntime/openvino worker runs")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "default"], help="OpenVINO's inference precision")
    parser.add_argument("--backend", default="mindspore", choices=["mindspore", "numpy"])
    parser.add_argument("--model", required=True, help="vitzoo short name, e.g. vit_b_16")
    parser.add_argument("--weights", required=True, help="timm-layout safetensors file")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--img-size", type=int, default=224, help="input size (the weights file is for it)")
    parser.add_argument("--jit", action="store_true")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--logits", help="write the first call's logits here (.npy)")
    args = parser.parse_args()

    import numpy as np

    t0 = time.perf_counter()
    builders = {"vitzoo": build_vitzoo, "timm": build_timm, "onnxruntime": build_runtime, "openvino": build_runtime}
    forward = builders[args.framework](args)
    t1 = time.perf_counter()
    x = np.random.default_rng(0).standard_normal((args.batch, 3, args.img_size, args.img_size), dtype=np.float32)
    logits = forward(x)
    t2 = time.perf_counter()
    if args.logits:
        np.save(args.logits, logits)
    print(json.dumps({"ready": True, "build_s": t1 - t0, "first_call_s": t2 - t1}), flush=True)
    for line in sys.stdin:
        if not line.strip() or line.strip() == "quit":
            break
        times = []
        for _ in range(int(line)):
            t = time.perf_counter()
            forward(x)
            times.append(time.perf_counter() - t)
        print(json.dumps({"times": times}), flush=True)


if __name__ == "__main__":
    main()
