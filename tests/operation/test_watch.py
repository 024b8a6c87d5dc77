"""RiskWatch: states, the e-process's algebra, the confidence sequence, state round trips, validation."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from triage.operation.watch import (
    RiskWatch,
    confidence_sequence,
    first_crossing,
    split_delta,
)


def _fed_one_at_a_time(row, **kw):
    w = RiskWatch(0.1, 0.05, **kw)
    for x in row:
        w.update([int(x)])
    return w


def test_first_crossing_equals_the_watch_fed_one_outcome_at_a_time():
    rng = np.random.default_rng(0)
    rates = [0.05, 0.10, 0.14, 0.2, 0.3, 0.09]
    X = rng.random((len(rates), 1500)) < np.array(rates)[:, None]
    X[0, 700:] = rng.random(800) < 0.25  # a late jump
    for kw in ({}, {"block": 20, "max_components": 3}, {"max_components": 0, "odds_ratios": (2.0,)}):
        fast = first_crossing(X, 0.1, 0.05, chunk=997, **kw)
        slow = [_fed_one_at_a_time(row, **kw).violated_at for row in X]
        assert list(fast) == [-1 if v is None else v for v in slow]
        assert (fast > 0).sum() >= 3  # the comparison covers crossings, not only silence


def test_a_batch_update_equals_one_outcome_at_a_time():
    rng = np.random.default_rng(7)
    x = (rng.random(3000) < np.where(np.arange(3000) < 1500, 0.08, 0.2)).astype(int)
    one = _fed_one_at_a_time(x, block=30, max_components=4)
    batched = RiskWatch(0.1, 0.05, block=30, max_components=4)
    for part in np.split(x, [7, 100, 101, 1333, 2950]):
        batched.update(part)
    assert batched.to_state() == one.to_state() and batched.reading() == one.reading()
    assert one.violated_at is not None


def _log_e_at_every_error(x, w, n0=0, k0=0):
    """log E at each error of ``x`` (a stream begun after n0 outcomes with k0 errors and no
    restart before them), computed for every event with no pruning: (n, log E)."""
    from triage.operation.watch import _log_e_values

    cum = k0 + np.concatenate([[0], np.cumsum(x)])
    n = n0 + np.flatnonzero(x) + 1
    b = (n // w.block)[:, None] - w.max_components + 1 + np.arange(w.max_components)[None, :]
    start_k = np.where(b * w.block > n0, cum[np.clip(b * w.block - n0, 0, len(x))], k0)
    spec = {"a": w._a, "c": w._c, "block": w.block, "max_components": w.max_components,
            "start_weight": w.start_weight}
    return n, _log_e_values(n, cum[n - n0], np.where(b >= 1, start_k, 0), **spec)


@pytest.mark.parametrize("alpha, rates, kw", [
    (0.92, (0.9, 0.9), {"block": 40, "max_components": 5}),    # the drift test's lower side
    (0.126, (0.1, 0.1), {}),                                     # its upper side, a null stream
    (0.1, (0.08, 0.25), {"block": 30, "max_components": 4}),     # a jump: E rises, then crosses
])
def test_the_watch_records_the_maximum_and_crossing_of_e_over_every_error(alpha, rates, kw):
    """A batch update computes E only where a cheap upper bound says it may reach the running
    maximum or the threshold: what it records is still the maximum and the first crossing of E
    over every error, to the last bit, and the bound is above E at every one of them."""
    from triage.operation.watch import _log_e_bound

    rng = np.random.default_rng(11)
    x = (rng.random(6000) < np.where(np.arange(6000) < 3000, *rates)).astype(int)
    w = RiskWatch(alpha, 0.01, **kw).update(x)
    n, log_e = _log_e_at_every_error(x, w)
    assert w.log_max_e == max(0.0, float(log_e.max()))
    crossed = n[log_e >= math.log(1 / 0.01)]
    assert w.violated_at == (int(crossed[0]) if crossed.size else None)
    boundary = np.cumsum(x)[np.arange(w.block, x.size + 1, w.block) - 1]
    spec = {"a": w._a, "c": w._c, "block": w.block, "max_components": w.max_components,
            "start_weight": w.start_weight}
    k = np.cumsum(x)[n - 1]
    assert np.all(_log_e_bound(n, k, boundary, 1, **spec) >= log_e)


def test_the_bound_on_e_holds_far_along_a_stream():
    """Billions of outcomes in, the terms of log E are large and rounding grows with them: the
    bound is padded for it."""
    from triage.operation.watch import _log_e_bound

    rng = np.random.default_rng(12)
    for alpha, rate in ((0.92, 0.9), (0.1, 0.1), (0.05, 0.051)):
        w = RiskWatch(alpha, 0.01, block=50, max_components=16)
        n0 = 3_000_000_000
        k0 = int(n0 * rate)
        x = (rng.random(4000) < rate).astype(int)
        n, log_e = _log_e_at_every_error(x, w, n0, k0)
        cum = k0 + np.concatenate([[0], np.cumsum(x)])
        b_first = n0 // w.block + 1  # restarts from the stream's start on (none before it kept)
        boundary = cum[np.arange(b_first * w.block, n0 + x.size + 1, w.block) - n0]
        spec = {"a": w._a, "c": w._c, "block": w.block, "max_components": w.max_components,
                "start_weight": w.start_weight}
        b = (n // w.block)[:, None] - w.max_components + 1 + np.arange(w.max_components)[None, :]
        keep = (b.min(axis=1) >= b_first)  # events whose kept restarts all began in the stream
        bound = _log_e_bound(n[keep], cum[n[keep] - n0], boundary, b_first, **spec)
        assert keep.sum() > 100 and np.all(bound >= log_e[keep])
        assert np.all(bound - log_e[keep] < 0.01)  # E itself, rewritten, and padded for rounding


def test_the_e_value_is_the_mixture_of_likelihood_ratios_without_restarts():
    """With no restarts kept, E_n = w0 * mean_r LR_r(n, k) + (1 - w0) / (n // block + 1)."""
    w = RiskWatch(0.1, 0.05, max_components=0, start_weight=0.5, odds_ratios=(1.5, 3.0), block=50)
    x = [1, 0, 0, 1, 1, 0, 0, 0, 1, 0] * 13
    w.update(x)
    n, k = len(x), sum(x)
    lr = [(a * r / (1 - a + a * r) / a) ** k * ((1 - a * r / (1 - a + a * r)) / (1 - a)) ** (n - k)
          for a in [0.1] for r in (1.5, 3.0)]
    expected = 0.5 * np.mean(lr) + 0.5 / (n // 50 + 1)
    assert w.reading().e_value == pytest.approx(expected, rel=1e-12)


def test_e_value_starts_at_one_and_rises_only_at_errors():
    w = RiskWatch(0.1, 0.05)
    assert w.reading().e_value == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    last = 1.0
    for x in (rng.random(600) < 0.15).astype(int):
        w.update([x])
        e = w.reading().e_value
        if not x:
            assert e <= last * (1 + 1e-12)
        last = e
    assert w.reading().max_e_value >= last


def test_states_ok_cannot_certify_and_violated_latched():
    w = RiskWatch(0.1, 0.05)
    assert w.reading().state == "cannot_certify_yet"
    w.update([0] * 30)
    assert w.reading().state == "cannot_certify_yet"  # 30 clean audits do not yet certify 10%
    w.update([0] * 470)
    r = w.reading()
    assert r.state == "ok" and r.upper <= 0.1 and r.lower == 0 and r.realised_error == 0
    w.update([1] * 12)
    r = w.reading()
    assert r.state == "violated" and 500 < r.violated_at <= 512 and r.max_e_value >= 20
    w.update([0] * 5000)  # good outcomes afterwards do not clear the alarm
    later = w.reading()
    assert later.state == "violated" and later.violated_at == r.violated_at and later.e_value < later.max_e_value


def test_confidence_sequence_is_wider_than_a_fixed_sample_interval_and_nested_sensibly():
    lo, hi = confidence_sequence(1000, 100, 0.05)
    cp_lo = stats.beta.ppf(0.025, 100, 901)
    cp_hi = stats.beta.ppf(0.975, 101, 900)
    assert lo < cp_lo < 0.1 < cp_hi < hi
    assert hi - lo < 0.08
    assert confidence_sequence(0, 0, 0.05) == (0.0, 1.0)
    assert confidence_sequence(10, 0, 0.05)[0] == 0.0
    assert confidence_sequence(10, 10, 0.05)[1] == 1.0


def test_confidence_sequence_covers_the_running_average_of_a_drifting_rate():
    """Time-uniform coverage of mu_n = mean of the conditional rates, for a rate that changes; the
    fixed-sample Clopper-Pearson interval read at the same looks is the negative control."""
    rng = np.random.default_rng(5)
    streams, T, delta = 150, 2000, 0.1
    q = np.where(np.arange(T) < 700, 0.04, 0.16)
    X = rng.random((streams, T)) < q
    mu = np.cumsum(q) / np.arange(1, T + 1)
    looks = np.unique(np.geomspace(5, T, 25).astype(int))
    misses = cp_misses = 0
    for row in X:
        k = np.cumsum(row)[looks - 1]
        bounds = [confidence_sequence(n, int(e), delta) for n, e in zip(looks, k)]
        misses += any(not lo <= m <= hi for (lo, hi), m in zip(bounds, mu[looks - 1]))
        cp_lo = np.where(k > 0, stats.beta.ppf(delta / 2, np.maximum(k, 1), looks - k + 1), 0)
        cp_hi = np.where(k < looks, stats.beta.ppf(1 - delta / 2, k + 1, np.maximum(looks - k, 1)), 1)
        cp_misses += bool(np.any((mu[looks - 1] < cp_lo) | (mu[looks - 1] > cp_hi)))
    assert stats.binom.sf(misses - 1, streams, delta) > 0.001, misses
    assert stats.binom.sf(cp_misses - 1, streams, delta) < 0.001, cp_misses


def test_state_round_trip_is_small_and_continues_identically():
    rng = np.random.default_rng(2)
    x = (rng.random(3000) < 0.12).astype(int)
    a = RiskWatch(0.1, 0.02).update(x[:1777])
    state = json.loads(json.dumps(a.to_state()))
    assert len(json.dumps(state)) < 2000
    b = RiskWatch.from_state(state)
    assert b.reading() == a.reading()
    a.update(x[1777:])
    b.update(x[1777:])
    assert b.reading() == a.reading()
    json.dumps(a.reading().to_dict())


def test_bad_state_and_inputs_are_named():
    with pytest.raises(ValueError, match="alpha"):
        RiskWatch(1.2)
    with pytest.raises(ValueError, match="delta"):
        RiskWatch(0.1, 0)
    with pytest.raises(ValueError, match="block"):
        RiskWatch(0.1, block=0)
    with pytest.raises(ValueError, match="odds_ratios"):
        RiskWatch(0.1, odds_ratios=(0.5,))
    with pytest.raises(ValueError, match=r"errors\[2\]"):
        RiskWatch(0.1).update([0, 1, 2])
    state = RiskWatch(0.1).update([0] * 120).to_state()
    with pytest.raises(ValueError, match="start_errors"):
        RiskWatch.from_state({**state, "start_errors": [0]})
    with pytest.raises(ValueError, match="missing"):
        RiskWatch.from_state({k: v for k, v in state.items() if k != "n"})
    with pytest.raises(ValueError, match="format"):
        RiskWatch.from_state({**state, "format": 99})


def test_split_delta_is_a_bonferroni_split():
    d = split_delta(0.05, ["inpatient", "observation", "day_case"])
    assert math.isclose(sum(d.values()), 0.05) and len(set(d.values())) == 1
    d = split_delta(0.05, ["inpatient", "day_case"], {"inpatient": 3, "day_case": 1})
    assert d == pytest.approx({"inpatient": 0.0375, "day_case": 0.0125})
    with pytest.raises(ValueError, match="empty"):
        split_delta(0.05, [])
    with pytest.raises(ValueError, match="weights"):
        split_delta(0.05, ["a"], {"a": -1})
