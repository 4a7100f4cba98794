"""Tiny tokenizer files for tests: a SentencePiece model trained here, saved as transformers' SiglipTokenizer saves it."""

from __future__ import annotations

from pathlib import Path

# Mixed scripts, accents, emoji, punctuation: the test corpora tokenize well beyond these words.
_CORPUS = [
    "a photo of a dog", "a photo of a cat", "the quick brown fox jumps over the lazy dog", "café naïve résumé",
    "日本語 中文 테스트", "emoji 🐶🐱", "hello world", "pictures of birds flying in the sky", "a drawing of the big red house",
]  # fmt: skip

# Texts every tokenizer test runs: ASCII, punctuation, accents, CJK, emoji, whitespace, empty, over-long, special tokens.
CORPUS = [
    "a photo of a dog.", "A Photo Of A DOG!", "", "   ", "Café naïve résumé", "日本語のテキスト 中文 테스트", "emoji 🐶🐱👍🏽 done",
    "It's 3.14 & <b>bold</b> &amp;amp; don't", "tab\tand\nnew line", "mojibake: Ã©", "'s 're 've", "“curly” ‘quotes’ — dash",
    "a_b-c.d/e", "x " * 200, "y" * 300, "ends with </s>", "mid </s> dle <unk> x", "▁under score", "١٢٣ arabic digits",
]  # fmt: skip


def siglip_tokenizer_files(folder: Path) -> Path:
    """Train a ~100-piece SentencePiece model and save it with ``SiglipTokenizer.save_pretrained(folder)``."""
    import sentencepiece as spm
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_CORPUS * 50), model_prefix=str(folder / "sp"), vocab_size=200, hard_vocab_limit=False,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, character_coverage=1.0, minloglevel=2,
    )
    transformers.SiglipTokenizer(vocab_file=str(folder / "sp.model")).save_pretrained(folder)
    for name in ("sp.model", "sp.vocab"):
        (folder / name).unlink()
    return folder


def gemma_tokenizer_files(folder: Path) -> Path:
    """Learn a ~300-token byte-fallback BPE on the corpus and save it as transformers' GemmaTokenizer, as SigLIP 2 ships it.

    SigLIP 2's processor appends ``<eos>`` and adds no ``<bos>`` (``add_bos_token=False``,
    ``add_eos_token=True``), pads on the right with ``<pad>`` (id 0).
    """
    import transformers
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    folder.mkdir(parents=True, exist_ok=True)
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"] + [f"<0x{b:02X}>" for b in range(256)]
    learner = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    learner.normalizer = normalizers.Replace(" ", "\u2581")
    learner.pre_tokenizer = pre_tokenizers.Split(" ", behavior="merged_with_previous")
    learner.train_from_iterator(_CORPUS * 20, trainers.BpeTrainer(vocab_size=len(specials) + 120, special_tokens=specials, show_progress=False))
    vocab = learner.get_vocab()
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in _merges(learner)]
    tok = transformers.GemmaTokenizerFast(vocab=vocab, merges=merges, add_bos_token=False, add_eos_token=True, padding_side="right")
    tok.save_pretrained(folder)
    return folder


def _merges(tokenizer) -> list:
    import json

    return json.loads(tokenizer.to_str())["model"]["merges"]


def xlmr_tokenizer_files(folder: Path) -> Path:
    """Learn a ~150-piece Unigram model on the corpus and save it as transformers' XLMRobertaTokenizer (MetaCLIP 2's kind)."""
    import json

    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    folder.mkdir(parents=True, exist_ok=True)
    learner = Tokenizer(models.Unigram())
    learner.pre_tokenizer = pre_tokenizers.Metaspace()
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    learner.train_from_iterator(_CORPUS * 20, trainers.UnigramTrainer(vocab_size=150, special_tokens=specials, unk_token="<unk>", show_progress=False))
    vocab = [tuple(v) for v in json.loads(learner.to_str())["model"]["vocab"]]
    transformers.XLMRobertaTokenizerFast(vocab=vocab).save_pretrained(folder)
    return folder
