"""Exact Clopper-Pearson intervals, cross-checked against scipy's binomtest."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from service.monitoring import clopper_pearson, summarise
from service.store import GroupStats


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 2000),
    frac=st.floats(0, 1),
    confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_matches_scipy_exact_interval(n, frac, confidence):
    k = round(frac * n)
    lo, hi = clopper_pearson(k, n, confidence)
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    assert lo == pytest.approx(ci.low, abs=1e-10)
    assert hi == pytest.approx(ci.high, abs=1e-10)
    assert 0 <= lo <= k / n <= hi <= 1


@pytest.mark.parametrize("k, n", [(0, 0), (-1, 5), (6, 5)])
def test_rejects_impossible_counts(k, n):
    with pytest.raises(ValueError):
        clopper_pearson(k, n)


def test_summarise_groups_by_model_and_policy():
    stats = [
        GroupStats("m1", "p1", "automate", 8, 5, 1),
        GroupStats("m1", "p1", "manual", 2, 1, 0),
        GroupStats("m1", "p2", "assist", 3, 0, 0),
    ]
    g1, g2 = summarise(stats)
    assert g1["routed"] == {"automate": 8, "assist": 0, "manual": 2}
    assert g1["automation_rate"] == pytest.approx(0.8)
    assert g1["outcomes"] == 6 and g1["realised_error"] == pytest.approx(0.2)
    assert g2["automated_with_outcome"] == 0 and g2["realised_error_interval"] is None
