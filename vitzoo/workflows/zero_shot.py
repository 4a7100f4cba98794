"""Zero-shot workflows on files: classify images by label prompts, embed texts (what ``vitzoo zero-shot`` and ``vitzoo embed --text`` run).

Example:
    >>> clip = vitzoo.create_clip(None, pretrained="clip-vit-base-patch16/")  # doctest: +SKIP
    >>> classify(["cat.jpg"], clip, ["cat", "dog"], top_k=1)[0]["top"]  # doctest: +SKIP
    [{'label': 'cat', 'prob': 0.97}]
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Union

import numpy as np

from vitzoo.errors import DataError
from vitzoo.zero_shot import Template, normalize, probabilities, to_numpy, zero_shot_classifier, zero_shot_logits

PathLike = Union[str, "os.PathLike[str]"]


def clip_transform(clip: Any) -> Any:
    """The eval transform of the weights a CLIP model was read from (open_clip's, CLIPImageProcessor's or SigLIP's)."""
    from vitzoo.transforms import transforms_for
    from vitzoo.weights.clip_model import open_clip_preprocessing

    cfg = (getattr(clip, "pretrained_cfg", None) or {}).get("pretrained_cfg") or open_clip_preprocessing(clip.spec.vision.img_size)
    return transforms_for(cfg)


def load_images(files: Sequence[str], transform: Any) -> np.ndarray:
    """Preprocessed images ``[N, 3, S, S]``; an unreadable one is a :class:`DataError` naming it."""
    from PIL import Image, UnidentifiedImageError

    arrays = []
    for path in files:
        try:
            with Image.open(path) as image:
                arrays.append(transform(image))
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise DataError(f"Cannot read image {path!r} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}).") from None
    return np.stack(arrays)


def classify(
    images: Sequence[PathLike],
    clip: Any,
    labels: Sequence[str],
    templates: Union[str, Sequence[Template]] = ("a photo of a {}.",),
    *,
    top_k: int = 5,
    batch_size: int = 16,
) -> list[dict[str, Any]]:
    """Each image's ``top_k`` labels with probabilities (softmax over labels for CLIP, a sigmoid per label for SigLIP)."""
    from vitzoo.workflows.tasks import expand_images

    if not isinstance(top_k, int) or top_k < 1:
        raise DataError(f"--top must be a positive integer, got {top_k!r}.")
    labels = [str(label).strip() for label in labels]
    if not labels or any(not label for label in labels):
        raise DataError("Give at least one label, none of them empty.")
    files = expand_images(list(images))
    weights = zero_shot_classifier(clip, labels, templates)
    transform = clip_transform(clip)
    results = []
    for start in range(0, len(files), batch_size):
        batch = files[start : start + batch_size]
        probs = probabilities(clip, zero_shot_logits(clip, load_images(batch, transform), weights))
        for path, row in zip(batch, probs):
            order = np.argsort(-row, kind="stable")[:top_k]
            results.append({"image": path, "top": [{"label": labels[i], "prob": float(row[i])} for i in order]})
    return results


def read_labels(text: Optional[str] = None, file: Optional[PathLike] = None) -> list[str]:
    """Labels from ``"a,b,c"`` or a file of one label per line (blank lines and ``#`` comments skipped)."""
    if file is not None:
        try:
            lines = open(os.fspath(file), encoding="utf-8").read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"Cannot read labels file {os.fspath(file)!r} ({exc.strerror if isinstance(exc, OSError) else 'not UTF-8 text'}).") from None
        labels = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    else:
        labels = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not labels:
        raise DataError("No labels given: --labels 'cat,dog', --labels-file FILE (one per line) or --imagenet.")
    return labels


def embed_texts(texts_file: PathLike, clip: Any, *, output: PathLike, normalize_rows: bool = False, batch_size: int = 64) -> dict[str, Any]:
    """Text embeddings of each line of ``texts_file`` (blank lines skipped), written to a safetensors file with the texts in its metadata."""
    import json

    from vitzoo.fileio import ensure_folder
    from vitzoo.workflows.embedding import FORMAT, write_embeddings

    if not os.fspath(output).endswith(".safetensors"):
        raise DataError(f"Embeddings are written as safetensors; name the output {os.fspath(output)!r} *.safetensors.")
    ensure_folder(output)
    try:
        texts = [line.strip() for line in open(os.fspath(texts_file), encoding="utf-8").read().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"Cannot read texts file {os.fspath(texts_file)!r} ({exc.strerror if isinstance(exc, OSError) else 'not UTF-8 text'}).") from None
    if not texts:
        raise DataError(f"Texts file {os.fspath(texts_file)!r} holds no text (one text per line).")
    rows = [to_numpy(clip.encode_text(clip.tokenize(texts[i : i + batch_size]))) for i in range(0, len(texts), batch_size)]
    emb = np.concatenate(rows).astype(np.float32)
    if normalize_rows:
        emb = normalize(emb)
    meta = {
        "format": FORMAT, "files": json.dumps([]), "texts": json.dumps(texts, ensure_ascii=False), "root": "",
        "model": str((clip.pretrained_cfg or {}).get("source", (clip.pretrained_cfg or {}).get("name", "a model object"))),
        "embedding": "text embedding (encode_text)", "normalize": json.dumps(bool(normalize_rows)), "layers": "[]",
        "clip_spec": json.dumps(clip.spec.to_dict()),
    }  # fmt: skip
    write_embeddings(output, emb, {}, meta)
    return {"embeddings": emb, "texts": texts, "output": os.fspath(output)}
