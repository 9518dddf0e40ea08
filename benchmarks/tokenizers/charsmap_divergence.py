"""`python -m benchmarks.tokenizers.charsmap_divergence`: where the fast tokenizer and SentencePiece read
the same precompiled character map differently.

Trains a small SentencePiece model with its default rule (nmt_nfkc, the published checkpoints'
map) on the tests' texts, then normalizes each test text twice: with SentencePiece itself (the
longest key at each position) and with Hugging Face's `Precompiled` normalizer of the same map
(whole grapheme clusters under 6 bytes, by the shortest key that starts them). The export copies
the fast tokenizer, since training tokenized with it; this lists what that means. Spaces are
compared as SentencePiece writes them ("▁", no leading or doubled one), as its own whitespace
rule is not part of the map.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2] / "tests"


def _spaced(text: str) -> str:
    return "\u2581".join(text.split())


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    sys.path.insert(0, str(TESTS))
    import sentencepiece
    import transformers
    from test_tokenizer_precompiled import CLUSTER_TEXTS
    from tokenizer_builders import sentencepiece_model
    from tokenizer_cases import EXTRA_TEXTS, HARD_TEXTS, corpus
    from tokenizers.normalizers import Precompiled

    with tempfile.TemporaryDirectory() as scratch:
        model = str(sentencepiece_model(Path(scratch), corpus(200), 200))
        slow = sentencepiece.SentencePieceProcessor(model_file=model)
        fast = transformers.XLMRobertaTokenizerFast(vocab_file=model)
    steps = json.loads(fast.backend_tokenizer.to_str())["normalizer"]["normalizers"]
    blob = base64.b64decode(steps[0]["precompiled_charsmap"])
    normalize = Precompiled(blob).normalize_str
    words = sorted({w for t in HARD_TEXTS + EXTRA_TEXTS + CLUSTER_TEXTS for w in t.split()})
    differ = [(w, normalize(w), slow.normalize(w)) for w in words
              if _spaced(normalize(w)) != slow.normalize(w).lstrip("\u2581")]
    print(f"{len(differ)} of {len(words)} words normalize differently (fast | SentencePiece):")
    for word, by_fast, by_slow in differ:
        print(f"  {word!r} {ascii(word)}: {ascii(by_fast)} | {ascii(by_slow)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
