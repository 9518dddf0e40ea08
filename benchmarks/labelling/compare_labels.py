"""`python -m benchmarks.labelling.compare_labels`: do two labelling outputs hold the same rows and labels?

Each side is an output of `scripts/predict.py` or the shards of `scripts/predict_beam.py` (a glob).
Rows are matched by id, the first column, compared as text. A Beam id of one input file,
`<file>:<row>`, counts as its row number, so it matches `predict.py`'s default ids (row numbers).
The reference's ids must be unique: the shared IMDb splits number each label's reviews from 0, so
label those without `--id-column` to compare.
"""

from __future__ import annotations

import argparse
import glob
import sys

import numpy as np
import pandas as pd


def read_labels(pattern: str) -> pd.DataFrame:
    """One output (a file or a glob of shards), indexed by id; the id column is the first one."""
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise ValueError(f"no file matches {pattern!r}")
    # Text files are read as written: pandas would turn a string id "1649" into the number 1649
    # on one side only. Every side's ids are compared as text below.
    readers = {".parquet": pd.read_parquet,
               ".csv": lambda p: pd.read_csv(p, dtype={0: str}, keep_default_na=False),
               ".jsonl": lambda p: pd.read_json(p, lines=True, dtype=False)}
    frames = []
    for path in paths:
        suffix = path[path.rfind("."):]
        if suffix not in readers:
            raise ValueError(f"{path}: expected .parquet, .csv or .jsonl")
        frames.append(readers[suffix](path))
    table = pd.concat(frames, ignore_index=True)
    ids = table.iloc[:, 0].astype(str)
    if ids.str.contains(":").all():
        ids = ids.str.rsplit(":", n=1).str[1]
    return table.set_index(ids.rename("id"))


def compare(reference: pd.DataFrame, other: pd.DataFrame) -> dict[str, float]:
    """Rows lost and duplicated in `other`, and its agreement with `reference` on shared ids."""
    if reference.index.duplicated().any():
        raise ValueError("the reference's ids repeat: label it with row-number ids (no --id-column)")
    expected = set(reference.index)
    seen = other.index
    shared = other[~seen.duplicated()].loc[lambda t: t.index.isin(expected)]
    ref = reference.loc[shared.index]
    probs = [c for c in reference.columns if c.startswith("prob_")]
    return {
        "reference_rows": len(reference), "rows": len(other),
        "lost": len(expected - set(seen)), "duplicated": int(seen.duplicated().sum()),
        "unexpected": len(set(seen) - expected),
        "labels_identical": int((shared["label"].to_numpy() == ref["label"].to_numpy()).sum()),
        "max_probability_difference": float(np.abs(shared[probs].to_numpy() - ref[probs].to_numpy()).max())
        if len(shared) else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.labelling.compare_labels",
                                     description=__doc__)
    parser.add_argument("reference", help="output file (or glob) taken as right")
    parser.add_argument("other", help="output file (or glob) to check against it")
    args = parser.parse_args(argv)
    try:
        c = compare(read_labels(args.reference), read_labels(args.other))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{c['rows']:,} rows against {c['reference_rows']:,}: {c['lost']} lost, {c['duplicated']} "
          f"duplicated, {c['unexpected']} unexpected; labels identical on {c['labels_identical']:,}; "
          f"max probability difference {c['max_probability_difference']:.2e}")
    return 0 if c["lost"] == c["duplicated"] == c["unexpected"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
