"""OpenAI CLIP's byte-pair tokenizer, as open_clip runs it (``open_clip.tokenize``): the same ids, no torch.

The vocabulary is OpenAI's ``bpe_simple_vocab_16e6.txt.gz`` (MIT licence, Copyright (c)
2021 OpenAI), bundled in ``vitzoo.data``. Text is cleaned as open_clip's default ``"lower"``
mode does: ``ftfy.fix_text``, HTML entities unescaped twice, runs of whitespace collapsed,
lower-cased; then split with OpenAI's pattern (the ``regex`` package's ``\\p{L}``/``\\p{N}``
classes), byte-encoded and merged. Each row is ``<start_of_text> ... <end_of_text>``
zero-padded to the context length; a longer text is cut and its last id replaced by
``<end_of_text>``, as open_clip does.

Example:
    >>> tok = SimpleTokenizer()
    >>> ids = tok(["a photo of a dog."])
    >>> ids.shape, ids[0, :7].tolist()
    ((1, 77), [49406, 320, 1125, 539, 320, 1929, 269])
"""

from __future__ import annotations

import functools
import gzip
import html
from importlib import resources
from typing import Sequence, Union

import numpy as np

from vitzoo.errors import DataError

_VOCAB = "bpe_simple_vocab_16e6.txt.gz"
_MERGES = 49152 - 256 - 2  # OpenAI's vocabulary: 256 bytes, their word-final forms, these merges, two special tokens


@functools.lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """OpenAI's reversible map from bytes to printable characters (no whitespace/control characters in the BPE)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def clean(text: str) -> str:
    """open_clip's ``"lower"`` cleaning: ftfy, HTML unescaped twice, whitespace collapsed, lower case."""
    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return " ".join(text.split()).strip().lower()


class SimpleTokenizer:
    """Texts → int64 ids ``[N, context_length]``, identical to open_clip's ``SimpleTokenizer`` (default ``"lower"`` cleaning).

    Args:
        context_length: the row length (77 for every OpenAI and LAION CLIP).
    """

    def __init__(self, context_length: int = 77) -> None:
        import regex

        if not isinstance(context_length, int) or context_length < 2:
            raise DataError(f"A CLIP context length must be an integer of at least 2, got {context_length!r}.")
        self.context_length = context_length
        with resources.files("vitzoo.data").joinpath(_VOCAB).open("rb") as raw:
            lines = gzip.decompress(raw.read()).decode("utf-8").split("\n")
        merges = [tuple(line.split()) for line in lines[1 : _MERGES + 1]]
        vocab = list(bytes_to_unicode().values())
        vocab += [v + "</w>" for v in vocab] + ["".join(m) for m in merges] + ["<start_of_text>", "<end_of_text>"]
        self.encoder = {token: i for i, token in enumerate(vocab)}
        self.decoder = {i: token for token, i in self.encoder.items()}
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.sot_token_id, self.eot_token_id = self.encoder["<start_of_text>"], self.encoder["<end_of_text>"]
        self.vocab_size = len(vocab)
        self._cache = {"<start_of_text>": "<start_of_text>", "<end_of_text>": "<end_of_text>"}
        self._pattern = regex.compile(
            r"""<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", regex.IGNORECASE
        )
        self._bytes = bytes_to_unicode()

    def bpe(self, token: str) -> str:
        """The merges of one pre-token, space-separated (cached)."""
        if token in self._cache:
            return self._cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            best = min(pairs, key=lambda pair: self.ranks.get(pair, float("inf")))
            if best not in self.ranks:
                break
            merged: list[str] = []
            i = 0
            while i < len(word):  # merge every occurrence of the best pair, left to right
                if i < len(word) - 1 and word[i] == best[0] and word[i + 1] == best[1]:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        out = " ".join(word)
        self._cache[token] = out
        return out

    def encode(self, text: str) -> list[int]:
        """The ids of one text, without start/end tokens."""
        ids: list[int] = []
        for token in self._pattern.findall(clean(text)):
            token = "".join(self._bytes[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[piece] for piece in self.bpe(token).split(" "))
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Text back from ids (start/end tokens kept as words)."""
        inverse = {v: k for k, v in self._bytes.items()}
        text = "".join(self.decoder[int(i)] for i in ids)
        return bytearray(inverse[c] for c in text).decode("utf-8", errors="replace").replace("</w>", " ")

    def __call__(self, texts: Union[str, Sequence[str]]) -> np.ndarray:
        """Ids ``[N, context_length]`` (int64) of ``texts``."""
        texts = check_texts(texts)
        out = np.zeros((len(texts), self.context_length), np.int64)
        for row, text in enumerate(texts):
            ids = [self.sot_token_id, *self.encode(text), self.eot_token_id][: self.context_length]
            ids[-1] = self.eot_token_id  # open_clip keeps the end token when it cuts
            out[row, : len(ids)] = ids
        return out


def check_texts(texts: Union[str, Sequence[str]]) -> list[str]:
    """``texts`` as a list of str (a lone str is one text); anything else is a :class:`DataError`."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (bytes, bytearray)) or not hasattr(texts, "__iter__"):
        raise DataError(f"Texts must be a string or a list of strings, got {type(texts).__name__}.")
    texts = list(texts)
    bad = next((t for t in texts if not isinstance(t, str)), None)
    if bad is not None:
        raise DataError(f"Texts must be strings, got a {type(bad).__name__} ({bad!r:.40}).")
    if not texts:
        raise DataError("No texts to tokenize: give at least one string.")
    return texts
