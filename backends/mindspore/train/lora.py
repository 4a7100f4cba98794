"""LoRA (``vitzoo train --lora-rank R [--lora-alpha A]``): low-rank adapters on a frozen backbone's Linears.

Every attention and MLP Linear of the blocks (``attn.qkv``, or ``attn.q_proj/k_proj/v_proj`` in the EVA
block, ``attn.proj``, ``mlp.fc1``/``fc2``, and the split SwiGLU's ``mlp.fc1_g``/``fc1_x``) is replaced by a
:class:`LoraLinear` that computes ``W x + b + scale · B (A x)`` with ``scale = alpha / R`` (peft's
``scaling``; vitzoo's ``alpha`` defaults to ``R``, so the scale is 1, where peft's ``lora_alpha`` defaults
to 8). ``A`` ``[R, in]`` starts as peft's ``kaiming_uniform_(a=√5)``, i.e. uniform in ±1/√in, seeded from
the run's seed (the same on every rank); ``B`` ``[out, R]`` starts at zero, so the first forward is the
pretrained model's. The base weights are frozen; the adapters and the classifier head train.

The cell keeps the Linear's own ``weight``/``bias`` Parameters (same names, same objects) and its
``bias`` attribute, so the fused bias+GELU / bias+SwiGLU kernels that read ``fc1.bias`` still work, in
PyNative and under ``jit``. The adapters are Parameters ``<linear>.lora_A`` / ``.lora_B``; they are not
canonical tensors: :func:`merged_state` folds them into plain weights (``W + scale · B @ A``) for every
saved checkpoint, which then loads anywhere with the plain architecture; the resumable state keeps the
unmerged weights and the adapters (``lora/NAME``), so ``--resume`` continues bit for bit.

Checked against peft's LoRA on the same timm model (tests/train/test_recipes_lora.py). One layout differs
from what peft does to timm: EVA-02's attention calls ``F.linear(x, qkv.weight, q/v bias)`` directly, so
peft's wrapper of timm's ``qkv`` never runs there; vitzoo adapts that qkv too (checked against timm
holding the merged weights).

Example:
    >>> names = add_lora(model, rank=4, scale=1.0, seed=0)  # doctest: +SKIP
    >>> state = merged_state(model, backend.state_dict(model))  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any, Optional

import mindspore as ms
import numpy as np
from mindspore import Parameter, Tensor, nn, ops

from vitzoo.canonical import is_classifier
from vitzoo.errors import TrainError

from ..model.layers import Linear

LORA = "lora/"  # prefix of the adapters in the resumable state file
TARGETS = ("attn.qkv", "attn.q_proj", "attn.k_proj", "attn.v_proj", "attn.proj", "mlp.fc1", "mlp.fc2", "mlp.fc1_g", "mlp.fc1_x")


class LoraLinear(nn.Cell):
    """A :class:`~..model.layers.Linear` plus ``scale · B (A x)``; the base weight and bias are the Linear's own."""

    def __init__(self, base: Linear, a: np.ndarray, b: np.ndarray, scale: float) -> None:
        super().__init__()
        self.weight = base.weight
        self.has_bias, self.add_bias = base.has_bias, base.add_bias
        if base.has_bias:
            self.bias = base.bias
        self.bias_add = base.bias_add
        self.in_features, self.out_features = base.in_features, base.out_features
        self.rank = int(a.shape[0])
        self.scale = float(scale)
        self.lora_A = Parameter(Tensor(np.ascontiguousarray(a, np.float32)))
        self.lora_B = Parameter(Tensor(np.ascontiguousarray(b, np.float32)))
        self.matmul = ops.MatMul(transpose_b=True)

    def construct(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        flat = x.reshape(-1, self.in_features)
        y = self.matmul(flat, self.weight) + self.matmul(self.matmul(flat, self.lora_A), self.lora_B) * self.scale
        if self.add_bias:
            y = self.bias_add(y, self.bias)
        return y.reshape(lead + (self.out_features,))

    def merged_weight(self) -> np.ndarray:
        """``W + scale · B @ A`` as float32 (computed in float64, rounded once)."""
        w = self.weight.asnumpy().astype(np.float64)
        return (w + self.scale * (self.lora_B.asnumpy().astype(np.float64) @ self.lora_A.asnumpy().astype(np.float64))).astype(np.float32)


def _targets(model: Any) -> list[tuple[str, Any, str, Linear]]:
    """``(full name, parent cell, attribute, Linear)`` of every Linear LoRA adapts, in model order."""
    found = []
    for name, cell in model.cells_and_names():
        if not name.startswith("blocks.") or not isinstance(cell, Linear) or isinstance(cell, LoraLinear):
            continue
        if any(name.endswith("." + t) for t in TARGETS):
            parent_name, attr = name.rsplit(".", 1)
            found.append((name, _sub(model, parent_name), attr, cell))
    return found


def _sub(model: Any, dotted: str) -> Any:
    cell = model
    for part in dotted.split("."):
        cell = cell[int(part)] if part.isdigit() else getattr(cell, part)
    return cell


def add_lora(model: Any, rank: int, scale: float, seed: int = 0) -> list[str]:
    """Put LoRA adapters of ``rank`` on the blocks' Linears (in place), freeze everything but them and the head.

    Returns the names of the adapted Linears. ``seed`` draws ``A`` (one stream per Linear, in model order).
    """
    if rank < 1:
        raise TrainError(f"--lora-rank must be a positive integer, got {rank!r}.")
    targets = _targets(model)
    if not targets:
        raise TrainError("--lora-rank found no attention or MLP Linear in this model's blocks to adapt.")
    for index, (name, parent, attr, linear) in enumerate(targets):
        if rank > min(linear.in_features, linear.out_features):
            raise TrainError(f"--lora-rank {rank} is larger than {name} ({linear.out_features}x{linear.in_features}); use a rank of at most "
                             f"{min(linear.in_features, linear.out_features)}.")
        rng = np.random.default_rng(np.random.SeedSequence([seed, 3, index]))
        bound = 1.0 / math.sqrt(linear.in_features)  # kaiming_uniform_(a=sqrt(5)): gain sqrt(1/3) · sqrt(3 / fan_in)
        a = rng.uniform(-bound, bound, (rank, linear.in_features)).astype(np.float32)
        cell = LoraLinear(linear, a, np.zeros((linear.out_features, rank), np.float32), scale)
        setattr(parent, attr, cell)
        for local, p in cell.parameters_and_names():  # a cell set on a built model gets only its attribute's prefix: give full names
            p.name = f"{name}.{local}"
    for p in model.get_parameters():
        p.requires_grad = is_classifier(p.name) or ".lora_" in p.name
    return [name for name, *_ in targets]


def adapters(model: Any) -> dict[str, LoraLinear]:
    """The model's LoRA cells by name (empty without LoRA)."""
    return {name: cell for name, cell in model.cells_and_names() if isinstance(cell, LoraLinear)}


def merged_state(model: Any, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``state`` (canonical names) with every adapted weight replaced by its merged ``W + scale · B @ A``."""
    cells = adapters(model)
    if not cells:
        return state
    merged = dict(state)
    for name, cell in cells.items():
        merged[name + ".weight"] = cell.merged_weight()
    return merged


def lora_state(model: Any) -> dict[str, np.ndarray]:
    """The adapters as ``lora/<linear>.lora_A`` / ``.lora_B`` tensors for the resumable state."""
    out = {}
    for name, cell in adapters(model).items():
        out[f"{LORA}{name}.lora_A"] = cell.lora_A.asnumpy()
        out[f"{LORA}{name}.lora_B"] = cell.lora_B.asnumpy()
    return out


def restore_lora(model: Any, saved: Optional[dict[str, np.ndarray]]) -> None:
    """Put the ``lora/`` tensors of a resumed state back (popping them from ``saved``)."""
    if saved is None:
        return
    tensors = {k[len(LORA):]: saved.pop(k) for k in [k for k in saved if k.startswith(LORA)]}
    params = {p.name: p for p in model.get_parameters() if ".lora_" in p.name}
    if set(tensors) != set(params):
        raise TrainError("The saved run's LoRA adapters do not fit this run; resume with the same --lora-rank (or without it if it had none).")
    for name, p in params.items():
        ops.assign(p, ms.Tensor(tensors[name]))
