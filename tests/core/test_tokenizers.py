"""Tokenizers give the reference ids: open_clip's SimpleTokenizer and transformers' SiglipTokenizer, on a mixed corpus."""

from __future__ import annotations

import numpy as np
import pytest

from text_models import CORPUS, siglip_tokenizer_files
from vitzoo.errors import DataError
from vitzoo.sp_tokenizer import FolderTokenizer
from vitzoo.tokenizer import SimpleTokenizer


@pytest.mark.parametrize("context_length", [77, 16])
def test_clip_tokenizer_matches_open_clip(context_length):
    open_clip = pytest.importorskip("open_clip")
    ref = open_clip.tokenize(CORPUS, context_length=context_length).numpy()
    ours = SimpleTokenizer(context_length)(CORPUS)
    assert ours.dtype == np.int64 and ours.shape == ref.shape
    for text, a, b in zip(CORPUS, ours, ref):
        assert a.tolist() == b.tolist(), text
    assert (ours[:, -1][[len(t) > 150 for t in CORPUS]] == 49407).all()  # cut texts keep their end token


def test_clip_tokenizer_round_trips_and_refuses_non_text():
    tok = SimpleTokenizer()
    assert tok.decode(tok.encode("a photo of a dog")).strip() == "a photo of a dog"
    for bad in (None, 3, [b"bytes"], ["ok", 1], []):
        with pytest.raises(DataError):
            tok(bad)
    with pytest.raises(DataError, match="context length"):
        SimpleTokenizer(1)


@pytest.fixture(scope="module")
def siglip_folder(tmp_path_factory):
    pytest.importorskip("sentencepiece")
    pytest.importorskip("transformers")
    return siglip_tokenizer_files(tmp_path_factory.mktemp("siglip_tok"))


@pytest.mark.parametrize("context_length", [64, 12])
def test_siglip_tokenizer_matches_transformers(siglip_folder, context_length):
    import transformers

    ref = transformers.SiglipTokenizer.from_pretrained(siglip_folder)(CORPUS, padding="max_length", max_length=context_length, truncation=True)
    ours = FolderTokenizer(siglip_folder, context_length)(CORPUS)
    for text, a, b in zip(CORPUS, ours.tolist(), ref["input_ids"]):
        assert a == b, text


def test_siglip_tokenizer_files_missing_or_foreign_are_one_sentence(siglip_folder, tmp_path):
    with pytest.raises(DataError, match="holds no spiece.model") as info:
        FolderTokenizer(tmp_path, 64)(["a dog"])
    assert "\n" not in str(info.value)
    (tmp_path / "spiece.model").write_bytes(b"not a sentencepiece model")
    with pytest.raises(DataError, match="is not a SentencePiece model"):
        FolderTokenizer(tmp_path, 64)(["a dog"])
    (tmp_path / "spiece.model").write_bytes((siglip_folder / "spiece.model").read_bytes())
    (tmp_path / "tokenizer_config.json").write_text('{"tokenizer_class": "GemmaTokenizer"}')
    with pytest.raises(DataError, match="GemmaTokenizer"):
        FolderTokenizer(tmp_path, 64)(["a dog"])
