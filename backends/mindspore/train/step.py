"""One optimisation step on MindSpore: the optimizer with its parameter groups, the learning-rate schedule, the compiled step.

The trainer drives these; benchmarks and a user's own loop can use them as they are.

Example:
    >>> lr_at(0, total=100, warmup=10, base=1e-3)  # doctest: +ELLIPSIS
    0.0001...
"""

from __future__ import annotations

import math
from typing import Any, Callable

import mindspore as ms
from mindspore import amp, nn, ops

from vitzoo.configs import TrainConfig


def lr_at(step: int, total: int, warmup: int, base: float, min_lr: float = 0.0) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay from ``base`` to ``min_lr`` at ``total``.

    Example:
        >>> [round(lr_at(s, 10, 2, 1.0), 3) for s in (0, 1, 2, 6, 9)]
        [0.5, 1.0, 1.0, 0.345, 0.024]
    """
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (base - min_lr) * (1.0 + math.cos(math.pi * min(t, 1.0)))


def build_optimizer(model: Any, cfg: TrainConfig) -> Any:
    """The optimizer over timm's parameter groups (:mod:`.param_groups`): no weight decay on 1-D tensors
    (biases, norms) and the tokens/position embedding, and with ``cfg.layer_decay`` one group per layer.

    Each group's learning-rate scale is kept in ``optimizer.lr_scales``; :func:`set_lr` applies it.
    """
    from mindspore.experimental import optim

    from .param_groups import param_groups

    groups = param_groups(model, cfg.weight_decay, cfg.layer_decay)
    lr = cfg.base_lr
    opt_groups = [{"params": g["params"], "weight_decay": g["weight_decay"], "lr": lr * g["lr_scale"]} for g in groups]
    if cfg.optimizer == "adamw":
        optimizer = optim.AdamW(opt_groups, lr=lr)
    elif cfg.optimizer == "adam":
        optimizer = optim.Adam(opt_groups, lr=lr)
    else:
        optimizer = optim.SGD(opt_groups, lr=lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    optimizer.lr_scales = tuple(g["lr_scale"] for g in groups)
    return optimizer


def set_lr(optimizer: Any, lr: float) -> None:
    """Set the learning rate of this step: ``lr`` times each group's scale, as timm's schedulers do with ``lr_scale``.

    The rates are Parameters the compiled step reads, so no recompilation.
    """
    for param, scale in zip(optimizer.lrs, getattr(optimizer, "lr_scales", None) or [1.0] * len(optimizer.lrs)):
        ops.assign(param, ms.Tensor(lr * scale, ms.float32))


def soft_target_cross_entropy(logits: ms.Tensor, target: ms.Tensor) -> ms.Tensor:
    """timm's ``SoftTargetCrossEntropy``: ``sum(-target * log_softmax(logits), -1).mean()``."""
    return ops.sum(-target * ops.log_softmax(logits, -1), -1).mean()


def make_train_step(model: Any, optimizer: Any, cfg: TrainConfig, world_size: int = 1) -> tuple[Callable[..., Any], Any]:
    """The compiled step and its loss scaler (``None`` without AMP).

    ``step(images, labels, stop) -> (status, grads_ok, loss_ok)``: forward, backward,
    (``labels`` are int32 class indices, or float32 soft targets ``[B, classes]`` when ``cfg.mixing``)
    all-reduce, clip, update. ``status`` is ``[mean loss, stop flags]`` summed over the
    ranks (the loss divided by their number), so every rank sees the same loss, the same
    stop request and the same finiteness verdict. A step whose loss or gradients are not
    finite leaves the weights and optimizer as they were (with AMP an overflow of the
    scaled gradients is the scaler's business, not a divergence).

    With ``cfg.grad_accum_steps = N > 1`` the first ``N - 1`` micro-batches of an update go through
    ``step.accumulate(images, labels)`` (forward and backward only, gradients and loss summed in place);
    ``step`` on the N-th then updates with the mean gradient and reports the mean loss: the update of one
    N-times-larger batch, up to float32 rounding (timm's ``--grad-accum-steps``: loss / N per micro-batch).
    """
    # Mixup/CutMix: soft targets [B, classes] with the smoothing already in them (timm's SoftTargetCrossEntropy)
    loss_fn = soft_target_cross_entropy if cfg.mixing else nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    reducer = nn.DistributedGradReducer(optimizer.parameters, mean=True, degree=world_size) if world_size > 1 else None
    all_reduce = ops.AllReduce() if world_size > 1 else None
    scaler = None
    if cfg.amp:
        amp.auto_mixed_precision(model, "auto", dtype=ms.float16)
        scaler = amp.DynamicLossScaler(scale_value=2.0**16, scale_factor=2, scale_window=1000)

    def forward(x: ms.Tensor, y: ms.Tensor) -> ms.Tensor:
        loss = loss_fn(model(x).astype(ms.float32), y)
        return scaler.scale(loss) if scaler is not None else loss

    grad_fn = ms.value_and_grad(forward, None, optimizer.parameters)
    accum = cfg.grad_accum_steps  # a graph constant: without accumulation the step is the plain one
    if accum > 1:
        acc_grads = optimizer.parameters.clone(prefix="grad_accum", init="zeros")
        acc_loss = ms.Parameter(ms.Tensor(0.0, ms.float32), name="grad_accum_loss", requires_grad=False)

    @ms.jit
    def accumulate(x: ms.Tensor, y: ms.Tensor) -> ms.Tensor:
        loss, grads = grad_fn(x, y)
        for a, g in zip(acc_grads, grads):
            ops.assign_add(a, g)
        ops.assign_add(acc_loss, loss)
        return loss

    @ms.jit
    def step(x: ms.Tensor, y: ms.Tensor, stop: ms.Tensor) -> Any:
        loss, grads = grad_fn(x, y)
        if accum > 1:  # the mean over the micro-batches, and the buffers emptied for the next update
            grads = tuple((a + g) / accum for a, g in zip(acc_grads, grads))
            loss = (acc_loss + loss) / accum
            for a in acc_grads:
                ops.assign(a, ops.zeros_like(a))
            ops.assign(acc_loss, ops.zeros_like(acc_loss))
        if reducer is not None:
            grads = reducer(grads)
        if scaler is not None:
            loss, grads = scaler.unscale(loss), scaler.unscale(grads)
        status = ops.stack([loss, stop])
        if all_reduce is not None:
            status = all_reduce(status) / world_size
        grads_ok = amp.all_finite(grads)
        loss_ok = ops.isfinite(status[0])
        if scaler is not None:
            scaler.adjust(grads_ok)
        if ops.logical_and(grads_ok, loss_ok):
            if cfg.clip_grad:
                grads = ops.clip_by_global_norm(grads, cfg.clip_grad)
            optimizer(grads)
        return status, grads_ok, loss_ok

    if accum > 1:
        step.accumulate = accumulate
    return step, scaler
