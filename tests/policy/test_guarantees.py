import warnings

import numpy as np
import pytest
from scipy import stats

from triage.policy import (
    binomial_p_values,
    clopper_pearson_interval,
    clopper_pearson_upper,
    ltt_threshold,
    ltt_valid,
    sgr_threshold,
)
from triage.policy.guarantees import SelectiveCounts


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (17, 250), (1, 2)])
def test_clopper_pearson_matches_scipy_binomtest(k, n):
    lo, hi = clopper_pearson_interval(k, n, 0.95)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert lo == pytest.approx(ci.low, abs=1e-10)
    assert hi == pytest.approx(ci.high, abs=1e-10)
    # one-sided upper at delta = upper end of the two-sided interval at 1 - 2 delta
    ci80 = stats.binomtest(k, n).proportion_ci(confidence_level=0.8, method="exact")
    assert clopper_pearson_upper(k, n, 0.1) == pytest.approx(ci80.high, abs=1e-10)


def test_upper_bound_and_binomial_test_agree():
    k = np.array([0, 2, 5, 9, 30])
    n = np.array([40, 40, 60, 60, 200])
    for alpha in (0.05, 0.1, 0.2):
        pass_cp = clopper_pearson_upper(k, n, 0.1) <= alpha
        pass_pv = binomial_p_values(k, n, alpha) <= 0.1
        np.testing.assert_array_equal(pass_cp, pass_pv)
    assert clopper_pearson_upper(0, 0, 0.1) == 1.0
    assert np.isnan(clopper_pearson_interval(0, 0)[0])


def test_selective_counts_match_brute_force():
    rng = np.random.default_rng(3)
    p = np.round(rng.random(200), 2)  # ties
    correct = rng.random(200) < p
    n, k = SelectiveCounts.from_arrays(p, correct).at([0.0, 0.3, 0.55, 0.99, 1.5])
    for t, nn, kk in zip([0.0, 0.3, 0.55, 0.99, 1.5], n, k):
        assert nn == (p >= t).sum()
        assert kk == ((p >= t) & ~correct).sum()


def _calibration(seed, m=3000):
    rng = np.random.default_rng(seed)
    p = rng.beta(5, 2, m)
    return p, rng.random(m) < p


def _mapie(p, correct, grid, alpha, delta, fwer="bonferroni_holm"):
    from mapie.risk_control import BinaryClassificationController

    ctrl = BinaryClassificationController(
        predict_function=lambda X: np.c_[1 - X[:, 0], X[:, 0]],
        risk="precision",
        target_level=1 - alpha,
        confidence_level=1 - delta,
        list_predict_params=grid,
        fwer_method=fwer,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ctrl.calibrate(p.reshape(-1, 1), correct.astype(int))
    return ctrl


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ltt_holm_against_mapie(seed):
    """Same test statistic and same Holm procedure as MAPIE's BinaryClassificationController.

    MAPIE's binary p-value is binom.cdf(ceil(n * (1 - precision)), n, alpha); the float product
    sometimes lands just above an integer (448 * (1 - 422/448) = 26.000000000000007) and counts
    one error too many. Ours uses the integer error count, so our p-values are <= MAPIE's,
    equal to its formula with exact arithmetic, and MAPIE's valid set is a subset of ours.
    """
    from mapie.risk_control import control_fwer

    p, correct = _calibration(seed)
    grid = np.round(np.linspace(0, 0.99, 100), 2)
    alpha, delta = 0.1, 0.1
    ctrl = _mapie(p, correct, grid, alpha, delta)
    valid, pv = ltt_valid(p, correct, alpha, delta, grid, "holm")
    mapie_pv = np.asarray(ctrl.p_values).ravel()
    assert np.all(pv <= mapie_pv + 1e-12)
    n, k = SelectiveCounts.from_arrays(p, correct).at(grid)
    float_k = np.ceil(n * (1 - (n - k) / np.maximum(n, 1)))
    # MAPIE takes the minimum with the Hoeffding p-value exp(-n KL(r || alpha)), r clipped to alpha
    r = np.minimum(k / np.maximum(n, 1), alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(r > 0, r * np.log(r / alpha), 0.0) + (1 - r) * np.log((1 - r) / (1 - alpha))
    hoeffding = np.exp(-n * kl)
    binom_artefact = stats.binom.cdf(float_k, np.maximum(n, 1), alpha)
    with_artefact = np.where(n > 0, np.minimum(hoeffding, binom_artefact), mapie_pv)
    assert np.all(pv <= hoeffding + 1e-12)  # the exact tail never exceeds its Chernoff bound
    np.testing.assert_allclose(mapie_pv, with_artefact, rtol=1e-9)
    # same Holm procedure when fed the same p-values
    np.testing.assert_array_equal(valid, np.sort(grid[control_fwer(pv, delta, "bonferroni_holm")]))
    assert set(np.round(ctrl.valid_predict_params, 6)) <= set(np.round(valid, 6))
    res = ltt_threshold(p, correct, alpha, delta, grid, "holm")
    if ctrl.best_predict_param is not None:
        assert res.threshold <= ctrl.best_predict_param


def test_sgr_is_bonferroni_over_its_tested_thresholds_and_no_looser_than_mapie():
    """SGR's pass rule CP(delta / K) <= alpha is a Bonferroni test over the K thresholds it tried."""
    from mapie.risk_control import control_fwer

    p, correct = _calibration(5)
    alpha, delta = 0.1, 0.1
    res = sgr_threshold(p, correct, alpha, delta)
    assert res.feasible and res.guarantee <= alpha
    tested = res.tested_thresholds
    n, k = SelectiveCounts.from_arrays(p, correct).at(tested)
    pv = binomial_p_values(k, n, alpha)
    # Bonferroni with K = ceil(log2 m) hypotheses (the search may stop before using them all)
    padded = np.r_[pv, np.ones(res.tested - tested.size)]
    idx = control_fwer(padded, delta, "bonferroni")
    np.testing.assert_array_equal(np.sort(tested[idx[idx < tested.size]]), res.valid_thresholds)
    ctrl = _mapie(p, correct, np.sort(tested), alpha, delta, fwer="bonferroni")
    # MAPIE's Bonferroni uses K' = len(tested) <= K, so it accepts at least what SGR accepts,
    # up to its ceil artefact; its chosen threshold is never above SGR's by more than one step.
    assert ctrl.best_predict_param is not None
    assert ctrl.best_predict_param <= res.threshold + 1e-12 or np.isclose(ctrl.best_predict_param, np.sort(tested)[np.searchsorted(np.sort(tested), res.threshold) + 1])


def test_infeasible_target_is_reported():
    p, correct = _calibration(0, m=200)
    res = sgr_threshold(p, correct, alpha=0.001, delta=0.05)
    assert not res.feasible and res.threshold == np.inf
    res = ltt_threshold(p, correct, alpha=0.001, delta=0.05)
    assert not res.feasible


def test_fixed_sequence_tests_from_the_top_and_stops():
    p = np.r_[np.full(100, 0.99), np.full(100, 0.5)]
    correct = np.r_[np.ones(100, bool), np.zeros(100, bool)]
    valid, _ = ltt_valid(p, correct, 0.1, 0.1, grid=[0.3, 0.6, 0.9], fwer="fixed_sequence")
    np.testing.assert_array_equal(valid, [0.6, 0.9])
    with pytest.raises(ValueError, match="fwer"):
        ltt_valid(p, correct, 0.1, 0.1, fwer="bonferroni_something")
