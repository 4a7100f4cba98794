"""A Hugging Face ``tokenizer.json`` (SigLIP 2's Gemma tokenizer) run through the ``tokenizers`` library, with transformers' ids.

What ``AutoTokenizer.from_pretrained(folder)(texts, padding="max_length", max_length=L,
truncation=True)`` computes for a ``GemmaTokenizer`` folder: the file's normalizer,
pre-tokenizer and BPE model as saved; the special tokens the file's post-processor adds
(SigLIP 2's: ``<eos>`` after the text, no ``<bos>``; transformers 5 follows the file here even
where ``tokenizer_config.json`` states other ``add_bos_token`` / ``add_eos_token`` flags, and
transformers 4 wrote the file from those flags); rows cut to ``L`` keeping the special tokens,
then padded on the right with ``tokenizer_config.json``'s ``pad_token``.

open_clip's ``HFTokenizer`` cleans each text first; its SigLIP 2 configs ask for
``clean="canonicalize"`` (ftfy, HTML unescaped twice, ``_`` → space, ASCII punctuation
removed, lower case, whitespace collapsed): ``clean="canonicalize"`` here does the same, so an
open_clip checkpoint tokenizes as open_clip does and a transformers folder as transformers does.

Example:
    >>> tok = JsonTokenizer("siglip2-base-patch16-224/", 64)  # doctest: +SKIP
    >>> tok(["a photo of a dog"]).shape  # doctest: +SKIP
    (1, 64)
"""

from __future__ import annotations

import html
import string
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from vitzoo.errors import DataError
from vitzoo.sp_tokenizer import _token, _tokenizer_config
from vitzoo.tokenizer import check_texts

_PUNCTUATION = str.maketrans("", "", string.punctuation)
# the tokenizer classes whose files are a complete tokenizer.json (no Python-side text rules to add)
KNOWN_CLASSES = (None, "GemmaTokenizer", "GemmaTokenizerFast", "PreTrainedTokenizerFast", "TokenizersBackend",
                 "XLMRobertaTokenizer", "XLMRobertaTokenizerFast", "T5Tokenizer", "T5TokenizerFast")  # MetaCLIP 2's (XLM-R / mT5)


def _basic(text: str) -> str:
    import ftfy

    return html.unescape(html.unescape(ftfy.fix_text(text))).strip()


def canonicalize(text: str) -> str:
    """open_clip's ``"canonicalize"`` cleaning (big_vision's for SigLIP): ftfy, unescape, no punctuation, lower case."""
    text = _basic(text).replace("_", " ").translate(_PUNCTUATION).lower()
    return " ".join(text.split()).strip()


def whitespace(text: str) -> str:
    """open_clip's ``"whitespace"`` cleaning (HFTokenizer's default): ftfy, unescape, whitespace runs collapsed."""
    return " ".join(_basic(text).split()).strip()


CLEANING = {None: None, "canonicalize": canonicalize, "whitespace": whitespace, "lower": lambda t: whitespace(t).lower()}


def is_json_tokenizer_folder(folder: "str | Path") -> bool:
    """Whether a transformers folder's tokenizer is a ``tokenizer.json`` one (SigLIP 2's Gemma), not SigLIP's ``spiece.model``."""
    folder = Path(folder)
    cls = _tokenizer_config(folder / "tokenizer_config.json").get("tokenizer_class")
    if isinstance(cls, str) and cls.startswith("Gemma"):
        return True
    return (folder / "tokenizer.json").is_file() and not (folder / "spiece.model").is_file()


class JsonTokenizer:
    """Texts → int64 ids ``[N, context_length]`` from a folder's ``tokenizer.json`` (read on the first call).

    Args:
        folder: the folder holding ``tokenizer.json`` (and usually ``tokenizer_config.json``).
        context_length: the row length (64 for SigLIP 2).
        clean: ``None`` (transformers: the text as given), or open_clip's ``HFTokenizer`` cleaning:
            ``"canonicalize"`` (its SigLIP 2 setting), ``"whitespace"`` (its default) or ``"lower"``.
    """

    def __init__(self, folder: "str | Path", context_length: int, clean: Optional[str] = None) -> None:
        if clean not in CLEANING:
            raise DataError(f"Unknown tokenizer cleaning {clean!r}; vitzoo runs None, 'whitespace', 'lower' or 'canonicalize'.")
        self.folder = Path(folder)
        self.context_length = context_length
        self.clean = clean
        self._tok: Any = None

    def _load(self) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise DataError("SigLIP 2's tokenizer needs the tokenizers package: pip install tokenizers.") from None
        path = self.folder / "tokenizer.json"
        if not path.is_file():
            raise DataError(
                f"{str(self.folder)!r} holds no tokenizer.json, the model's Gemma tokenizer; save it beside the weights "
                "(processor.save_pretrained(folder)) or pass token ids to encode_text."
            )
        cfg = _tokenizer_config(self.folder / "tokenizer_config.json")
        if cfg.get("tokenizer_class") not in KNOWN_CLASSES:
            raise DataError(f"{str(self.folder)!r} has a {cfg['tokenizer_class']} tokenizer; vitzoo runs Gemma's tokenizer.json files here.")
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # the Rust library raises its own Exception type for a bad file
            raise DataError(f"{str(path)!r} is not a tokenizers file ({str(exc).splitlines()[0] if str(exc) else 'unreadable'}).") from None
        pad = _token(cfg, "pad_token", "<pad>")
        tok.no_padding()
        tok.enable_truncation(self.context_length)
        tok.enable_padding(direction="right", pad_id=self._id(tok, pad), pad_token=pad, length=self.context_length)
        self._tok = tok

    def _id(self, tok: Any, token: str) -> int:
        found = tok.token_to_id(token)
        if found is None:
            raise DataError(f"{str(self.folder / 'tokenizer.json')!r} has no token {token!r}, which tokenizer_config.json names; the files do not belong together.")
        return found

    def __call__(self, texts: Union[str, Sequence[str]]) -> np.ndarray:
        texts = check_texts(texts)
        if self._tok is None:
            self._load()
        if self.clean is not None:
            texts = [CLEANING[self.clean](t) for t in texts]
        return np.asarray([e.ids for e in self._tok.encode_batch(texts)], np.int64).reshape(len(texts), self.context_length)
