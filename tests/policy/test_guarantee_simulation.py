"""Monte-Carlo check of the guarantee: P(error among automated > alpha) <= delta over calibration draws.

Confidences p ~ Beta(a, b) and correct ~ Bernoulli(p) (calibrated by construction), so the
population error among episodes automated at threshold t is known in closed form:
risk(t) = 1 - E[p | p >= t] = 1 - a/(a+b) * sf_Beta(a+1,b)(t) / sf_Beta(a,b)(t).
A large test set per draw is also simulated (binomially, vectorised) for the realised rate.
"""

import numpy as np
import pytest
from scipy import stats

from triage.policy import CostModel, choose_policy

A, B = 8.0, 1.5
ALPHA, DELTA = 0.1, 0.1
DRAWS, M_CAL, N_TEST = 250, 2000, 50_000


def population_risk(t: np.ndarray) -> np.ndarray:
    t = np.asarray(t, dtype=float)
    finite = np.isfinite(t)
    tt = np.where(finite, t, 0.5)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = 1 - A / (A + B) * stats.beta.sf(tt, A + 1, B) / stats.beta.sf(tt, A, B)
    return np.where(finite, r, 0.0)


def _thresholds(kind: str, method: str) -> np.ndarray:
    rng = np.random.default_rng(2024)
    p = rng.beta(A, B, (DRAWS, M_CAL))
    correct = rng.random((DRAWS, M_CAL)) < p
    cm = CostModel(manual_cost=10, assist_cost=4, error_cost=30, assist_error_cost=5)
    return np.array(
        [
            choose_policy(kind, p[i], correct[i], cm, alpha=ALPHA, delta=DELTA, method=method).t_automate
            for i in range(DRAWS)
        ]
    )


@pytest.mark.parametrize("kind,method", [("guaranteed", "sgr"), ("guaranteed", "ltt"), ("three_way", "sgr"), ("three_way", "ltt")])
def test_violation_share_at_most_delta(kind, method):
    t = _thresholds(kind, method)
    assert np.isfinite(t).mean() > 0.9, "the setting should usually be feasible, or the test proves nothing"
    mc = 3 * np.sqrt(DELTA * (1 - DELTA) / DRAWS)
    risk = population_risk(t)
    assert (risk > ALPHA).mean() <= DELTA + mc
    # realised rate on a fresh test set per draw
    rng = np.random.default_rng(7)
    share = np.where(np.isfinite(t), stats.beta.sf(np.where(np.isfinite(t), t, 1.0), A, B), 0.0)
    n_auto = rng.binomial(N_TEST, share)
    errors = rng.binomial(n_auto, np.clip(risk, 0, 1))
    test_error = np.where(n_auto > 0, errors / np.maximum(n_auto, 1), 0.0)
    assert (test_error > ALPHA).mean() <= DELTA + mc
    # and it is not vacuous: the policies do automate a real share
    assert np.median(share) > 0.2


def test_simulation_detects_an_unguaranteed_rule():
    """The plug-in rule (lowest threshold whose *empirical* error is <= alpha) violates far more often."""
    rng = np.random.default_rng(11)
    viol = []
    for _ in range(100):
        p = rng.beta(A, B, M_CAL)
        correct = rng.random(M_CAL) < p
        order = np.argsort(-p)
        running = np.cumsum(~correct[order]) / np.arange(1, M_CAL + 1)
        ok = np.flatnonzero(running <= ALPHA)
        t = p[order][ok.max()]
        viol.append(population_risk(t) > ALPHA)
    assert np.mean(viol) > 0.3
