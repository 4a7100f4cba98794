"""Every performance goal of vitzoo against timm, measured in one run: ``python -m benchmarks [--quick]``.

Rows (fp32, CPU, the same thread count on both sides):

* inference img/s, vitzoo (MindSpore, ``jit=True`` or PyNative) ÷ timm: ViT-B/16 batch 8 and
  batch 1, ViT-S/16 batch 8, DINOv2-B/14 (224 px) and CLIP-B/16 batch 8, and the NumPy backend for reference. Each model lives in its
  own worker process (benchmarks/worker.py); the workers are asked in turn, round after
  round (so both see the same machine load; each round starts once other processes leave
  the CPU idle, ``--quiet-below``/``--max-wait``), and the ratio is the median of per-round ratios;
* peers of ViT-B/16 batch 8 (``peers_b8``): timm eager as the baseline, vitzoo ``jit=True``,
  timm under ``torch.compile``, and both exports (timm's ``torch.onnx.export``, vitzoo's
  ``export``) in onnxruntime and in OpenVINO fp32 (OpenVINO's sides when it is installed:
  ``pip install openvino``), plus OpenVINO at its default precision; every side its own process;
* the first call of a ``jit=True`` model (graph compilation plus one forward), ViT-B/16;
* ``create(pretrained, warm cache)`` → first logits vs timm's ``create_model`` on the same
  file (benchmarks/create_bench.py, fresh processes);
* converting a ViT-L/16 timm checkpoint: GB/s and peak RSS ÷ file size (benchmarks/convert_bench.py);
* ``import vitzoo`` in a fresh interpreter;
* training steps/s, vitzoo's compiled step (``value_and_grad`` + AdamW in one ``mindspore.jit``,
  the trainer's ``make_train_step``) ÷ timm's usual loop (zero_grad, forward, backward,
  ``AdamW.step``): ViT-S/16 at 224 px batch 16, and the digits demo model (32 px, batch 64);
  both sides alternate round by round in one process (benchmarks/train_bench.py); the same two
  steps again with the fine-tuning recipe on (``--drop-path 0.1 --mixup 0.8`` on both sides:
  stochastic depth, and the batch mixed on the host into soft targets);
* the README's digits training (``vitzoo train``, 60 epochs; 20 with ``--quick``), wall time of
  the whole process ÷ the same recipe as a timm/PyTorch script (benchmarks/digits_bench.py);
* CLIP ViT-B-16 text tower, 256 prompts, vitzoo ``encode_text`` (``jit=True``) ÷ open_clip's, worker processes
  alternating round by round, and the ImageNet zero-shot classifier build (classes × 80 templates) wall time
  against open_clip's ``build_zero_shot_classifier`` (benchmarks/text_bench.py);
* per-kernel milliseconds: each fused kernel (every ISA build the CPU runs) vs MindSpore's
  primitives vs torch, forward and forward+backward (benchmarks/kernels_bench.py).

The table is printed and written to ``benchmarks/results.json`` and ``benchmarks/results.md``
together with the machine, load averages and library versions. Every worker loads the
same random timm weights, and the logits of both sides are compared (max |diff| column).

Usage:
    python -m benchmarks              # full run, ~6 min on 2 cores
    python -m benchmarks --quick      # fewer rounds, ViT-B/16 instead of ViT-L/16 for conversion (~4 min)
    python benchmarks/run.py --only infer_b8 --rounds 9
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling benchmark scripts, under `python -m benchmarks` too
ENV = dict(os.environ, GLOG_v="3", TQDM_DISABLE="1")

_WEIGHTS = """
import sys, torch, timm
from safetensors.torch import save_file
torch.manual_seed(0)
model = timm.create_model(sys.argv[1], pretrained=False, img_size=int(sys.argv[3]))
with torch.no_grad():  # non-trivial norms, so a mismatch would show in the logits
    for name, p in model.named_parameters():
        if p.ndim == 1:
            p.add_(torch.randn_like(p) * 0.1)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, sys.argv[2])
"""


class Worker:
    """A benchmarks/worker.py process holding one built model, timed on request."""

    def __init__(self, label: str, argv: list[str], script: str = "worker.py") -> None:
        self.label = label
        self.proc = subprocess.Popen([sys.executable, str(HERE / script), *argv], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        self.ready = self._reply()  # build_s, first_call_s

    def _reply(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"worker {self.label} died:\n{self.proc.stderr.read()[-3000:]}")
        return json.loads(line)

    def time(self, iters: int) -> float:
        """Median seconds per forward over ``iters`` calls."""
        self.proc.stdin.write(f"{iters}\n")
        self.proc.stdin.flush()
        return statistics.median(self._reply()["times"])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)


def cpu_busy(seconds: float = 1.0) -> float:
    """Fraction of all cores busy over ``seconds`` (from /proc/stat): other people's work while ours idles."""
    def sample() -> tuple[int, int]:
        fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    (t0, i0), _ = sample(), time.sleep(seconds)
    t1, i1 = sample()
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def wait_quiet(threshold: float, max_wait: float) -> float:
    """Wait (at most ``max_wait`` s) until the machine is below ``threshold`` busy; returns the busy fraction seen last."""
    deadline = time.monotonic() + max_wait
    busy = cpu_busy()
    while busy > threshold and time.monotonic() < deadline:
        busy = cpu_busy()
    return busy


QUIET = {"threshold": 0.15, "max_wait": 60.0}  # set from the command line; max_wait 0 disables waiting


def timm_weights(model: str, folder: Path, img_size: int = 224) -> Path:
    """Random timm weights for ``model`` (vitzoo short name) at ``img_size``, written once per run."""
    from worker import TIMM_ARCH

    path = folder / f"{model}_{img_size}.safetensors"
    if not path.exists():
        subprocess.run([sys.executable, "-c", _WEIGHTS, TIMM_ARCH[model], str(path), str(img_size)], check=True, env=ENV)
    return path


def inference(model: str, batch: int, sides: dict[str, list[str]], rounds: int, iters: int, threads: int, folder: Path,
              img_size: int = 224) -> dict:
    """Alternate timm and the vitzoo ``sides`` (label → worker flags); img/s and median per-round ratios."""
    import numpy as np

    weights = timm_weights(model, folder, img_size)
    common = ["--model", model, "--weights", str(weights), "--batch", str(batch), "--threads", str(threads), "--img-size", str(img_size)]
    workers: dict[str, Worker] = {}
    try:
        for label, flags in {"timm": ["--framework", "timm"], **sides}.items():  # built one at a time: clean first-call times
            logits = folder / f"logits_{model}_{batch}_{label}.npy"
            workers[label] = Worker(label, common + flags + ["--logits", str(logits)])
        seconds: dict[str, list[float]] = {k: [] for k in workers}
        busy: list[float] = []
        order = list(workers)
        for r in range(rounds):
            if QUIET["max_wait"] > 0:  # start each round when other work has calmed down (2 shared cores)
                busy.append(round(wait_quiet(QUIET["threshold"], QUIET["max_wait"]), 3))
            for label in order if r % 2 == 0 else order[::-1]:
                seconds[label].append(workers[label].time(iters))
    finally:
        for w in workers.values():
            w.close()
    ref = np.load(folder / f"logits_{model}_{batch}_timm.npy")
    out = {"model": model, "batch": batch, "threads": threads, "rounds": rounds, "iters": iters, "busy_before_rounds": busy, "sides": {}}
    for label, w in workers.items():
        s = seconds[label]
        side = {"img_per_s": batch / statistics.median(s), "seconds": s, **w.ready}
        side["compile_s"] = w.ready["first_call_s"] - statistics.median(s)
        if label != "timm":
            side["ratio"] = statistics.median(t / v for t, v in zip(seconds["timm"], s))
            side["max_diff"] = float(np.abs(np.load(folder / f"logits_{model}_{batch}_{label}.npy") - ref).max())
        out["sides"][label] = side
    return out


_EXPORT_TIMM = """
import sys, torch, timm
model = timm.create_model(sys.argv[1], pretrained=True, pretrained_cfg_overlay=dict(file=sys.argv[2])).eval()
torch.onnx.export(model, torch.zeros(int(sys.argv[4]), 3, 224, 224), sys.argv[3], opset_version=17, dynamo=False,
                  input_names=["x"], output_names=["logits"], dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
"""
_EXPORT_VITZOO = """
import sys, vitzoo
from vitzoo.backends.mindspore.deploy.export import export_model
print(export_model(vitzoo.create(sys.argv[1], pretrained=sys.argv[2]), sys.argv[3], batch_size=int(sys.argv[4]))["writer"])
"""


def onnx_peers(model: str, batch: int, rounds: int, threads: int, folder: Path) -> dict:
    """timm eager against ``jit=True``, ``torch.compile``, and both exports (timm's, vitzoo's) in onnxruntime and OpenVINO."""
    from worker import TIMM_ARCH

    weights = timm_weights(model, folder)
    files = {"timm": folder / "timm.onnx", "vitzoo": folder / "vitzoo.onnx"}
    subprocess.run([sys.executable, "-c", _EXPORT_TIMM, TIMM_ARCH[model], str(weights), str(files["timm"]), str(batch)],
                   check=True, env=ENV, capture_output=True)
    subprocess.run([sys.executable, "-c", _EXPORT_VITZOO, model, str(weights), str(files["vitzoo"]), str(batch)],
                   check=True, env=ENV, capture_output=True)
    sides = {"jit": ["--framework", "vitzoo", "--jit"], "compile": ["--framework", "timm", "--compile"]}
    for exporter, path in files.items():
        sides[f"onnxruntime_{exporter}"] = ["--framework", "onnxruntime", "--onnx", str(path)]
    try:
        import openvino  # noqa: F401
    except ImportError:
        pass  # the OpenVINO sides need `pip install openvino`
    else:
        for exporter, path in files.items():
            sides[f"openvino_{exporter}"] = ["--framework", "openvino", "--onnx", str(path), "--precision", "fp32"]
        sides["openvino_default_timm"] = ["--framework", "openvino", "--onnx", str(files["timm"]), "--precision", "default"]
    out = inference(model, batch, sides, rounds, 2, threads, folder)
    out["sizes"] = {k: v.stat().st_size for k, v in files.items()}
    return out


def cross_ratio(row: dict, faster: str, slower: str) -> float:
    """Median over rounds of ``slower``'s time ÷ ``faster``'s (> 1: ``faster`` is faster)."""
    a, b = row["sides"][faster]["seconds"], row["sides"][slower]["seconds"]
    return statistics.median(y / x for x, y in zip(a, b))


def json_tail(cmd: list[str]) -> dict:
    """Run a benchmark script in a fresh process; its last stdout line is its JSON result."""
    out = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


RECIPE = ["--drop-path", "0.1", "--mixup", "0.8"]  # the fine-tuning recipe's costs on a training step (both sides)


def train_row(flags: list[str], rounds: int) -> dict:
    """benchmarks/train_bench.py with the MindSpore sides with and without kernels, alternating with timm."""
    if QUIET["max_wait"] > 0:
        wait_quiet(QUIET["threshold"], QUIET["max_wait"])
    return json_tail([sys.executable, str(HERE / "train_bench.py"), *flags, "--rounds", str(rounds), "--primitives"])


def import_time(repeat: int) -> dict:
    code = "import time; t = time.perf_counter(); import vitzoo; print(time.perf_counter() - t)"
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=ENV).stdout)
             for _ in range(repeat)]
    return {"seconds": statistics.median(times), "runs": times}


def machine() -> dict:
    """CPU, cores, versions: the context the numbers need."""
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "")
    versions = {}
    for mod in ("mindspore", "torch", "timm", "numpy"):
        code = f"import {mod}; print({mod}.__version__)"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
        versions[mod] = proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 else "missing"
    commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    vector = sorted({f for f in flags.split() if f.startswith(("avx", "fma", "amx"))})
    isa = subprocess.run([sys.executable, "-c", "from vitzoo.backends.mindspore.kernels.build import cpu_isa; print(cpu_isa())"],
                         capture_output=True, text=True, env=ENV).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "avx512": "avx512f" in flags, "avx2": "avx2" in flags, "vector_flags": vector,
            "kernel_isa": isa, "kernels": ENV.get("VITZOO_KERNELS", "1") != "0",
            "python": platform.python_version(), "versions": versions, "commit": commit,
            "date": time.strftime("%Y-%m-%d %H:%M")}


def table_rows(res: dict) -> list[tuple[str, str, str, str, Optional[bool]]]:
    """(measure, goal, measured, detail, met) for every result present."""
    rows = []

    def infer_row(key: str, side: str, title: str, goal: float) -> None:
        if key not in res or side not in res[key]["sides"]:
            return
        r = res[key]
        s, t = r["sides"][side], r["sides"]["timm"]
        rows.append((title, f"≥ {goal:g}× timm", f"{s['ratio']:.2f}×",
                     f"{s['img_per_s']:.2f} vs {t['img_per_s']:.2f} img/s; max abs Δlogit {s['max_diff']:.1e}", s["ratio"] >= goal))

    infer_row("infer_b8", "jit", "ViT-B/16 inference, batch 8, jit=True", 1.15)
    infer_row("infer_b1", "jit", "ViT-B/16 inference, batch 1, jit=True", 1.2)
    infer_row("infer_s8", "jit", "ViT-S/16 inference, batch 8, jit=True", 1.1)
    infer_row("infer_b8", "pynative", "ViT-B/16 inference, batch 8, PyNative", 0.9)
    infer_row("infer_b8", "numpy", "ViT-B/16 inference, batch 8, NumPy backend", 0.0)
    infer_row("infer_dinov2", "jit", "DINOv2-B/14 inference (224 px), batch 8, jit=True", 1.0)
    infer_row("infer_clip", "jit", "CLIP-B/16 image tower inference, batch 8, jit=True", 1.0)
    infer_row("infer_dinov3", "jit", "DINOv3-B/16 inference (224 px, rotary positions), batch 8, jit=True", 1.0)
    infer_row("infer_beit", "jit", "BEiTv2-B/16 inference (relative position bias), batch 8, jit=True", 1.0)
    infer_row("infer_eva02", "jit", "EVA-02-B/14 inference (224 px, rotary positions, SwiGLU), batch 8, jit=True", 1.0)
    if "peers_b8" in res:
        r = res["peers_b8"]
        for runtime in ("onnxruntime", "openvino"):
            if f"{runtime}_vitzoo" in r["sides"]:
                v, t = r["sides"][f"{runtime}_vitzoo"], r["sides"][f"{runtime}_timm"]
                ratio = cross_ratio(r, f"{runtime}_vitzoo", f"{runtime}_timm")
                rows.append((f"ViT-B/16 batch 8 in {runtime} (fp32): vitzoo's ONNX ÷ timm's torch.onnx.export", "≥ 1.0×", f"{ratio:.2f}×",
                             f"{v['img_per_s']:.2f} vs {t['img_per_s']:.2f} img/s; max abs Δlogit vs timm {v['max_diff']:.1e} / {t['max_diff']:.1e}",
                             ratio >= 1.0))
        fp32 = [k for k in r["sides"] if k not in ("jit", "timm", "openvino_default_timm")]
        fastest = max(fp32, key=lambda k: r["sides"][k]["img_per_s"])
        ratio = cross_ratio(r, "jit", fastest)
        rows.append(("ViT-B/16 batch 8 jit=True ÷ the fastest fp32 peer", "≥ 1.05×", f"{ratio:.2f}×",
                     f"fastest: {fastest} {r['sides'][fastest]['img_per_s']:.2f} img/s; jit {r['sides']['jit']['img_per_s']:.2f}; "
                     + ", ".join(f"{k} {r['sides'][k]['img_per_s']:.2f}" for k in fp32 if k != fastest), ratio >= 1.05))
        if "openvino_default_timm" in r["sides"]:
            d = r["sides"]["openvino_default_timm"]
            rows.append(("OpenVINO at its default precision (bf16 where the CPU has it), timm's ONNX", "(peer)", f"{d['ratio']:.2f}× timm",
                         f"{d['img_per_s']:.2f} img/s; max abs Δlogit {d['max_diff']:.1e}", None))
    if "infer_b1" in res:
        s = res["infer_b1"]["sides"]["jit"]
        rows.append(("first call of a jit model, ViT-B/16 batch 1", "≤ 3 s", f"{s['first_call_s']:.2f} s",
                     f"compile ≈ {s['compile_s']:.2f} s + one forward", s["first_call_s"] <= 3.0))
    if "create" in res:
        med = res["create"]["median"]
        vz, tm = med["vitzoo warm"], med["timm"]
        ratio = (vz["create_s"] + vz["forward_s"]) / (tm["create_s"] + tm["forward_s"])
        rows.append(("create(pretrained, warm cache) → first logits, ViT-B/16", "≤ 1.0× timm", f"{ratio:.2f}×",
                     f"{vz['create_s'] + vz['forward_s']:.2f} vs {tm['create_s'] + tm['forward_s']:.2f} s; whole process "
                     f"{vz['process_s'] / tm['process_s']:.2f}×; max abs Δlogit {res['create']['max_diff']['warm']:.1e}", ratio <= 1.0))
    if "convert" in res:
        c = res["convert"]
        row = c["rows"][0]
        rows.append((f"convert {c['variant']} timm → vitzoo", "≥ 1 GB/s, peak RSS ≤ 1.3× file",
                     f"{row['gb_per_s']:.2f} GB/s, {row['peak_over_size']:.2f}×",
                     f"{row['bytes'] / 1e9:.2f} GB in {row['seconds']:.2f} s, peak RSS {row['peak_kb'] / 1024:.0f} MB",
                     row["gb_per_s"] >= 1.0 and row["peak_over_size"] <= 1.3))
    for key, title in (("train_s16", "training step ViT-S/16, 224 px, batch 16"), ("train_digits", "training step, digits demo model (32 px, batch 64)"),
                       ("train_s16_recipe", "training step ViT-S/16, 224 px, batch 16, drop path 0.1 + mixup 0.8"),
                       ("train_digits_recipe", "training step, digits demo model, drop path 0.1 + mixup 0.8")):
        if key in res:
            t = res[key]
            rows.append((title, "≥ 1.0× timm", f"{t['ratio_mindspore_to_timm']:.2f}×",
                         f"{t['mindspore']:.1f} vs {t['timm']:.1f} img/s (medians); without the kernels "
                         f"{t['ratio_primitives_to_timm']:.2f}×", t["ratio_mindspore_to_timm"] >= 1.0))
    if "train_digits_run" in res:
        d = res["train_digits_run"]
        rows.append((f"digits training of the README ({d['epochs']} epochs), wall time", "≤ 1.2× timm", f"{d['ratio_vitzoo_to_timm']:.2f}×",
                     f"{d['vitzoo_s']:.1f} vs {d['timm_s']:.1f} s, whole processes; best val top-1 "
                     f"{d['best_val_top1']['vitzoo']:.1f} vs {d['best_val_top1']['timm']:.1f}%", d["ratio_vitzoo_to_timm"] <= 1.2))
    if "text_b16" in res:
        t = res["text_b16"]
        v, o = t["sides"]["vitzoo"], t["sides"]["open_clip"]
        rows.append((f"CLIP ViT-B-16 text tower, {t['prompts']} prompts, jit=True", "≥ 1.0× open_clip", f"{t['ratio']:.2f}×",
                     f"{v['prompts_per_s']:.1f} vs {o['prompts_per_s']:.1f} prompts/s; max abs Δembedding {t['max_diff']:.1e} "
                     f"(embeddings up to {t['ref_scale']:.1f})", t["ratio"] >= 1.0))
    if "zs_classifier" in res:
        z = res["zs_classifier"]
        rows.append((f"zero-shot classifier build, {z['classes']} ImageNet classes × {z['templates']} templates, wall time",
                     "(measured)", f"{z['vitzoo_s']:.1f} s", f"open_clip's build_zero_shot_classifier {z['open_clip_s']:.1f} s "
                     f"({z['ratio']:.2f}×); max abs Δweight {z['max_diff']:.1e}", None))
    if "import" in res:
        s = res["import"]["seconds"]
        rows.append(("import vitzoo", "≤ 0.2 s", f"{s:.3f} s", "fresh interpreter, median", s <= 0.2))
    return rows


def markdown(res: dict) -> str:
    m = res["machine"]
    lines = [f"Measured {m['date']} on {m['cpu']}, {m['cores']} cores (vector extensions: {' '.join(m.get('vector_flags', [])) or 'none'}; "
             f"vitzoo kernels {'built for ' + m.get('kernel_isa', '?') if m.get('kernels', True) else 'off'}), "
             f"Python {m['python']}, " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + f"; vitzoo {m['commit']}; "
             f"{res['threads']} threads each; load average {res['load_before'][0]:.1f} before, {res['load_after'][0]:.1f} after"
             f"{' (--quick)' if res['quick'] else ''}"
             + (f"; each round started once other processes kept the CPU under {res['quiet_below']:.0%} busy "
                f"(waiting at most {res['max_wait']:.0f} s)" if res.get("max_wait") else "") + ".", "",
             "| measure | goal | measured | detail | met |", "|---|---|---|---|---|"]
    for title, goal, value, detail, met in table_rows(res):
        mark = "" if met is None else "yes" if met else "no"
        lines.append(f"| {title} | {goal if not goal.startswith('≥ 0×') else '(reference)'} | {value} | {detail} | "
                     f"{mark if not goal.startswith('≥ 0×') else ''} |")
    if "kernels" in res:
        lines += ["", "Per kernel, ViT-B/16 batch-8 shapes, median ms (MindSpore sides as compiled graphs, including the "
                  "graph launch and the copy of the result; torch eager):", "",
                  "| kernel | side | forward | forward + backward |", "|---|---|---|---|"]
        for name, sides in res["kernels"].items():
            if isinstance(sides, dict) and name != "load_after":
                lines += [f"| {name} | {side} | {r['forward']:.2f} | {r['forward+backward']:.2f} |" for side, r in sides.items()]
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds, ViT-B/16 conversion, one create repeat")
    parser.add_argument("--rounds", type=int, help="alternation rounds per inference row (default 7, quick 3)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for both frameworks")
    parser.add_argument("--only", nargs="+",
                        choices=["infer_b8", "infer_b1", "infer_s8", "create", "convert", "import", "train_s16", "train_digits", "kernels",
                                 "train_s16_recipe", "train_digits_recipe", "peers_b8", "infer_dinov2", "infer_clip", "infer_dinov3", "infer_beit", "infer_eva02", "train_digits_run", "text_b16", "zs_classifier"])
    parser.add_argument("--classes", type=int, help="ImageNet classes of the zero-shot classifier row (default 1000, quick 20)")
    parser.add_argument("--no-numpy", action="store_true", help="skip the NumPy backend side of the ViT-B/16 batch-8 row")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for results.json / results.md")
    parser.add_argument("--quiet-below", type=float, default=0.15,
                        help="start each round / row once the other processes keep the CPU less busy than this (default 0.15)")
    parser.add_argument("--max-wait", type=float, default=60.0, help="longest wait for quiet, seconds (0: never wait)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 7)
    QUIET.update(threshold=args.quiet_below, max_wait=args.max_wait)
    todo = args.only or ["import", "infer_b8", "peers_b8", "infer_b1", "infer_s8", "infer_dinov2", "infer_clip", "infer_dinov3", "infer_beit", "infer_eva02", "create", "convert", "train_s16",
                         "train_digits", "train_s16_recipe", "train_digits_recipe", "train_digits_run", "kernels", "text_b16", "zs_classifier"]

    res: dict[str, Any] = {"quick": args.quick, "threads": args.threads, "load_before": os.getloadavg(), "machine": machine(),
                           "quiet_below": args.quiet_below, "max_wait": args.max_wait}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vitzoo-bench-") as tmp:
        folder = Path(tmp)
        jit, pynative = ["--framework", "vitzoo", "--jit"], ["--framework", "vitzoo"]
        for key in todo:
            t = time.perf_counter()
            if args.max_wait > 0:
                wait_quiet(args.quiet_below, args.max_wait)
            print(f"[{key}] ...", flush=True)
            if key == "import":
                res[key] = import_time(5 if args.quick else 9)
            elif key == "infer_b8":
                sides = {"jit": jit, "pynative": pynative}
                if not args.no_numpy:
                    sides["numpy"] = pynative + ["--backend", "numpy"]
                res[key] = inference("vit_b_16", 8, sides, rounds, 2, args.threads, folder)
            elif key == "peers_b8":
                res[key] = onnx_peers("vit_b_16", 8, rounds, args.threads, folder)
            elif key == "infer_b1":
                res[key] = inference("vit_b_16", 1, {"jit": jit}, rounds, 3, args.threads, folder)
            elif key == "infer_s8":
                res[key] = inference("vit_s_16", 8, {"jit": jit}, rounds, 2, args.threads, folder)
            elif key == "infer_dinov2":  # DINOv2 at the 224-px size most feature extraction uses (its weights are for 518)
                res[key] = inference("dinov2_b_14", 8, {"jit": jit}, rounds, 2, args.threads, folder, img_size=224)
            elif key == "infer_clip":
                res[key] = inference("clip_b_16", 8, {"jit": jit}, rounds, 2, args.threads, folder)
            elif key == "infer_dinov3":  # timm's name: vitzoo and timm both know DINOv3 by it
                res[key] = inference("dinov3_b_16", 8, {"jit": jit}, rounds, 2, args.threads, folder)
            elif key == "infer_beit":
                res[key] = inference("beitv2_b_16", 8, {"jit": jit}, rounds, 2, args.threads, folder)
            elif key == "infer_eva02":
                res[key] = inference("eva02_b_14", 8, {"jit": jit}, rounds, 2, args.threads, folder)
            elif key == "create":
                import create_bench

                res[key] = create_bench.measure("mindspore", 1 if args.quick else 3)
            elif key == "convert":
                import convert_bench

                variant = "vit_b_16" if args.quick else "vit_l_16"
                size, rows = convert_bench.bench(variant, only_timm=True)
                res[key] = {"variant": variant, "bytes": size, "rows": rows}
            elif key == "train_s16":
                res[key] = train_row(["--img-size", "224", "--patch-size", "16", "--depth", "12", "--embed-dim", "384",
                                      "--num-heads", "6", "--batch-size", "16", "--steps", "2"], rounds)
            elif key == "train_digits":
                res[key] = train_row(["--batch-size", "64", "--steps", "5"], rounds)
            elif key == "train_s16_recipe":
                res[key] = train_row(["--img-size", "224", "--patch-size", "16", "--depth", "12", "--embed-dim", "384",
                                      "--num-heads", "6", "--batch-size", "16", "--steps", "2", *RECIPE], rounds)
            elif key == "train_digits_recipe":
                res[key] = train_row(["--batch-size", "64", "--steps", "5", *RECIPE], rounds)
            elif key == "train_digits_run":
                res[key] = json_tail([sys.executable, str(HERE / "digits_bench.py"), "--epochs", "20" if args.quick else "60"])
            elif key == "text_b16":
                import text_bench

                quiet = (lambda: round(wait_quiet(QUIET["threshold"], QUIET["max_wait"]), 3)) if QUIET["max_wait"] > 0 else None
                res[key] = text_bench.text_row(folder, rounds, args.threads, before_round=quiet)
            elif key == "zs_classifier":  # 80,000 prompts per side for all classes: ~2 h on 2 cores, so --quick builds 20
                import text_bench

                res[key] = text_bench.classifier_row(folder, args.classes or (20 if args.quick else 1000), args.threads)
            elif key == "kernels":
                res[key] = json_tail([sys.executable, str(HERE / "kernels_bench.py"), "--repeat", "5" if args.quick else "11"])
            res[key]["load_after"] = os.getloadavg()[0]  # the 1-minute load as the row ends: how quiet it was
            print(f"[{key}] {time.perf_counter() - t:.0f} s, load {res[key]['load_after']:.2f}", flush=True)
    res["load_after"] = os.getloadavg()
    res["total_s"] = time.perf_counter() - started

    text = markdown(res)
    print()
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(res, indent=1) + "\n")
    (args.out / "results.md").write_text(text)
    print(f"wrote {args.out / 'results.json'} and {args.out / 'results.md'} ({res['total_s'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
