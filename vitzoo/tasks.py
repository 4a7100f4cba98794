"""The workflows as functions: ``vitzoo.train``, ``vitzoo.evaluate``, ``vitzoo.predict``.

Each one runs on the MindSpore backend, imported on first call, so ``import vitzoo``
stays free of MindSpore. The ``vitzoo train/eval/predict`` commands call these.

Example:
    >>> import vitzoo
    >>> result = vitzoo.train("digits/", img_size=32, patch_size=4, depth=4, embed_dim=64,
    ...                       num_heads=4, epochs=60, output="runs/digits")   # doctest: +SKIP
    >>> vitzoo.evaluate("digits/val", weights="runs/digits/best.safetensors")["top1"]  # doctest: +SKIP
    98.3
    >>> vitzoo.predict(["three.png"], weights="runs/digits/best.safetensors")[0]["top"][0]  # doctest: +SKIP
    {'index': 3, 'label': '3', 'prob': 0.99}
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

from vitzoo.errors import VitzooError

PathLike = Union[str, "os.PathLike[str]"]
DEFAULT_TRAIN_MODEL = "vit_ti_16"
OPTIMIZERS = ("adamw", "adam", "sgd")
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp", ".gif")


@dataclass
class TrainConfig:
    """Every setting of a training run (the ``vitzoo train`` options), with their defaults.

    ``model`` is a variant name (default ``vit_ti_16`` when training from scratch);
    ``img_size``/``patch_size``/``depth``/``embed_dim``/``num_heads``/``mlp_dim``
    override its architecture (``mlp_dim`` defaults to 4 × ``embed_dim`` when only
    the width is given). ``pretrained`` (``True``, a weight tag or a checkpoint file)
    fine-tunes those weights with a new head sized from the class folders.
    ``lr`` defaults to 1e-3 from scratch and 1e-4 when fine-tuning; ``warmup_epochs``
    to 10% of ``epochs``. ``augment``: ``auto`` (light pad + shift crop for small
    images such as digits, random-resized-crop + flip otherwise), ``light``, ``rrc``, ``none``.
    ``stop_epoch`` ends the run early (the schedule still spans ``epochs``), to
    split a run across jobs: continue it later with ``resume=True``. ``skip_bad``
    passes over unreadable images (listed in the result's ``skipped``) instead of stopping.
    ``save_every_steps`` also saves the resumable state every N steps (for jobs killed
    without warning); SIGTERM/SIGINT always save it. ``skip_nonfinite`` tolerates that
    many steps whose loss or gradients are not finite (skipped, counted in metrics.jsonl)
    before stopping with :class:`~vitzoo.errors.TrainError`. ``nodes``/``node_rank``/
    ``master_addr``/``master_port`` run ``devices`` workers on each of several machines
    (msrun's ``--worker_num``/``--node_rank``/``--master_addr``/``--master_port``);
    ``join_timeout`` is how long the first node waits for the others.

    Example:
        >>> TrainConfig("data", epochs=3).optimizer
        'adamw'
    """

    data_dir: str
    model: Optional[str] = None
    pretrained: Union[bool, str, None] = None
    img_size: Optional[int] = None
    patch_size: Optional[int] = None
    depth: Optional[int] = None
    embed_dim: Optional[int] = None
    num_heads: Optional[int] = None
    mlp_dim: Optional[int] = None
    epochs: int = 30
    batch_size: int = 64
    lr: Optional[float] = None
    min_lr: float = 0.0
    warmup_epochs: Optional[float] = None
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    optimizer: str = "adamw"
    momentum: float = 0.9
    clip_grad: Optional[float] = None
    augment: str = "auto"
    output: str = "runs/train"
    resume: bool = False
    stop_epoch: Optional[int] = None
    amp: bool = False
    seed: int = 0
    devices: int = 1
    workers: int = 2
    skip_bad: bool = False
    progress: bool = True
    save_every_steps: Optional[int] = None
    skip_nonfinite: int = 0
    nodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 8118
    join_timeout: int = 600

    def __post_init__(self) -> None:
        self.data_dir = os.fspath(self.data_dir)
        self.output = os.fspath(self.output)
        if isinstance(self.pretrained, os.PathLike):
            self.pretrained = os.fspath(self.pretrained)
        if self.optimizer not in OPTIMIZERS:
            raise VitzooError(f"Unknown optimizer {self.optimizer!r}; use one of {', '.join(OPTIMIZERS)}.")
        for name in ("epochs", "batch_size", "devices", "workers", "nodes", "join_timeout"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise VitzooError(f"{name} must be a positive integer, got {getattr(self, name)!r}.")
        if not 0 <= self.label_smoothing < 1:
            raise VitzooError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}.")
        if self.batch_size % (self.devices * self.nodes):
            raise VitzooError(
                f"batch_size {self.batch_size} (the global batch) must be divisible by the {self.devices * self.nodes} workers "
                f"(devices {self.devices} x nodes {self.nodes})."
            )
        if not 0 <= self.node_rank < self.nodes:
            raise VitzooError(f"node_rank must be in [0, {self.nodes}), got {self.node_rank!r}.")
        if self.save_every_steps is not None and (not isinstance(self.save_every_steps, int) or self.save_every_steps < 1):
            raise VitzooError(f"save_every_steps must be a positive integer, got {self.save_every_steps!r}.")
        if not isinstance(self.skip_nonfinite, int) or self.skip_nonfinite < 0:
            raise VitzooError(f"skip_nonfinite must be a non-negative integer, got {self.skip_nonfinite!r}.")

    @property
    def base_lr(self) -> float:
        return self.lr if self.lr is not None else (1e-4 if self.pretrained else 1e-3)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def train(data_dir: PathLike, **options: Any) -> Any:
    """Train (or fine-tune with ``pretrained=``) on ``data_dir/train``, validating on ``data_dir/val`` each epoch.

    ``options`` are the fields of :class:`TrainConfig`. Writes ``last.safetensors``,
    ``best.safetensors`` (class names in their metadata), ``last.optim.safetensors``
    (optimizer state for ``resume=True``), ``metrics.jsonl`` and ``curves.png`` to
    ``output``. With ``devices=N > 1`` it runs N data-parallel workers under ``msrun``
    (and inside a worker that msrun started, it joins that worker group).
    Returns a :class:`~vitzoo.backends.mindspore.training.TrainResult`.

    Example:
        >>> vitzoo.train("digits/", img_size=32, patch_size=4, depth=4, embed_dim=64, num_heads=4)  # doctest: +SKIP
    """
    config = TrainConfig(os.fspath(data_dir), **options)
    from vitzoo.backends.mindspore import distributed

    if distributed.in_msrun_worker():  # started by msrun by hand: join its group
        return distributed.run_worker(config)
    if config.devices * config.nodes > 1:
        return distributed.launch(config)
    from vitzoo.backends.mindspore.training import run_training

    return run_training(config)


def evaluate(
    data_dir: PathLike,
    model: Any = None,
    *,
    weights: Optional[PathLike] = None,
    batch_size: int = 64,
    skip_bad: bool = False,
    progress: bool = False,
    workers: int = 2,
) -> dict[str, Any]:
    """Top-1/top-5 accuracy (in %) of a model on an ImageFolder directory (one sub-folder per class).

    ``model`` is a model name (pretrained weights), a model from :func:`vitzoo.create`,
    or ``None`` with ``weights=`` a checkpoint file. Class folders are matched to the
    model's class names (ImageNet synset folders such as ``n01440764`` to ImageNet-1k
    indices). Returns ``top1``, ``top5``, ``images``, ``seconds``, ``img_per_s``, ``skipped``.

    Example:
        >>> vitzoo.evaluate("imagenet/val", "vit_b_16")["top1"]  # doctest: +SKIP
        81.4
    """
    from vitzoo.backends.mindspore.evaluation import evaluate_folder

    net = load_model(model, weights)
    return evaluate_folder(net, os.fspath(data_dir), batch_size=batch_size, skip_bad=skip_bad, progress=progress, workers=workers)


def predict(
    images: Union[PathLike, Sequence[PathLike]],
    model: Any = None,
    *,
    weights: Optional[PathLike] = None,
    top_k: int = 5,
    batch_size: int = 32,
) -> list[dict[str, Any]]:
    """Classify image files (paths, directories or glob patterns): the top-k classes of each.

    With neither ``model`` nor ``weights`` the embedded digits demo model is used.
    Returns one ``{"image": path, "top": [{"index", "label", "prob"}, ...]}`` per image.

    Example:
        >>> from vitzoo.tasks import demo_images
        >>> [p["top"][0]["label"] for p in vitzoo.predict(demo_images()[:2], top_k=1)]  # doctest: +SKIP
        ['0', '1']
    """
    from vitzoo.backends.mindspore.evaluation import predict_files

    files = expand_images([images] if isinstance(images, (str, os.PathLike)) else list(images))
    net = load_model(model, weights)
    return predict_files(net, files, top_k=top_k, batch_size=batch_size)


def load_model(model: Any = None, weights: Optional[PathLike] = None) -> Any:
    """A MindSpore model from a name (pretrained weights), a weights file, a model object, or the demo model."""
    import vitzoo

    if model is not None and not isinstance(model, str):
        if weights is not None:
            raise VitzooError("Give either a model object or weights=, not both.")
        return model
    if weights is not None:
        return vitzoo.create(model, pretrained=os.fspath(weights))
    if model is not None:
        return vitzoo.create(model, pretrained=True)
    return vitzoo.create_from_file(demo_weights())


def demo_weights() -> str:
    """Path of the embedded demo model: a small ViT trained on scikit-learn's digits (``scripts/make_demo.py``)."""
    return _data_path("demo_digits.safetensors")


def demo_images() -> list[str]:
    """The bundled sample digit images (``<digit>.png``), sorted."""
    folder = _data_path("demo")
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".png"))


def expand_images(items: Sequence[PathLike]) -> list[str]:
    """Files from paths, directories (searched recursively) and glob patterns, in the order given.

    A name that matches nothing is a :class:`~vitzoo.errors.DataError`.
    """
    import glob

    from vitzoo.errors import DataError

    files: list[str] = []
    for item in map(os.fspath, items):
        if os.path.isdir(item):
            found = sorted(
                os.path.join(d, f) for d, _, names in os.walk(item) for f in names if f.lower().endswith(IMG_EXTENSIONS)
            )
            if not found:
                raise DataError(f"Directory {item!r} holds no images ({', '.join(IMG_EXTENSIONS[:5])}, ...).")
            files.extend(found)
        elif os.path.exists(item):
            files.append(item)
        else:
            matches = sorted(p for p in glob.glob(item, recursive=True) if os.path.isfile(p))
            if not matches:
                raise DataError(f"No image file matches {item!r}; check the path or pattern.")
            files.extend(matches)
    return files


def _data_path(name: str) -> str:
    from importlib import resources

    return str(resources.files("vitzoo.data").joinpath(name))
