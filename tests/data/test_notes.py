import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.data import notes as notes_mod
from triage.data.notes import gather, merge_addenda


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=6), st.data(), st.booleans())
def test_gather_equals_take_without_concatenating(sizes, data, few_slices):
    chunks = [pa.array([f"t{sum(sizes[:i]) + j}" for j in range(n)], pa.large_string()) for i, n in enumerate(sizes)]
    texts = pa.chunked_array(chunks)
    pos = sorted(set(data.draw(st.lists(st.integers(0, len(texts) - 1), max_size=20))))
    if not few_slices:
        notes_mod.MAX_SLICES, old = 0, notes_mod.MAX_SLICES
    try:
        got = gather(texts, np.array(pos, dtype=np.int64)).to_pylist()
    finally:
        if not few_slices:
            notes_mod.MAX_SLICES = old
    assert got == [f"t{p}" for p in pos]


def test_gather_rejects_unsorted_positions():
    with pytest.raises(ValueError, match="ascending"):
        gather(pa.chunked_array([pa.array(["a", "b"], pa.large_string())]), np.array([1, 0]))


def test_merge_addenda_orders_report_then_addenda_by_order():
    meta = pd.DataFrame({"episode_id": [1, 1, 2, 1], "subject_id": [9, 9, 8, 9],
                         "rank": [1, 0, 0, 1], "order": [3, 1, 1, 2]})
    texts = pa.chunked_array([pa.array(["ad-late", "report", "solo", "ad-early"], pa.large_string())])
    frame, combined = merge_addenda(meta, texts)
    got = {e: combined[int(p)].as_py() for e, p in zip(frame["episode_id"], frame["text_pos"])}
    assert got == {1: "report\n\nad-early\n\nad-late", 2: "solo"}
    assert frame["has_text"].all()
