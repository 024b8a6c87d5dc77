import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from triage.confidence import evaluation as ev


def sample(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.01, 0.99, n)
    y = (rng.random(n) < p**1.5).astype(int)  # overconfident
    return y, p


def test_cross_checked_against_sklearn():
    y, p = sample()
    assert ev.brier(y, p) == pytest.approx(skm.brier_score_loss(y, p))
    assert ev.log_loss(y, p) == pytest.approx(skm.log_loss(y, p))
    assert ev.auroc(y, p) == pytest.approx(skm.roc_auc_score(y, p))
    assert ev.auprc(y, p) == pytest.approx(skm.average_precision_score(y, p))


def test_ece_against_mapie():
    from mapie.metrics.calibration import expected_calibration_error

    y, p = sample()
    # MAPIE's n+1 edges make n bins plus a bin holding only scores equal to the lowest edge.
    assert ev.ece(y, p, 10, "uniform") == pytest.approx(
        expected_calibration_error(y, p, num_bins=11, split_strategy="uniform"), abs=1e-12
    )
    mapie_q = expected_calibration_error(y, p, num_bins=11, split_strategy="quantile")
    assert abs(ev.ece(y, p, 10, "quantile") - mapie_q) <= 2 / len(y)
    assert ev.ece(y, p) > 0.05  # the sample is miscalibrated: the metric sees it


def test_reliability_diagram_counts():
    y, p = sample(500)
    d = ev.reliability_diagram(y, p, 10, "quantile")
    assert d["count"].sum() == 500 and d["count"].max() - d["count"].min() <= 1
    assert (d["p_min"] <= d["mean_confidence"]).all() and (d["mean_confidence"] <= d["p_max"]).all()


def test_aurc_small_examples():
    assert ev.aurc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6]) == pytest.approx((0 + 1 / 2 + 1 / 3 + 1 / 2) / 4)
    # ties are accepted together: coverage 2/3 at risk 1/2, then 1 at risk 1/3
    assert ev.aurc([1, 0, 1], [0.9, 0.9, 0.5]) == pytest.approx(2 / 3 * 1 / 2 + 1 / 3 * 1 / 3)
    rc = ev.selective_risk_curve([1, 0, 1], [0.9, 0.9, 0.5])
    assert rc["coverage"].tolist() == pytest.approx([2 / 3, 1.0])
    r = 0.25
    assert ev.optimal_aurc([1, 1, 1, 0]) == pytest.approx(r + (1 - r) * np.log(1 - r))
    assert ev.eaurc([1, 1, 1, 0], [0.9, 0.8, 0.7, 0.1]) >= 0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=1, max_size=60),
    st.integers(1, 20),
)
def test_properties(pairs, n_bins):
    y = np.array([a for a, _ in pairs])
    p = np.array([b for _, b in pairs])
    for strategy in ("uniform", "quantile"):
        assert 0.0 <= ev.ece(y, p, n_bins, strategy) <= 1.0
    assert ev.aurc(y, p) >= ev.optimal_aurc(y) - 1e-12
    assert 0.0 <= ev.aurc(y, p) <= 1.0
    # a strict perfect ranking (correct first, no ties) reaches the discrete optimum
    perfect = (y.astype(float) + np.arange(len(y)) / (2 * len(y))) / 2
    assert ev.aurc(y, perfect) <= ev.aurc(y, p) + 1e-12


def test_compare_models_needs_both_baselines_and_reports_deltas():
    y, p = sample(300)
    rng = np.random.default_rng(1)
    table = ev.compare_models(
        {"lightgbm": p, "product": rng.uniform(size=300), "min-accepted": p**2}, None, y
    )
    assert list(table.index) == ["lightgbm", "product", "min-accepted"]
    assert table.loc["product", "aurc_minus_product"] == 0
    assert table.loc["lightgbm", "auroc_minus_min-accepted"] == pytest.approx(0)  # same ranking
    with pytest.raises(ValueError, match="min-accepted"):
        ev.compare_models({"lightgbm": p, "product": p}, None, y)
    with pytest.raises(ValueError, match="probabilities"):
        ev.ece(y, p + 1)
