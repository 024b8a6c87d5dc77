"""Certified code-level precision: holds on simulated truth, and the test can fail without it."""

from __future__ import annotations

import numpy as np
import pytest

from triage.assist.precision import certify_precision, realised_precision, shown_mask

GRID = np.round(np.linspace(0.0, 1.0, 51), 3)
TARGET, DELTA, K = 0.9, 0.1, 5


def _draw(rng, n_eps, m=K):
    """Episodes of m candidate codes; P(gold) = 0.6 + 0.4 s shifted by an episode effect (codes of
    one episode are right or wrong together: the clustering the episode-level test allows for)."""
    s = rng.random((n_eps, m))
    u = rng.normal(0.0, 0.1, size=(n_eps, 1))
    y = rng.random((n_eps, m)) < np.clip(0.6 + 0.4 * s + u, 0, 1)
    g = np.repeat(np.arange(n_eps), m)
    return s.ravel(), y.ravel(), g


@pytest.fixture(scope="module")
def truth():
    """True precision of the shown codes at each grid threshold (m = K: the cap never binds)."""
    s, y, _ = _draw(np.random.default_rng(123), 200_000)
    return {t: y[s >= t].mean() if (s >= t).any() else 1.0 for t in GRID}


def _naive(s, y, g):
    """No test, no multiplicity correction: the lowest threshold whose sample precision meets the
    target (what picking a threshold on the evaluation data itself amounts to)."""
    for t in GRID:
        m = shown_mask(s, g, t, K)
        if m.any() and y[m].mean() >= TARGET:
            return float(t)
    return np.inf


@pytest.mark.slow
@pytest.mark.parametrize("unit", ["episode", "code"])
def test_guarantee_holds_and_naive_choice_violates_it(truth, unit):
    rng = np.random.default_rng(0)
    trials, certified, violations, naive_violations = 100, 0, 0, 0
    for _ in range(trials):
        s, y, g = _draw(rng, 400)
        res = certify_precision(s, y, g, TARGET, DELTA, unit, K, grid=GRID, random_state=int(rng.integers(1 << 30)))
        if res.feasible:
            certified += 1
            violations += truth[res.threshold] < TARGET
        t = _naive(s, y, g)
        naive_violations += np.isfinite(t) and truth[t] < TARGET
    assert certified >= trials // 4  # the test has power here
    # P(violation) <= delta; with 100 trials allow binomial slack (at most 10 expected, sd 3)
    assert violations <= 17, violations
    assert naive_violations >= 35, naive_violations  # the control fails far more often than delta


def test_no_certificate_when_precision_is_below_target():
    rng = np.random.default_rng(1)
    s = rng.random(4000)
    y = rng.random(4000) < 0.5  # scores carry no information: precision 0.5 everywhere
    g = np.arange(4000) // 4
    for unit in ("episode", "code"):
        res = certify_precision(s, y, g, 0.9, 0.1, unit)
        assert not res.feasible and res.threshold == np.inf


def test_perfect_scores_certify_and_round_trip():
    s = np.tile([0.99, 0.95, 0.2, 0.1], 500)
    y = s > 0.5
    g = np.arange(2000) // 4
    res = certify_precision(s, y, g, 0.95, 0.1, "episode")
    assert res.feasible and 0.2 < res.threshold <= 0.95 and res.calibration_precision == 1.0
    assert type(res).from_dict(res.to_dict()) == res
    assert "95%" in res.statement()


def test_shown_mask_caps_per_episode_and_bad_input_is_named():
    s = np.array([0.9, 0.8, 0.7, 0.95, 0.1])
    g = np.array([0, 0, 0, 1, 1])
    assert shown_mask(s, g, 0.5, 2).tolist() == [True, True, False, True, False]
    with pytest.raises(ValueError, match="target"):
        certify_precision(s, s > 0.5, g, 1.5)
    with pytest.raises(ValueError, match="one entry per candidate"):
        certify_precision(s, s[:3] > 0.5, g)
    r = realised_precision(np.array([True, True, False, True]))
    assert r["precision"] == 0.75 and r["ci_low"] < 0.75 < r["ci_high"]
