"""Training and fine-tuning on MindSpore: the recipe of MindSpore's ViT tutorial, as timm users expect it.

Label-smoothed cross-entropy, AdamW (or Adam/SGD) without weight decay on biases, norms and tokens, cosine
learning rate with linear warm-up (per step), optional global-norm gradient clipping, a graph-compiled
(``mindspore.jit``) train step, evaluation every epoch, and crash-safe outputs in the output directory:

``last.safetensors`` / ``best.safetensors``  canonical checkpoints with class names
``last.optim.safetensors``                   the resumable state: weights, optimizer, position (see run_state)
``metrics.jsonl``                            one JSON line per epoch
``config.json``                              the run's settings (a recipe's presets included)
``ema.safetensors`` / ``best_ema.safetensors`` the EMA weights (``--model-ema``)
``curves.png``                               loss and accuracy (when matplotlib is installed)

Example:
    >>> from vitzoo.configs import TrainConfig
    >>> run_training(TrainConfig("digits", img_size=32, patch_size=4, depth=4, embed_dim=64, num_heads=4))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mindspore as ms
import numpy as np

from vitzoo.errors import DataError, TrainError, VitzooError
from vitzoo.fileio import ensure_folder
from vitzoo.configs import DEFAULT_TRAIN_MODEL, TrainConfig

from . import data as D
from .. import kernels
from .evaluation import class_mapping, compiled_forward, run_eval
from .outputs import can_plot as _can_plot, plot as _plot  # tests patch trainer._plot
from .outputs import read_metrics as _read_metrics, save_checkpoint as _save_checkpoint, write_config, write_metrics as _write_metrics
from .ema import BEST_EMA_FILE, EMA, EMA_FILE, make_ema
from .erasing import batch_draws, make_erasing
from .mixup import batch_rng, make_mixup
from .linear_probe import FeatureCache
from .lora import lora_state, merged_state, restore_lora
from .model_setup import prepare_model
from .step import build_optimizer, lr_at, make_train_step, set_lr
from .run_events import barrier, diverged, interrupted, note_skipped, replica_diff
from .run_state import LAST, OPTIM, StopSignals, load_run_state, restore_optimizer, save_run_state

BEST, METRICS, CURVES, CONFIG = "best.safetensors", "metrics.jsonl", "curves.png", "config.json"
PLOT_EVERY_S = 30.0  # curves.png is redrawn at most this often, and after the last epoch
# Settings that change the result: a resumed run warns when they differ from the saved ones.
_RUN_KEYS = ("batch_size", "img_size", "lr", "min_lr", "warmup_epochs", "weight_decay", "label_smoothing", "optimizer", "momentum", "clip_grad", "augment", "seed", "epochs", "drop_path", "layer_decay", "mixup", "cutmix", "cutmix_minmax", "mixup_prob", "mixup_switch_prob", "mixup_mode", "model_ema", "model_ema_decay", "model_ema_warmup", "grad_accum_steps", "reprob", "remode", "recount", "aa", "lora_rank", "lora_alpha")


@dataclass
class TrainResult:
    """What a run produced: its output files, best validation top-1 and the per-epoch metrics."""

    output: str
    best_top1: float
    best_epoch: int
    history: list[dict[str, Any]] = field(default_factory=list)
    rank: int = 0  # data-parallel runs: only rank 0 evaluates, so only its result has metrics
    skipped: list[str] = field(default_factory=list)  # unreadable images passed over (skip_bad=True)

    @property
    def last(self) -> str:
        return os.path.join(self.output, LAST)

    @property
    def best(self) -> str:
        return os.path.join(self.output, BEST)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "last": self.last, "best": self.best}


def epoch_seed(seed: int, epoch: int) -> int:
    """The data seed of one epoch: the same on every rank and after a resume."""
    return (seed * 1_000_003 + epoch) % (2**31)


def open_folders(data_dir: str) -> tuple[D.ImageFolder, D.ImageFolder]:
    """The train and val ImageFolders of ``data_dir``; val classes must be train classes."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"Data directory {str(root)!r} does not exist; it needs train/ and val/ sub-folders of class folders.")
    for part in ("train", "val"):
        if not (root / part).is_dir():
            raise DataError(f"Data directory {str(root)!r} has no {part}/ sub-folder; training needs {root}/train/<class>/ and {root}/val/<class>/.")
    train, val = D.scan_image_folder(root / "train"), D.scan_image_folder(root / "val")
    extra = sorted(set(val.classes) - set(train.classes))
    if extra:
        raise DataError(f"{str(root / 'val')!r} has class folders that train/ lacks: {', '.join(extra[:5])}; use the same class folders in both.")
    return train, val


def check_output(out: Path, resume: bool) -> None:
    """Refuse to overwrite an earlier run unless resuming it; a resume needs the earlier run's files."""
    if resume and not ((out / LAST).exists() and (out / OPTIM).exists()):
        raise VitzooError(f"Nothing to resume in {str(out)!r}: it needs {LAST} and {OPTIM} from an earlier run.")
    if not resume and (out / LAST).exists():
        raise VitzooError(f"{str(out)!r} already holds a training run ({LAST}); pass --resume to continue it, or choose another --output.")
    ensure_folder(out / LAST)  # an unusable --output fails before any data is read


def build_model(cfg: TrainConfig, num_classes: int) -> Any:
    """A fresh model (seeded init) or pretrained weights with a new ``num_classes`` head."""
    from vitzoo.api import create
    from vitzoo.backends import get_backend
    from vitzoo.init import init_state
    from vitzoo.variants import get_spec

    arch = {k: getattr(cfg, k) for k in ("img_size", "patch_size", "depth", "embed_dim", "num_heads", "mlp_dim") if getattr(cfg, k) is not None}
    if "embed_dim" in arch and "mlp_dim" not in arch:
        arch["mlp_dim"] = 4 * arch["embed_dim"]
    if cfg.pretrained:
        if set(arch) - {"img_size"}:
            raise VitzooError(f"Fine-tuning keeps the pretrained architecture; drop {', '.join(sorted(set(arch) - {'img_size'}))}.")
        pretrained = cfg.pretrained
        if cfg.model is None and not (isinstance(pretrained, str) and os.path.exists(pretrained)):
            raise VitzooError(f"--pretrained {pretrained!r} is not a file; name the model too (e.g. --model vit_b_16 --pretrained {pretrained}).")
        return create(cfg.model, pretrained=pretrained, num_classes=num_classes, **arch)
    spec = get_spec(cfg.model or DEFAULT_TRAIN_MODEL, num_classes=num_classes, **arch)
    model = get_backend("mindspore").build(spec, init_state(spec, seed=cfg.seed))
    model.pretrained_cfg = {}
    return model


def preprocessing(model: Any, augment: str, from_scratch: bool) -> dict[str, Any]:
    """The eval preprocessing saved with the weights: the pretrained one, or timm's ViT defaults.

    Light/none augmentation trains on the whole (resized) image, so eval does not crop.
    """
    from vitzoo.transforms import resolve_cfg

    cfg = resolve_cfg({} if from_scratch else model.pretrained_cfg, img_size=model.spec.img_size, in_chans=model.spec.in_chans)
    if augment in ("light", "none"):
        cfg["crop_pct"] = 1.0
    return cfg


def run_training(cfg: TrainConfig, *, rank: int = 0, world_size: int = 1) -> TrainResult:
    """Train as ``cfg`` says; in data-parallel runs every rank calls this and rank 0 writes the outputs.

    From the start, SIGTERM/SIGINT only ask the run to stop: it finishes the step under
    way (or its first one), saves, and raises :class:`~vitzoo.errors.TrainingInterrupted`.
    """
    with StopSignals() as stop:
        return _train(cfg, rank, world_size, stop)


def _train(cfg: TrainConfig, rank: int, world_size: int, stop: StopSignals) -> TrainResult:
    from tqdm import tqdm

    from vitzoo.backends import get_backend

    backend = get_backend("mindspore")
    out = Path(cfg.output)
    train_folder, val_folder = open_folders(cfg.data_dir)
    classes = train_folder.classes
    if rank == 0:
        check_output(out, cfg.resume)

    start_epoch, start_step, saved = 0, 0, None
    # The fused kernels are float32-only: a float16 (AMP) model keeps MindSpore's own operators.
    with kernels.primitive_ops() if cfg.amp else contextlib.nullcontext():
        model, optim_state, saved = load_run_state(out, backend, classes) if cfg.resume else (build_model(cfg, len(classes)), None, None)
    if cfg.resume:
        start_epoch, start_step = saved["epoch"], saved["step"]
        _warn_changed(saved["config"], cfg, rank)
        augment, preproc = saved["augment"], model.pretrained_cfg["pretrained_cfg"]
    else:
        augment = D.resolve_augment(cfg.augment, train_folder)
        preproc = preprocessing(model, augment, from_scratch=not cfg.pretrained)
    if model.spec.in_chans != 3:
        raise VitzooError(f"Training reads RGB images; the model has in_chans={model.spec.in_chans}.")
    source = f"vitzoo train {cfg.data_dir}" + (f" from {cfg.pretrained}" if cfg.pretrained else "")
    model.pretrained_cfg = {"class_names": list(classes), "pretrained_cfg": preproc, "source": source}

    prepare_model(model, cfg, rank)
    restore_lora(model, optim_state)  # a resumed run's adapters (lora/ tensors), before the optimizer state
    optimizer = build_optimizer(model, cfg)
    per_rank = cfg.batch_size // world_size
    # --linear-probe: the frozen model's features once (eval transform), then steps of the head alone
    probe = FeatureCache.build(model, train_folder, val_folder, _eval_transform(model), per_rank, skip_bad=cfg.skip_bad, workers=cfg.workers,
                               progress=cfg.progress and rank == 0, announce=rank == 0) if cfg.linear_probe else None
    net = model.head if probe is not None else model
    model.set_train(True)
    step_fn, scaler = make_train_step(net, optimizer, cfg, world_size)
    ema = make_ema(model, cfg, optim_state)  # takes its ema/ tensors out of a resumed state
    if saved is not None:
        restore_optimizer(optimizer, model, scaler, optim_state, out)

    rand_augment = _rand_augment(cfg, model.spec.img_size, preproc)

    def pipeline(epoch: int) -> Any:
        seed = epoch_seed(cfg.seed, epoch)
        if probe is not None:
            return probe.train_batches(seed, per_rank, world_size, rank)
        return D.train_dataset(
            train_folder, img_size=model.spec.img_size, mean=preproc["mean"], std=preproc["std"], augment=augment,
            batch_size=per_rank, seed=seed, interpolation=preproc["interpolation"],
            num_shards=world_size, shard_id=rank, workers=cfg.workers, skip_bad=cfg.skip_bad,
            auto_augment=rand_augment.on_array(seed) if rand_augment is not None else None,
        )

    accum = cfg.grad_accum_steps
    steps_per_epoch = pipeline(0).num_batches // accum  # a last group of fewer batches is left out, as drop_last
    if steps_per_epoch == 0:
        raise TrainError(f"--grad-accum-steps {accum} needs at least {accum} batches of {per_rank} per epoch; the data gives {pipeline(0).num_batches}.")
    mix, erase = make_mixup(cfg, len(classes)), make_erasing(cfg)
    total = steps_per_epoch * cfg.epochs
    warmup_epochs = cfg.warmup_epochs if cfg.warmup_epochs is not None else 0.1 * cfg.epochs
    warmup = int(round(warmup_epochs * steps_per_epoch))
    # the saved state's rows (a state saved before the rows were kept in it: metrics.jsonl's, up to its epoch)
    history = ([r for r in saved["history"] if r["epoch"] <= start_epoch] if "history" in saved else _read_metrics(out / METRICS, start_epoch)
               ) if saved is not None else []
    if saved is not None and rank == 0 and _read_metrics(out / METRICS, cfg.epochs) != history:
        _write_metrics(out / METRICS, history)  # killed between its state and its row: the row back from the state
    best = max(history, key=lambda m: m["val_top1"]) if history else None
    mapping = class_mapping(val_folder, model)
    eval_tf = _eval_transform(model)
    evaluate = compiled_forward(net, per_rank) if rank == 0 else None

    def val_data() -> Any:
        return probe.val_batches(per_rank) if probe is not None else D.eval_dataset(val_folder, eval_tf, per_rank, skip_bad=cfg.skip_bad, workers=cfg.workers)

    if rank == 0:
        write_config(out / CONFIG, cfg.to_dict())
    if rank == 0 and not _can_plot():
        print("note: matplotlib is not installed, so no curves.png is written (pip install 'vitzoo[plot]')", file=sys.stderr)
    if rank == 0:
        print(f"training {model.spec.depth}-block ViT ({_count(model)/1e6:.2f}M params) on {len(train_folder)} images, "
              f"{len(classes)} classes; augment={augment}, {cfg.optimizer} lr {cfg.base_lr:g}, {world_size} device(s)"
              + (f"; resuming at epoch {start_epoch + 1} step {start_step + 1}" if cfg.resume else ""), file=sys.stderr)

    def save(epoch: int, done: int, losses: list[float], nonfinite: int) -> None:
        """Rank 0 writes the resumable state (every rank waits for it, so none exits mid-save)."""
        if rank == 0:
            # the finished epochs' metrics rows too: a kill after this save but before metrics.jsonl is written loses no row
            position = {"epoch": epoch, "step": done, "losses": losses, "nonfinite": nonfinite, "nonfinite_total": nonfinite_total,
                        "augment": augment, "config": cfg.to_dict(), "history": history}
            extra = {EMA + k: v for k, v in ema.state().items()} if ema is not None else {}
            extra.update(lora_state(model))
            state = backend.state_dict(model)
            save_run_state(out, model, state, optimizer, scaler, position, extra, canonical=merged_state(model, state))
        barrier(world_size)

    skipped: dict[str, None] = {}  # unreadable images seen so far, in order (skip_bad=True)
    nonfinite_total = saved.get("nonfinite_total", 0) if saved else 0
    end_epoch = min(cfg.epochs, cfg.stop_epoch or cfg.epochs)
    plotted_at = time.monotonic()
    for epoch in range(start_epoch, end_epoch):
        resume_at = start_step if epoch == start_epoch else 0
        losses: list[float] = list(saved["losses"]) if resume_at and saved else []
        nonfinite = int(saved.get("nonfinite", 0)) if resume_at and saved else 0
        data = pipeline(epoch)
        model.set_train(True)
        tic = time.perf_counter()
        bar = tqdm(total=steps_per_epoch, initial=resume_at, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step", disable=not cfg.progress or rank != 0, leave=False)
        stopping = False
        for index, micro in enumerate(D.grouped(data, accum)):  # one update per group of --grad-accum-steps batches
            if index < resume_at:
                continue  # replayed, not trained: the random augmentation of the later batches stays the uninterrupted one
            step = epoch * steps_per_epoch + index
            lr = lr_at(step, total, warmup, cfg.base_lr, cfg.min_lr)
            set_lr(optimizer, lr)
            stop.rearm()
            flag = ms.Tensor(1.0 if stop.signum else 0.0, ms.float32)
            for k, (images, labels) in enumerate(micro):
                if erase is not None:  # timm's order: erasing in the per-image transform, mixing on the batch
                    images = erase(images, *batch_draws(cfg.seed, step * accum + k, rank))
                if mix is not None:  # Mixup/CutMix on the host, drawn from (seed, batch, rank): a resume mixes the same
                    images, labels = mix(images, labels, batch_rng(cfg.seed, step * accum + k, rank))
                x, y = ms.Tensor(images), ms.Tensor(labels if mix is not None else labels.astype(np.int32))
                if k < accum - 1:
                    step_fn.accumulate(x, y)
            status, grads_ok, loss_ok = step_fn(x, y, flag)
            loss, stop_votes = (float(v) for v in status.asnumpy())
            if ema is not None:
                ema.update(step + 1)  # timm: model_ema.update(model, step=num_updates) after each update
            stop.rearm()
            if bool(loss_ok.asnumpy()) and (scaler is not None or bool(grads_ok.asnumpy())):
                losses.append(loss)
            else:
                nonfinite += 1
                nonfinite_total += 1
                diverged(cfg, epoch, index, steps_per_epoch, loss, bool(grads_ok.asnumpy()), nonfinite_total, lr, out, rank)
            done = index + 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}")
            stopping = stop_votes > 0
            if done < steps_per_epoch and (stopping or (cfg.save_every_steps and (step + 1) % cfg.save_every_steps == 0)):
                save(epoch, done, losses, nonfinite)
                if stopping:
                    bar.close()
                    raise interrupted(stop, epoch, done, steps_per_epoch, out)
        bar.close()
        seconds = time.perf_counter() - tic
        note_skipped(skipped, data.source.skipped, rank)
        row: dict[str, Any] = {"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else float("nan"), "lr": lr,
                               "img_per_s": (steps_per_epoch - resume_at) * cfg.batch_size * accum / seconds, "nonfinite_steps": nonfinite}
        if world_size > 1:
            row["replica_max_diff"] = replica_diff(model, world_size)
        if rank == 0:
            model.set_train(False)
            val = run_eval(evaluate, val_data(), mapping, progress=cfg.progress, desc="val")
            note_skipped(skipped, val["skipped"], rank)
            row.update(val_top1=val["top1"], val_top5=val["top5"], time_s=seconds)
            if ema is not None:  # the EMA weights, evaluated and saved in the model's place (then swapped back)
                with ema.swapped_in():
                    val = run_eval(evaluate, val_data(), mapping, progress=cfg.progress, desc="val ema")
                    row.update(ema_val_top1=val["top1"], ema_val_top5=val["top5"])
                    _save_checkpoint(model, merged_state(model, backend.state_dict(model)), out / EMA_FILE)
                    if all(row["ema_val_top1"] > r.get("ema_val_top1", -1.0) for r in history):
                        _save_checkpoint(model, merged_state(model, backend.state_dict(model)), out / BEST_EMA_FILE)
            history.append(row)
        save(epoch + 1, 0, [], 0)
        if rank == 0:
            is_best = best is None or row["val_top1"] > best["val_top1"]
            if is_best:
                best = row
                _save_checkpoint(model, merged_state(model, backend.state_dict(model)), out / BEST)
            _write_metrics(out / METRICS, history)
            # Drawing takes ~0.27 s, a tenth of a digits epoch: redraw at most every PLOT_EVERY_S and at the end.
            if epoch + 1 == end_epoch or stopping or time.monotonic() - plotted_at >= PLOT_EVERY_S:
                _plot(out / CURVES, history)
                plotted_at = time.monotonic()
            tqdm.write(
                f"epoch {epoch + 1}/{cfg.epochs}  loss {row['loss']:.4f}  lr {lr:.2e}  val top-1 {row['val_top1']:.2f}  "
                f"top-5 {row['val_top5']:.2f}" + (f"  ema top-1 {row['ema_val_top1']:.2f}" if ema is not None else "")
                + f"  {row['img_per_s']:.0f} img/s" + ("  (best)" if is_best else "")
                + (f"  ({nonfinite} non-finite steps skipped)" if nonfinite else ""),
                file=sys.stderr,
            )
        if stopping and epoch + 1 < end_epoch:
            raise interrupted(stop, epoch + 1, 0, steps_per_epoch, out)
    model.set_train(False)
    if best is None:
        best = max(history, key=lambda m: m["val_top1"]) if history else {"val_top1": float("nan"), "epoch": 0}
    return TrainResult(output=str(out), best_top1=float(best["val_top1"]), best_epoch=int(best["epoch"]), history=history, skipped=list(skipped), rank=rank)










def _rand_augment(cfg: TrainConfig, img_size: int, preproc: dict[str, Any]) -> Any:
    """``--aa``'s RandAugment with timm's hparams: fill = the normalisation mean, the run's interpolation."""
    if not cfg.aa:
        return None
    from vitzoo.randaugment import RandAugment, parse_config, pil_interpolation

    return RandAugment(parse_config(cfg.aa), img_size, preproc["mean"], pil_interpolation(preproc["interpolation"]))


def _eval_transform(model: Any) -> Any:
    from vitzoo.transforms import transforms_for

    return transforms_for(model)


def _warn_changed(saved: dict[str, Any], cfg: TrainConfig, rank: int) -> None:
    default = TrainConfig.__dataclass_fields__  # a run saved before a setting existed ran with its default
    def was(k: str) -> Any:
        value = saved.get(k, default[k].default)
        return tuple(value) if isinstance(value, list) else value  # JSON keeps tuples as lists

    changed = [f"{k} {was(k)!r} -> {getattr(cfg, k)!r}" for k in _RUN_KEYS if was(k) != getattr(cfg, k)]
    if changed and rank == 0:
        print(f"warning: resuming with changed settings ({'; '.join(changed)}): the result will differ from an uninterrupted run", file=sys.stderr)




def _count(model: Any) -> int:
    return sum(int(np.prod(p.shape)) for p in model.get_parameters())
