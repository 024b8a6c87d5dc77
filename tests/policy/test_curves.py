import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.confidence.evaluation import aurc
from triage.policy import CostModel, cost_coverage_curve, drg_weight_gap, risk_coverage_curve


def test_risk_coverage_hand_example_groups_ties():
    p = np.array([0.9, 0.9, 0.5, 0.2])
    correct = np.array([True, False, True, False])
    df = risk_coverage_curve(p, correct, delta=None)
    assert list(df["threshold"]) == [0.9, 0.5, 0.2]
    assert list(df["coverage"]) == [0.5, 0.75, 1.0]
    np.testing.assert_allclose(df["risk"], [0.5, 1 / 3, 0.5])
    # AURC with ties grouped: (2 * 0.5 + 1 * 1/3 + 1 * 0.5) / 4
    assert aurc(correct, p) == pytest.approx((1 + 1 / 3 + 0.5) / 4)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=40))
def test_risk_coverage_matches_brute_force(rows):
    p = np.array([r[0] for r in rows])
    correct = np.array([r[1] for r in rows])
    df = risk_coverage_curve(p, correct, delta=0.1)
    for t, cov, risk, up in df[["threshold", "coverage", "risk", "risk_upper"]].itertuples(index=False):
        auto = p >= t
        assert cov == pytest.approx(auto.mean())
        assert risk == pytest.approx((~correct[auto]).mean())
        assert risk <= up + 1e-12
    assert df["coverage"].is_monotonic_increasing


def test_cost_coverage_endpoints():
    rng = np.random.default_rng(0)
    p = rng.random(500)
    correct = rng.random(500) < p
    cm = CostModel(manual_cost=10, error_cost=40)
    df = cost_coverage_curve(p, correct, cm)
    assert df.iloc[0]["coverage"] == 0 and df.iloc[0]["cost_per_episode"] == 10
    assert df.iloc[-1]["coverage"] == 1
    assert df.iloc[-1]["cost_per_episode"] == pytest.approx(40 * (~correct).mean())
    assert df.iloc[-1]["expected_cost_per_episode"] == pytest.approx(40 * (1 - p).mean())
    np.testing.assert_allclose(df["saving_per_episode"], 10 - df["cost_per_episode"])


def test_drg_weight_gap():
    np.testing.assert_allclose(drg_weight_gap([1.2, 0.8], [0.9, 1.5]), [0.3, 0.7])
    with pytest.raises(ValueError, match="gold_weights"):
        drg_weight_gap([1.0], [1.0, 2.0])
