"""`python -m benchmarks.train_tokenizer`: a real tokenizer of another family, trained offline.

No RoBERTa, XLM-R or ALBERT tokenizer files are at hand offline, so the parity checks of the
in-graph tokenizers use ones trained here with the `tokenizers` library, configured and loaded as
those models' tokenizers are.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

USAGE = """example:
    python -m benchmarks.train_tokenizer --family byte-level-bpe \\
        --data ../shared/data/imdb/train.parquet --vocab-size 8000 --output /tmp/bpe-imdb
    python -m benchmarks.tokenizer_parity --model /tmp/bpe-imdb \\
        --data ../shared/data/imdb/test.parquet --max-length 512"""
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


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


FAMILIES = {
    "byte-level-bpe": train_byte_level_bpe,
    "mpnet-wordpiece": train_mpnet_wordpiece,
    "albert-unigram": lambda *a, **k: train_unigram(*a, style="albert", **k),
    "xlmr-unigram": lambda *a, **k: train_unigram(*a, style="xlmr", **k),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.train_tokenizer", epilog=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Trains a tokenizer of the given family on a parquet of texts.")
    parser.add_argument("--family", choices=sorted(FAMILIES), required=True)
    parser.add_argument("--data", required=True, help="parquet file with a text column")
    parser.add_argument("--column", default="text")
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--add-prefix-space", action="store_true", help="byte-level BPE only")
    parser.add_argument("--output", required=True, help="folder to save the tokenizer in")
    args = parser.parse_args(argv)
    import pandas as pd

    texts = pd.read_parquet(args.data, columns=[args.column])[args.column].tolist()
    options = {"add_prefix_space": True} if args.add_prefix_space else {}
    tokenizer = FAMILIES[args.family](Path(args.output), texts, args.vocab_size, **options)
    print(f"trained a {args.family} tokenizer of {len(tokenizer)} tokens on {len(texts)} texts; "
          f"saved in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
