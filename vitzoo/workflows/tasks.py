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

import os
import sys
from typing import Any, Optional, Sequence, Union

from vitzoo.api import create, create_from_file
from vitzoo.configs import IMG_EXTENSIONS, PathLike, TrainConfig
from vitzoo.errors import DataError, VitzooError

def train(data_dir: PathLike, **options: Any) -> Any:
    """Train (or fine-tune with ``pretrained=``) on ``data_dir/train``, validating on ``data_dir/val`` each epoch.

    ``options`` are the fields of :class:`TrainConfig`; ``recipe="deit"|"finetune"|"linear-probe"`` fills in
    the settings not given (:mod:`vitzoo.recipes`, printed on stderr). Writes ``last.safetensors``,
    ``best.safetensors`` (class names in their metadata), ``last.optim.safetensors``
    (optimizer state for ``resume=True``), ``metrics.jsonl`` and ``curves.png`` to
    ``output``; with ``push_to_hub="ORG/REPO"`` the best checkpoint is then uploaded there.
    With ``devices=N > 1`` it runs N data-parallel workers under ``msrun`` (and inside a worker that msrun started, it joins that worker group).
    Returns a :class:`~vitzoo.backends.mindspore.train.trainer.TrainResult`.

    Example:
        >>> vitzoo.train("digits/", img_size=32, patch_size=4, depth=4, embed_dim=64, num_heads=4)  # doctest: +SKIP
    """
    from vitzoo.recipes import apply_recipe, describe

    options, filled = apply_recipe(options)  # a recipe fills in what the call did not give
    config = TrainConfig(os.fspath(data_dir), **options)
    if config.recipe is not None:
        print(describe(config.recipe, filled), file=sys.stderr)
    from vitzoo.backends.mindspore.train import distributed

    if distributed.in_msrun_worker():  # started by msrun by hand: join its group (the launching process publishes)
        return distributed.run_worker(config)
    if config.devices * config.nodes > 1:
        return _publish(config, distributed.launch(config))
    from vitzoo.backends.mindspore.train.trainer import run_training

    return _publish(config, run_training(config))


def _publish(config: TrainConfig, result: Any) -> Any:
    """With ``push_to_hub``, upload the run's best checkpoint (and its top-1 in the model card) once the run is over."""
    if not config.push_to_hub or result.rank != 0:
        return result
    from vitzoo.hub.publish import push_to_hub

    metrics = {"val_top1": result.best_top1, "best_epoch": result.best_epoch, "epochs": config.epochs}
    url = push_to_hub(result.best, config.push_to_hub, layout=config.hub_layout, metrics=metrics,
                      datasets=[os.path.basename(os.path.normpath(config.data_dir))])
    print(f"pushed {result.best} to {config.push_to_hub} ({config.hub_layout} layout): {url}", file=sys.stderr)
    return result


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
    from vitzoo.backends.mindspore.train.evaluation import evaluate_folder

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
        >>> from vitzoo.workflows.tasks import demo_images
        >>> [p["top"][0]["label"] for p in vitzoo.predict(demo_images()[:2], top_k=1)]  # doctest: +SKIP
        ['0', '1']
    """
    from vitzoo.backends.mindspore.train.evaluation import predict_files

    files = expand_images([images] if isinstance(images, (str, os.PathLike)) else list(images))
    net = load_model(model, weights)
    return predict_files(net, files, top_k=top_k, batch_size=batch_size)


def load_model(model: Any = None, weights: Optional[PathLike] = None) -> Any:
    """A MindSpore model from a name (pretrained weights), a weights file, a model object, or the demo model."""
    if model is not None and not isinstance(model, str):
        if weights is not None:
            raise VitzooError("Give either a model object or weights=, not both.")
        return model
    if weights is not None:
        return create(model, pretrained=os.fspath(weights))
    if model is not None:
        return create(model, pretrained=True)
    return create_from_file(demo_weights())


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
