"""Fast tokenizers of every family for the tests, trained offline with the `tokenizers` library.

No RoBERTa, XLM-R, ALBERT or MPNet tokenizer files are at hand offline, so the parity checks of
the in-graph tokenizers use ones trained here, configured and loaded as those models' tokenizers
are. `python -m benchmarks.tokenizers.train_tokenizer` trains the same on a parquet of texts. Only
`tokenizers` and `transformers` are imported (lazily), so the benchmark CLI can use this module
without TensorFlow.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
TINY_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "a", "##a", "the", "movie", "was", "great", "hello", "world", "Hello", "World",
    "un", "##aff", "##able", "##s", "##ing", "cafe", "café", "naive", "angstrom", "don", "t",
    "it", "s", "br", "3", "1", "##4", "##0", ",", ".", "!", "?", "'", "<", ">", "/", "-", "$",
    "%", "中", "文", "字", "ok", "x", "##x", "straße", "strasse", "ΟΔΟΣ", "οδοσ",
]  # fmt: skip


def tiny_vocab_file(folder: Path, vocab: list[str] = TINY_VOCAB) -> str:
    """A WordPiece vocabulary file of `vocab` in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return str(path)


def tiny_bert_wordpiece(folder: Path, lowercase: bool = True) -> Any:
    """BERT's WordPiece ([CLS] A [SEP]) over the tiny vocabulary."""
    import transformers

    return transformers.BertTokenizerFast(vocab_file=tiny_vocab_file(folder),
                                          do_lower_case=lowercase)


def tiny_mpnet_wordpiece(folder: Path) -> Any:
    """MPNet's WordPiece over the tiny vocabulary: <s> A </s>, and a <mask> that eats the space
    before it."""
    import transformers

    vocab = ["<s>", "<pad>", "</s>", "<unk>", "[UNK]", *TINY_VOCAB[5:], "<mask>"]
    return transformers.MPNetTokenizerFast(vocab_file=tiny_vocab_file(folder, vocab))


def train_byte_level_bpe(folder: Path, texts: Iterable[str], vocab_size: int,
                         add_prefix_space: bool = False) -> Any:
    """A byte-level BPE trained on `texts`, saved in `folder` and loaded as RoBERTa loads its own."""
    import transformers
    from tokenizers import ByteLevelBPETokenizer

    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                special_tokens=ROBERTA_SPECIALS)
    folder.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(folder))
    tokenizer = transformers.RobertaTokenizerFast(
        vocab_file=str(folder / "vocab.json"), merges_file=str(folder / "merges.txt"),
        add_prefix_space=add_prefix_space)
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def train_unigram(folder: Path, texts: Iterable[str], vocab_size: int, style: str = "albert") -> Any:
    """A Unigram trained on `texts`, with the normalizer, Metaspace and specials of `style`.

    "albert": ALBERT's pipeline without its SentencePiece character map (quotes, NFKD, accents
    stripped, lower case, repeated spaces collapsed; [CLS] A [SEP]); "xlmr": XLM-R's without it
    (repeated spaces collapsed; <s> A </s>). Neither map can be made without SentencePiece.
    """
    import transformers
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    collapse = normalizers.Replace(Regex(" {2,}"), " ")
    if style == "albert":
        specials = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
        steps = [normalizers.Replace("``", '"'), normalizers.Replace("''", '"'), normalizers.NFKD(),
                 normalizers.StripAccents(), normalizers.Lowercase(), collapse]
    else:
        specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        steps = [collapse]
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials,
                                      unk_token="<unk>", show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    cls, sep, mask = specials[2:] if style == "albert" else ("<s>", "</s>", "<mask>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{cls}:0 $A:0 {sep}:0", pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
        special_tokens=[(cls, tokenizer.token_to_id(cls)), (sep, tokenizer.token_to_id(sep))])
    kind = (transformers.AlbertTokenizerFast if style == "albert" else
            transformers.XLMRobertaTokenizerFast)
    wrapped = kind(
        tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<pad>", cls_token=cls,
        sep_token=sep, bos_token=cls, eos_token=sep,
        mask_token=AddedToken(mask, lstrip=True, rstrip=False, normalized=False))
    folder.mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(str(folder))
    return wrapped


SENTENCEPIECE_STYLES = ("xlmr", "albert", "albert-published", "deberta")


def train_sentencepiece(folder: Path, texts: Iterable[str], vocab_size: int,
                        style: str = "xlmr") -> Any:
    """A SentencePiece Unigram model trained on `texts` with its default rule (nmt_nfkc, the
    precompiled character map the published checkpoints carry), converted by transformers as
    XLM-R, ALBERT or DeBERTa-v2/v3 tokenizers are.

    "albert-published": ALBERT as albert-base-v2's tokenizer.json was written (an older
    converter): WhitespaceSplit before Metaspace, the legacy `add_prefix_space` form.
    """
    import json

    import transformers
    from tokenizers import Tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        model = sentencepiece_model(Path(scratch), texts, vocab_size)
        tokenizer = _sentencepiece_kind(style)(vocab_file=str(model))
    if style == "albert-published":
        config = json.loads(tokenizer.backend_tokenizer.to_str())
        config["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True}]}
        tokenizer = type(tokenizer)(tokenizer_object=Tokenizer.from_str(json.dumps(config)),
                         **{k: getattr(tokenizer, k) for k in ("unk_token", "pad_token", "cls_token",
                                                               "sep_token", "mask_token")})
    tokenizer.save_pretrained(str(folder))
    return transformers.AutoTokenizer.from_pretrained(str(folder))


def sentencepiece_model(folder: Path, texts: Iterable[str], vocab_size: int) -> Path:
    """SentencePiece's own Unigram trained on `texts` with its default rule (nmt_nfkc): the
    `spm.model` file in `folder`."""
    import sentencepiece

    corpus_file = folder / "corpus.txt"
    corpus_file.write_text("\n".join(t.replace("\n", " ") for t in texts), encoding="utf-8")
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus_file), model_prefix=str(folder / "spm"), vocab_size=vocab_size,
        model_type="unigram", hard_vocab_limit=False, minloglevel=2, num_threads=1)
    return folder / "spm.model"


def _sentencepiece_kind(style: str) -> Any:
    import transformers

    return {"xlmr": transformers.XLMRobertaTokenizerFast,
            "deberta": transformers.DebertaV2TokenizerFast}.get(style, transformers.AlbertTokenizerFast)


def train_mpnet_wordpiece(folder: Path, texts: Iterable[str], vocab_size: int) -> Any:
    """A WordPiece trained on `texts`, loaded as MPNet loads its own (<s> A </s>, <mask> lstrip)."""
    import transformers
    from tokenizers import BertWordPieceTokenizer

    trainer = BertWordPieceTokenizer(lowercase=True)
    trainer.train_from_iterator(texts, vocab_size=vocab_size, show_progress=False,
                                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "[UNK]", "<mask>"])
    folder.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(folder))
    tokenizer = transformers.MPNetTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def save_tiny_classifier(folder: Path, tokenizer: Any, model_type: str, **config: Any) -> Path:
    """A 2-layer, hidden-16 random classifier of `model_type` saved with `tokenizer`."""
    import transformers

    settings = dict(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2,
                    num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
                    pad_token_id=tokenizer.pad_token_id, num_labels=2)
    model_config = transformers.AutoConfig.for_model(model_type, **{**settings, **config})
    model = transformers.TFAutoModelForSequenceClassification.from_config(model_config)
    model(model.dummy_inputs)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder
