"""Audit and holdout draws: reproducible from seed and id, at the asked rate, independent of each other."""

import numpy as np
import pytest
from scipy import stats

from triage.operation.sampling import audit_draw, audit_probability, holdout_draw, uniform_draw

IDS = [f"decision-{i}" for i in range(20_000)]


def test_draws_are_reproducible_and_depend_on_seed_and_id():
    assert [audit_draw(7, i, 0.3) for i in IDS[:200]] == [audit_draw(7, i, 0.3) for i in IDS[:200]]
    assert [audit_draw(7, i, 0.3) for i in IDS[:200]] != [audit_draw(8, i, 0.3) for i in IDS[:200]]
    assert audit_draw(1, "x", 0.0) is False and audit_draw(1, "x", 1.0) is True
    u = uniform_draw("audit", 1, "x")
    assert 0 <= u < 1 and audit_draw(1, "x", np.nextafter(u, 1)) and not audit_draw(1, "x", u)


@pytest.mark.parametrize("draw", [audit_draw, holdout_draw])
@pytest.mark.parametrize("rate", [0.05, 0.3])
def test_empirical_rate_within_an_exact_binomial_interval(draw, rate):
    k = sum(draw(3, i, rate) for i in IDS)
    lo, hi = stats.binom.ppf([0.0005, 0.9995], len(IDS), rate)
    assert lo <= k <= hi, (k, lo, hi)


def test_audit_and_holdout_draws_are_independent():
    a = np.array([audit_draw(11, i, 0.3) for i in IDS])
    h = np.array([holdout_draw(11, i, 0.3) for i in IDS])
    table = np.array([[np.sum(a & h), np.sum(a & ~h)], [np.sum(~a & h), np.sum(~a & ~h)]])
    assert stats.fisher_exact(table).pvalue > 0.001
    # the check can fail: a draw against itself is as dependent as can be
    same = np.array([[np.sum(a & a), np.sum(a & ~a)], [np.sum(~a & a), np.sum(~a & ~a)]])
    assert stats.fisher_exact(same).pvalue < 1e-10


def test_audit_probability_takes_the_setting_floor():
    assert audit_probability("inpatient") == 0.05
    assert audit_probability("day_case", 0.05, {"day_case": 0.2}) == 0.2
    assert audit_probability("day_case", 0.3, {"day_case": 0.2}) == 0.3
    assert audit_probability(None, 0.1, {"day_case": 0.2}) == 0.1


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.1", True, None])
def test_bad_probabilities_are_named(bad):
    with pytest.raises(ValueError, match="probability"):
        audit_draw(1, "x", bad)
    with pytest.raises(ValueError, match="probability"):
        holdout_draw(1, "x", bad)
    with pytest.raises(ValueError, match="default"):
        audit_probability("inpatient", bad)
    with pytest.raises(ValueError, match="minimum"):
        audit_probability("inpatient", 0.1, {"inpatient": bad})


def test_bad_seed_and_id():
    with pytest.raises(ValueError, match="seed"):
        audit_draw("1", "x", 0.1)
    with pytest.raises(ValueError, match="decision_id"):
        audit_draw(1, "", 0.1)
