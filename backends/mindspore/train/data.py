"""ImageFolder data pipelines on ``mindspore.dataset``: eval preprocessing and train augmentation.

A data directory holds one sub-folder per class (``root/<class>/<image>``), as in
torchvision's ``ImageFolder``. Training decodes with Pillow in a one-thread
``GeneratorDataset`` and augments with ``mindspore.dataset.vision`` ops on ``workers``
threads; evaluation applies the weights' own preprocessing (``vitzoo.transforms``) in a
``map`` on ``workers`` threads (Pillow releases the GIL while it decodes and resizes).
No ``GeneratorDataset`` gets more than one worker: MindSpore polls its workers with a
100 ms sleep, which cost 0.1-0.2 s per batch of small images (a 1,437-image digits
epoch took 4 s instead of 0.25 s).

Example:
    >>> folder = scan_image_folder("data/val")          # doctest: +SKIP
    >>> ds = eval_dataset(folder, transform, batch_size=64)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, TypeVar

import numpy as np

from vitzoo.errors import DataError, reason
from vitzoo.configs import IMG_EXTENSIONS
AUGMENTATIONS = ("auto", "light", "rrc", "none")
# Images whose shorter side is at most this are "small" (digits, CIFAR): "auto" picks "light".
SMALL_IMAGE_SIDE = 64

T = TypeVar("T")


@dataclass(frozen=True)
class ImageFolder:
    """The images of a class-per-folder directory: sorted class names and (path, class index) pairs."""

    root: Path
    classes: list[str]
    samples: list[tuple[Path, int]] = field(repr=False)

    def __len__(self) -> int:
        return len(self.samples)


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMG_EXTENSIONS and not path.name.startswith(".")


def scan_image_folder(root: "str | os.PathLike[str]") -> ImageFolder:
    """List the classes (sorted sub-folder names) and images of an ImageFolder directory.

    Raises :class:`DataError` naming the path for a missing directory, a directory
    without class folders, or a class folder without images.

    Example:
        >>> scan_image_folder("/no/such/dir")
        Traceback (most recent call last):
        ...
        vitzoo.errors.DataError: Data directory '/no/such/dir' does not exist; give a folder with one sub-folder of images per class.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"Data directory {str(root)!r} does not exist; give a folder with one sub-folder of images per class.")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"Data directory {str(root)!r} has no class folders; put each class's images in its own sub-folder.")
    samples: list[tuple[Path, int]] = []
    for index, name in enumerate(classes):
        files = sorted(p for p in (root / name).rglob("*") if is_image_file(p))
        if not files:
            raise DataError(
                f"Class folder {str(root / name)!r} holds no images ({', '.join(IMG_EXTENSIONS[:5])}, ...); add images or remove the folder."
            )
        samples.extend((p, index) for p in files)
    return ImageFolder(root=root, classes=classes, samples=samples)


def load_image(path: "str | os.PathLike[str]") -> Any:
    """Decode an image file to an RGB ``PIL.Image``; a bad file is a :class:`DataError` naming it.

    Images larger than Pillow's ``Image.MAX_IMAGE_PIXELS`` (about 89 Mpx; a
    decompression bomb, or a photo to shrink first) are refused from their header,
    before any pixel is decoded. 16-bit grey images are scaled to 8 bits (a plain
    ``convert("RGB")`` would clip them to white); floating-point ones are refused,
    as their range is unknown. CMYK, palette, alpha and 1-bit images convert as in
    torchvision (alpha is dropped).

    Example:
        >>> load_image("/no/such.png")
        Traceback (most recent call last):
        ...
        vitzoo.errors.DataError: Image '/no/such.png' is missing or not a regular file; give image files.
    """
    from PIL import Image

    if not os.path.isfile(path):  # a FIFO or a device would block the decoder forever
        raise DataError(f"Image {str(path)!r} is missing or not a regular file; give image files.")
    try:
        with Image.open(path) as img:
            limit = Image.MAX_IMAGE_PIXELS
            if limit and img.width * img.height > limit:
                raise DataError(
                    f"Image {str(path)!r} is {img.width}x{img.height} = {img.width * img.height} pixels, more than the "
                    f"{limit} allowed (a decompression bomb?); shrink it, or raise PIL.Image.MAX_IMAGE_PIXELS if you trust it."
                )
            img.load()
            return _to_rgb(img, path)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow's decoders raise OSError, SyntaxError, struct.error, DecompressionBombError...
        raise DataError(f"Cannot read image {str(path)!r} ({reason(exc)}); replace or remove the file.") from None


def _to_rgb(img: Any, path: "str | os.PathLike[str]") -> Any:
    from PIL import Image

    if img.mode.startswith("I"):  # 16-bit grey ("I;16*"), or 32-bit integers ("I") that usually hold 16-bit data
        values = np.asarray(img, dtype=np.float64)
        if img.mode.startswith("I;16") or values.max(initial=0) > 255:
            values = values / 257.0  # 65535 -> 255
        return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8)).convert("RGB")
    if img.mode == "F":
        raise DataError(f"Image {str(path)!r} holds floating-point pixels, whose range is unknown; save it as an 8-bit image.")
    return img.convert("RGB")


def native_image_side(folder: ImageFolder, probe: int = 16) -> int:
    """Median shorter side of a few of the folder's images (read from headers only)."""
    from PIL import Image

    step = max(1, len(folder.samples) // probe)
    sides = []
    for path, _ in folder.samples[::step][:probe]:
        try:
            with Image.open(path) as img:
                sides.append(min(img.size))
        except Exception:  # noqa: BLE001 - OSError, DecompressionBombError...: decoding reports bad files later, naming them
            continue
    return int(np.median(sides)) if sides else 0


def resolve_augment(augment: str, folder: ImageFolder) -> str:
    """The augmentation to use: ``"auto"`` picks light shift/crop for small images, else random-resized-crop + flip.

    Small centred images (digits, icons) lose their content under ImageNet-style
    random-resized-crop and are not mirror-symmetric, so they get a light pad + crop.
    """
    if augment not in AUGMENTATIONS:
        raise DataError(f"Unknown augmentation {augment!r}; use one of {', '.join(AUGMENTATIONS)}.")
    if augment != "auto":
        return augment
    return "light" if native_image_side(folder) <= SMALL_IMAGE_SIDE else "rrc"


class _Source:
    """Random-access source for ``GeneratorDataset``: decodes images, keeps the first failure.

    MindSpore wraps exceptions raised in a source into a generic ``RuntimeError``;
    keeping ours lets the consumer re-raise the clear :class:`DataError`. With
    ``skip_bad`` an unreadable image is listed in ``skipped`` and becomes a blank
    image labelled -1 (evaluation: not scored) or, with ``substitute``, the next
    readable image of the order (training: batches stay full, labels stay valid).
    """

    def __init__(
        self, samples: Sequence[tuple[Path, int]], order: Optional[np.ndarray], transform: Callable[[Any], np.ndarray],
        skip_bad: bool, substitute: bool = False, with_key: bool = False,
    ) -> None:
        self.samples = samples
        self.order = np.arange(len(samples)) if order is None else order
        self.transform = transform
        self.skip_bad = skip_bad
        self.substitute = substitute
        self.with_key = with_key  # also yield the row's place in the order (per-image random draws: RandAugment)
        self.failure: Optional[DataError] = None
        self.skipped: list[str] = []
        self._blank: Optional[np.ndarray] = None
        if skip_bad and not substitute:  # what a skipped image becomes: the transform's output shape, all zeros
            from PIL import Image

            self._blank = np.zeros_like(transform(Image.new("RGB", (64, 64))))

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        row = self._row(index)
        return (*row, np.int64(index)) if self.with_key else row

    def _row(self, index: int) -> tuple[np.ndarray, np.int32]:
        path, label = self.samples[int(self.order[int(index)])]
        try:
            image = self.transform(load_image(path))
        except DataError as exc:
            if not self.skip_bad:
                self.failure = self.failure or exc
                raise
            self.skipped.append(str(path))
            if self._blank is not None:
                return self._blank, np.int32(-1)  # label -1: counted as skipped, not scored
            for step in range(1, len(self.order)):  # substitute: the next image in the order that reads
                alt_path, alt_label = self.samples[int(self.order[(index + step) % len(self.order)])]
                try:
                    return self.transform(load_image(alt_path)), np.int32(alt_label)
                except DataError:
                    continue
            self.failure = self.failure or exc
            raise
        return image, np.int32(label)


class _Indices:
    """The rows of an evaluation ``GeneratorDataset``: positions 0..n-1, decoded by a threaded ``map``."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> tuple[np.ndarray]:
        return (np.array(index, dtype=np.int64),)


def _decoded(source: _Source, workers: int) -> Any:
    """``(image, label)`` rows of ``source`` in order: an index generator, then ``source`` in a threaded map."""
    import mindspore.dataset as ds

    dataset = ds.GeneratorDataset(_Indices(len(source)), ["index"], shuffle=False, num_parallel_workers=1, python_multiprocessing=False)
    return dataset.map(source.__getitem__, input_columns=["index"], output_columns=["image", "label"],
                       num_parallel_workers=max(1, workers), python_multiprocessing=False)


@dataclass
class Pipeline:
    """A batched ``mindspore.dataset`` pipeline plus its source (for error reporting and skips)."""

    dataset: Any
    source: _Source
    num_batches: int

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (images, labels) NumPy batches; a bad image raises the source's :class:`DataError`."""
        iterator = self.dataset.create_tuple_iterator(output_numpy=True, num_epochs=1)
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                return
            except RuntimeError:
                if self.source.failure is not None:
                    raise self.source.failure from None
                raise
            yield batch[0], batch[1]


def eval_dataset(
    folder: ImageFolder,
    transform: Callable[[Any], np.ndarray],
    batch_size: int,
    *,
    skip_bad: bool = False,
    workers: int = 2,
) -> Pipeline:
    """Batches of ``transform(image)`` (float32 CHW) and class indices, in folder order.

    With ``skip_bad`` an unreadable image is replaced by a blank one labelled -1
    and its path is listed in ``pipeline.source.skipped``.
    """
    _check_batch(batch_size)
    source = _Source(folder.samples, None, transform, skip_bad)
    dataset = _decoded(source, workers).batch(batch_size, drop_remainder=False)
    return Pipeline(dataset, source, dataset.get_dataset_size())


def train_dataset(
    folder: ImageFolder,
    *,
    img_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    augment: str,
    batch_size: int,
    seed: int,
    interpolation: str = "bicubic",
    num_shards: int = 1,
    shard_id: int = 0,
    workers: int = 2,
    skip_bad: bool = False,
    auto_augment: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None,
) -> Pipeline:
    """One epoch of shuffled, augmented training batches (``batch_size`` per shard, last partial batch dropped).

    With ``skip_bad`` an unreadable image is replaced by the next readable one and
    listed in ``pipeline.source.skipped``; without, it stops the epoch with a :class:`DataError`.

    The order is a permutation drawn from ``seed`` and the random augmentation is
    seeded from it too, so an epoch is reproducible (what ``--resume`` relies on).
    Shards interleave the permutation, so the union of the shards' k-th batches is
    the single-process k-th batch of ``batch_size * num_shards`` images.

    ``auto_augment(image, key)`` (RandAugment: :meth:`vitzoo.randaugment.RandAugment.on_array`) runs on the
    cropped uint8 HWC image before it is scaled and normalised, where timm's ``transforms_factory`` puts it;
    ``key`` is the image's place in the epoch's order, which fixes its random draws.
    """
    import mindspore.dataset as ds
    import mindspore.dataset.vision as vision

    _check_batch(batch_size)
    if len(folder) < batch_size * num_shards:
        raise DataError(
            f"Training folder {str(folder.root)!r} has {len(folder)} images, fewer than one batch of "
            f"{batch_size * num_shards}; lower --batch-size or add images."
        )
    order = np.random.default_rng(seed).permutation(len(folder))
    keyed = auto_augment is not None
    source = _Source(folder.samples, order, _to_array, skip_bad=skip_bad, substitute=True, with_key=keyed)
    ds.config.set_seed(seed % (2**32))  # seeds the random vision ops of this pipeline
    dataset = ds.GeneratorDataset(  # one worker: see the module docstring
        source, ["image", "label", "key"] if keyed else ["image", "label"], shuffle=False, num_parallel_workers=1, python_multiprocessing=False,
        num_shards=num_shards, shard_id=shard_id,
    )
    inter = _inter(interpolation)
    ops: list[Any]
    if augment == "rrc":
        ops = [vision.RandomResizedCrop(img_size, scale=(0.08, 1.0), interpolation=inter), vision.RandomHorizontalFlip()]
    elif augment == "light":
        ops = [vision.Resize(img_size, inter), vision.CenterCrop(img_size), vision.RandomCrop(img_size, padding=max(1, img_size // 16))]
    elif augment == "none":
        ops = [vision.Resize(img_size, inter), vision.CenterCrop(img_size)]
    else:
        raise DataError(f"Unknown augmentation {augment!r}; use one of {', '.join(AUGMENTATIONS[1:])} (or auto).")
    tail = [
        vision.Rescale(1.0 / 255.0, 0.0),
        vision.Normalize(mean=list(mean), std=list(std)),
        vision.HWC2CHW(),
    ]
    if keyed:  # crop, then RandAugment on the uint8 image (Pillow, per-image draws), then scale and normalise
        dataset = dataset.map(ops, input_columns="image", num_parallel_workers=workers)
        dataset = dataset.map(auto_augment, input_columns=["image", "key"], output_columns=["image"], num_parallel_workers=workers,
                              python_multiprocessing=False)
        dataset = dataset.project(["image", "label"]).map(tail, input_columns="image", num_parallel_workers=workers)
    else:
        dataset = dataset.map(ops + tail, input_columns="image", num_parallel_workers=workers)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return Pipeline(dataset, source, dataset.get_dataset_size())


def _to_array(image: Any) -> np.ndarray:
    return np.asarray(image, dtype=np.uint8)


def _inter(name: str) -> Any:
    from mindspore.dataset.vision import Inter

    table = {"bicubic": Inter.PILCUBIC, "bilinear": Inter.BILINEAR, "nearest": Inter.NEAREST, "area": Inter.AREA}
    return table.get(str(name).lower(), Inter.BILINEAR)


def _check_batch(batch_size: int) -> None:
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise DataError(f"Batch size must be a positive integer, got {batch_size!r}.")


def grouped(batches: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive groups of ``size`` batches (one optimizer update each); an incomplete last group is dropped.

    Example:
        >>> [g for g in grouped(range(7), 3)]
        [[0, 1, 2], [3, 4, 5]]
    """
    group: list[T] = []
    for batch in batches:
        group.append(batch)
        if len(group) == size:
            yield group
            group = []
