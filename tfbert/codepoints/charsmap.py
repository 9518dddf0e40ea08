"""SentencePiece's precompiled character map, read from its blob into a plain dictionary.

A SentencePiece model's normalization rule (`nmt_nfkc` by default, what XLM-R, ALBERT and
DeBERTa-v3 ship) is compiled into one blob: a little-endian u32 giving the byte size of a
double-array trie (darts-clone units of four bytes), the units, then a pool of NUL-terminated
replacement strings. Each key of the trie is a UTF-8 string whose leaf holds the offset of its
replacement in the pool. Walking the trie's branches gives the map, which the graph then looks
up as tables (`tfbert.tokenizers.normalizers.PrecompiledMap`).
"""

from __future__ import annotations

import numpy as np

_HAS_LEAF_BIT, _LABEL_MASK, _VALUE_MASK = 8, (1 << 31) | 0xFF, (1 << 31) - 1


def _offset(unit: int) -> int:
    return (unit >> 10) << ((unit & (1 << 9)) >> 6)


def read_charsmap(blob: bytes, max_key_bytes: int = 5) -> dict[str, str]:
    """The map's keys of at most `max_key_bytes` UTF-8 bytes, each with its replacement.

    The default, 5, is every key the fast tokenizer can use: it looks up single characters (at
    most 4 bytes) and prefixes of grapheme clusters shorter than 6 bytes.

    Raises:
        ValueError: the blob is cut short or its trie does not fit in it.
    """
    if len(blob) < 4:
        raise ValueError("a precompiled character map starts with a 4-byte trie size")
    size = int.from_bytes(blob[:4], "little")
    if size % 4 or not 0 < size <= len(blob) - 4:
        raise ValueError(f"the trie size {size} does not fit a blob of {len(blob)} bytes")
    units = np.frombuffer(blob[4: 4 + size], "<u4").astype(np.int64)
    pool = blob[4 + size:]
    labels = units & _LABEL_MASK
    found: dict[str, str] = {}
    stack = [(0, b"")]
    byte_values = np.arange(1, 256, dtype=np.int64)  # NUL ends a search, so it is never a label
    while stack:
        node, key = stack.pop()
        unit = int(units[node])
        base = node ^ _offset(unit)
        if key and (unit >> _HAS_LEAF_BIT) & 1:
            start = int(units[base]) & _VALUE_MASK
            end = pool.find(b"\0", start)
            found[key.decode("utf-8")] = pool[start: None if end < 0 else end].decode("utf-8")
        if len(key) == max_key_bytes:
            continue
        children = base ^ byte_values
        inside = children < len(units)
        hits = byte_values[inside][labels[children[inside]] == byte_values[inside]]
        stack.extend((base ^ int(c), key + bytes([int(c)])) for c in hits)
    return found


def build_charsmap(replacements: dict[str, str]) -> bytes:
    """A precompiled character map of our own (the inverse of `read_charsmap`), so the real
    normalizer can be asked how it splits a text: a key followed by a mark either vanishes with
    the key (one cluster) or stays (a boundary between them)."""
    children: list[dict[int, int]] = [{}]
    leaf: dict[int, int] = {}
    pool = bytearray()
    for key, replacement in replacements.items():
        node = 0
        for byte in key.encode("utf-8"):
            node = children[node].setdefault(byte, len(children))
            if node == len(children):
                children.append({})
        leaf[node] = len(pool)
        pool += replacement.encode("utf-8") + b"\0"
    units: list[int] = [0]
    slots: dict[int, int] = {0: 0}  # node -> its unit
    spare: list[int] = []  # units of allocated blocks nobody uses yet
    queue = [0]
    while queue:
        node = queue.pop()
        if children[node] or not spare:  # a fresh block of 256 units for the children
            base = -(-len(units) // 256) * 256
            units.extend([0] * (base + 256 - len(units)))
            used = {base ^ byte for byte in children[node]} | {base}
            spare.extend(i for i in range(base + 255, base - 1, -1) if i not in used)
        else:  # a leaf without children only needs one unit for its value
            base = spare.pop()
        slot = slots[node]
        label = 0 if node == 0 else units[slot] & 0xFF
        units[slot] = ((slot ^ base) << 10) | (int(node in leaf) << 8) | label
        if node in leaf:
            units[base] = (1 << 31) | leaf[node]
        for byte, child in children[node].items():
            slots[child] = base ^ byte
            units[base ^ byte] = byte
            queue.append(child)
    if len(units) >= 1 << 21:
        raise ValueError("too many keys for a map of our own")
    trie = np.array(units, "<u4").tobytes()
    return len(trie).to_bytes(4, "little") + trie + bytes(pool)


def prefix_key(text_bytes: bytes) -> int:
    """A short UTF-8 string (under 8 bytes) as one int64: its bytes, then its length on top,
    as the graph packs a grapheme cluster's prefixes."""
    if len(text_bytes) >= 8:
        raise ValueError("only strings under 8 bytes are packed")
    return int.from_bytes(text_bytes, "big") | (len(text_bytes) << 56)
