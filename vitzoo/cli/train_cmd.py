"""``vitzoo train DATA_DIR ...``: train or fine-tune on DATA_DIR/train, validating on DATA_DIR/val.

Example::

    vitzoo train digits/ --img-size 32 --patch-size 4 --depth 4 --embed-dim 64 --num-heads 4 \\
        --epochs 60 --output runs/digits
    vitzoo train flowers/ --model vit_b_16 --pretrained augreg2_in21k_ft_in1k --epochs 10
    vitzoo train digits/ --output runs/digits --epochs 60 --resume
    vitzoo train flowers/ --model vit_b_16 --pretrained augreg2_in21k_ft_in1k --push-to-hub me/vit-flowers
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from vitzoo.errors import TrainingInterrupted
from vitzoo.configs import ERASE_MODES, MIXUP_MODES, OPTIMIZERS, TrainConfig
from vitzoo.recipes import RECIPES

_AUGMENT = ("auto", "light", "rrc", "none")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainConfig("")
    parser.add_argument("data_dir", metavar="DATA_DIR", help="folder with train/<class>/ and val/<class>/ image folders")
    model = parser.add_argument_group("model")
    model.add_argument("--model", help="variant to train (default vit_ti_16 from scratch) or to fine-tune")
    model.add_argument("--pretrained", metavar="TAG|FILE", help="fine-tune these weights (a weight tag of --model, or a checkpoint file) with a new head")
    for name, text in (("img-size", "input size"), ("patch-size", "patch size"), ("depth", "blocks"), ("embed-dim", "width"), ("num-heads", "attention heads"), ("mlp-dim", "MLP width (default 4 x embed-dim)")):
        model.add_argument(f"--{name}", type=int, help=f"override the variant's {text}")
    opt = parser.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=int, default=d.epochs, help="default %(default)s")
    opt.add_argument("--batch-size", type=int, default=d.batch_size, help="global batch, split over --devices (default %(default)s)")
    opt.add_argument("--lr", type=float, help="peak learning rate (default 1e-3 from scratch, 1e-4 fine-tuning)")
    opt.add_argument("--min-lr", type=float, default=d.min_lr, help="learning rate at the end of the cosine decay (default %(default)s)")
    opt.add_argument("--warmup-epochs", type=float, help="linear warm-up length (default 10%% of --epochs)")
    opt.add_argument("--weight-decay", type=float, default=d.weight_decay, help="AdamW/SGD weight decay, not applied to biases, norms, tokens (default %(default)s)")
    opt.add_argument("--label-smoothing", type=float, default=d.label_smoothing, help="default %(default)s")
    opt.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="default %(default)s")
    opt.add_argument("--momentum", type=float, default=d.momentum, help="SGD momentum, Nesterov (default %(default)s)")
    opt.add_argument("--clip-grad", type=float, help="clip gradients to this global norm")
    opt.add_argument("--augment", choices=_AUGMENT, default=d.augment,
                     help="auto (default): light pad + shift crop for small images (<= 64 px, e.g. digits), random-resized-crop + flip otherwise")
    opt.add_argument("--amp", action="store_true", help="float16 mixed precision with dynamic loss scaling")
    opt.add_argument("--seed", type=int, default=d.seed, help="weight init, shuffling and augmentation (default %(default)s)")
    recipe = parser.add_argument_group("fine-tuning recipes (timm train.py's flags)")
    recipe.add_argument("--drop-path", type=float, default=d.drop_path, metavar="RATE",
                        help="stochastic depth: rate of the last block, 0 at the first, linear in between (timm; default %(default)s)")
    recipe.add_argument("--layer-decay", type=float, metavar="D",
                        help="layer-wise learning-rate decay, e.g. 0.75: the head at --lr, each layer below it D times slower (timm)")
    recipe.add_argument("--mixup", type=float, default=d.mixup, metavar="ALPHA", help="mixup Beta alpha, on when > 0 (timm; default %(default)s)")
    recipe.add_argument("--cutmix", type=float, default=d.cutmix, metavar="ALPHA", help="cutmix Beta alpha, on when > 0 (timm; default %(default)s)")
    recipe.add_argument("--cutmix-minmax", type=float, nargs=2, metavar=("LO", "HI"), help="cutmix box sides between these ratios of the image (turns cutmix on, overrides its alpha)")
    recipe.add_argument("--mixup-prob", type=float, default=d.mixup_prob, metavar="P", help="probability of mixing a batch/pair/sample (default %(default)s)")
    recipe.add_argument("--mixup-switch-prob", type=float, default=d.mixup_switch_prob, metavar="P", help="with both on, probability of cutmix instead of mixup (default %(default)s)")
    recipe.add_argument("--mixup-mode", choices=MIXUP_MODES, default=d.mixup_mode, help="one lambda per batch, pair or elem(ent) (default %(default)s)")
    recipe.add_argument("--model-ema", action="store_true", help="keep an EMA of the weights (timm's ModelEmaV3), evaluated each epoch, saved as ema.safetensors")
    recipe.add_argument("--model-ema-decay", type=float, default=d.model_ema_decay, metavar="D", help="EMA decay per update (default %(default)s)")
    recipe.add_argument("--model-ema-warmup", action="store_true", help="EMA decay warm-up: 1 - (1 + step)^(-2/3) until it reaches --model-ema-decay (timm)")
    recipe.add_argument("--grad-accum-steps", type=int, default=d.grad_accum_steps, metavar="N",
                        help="sum the gradients of N batches per update: the update of an N x --batch-size batch (default %(default)s)")
    recipe.add_argument("--reprob", type=float, default=d.reprob, metavar="P", help="random erasing probability per image (timm; default %(default)s)")
    recipe.add_argument("--remode", choices=ERASE_MODES, default=d.remode, help="random erasing fill: per-pixel noise, zeros, or a noise colour (default %(default)s)")
    recipe.add_argument("--recount", type=int, default=d.recount, metavar="N", help="random erasing: 1 to N boxes per erased image (default %(default)s)")
    recipe.add_argument("--aa", metavar="CONFIG", help="RandAugment, timm's grammar: e.g. rand-m9-mstd0.5-inc1 (magnitude 9, noise 0.5, increasing ops), rand-m7-n3-p0.5")
    recipe.add_argument("--lora-rank", type=int, default=d.lora_rank, metavar="R",
                        help="LoRA adapters of rank R on attention qkv/proj and MLP fc1/fc2; the backbone stays frozen, the head trains; checkpoints are saved merged")
    recipe.add_argument("--lora-alpha", type=float, metavar="A", help="LoRA scale alpha/R (default alpha = R, scale 1)")
    recipe.add_argument("--freeze-backbone", action="store_true", help="train only the head (the backbone's weights stay as they are)")
    recipe.add_argument("--linear-probe", action="store_true", help="train only the head on features of the pretrained, frozen backbone, computed once without augmentation (needs --pretrained)")
    recipe.add_argument("--recipe", choices=tuple(RECIPES), help="fill in the settings not given from a preset: " + "; ".join(
        f"{name}: {', '.join(f'{k}={v}' for k, v in preset.items())}" for name, preset in RECIPES.items()))
    run = parser.add_argument_group("run")
    run.add_argument("--output", "-o", default=d.output, help="directory for checkpoints, metrics.jsonl and curves.png (default %(default)s)")
    run.add_argument("--resume", action="store_true", help="continue the run in --output where it stopped (mid-epoch after SIGTERM/SIGINT or --save-every-steps)")
    run.add_argument("--save-every-steps", type=int, metavar="N", help="also save the resumable state every N steps (SIGTERM/SIGINT always save it)")
    run.add_argument("--skip-nonfinite", type=int, default=d.skip_nonfinite, metavar="K",
                     help="skip up to K steps whose loss or gradients are not finite (counted in metrics.jsonl) before stopping (default %(default)s)")
    run.add_argument("--stop-epoch", type=int, help="stop after this epoch (the schedule still spans --epochs); continue with --resume")
    run.add_argument("--devices", type=int, default=d.devices, help="data-parallel workers, launched with msrun (default %(default)s)")
    run.add_argument("--nodes", type=int, default=d.nodes, help="machines, each running --devices workers (msrun --worker_num = nodes x devices; default %(default)s)")
    run.add_argument("--node-rank", type=int, default=d.node_rank, help="this machine's index, 0 .. nodes-1 (node 0 writes the outputs; default %(default)s)")
    run.add_argument("--master-addr", default=d.master_addr, metavar="HOST", help="address of node 0, reachable from every node (default %(default)s)")
    run.add_argument("--master-port", type=int, default=d.master_port, help="port of msrun's scheduler on node 0 (default %(default)s)")
    run.add_argument("--join-timeout", type=int, default=d.join_timeout, metavar="S", help="seconds to wait for every node to join (default %(default)s)")
    run.add_argument("--workers", type=int, default=d.workers, help="augmentation threads; images are decoded on one more (default %(default)s)")
    run.add_argument("--skip-bad", action="store_true", help="pass over unreadable images (each replaced by the next readable one) instead of stopping; they are counted and listed")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--json", action="store_true", help="print the result as one JSON object on the last line")
    hub = parser.add_argument_group("sharing")
    hub.add_argument("--push-to-hub", metavar="REPO", help="upload the best checkpoint to this Hugging Face hub repo (ORG/NAME) when the run ends")
    hub.add_argument("--hub-layout", choices=("timm", "transformers"), default=d.hub_layout, help="the layout it is uploaded in (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    from vitzoo.workflows.tasks import train

    options = {k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__ and k != "data_dir"}
    options["progress"] = not args.no_progress
    if args.recipe:  # a recipe fills in only the flags not on the command line
        given = _given_flags(getattr(args, "argv", sys.argv[1:]))
        options = {k: v for k, v in options.items() if k not in RECIPES[args.recipe] or k in given}
    try:
        result = train(args.data_dir, **options)
    except TrainingInterrupted as exc:  # one line: what happened and the exact command that continues the run
        argv = [a for a in getattr(args, "argv", sys.argv[1:]) if a != "--resume"]
        print(f"vitzoo train: {exc}: {shlex.join(['vitzoo', *argv, '--resume'])}", file=sys.stderr)
        return exc.exit_code
    if result.rank != 0:  # another msrun worker: rank 0 reports
        return 0
    print(f"best val top-1 {result.best_top1:.2f}% (epoch {result.best_epoch}); weights: {result.best} and {result.last}")
    if result.skipped:
        print(f"skipped {len(result.skipped)} unreadable images: {', '.join(result.skipped)}")
    if args.json:
        print(json.dumps(result.to_dict()))
    return 0


def _given_flags(argv: list[str]) -> set[str]:
    """The TrainConfig fields named on the command line (``--drop-path 0.2``, ``--drop-path=0.2``, or an
    abbreviation argparse accepts, such as ``--drop-p``)."""
    names = {k.replace("_", "-") for k in TrainConfig.__dataclass_fields__}
    given = set()
    for token in argv:
        if token == "--":
            break
        if token.startswith("--"):
            flag = token[2:].split("=", 1)[0]
            matches = [n for n in names if n == flag] or [n for n in names if n.startswith(flag)]
            given.update(m.replace("-", "_") for m in matches[:1] if len(matches) == 1)
    return given
