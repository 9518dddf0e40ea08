"""The columns of a labelled output, the same for a file job (`predict.py`) and Beam."""

from __future__ import annotations

from collections.abc import Sequence

from tfbert.base.errors import DataError
from tfbert.tasks.kinds import MULTI_LABEL, REGRESSION, SINGLE_LABEL

ROW_COLUMN = "row"  # the key column's name when the input has no id column
LABEL_SEPARATOR = "|"  # a multi-label answer's labels in one CSV field


def output_columns(id_column: str | None, label_names: Sequence[str],
                   keep_columns: Sequence[str] = (), task: str = SINGLE_LABEL,
                   windowed: bool = False) -> list[str]:
    """The id column (or `row`), the answer, `windows` (a model that reads long texts as
    windows: how many each text took), then kept input columns. The answer is `label`,
    `label_id` and prob_<class> per class; `labels` (a list) and prob_<label> per label
    (multi-label); or `score` (regression).

    Raises:
        DataError: two columns would have the same name.
    """
    probabilities = [f"prob_{n}" for n in label_names]
    answer = {SINGLE_LABEL: ["label", "label_id", *probabilities],
              MULTI_LABEL: ["labels", *probabilities], REGRESSION: ["score"]}[task]
    columns = [id_column or ROW_COLUMN, *answer, *(["windows"] if windowed else []), *keep_columns]
    clashes = {c for c in columns if columns.count(c) > 1}
    if clashes:
        raise DataError(f"output columns would repeat {sorted(clashes)}; rename them with "
                        "--id-column / --keep-columns")
    return columns


def check_text_columns(model_reads_pairs: bool, input_has_pairs: bool) -> None:
    """Refuses one text column for a pair model, and two for a one-text model."""
    if model_reads_pairs and not input_has_pairs:
        raise DataError("the model classifies pairs of texts: name both text columns with "
                        "--text-column first,second")
    if input_has_pairs and not model_reads_pairs:
        raise DataError("the model classifies one text: give one --text-column")
