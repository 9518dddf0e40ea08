"""The label column read per problem type: what `--task auto` decides, and each label form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfbert.base.errors import DataError
from tfbert.tasks.targets import detect_task, multilabel_targets, regression_targets


@pytest.mark.parametrize("labels, separator, task", [
    (["positive", "negative"], None, "single-label"),
    ([0, 1, 1], None, "single-label"),
    (["1", "10", "7"], None, "single-label"),  # whole ratings stay classes unless --task says
    ([1.0, 2.5, 4.0], None, "regression"),
    (["3.5", "4", None], None, "regression"),  # CSV text, a missing label aside
    ([["action"], [], ["drama", "action"]], None, "multi-label"),
    (["action|drama", "comedy"], "|", "multi-label"),
    (["action", "comedy"], "|", "single-label"),  # the separator never appears
    (["good", 3.5], None, "single-label"),  # mixed: not all numbers
])
def test_auto_decides_from_the_labels(labels, separator, task):
    choice = detect_task(pd.Series(labels, dtype=object), separator)
    assert choice.task == task and choice.reason


def test_several_label_columns_are_multi_label():
    assert detect_task(pd.Series([1, 0]), label_columns=("toxic", "insult")).task == "multi-label"


def test_regression_targets_set_bad_labels_aside_by_reason():
    got = regression_targets(pd.Series([4.0, "7", None, "great", float("inf"), "nan", 1], dtype=object))
    np.testing.assert_array_equal(got.values, [4.0, 7.0, 1.0])
    assert got.usable.tolist() == [True, True, False, False, False, False, True]
    assert got.skipped == {"no label": [2], "labels that are not numbers": [3],
                           "labels that are NaN or infinite": [4, 5]}
    assert "1 labels that are not numbers (rows 3)" in got.describe_skipped()


def test_multi_label_sets_empty_sets_and_unknown_names():
    got = multilabel_targets(pd.Series(["b|a", "", None, " c |a|"], dtype=object), "|")
    assert got.names == ("a", "b", "c")
    np.testing.assert_array_equal(got.values, [[1, 1, 0], [0, 0, 0], [1, 0, 1]])
    assert got.without_label == 1 and got.skipped == {"no label": [2]}
    with pytest.raises(DataError, match="labels outside --label-names \\(a, b\\): 'c'"):
        multilabel_targets(pd.Series(["a|c"]), "|", names=("a", "b"))
    with pytest.raises(DataError, match="label column 'insult', row 1: 'maybe' is not 0 or 1"):
        multilabel_targets(pd.DataFrame({"toxic": [1, 0], "insult": [0, "maybe"]}))


names = st.sampled_from(["action", "comedy", "drama", "horror"])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sets(names), min_size=1, max_size=20))
def test_every_label_form_reads_to_the_same_sets(sets):
    order = ("action", "comedy", "drama", "horror")
    as_lists = multilabel_targets(pd.Series([sorted(s) for s in sets], dtype=object), names=order)
    as_text = multilabel_targets(pd.Series(["|".join(sorted(s)) for s in sets]), "|", names=order)
    columns = pd.DataFrame({n: [str(int(n in s)) for s in sets] for n in order})  # CSV: text 0/1
    as_columns = multilabel_targets(columns)
    expected = np.array([[int(n in s) for n in order] for s in sets], np.uint8)
    for got in (as_lists, as_text, as_columns):
        np.testing.assert_array_equal(got.values, expected)
        assert got.names == order and got.without_label == sum(not s for s in sets)
