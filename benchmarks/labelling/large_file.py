"""`python -m benchmarks.labelling.large_file`: a labelling input of any size, made from real reviews.

Memory and resume are measured on more rows than the shared data holds, so the texts of its files
are repeated in order up to `--rows`. Every row gets a new unique `review_id` (0, 1, ...): the
shared splits number their reviews each from 0, so their own ids repeat once files are joined.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP = 25_000  # like a file a data pipeline would write: several row groups, none huge


def write_large_file(sources: list[str], rows: int, output: str | Path) -> int:
    """Writes `rows` rows (`text`, `label`, `review_id`) cycling through the sources' rows."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    table = pa.concat_tables([pq.read_table(s, columns=["text", "label"]) for s in sources])
    if table.num_rows == 0:
        raise ValueError(f"no rows in {sources}")
    order = np.arange(rows) % table.num_rows
    with pq.ParquetWriter(str(output), table.schema.append(pa.field("review_id", pa.int64()))) as writer:
        for start in range(0, rows, ROW_GROUP):
            take = order[start:start + ROW_GROUP]
            part = table.take(pa.array(take)).append_column(
                "review_id", pa.array(np.arange(start, start + len(take)), pa.int64()))
            writer.write_table(part)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.labelling.large_file", description=__doc__)
    parser.add_argument("--data", nargs="+", required=True, help="parquet files with text and label")
    parser.add_argument("--rows", type=int, required=True, help="rows to write")
    parser.add_argument("--output", required=True, help="the parquet file to write")
    args = parser.parse_args(argv)
    written = write_large_file(args.data, args.rows, args.output)
    print(f"{written:,} rows -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
