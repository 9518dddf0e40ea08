"""Text as flat tensors of code points, in core TensorFlow ops: what the in-graph tokenizers
stand on, with no knowledge of any tokenizer's JSON.

`graph_ops` (shifts, runs, repeats, UTF-8 bytes, jump chains), `unicode_tables` (one value per
code point, in shared blocks), `trie` (a vocabulary walked from every position), `graphemes`
(extended grapheme clusters, UAX #29) and `charsmap` (SentencePiece's precompiled character map
read into a table).
"""
