"""CodeScores: joining two tables whose class sets differ keeps every stored score where it was."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.coder import CodeScores

CODES = ["A00.0", "B01.1", "C02.2", "D03.3", "E04.4", "F05.5"]


def _table(draw_rows, ids):
    classes = sorted({c for row in draw_rows for c in row}) or ["A00.0"]
    dense = np.zeros((len(draw_rows), len(classes)), dtype=np.float32)
    for i, row in enumerate(draw_rows):
        for c, v in row.items():
            dense[i, classes.index(c)] = v
    return CodeScores(ids, classes, dense)


rows = st.lists(st.dictionaries(st.sampled_from(CODES), st.integers(1, 128).map(lambda k: k / 128), max_size=4),
                min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(rows, rows)
def test_concat_over_the_union_of_classes_keeps_every_row(a_rows, b_rows):
    a = _table(a_rows, np.arange(len(a_rows)))
    b = _table(b_rows, 100 + np.arange(len(b_rows)))
    joined = a.concat(b)
    assert list(joined.episode_ids) == list(a.episode_ids) + list(b.episode_ids)
    assert set(joined.classes) == set(a.classes) | set(b.classes)
    assert list(joined.classes[: len(a.classes)]) == list(a.classes)  # the first table's order first
    for i, table in enumerate([a] * len(a) + [b] * len(b)):
        j = i if i < len(a) else i - len(a)
        assert joined.row(i) == table.row(j)


def test_concat_of_the_same_classes_keeps_the_class_array():
    a = CodeScores([1, 2], CODES[:3], np.eye(2, 3, dtype=np.float32))
    joined = a.concat(a)
    assert joined.classes is a.classes and joined.matrix.shape == (4, 3)


def test_with_classes_refuses_a_list_that_drops_a_scored_class():
    a = CodeScores([1], CODES[:2], np.array([[0.5, 0.7]], dtype=np.float32))
    with pytest.raises(ValueError, match="B01.1"):
        a.with_classes(["A00.0", "C02.2"])
