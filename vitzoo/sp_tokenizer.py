"""SigLIP's tokenizer from the files saved with the model (``spiece.model``), with transformers' ``SiglipTokenizer`` ids.

What ``SiglipTokenizer(texts, padding="max_length", max_length=L, truncation=True)`` does, step
by step: the text is split at its special tokens (``</s>``, ``<unk>``, ``<pad>``, kept whole);
each other piece is prefixed with ``▁``, lower-cased (``do_lower_case``), stripped of ASCII
punctuation, its whitespace runs collapsed, and encoded by SentencePiece behind an
``<unk>`` prefix whose pieces are then dropped (transformers' way around SentencePiece's
dummy prefix). The ids are cut to ``L - 1``, ``</s>`` appended (unless already last), and
the row padded with the pad token (``</s>``) to ``L``.

The files are read on the first call: a model folder saved without its processor
still runs ``encode_text`` on ids from elsewhere.

Example:
    >>> tok = FolderTokenizer("siglip-base-patch16-224/", 64)  # doctest: +SKIP
    >>> tok(["a photo of a dog"]).shape  # doctest: +SKIP
    (1, 64)
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from vitzoo.errors import DataError
from vitzoo.tokenizer import check_texts

_UNDERLINE = "\u2581"
_PUNCTUATION = str.maketrans("", "", string.punctuation)


class FolderTokenizer:
    """Texts → int64 ids ``[N, context_length]`` from a transformers SigLIP folder's ``spiece.model``."""

    def __init__(self, folder: "str | Path", context_length: int) -> None:
        self.folder = Path(folder)
        self.context_length = context_length
        self._sp: Any = None

    def _load(self) -> None:
        try:
            import sentencepiece
        except ImportError:
            raise DataError("SigLIP's tokenizer needs the sentencepiece package: pip install sentencepiece.") from None
        model = self.folder / "spiece.model"
        if not model.is_file():
            raise DataError(
                f"{str(self.folder)!r} holds no spiece.model, SigLIP's tokenizer file; save it beside the weights "
                "(SiglipProcessor.save_pretrained(folder)) or pass token ids to encode_text."
            )
        cfg = _tokenizer_config(self.folder / "tokenizer_config.json")
        if cfg.get("tokenizer_class") not in (None, "SiglipTokenizer"):
            raise DataError(f"{str(self.folder)!r} has a {cfg['tokenizer_class']} tokenizer; vitzoo runs SigLIP's SiglipTokenizer files.")
        sp = sentencepiece.SentencePieceProcessor()
        try:
            sp.Load(str(model))
        except (OSError, RuntimeError) as exc:
            raise DataError(f"{str(model)!r} is not a SentencePiece model ({str(exc).splitlines()[0] if str(exc) else 'unreadable'}).") from None
        self.lower = bool(cfg.get("do_lower_case", True))
        self.eos, self.unk, self.pad = (_token(cfg, k, d) for k, d in (("eos_token", "</s>"), ("unk_token", "<unk>"), ("pad_token", "</s>")))
        self.special = {t: sp.piece_to_id(t) for t in (self.eos, self.unk, self.pad)}
        self.eos_id, self.pad_id = self.special[self.eos], self.special[self.pad]
        self._split = re.compile("(" + "|".join(re.escape(t) for t in sorted(self.special, key=len, reverse=True)) + ")")
        self._unk_pieces = len(sp.encode(self.unk, out_type=str))
        self._sp = sp

    def encode(self, text: str) -> list[int]:
        """The ids of one text, without the end token."""
        if self._sp is None:
            self._load()
        tokens: list[str] = []
        for i, part in enumerate(self._split.split(_UNDERLINE + text.replace(_UNDERLINE, " "))):
            if i % 2:  # a special token, kept whole
                tokens.append(part)
            elif part:
                tokens.extend(self._pieces(part))
        if len(tokens) > 1 and tokens[0] == _UNDERLINE and tokens[1] in self.special:
            tokens = tokens[1:]
        return [self.special[t] if t in self.special else self._sp.piece_to_id(t) for t in tokens]

    def _pieces(self, text: str) -> list[str]:
        if self.lower:
            text = text.lower()
        text = re.sub(r"\s+", " ", text.translate(_PUNCTUATION)).strip()
        pieces = self._sp.encode(self.unk + text, out_type=str)
        return pieces[self._unk_pieces :] if len(pieces) >= self._unk_pieces else pieces

    def __call__(self, texts: Union[str, Sequence[str]]) -> np.ndarray:
        texts = check_texts(texts)
        if self._sp is None:
            self._load()
        out = np.full((len(texts), self.context_length), self.pad_id, np.int64)
        for row, text in enumerate(texts):
            ids = self.encode(text)[: self.context_length - 1]
            if not ids or ids[-1] != self.eos_id:
                ids.append(self.eos_id)
            out[row, : len(ids)] = ids
        return out


def _token(cfg: dict, key: str, default: str) -> str:
    value: Optional[Any] = cfg.get(key, default)
    if isinstance(value, dict):  # an AddedToken written out
        value = value.get("content", default)
    return value if isinstance(value, str) else default


def _tokenizer_config(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        raise DataError(f"{str(path)!r} is not valid JSON; save the tokenizer again.") from None
    return cfg if isinstance(cfg, dict) else {}
