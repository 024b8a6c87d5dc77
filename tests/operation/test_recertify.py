"""Re-certification on labelled shadow/holdout outcomes: the bundle's own risk control, a new router.

The simulation draws labelled episodes from a known, miscalibrated population per care setting,
re-certifies, and judges each certified threshold on the population's true error among
automated episodes; the plug-in threshold (largest automation whose empirical error is <= alpha)
is the negative control the same check must catch.
"""

import json
import math

import numpy as np
import pytest
from scipy import stats

from triage.operation.recertify import recertify
from triage.policy import CostModel, make_policy
from triage.router import Router

ALPHA, DELTA = 0.1, 0.1
SHARES = {"inpatient": 0.7, "day_case": 0.3}


def population(rng, n, setting):
    """Confidences and the true probability of being right: overconfident, worse for inpatients."""
    hi = rng.random(n) < (0.35 if setting == "inpatient" else 0.6)
    p = np.where(hi, rng.beta(30, 1, n), rng.beta(2, 4, n))
    q = np.clip(p - (0.04 if setting == "inpatient" else 0.02), 0, 1)
    return p, q


def labelled(rng, n):
    s = rng.choice(list(SHARES), n, p=list(SHARES.values()))
    p, q = np.empty(n), np.empty(n)
    for name in SHARES:
        m = s == name
        p[m], q[m] = population(rng, int(m.sum()), name)
    return p, rng.random(n) < q, s


class TrueError:
    """True error among automated episodes of 'automate p >= t' in a setting (large reference sample)."""

    def __init__(self, setting, n=200_000):
        p, q = population(np.random.default_rng(99), n, setting)
        order = np.argsort(-p)
        self.p = p[order]
        self.err = np.cumsum(1 - q[order])

    def __call__(self, t):
        k = int(np.searchsorted(-self.p, -t, side="right"))
        return 0.0 if k == 0 else float(self.err[k - 1] / k)


def base_router(rng):
    p, c, s = labelled(rng, 1500)
    policy = make_policy("guaranteed", CostModel(), alpha=ALPHA, delta=DELTA).fit(p, c, groups=s).policy_
    return Router(decision_rule=None, features=None, confidence=None, policy=policy, p_calibration=p,
                  correct_calibration=c, settings_calibration=s, model_version="m-1")


def plug_in(p, correct):
    order = np.argsort(-p)
    rate = np.cumsum(~correct[order]) / np.arange(1, p.size + 1)
    ok = np.flatnonzero(rate <= ALPHA)
    return math.inf if ok.size == 0 else float(p[order][ok.max()])


@pytest.mark.slow
def test_recertified_thresholds_keep_alpha_on_fresh_traffic_and_plug_in_does_not():
    rng = np.random.default_rng(0)
    router = base_router(rng)
    truth = {s: TrueError(s) for s in SHARES}
    draws, violations, plug_violations, certified = 200, 0, 0, 0
    for _ in range(draws):
        p, c, s = labelled(rng, 2000)
        rec = recertify(router, p, c, s)
        bad = plug_bad = False
        for name in SHARES:
            if rec.certified[name]:
                certified += 1
                t, _ = rec.router.policy.thresholds_for(name)
                bad |= truth[name](t) > ALPHA
            m = s == name
            plug_bad |= truth[name](plug_in(p[m], c[m])) > ALPHA
        violations += bad
        plug_violations += plug_bad
    assert certified >= draws  # the check is about thresholds that automate something
    assert stats.binom.sf(violations - 1, draws, DELTA) > 0.001, violations
    assert stats.binom.sf(plug_violations - 1, draws, DELTA) < 0.001, plug_violations


def test_the_new_router_carries_the_new_policy_and_data():
    rng = np.random.default_rng(1)
    router = base_router(rng)
    p, c, s = labelled(rng, 3000)
    rec = recertify(router, p, c, s)
    assert rec.router is not None and all(rec.certified.values())
    new = rec.router
    assert new.model_version == "m-1" and new.policy.version != router.policy.version
    assert new.policy.version == new.policy.content_hash() and rec.policy_dict["version"] == new.policy.version
    assert new.p_calibration is p and new.correct_calibration.sum() == c.sum()
    assert list(new.settings_calibration) == list(s)
    assert new.policy.kind == router.policy.kind and new.policy.constraints["method"] == "ltt"
    assert rec.n_used == {k: int((s == k).sum()) for k in SHARES}
    assert rec.needed_more == {"inpatient": None, "day_case": None}
    for name in SHARES:
        assert rec.automated_share[name] == pytest.approx(np.mean(new.policy.route(p[s == name],
                                                                                   groups=s[s == name]) == "automate"))
    json.dumps(rec.to_dict())
    # a re-certified router re-chooses its policy on the new data
    again = new.with_policy(alpha=0.15)
    assert again.policy.constraints["alpha"] == 0.15


def test_too_few_labelled_episodes_certify_nothing_and_say_how_many_more():
    rng = np.random.default_rng(2)
    router = base_router(rng)
    p, c, s = labelled(rng, 150)
    rec = recertify(router, p, c, s, min_labelled=100)
    assert rec.router is None and rec.policy_dict is None and not any(rec.certified.values())
    assert rec.needed_more["day_case"] == 100 - rec.n_used["day_case"]
    assert "min_labelled" in rec.reason["day_case"]
    assert rec.needed_more["inpatient"] is None or rec.needed_more["inpatient"] > 0


def test_a_worse_setting_can_fail_while_another_certifies():
    rng = np.random.default_rng(3)
    router = base_router(rng)
    p, c, s = labelled(rng, 3000)
    c = np.where(s == "inpatient", rng.random(s.size) < 0.5, c)  # inpatient outcomes collapse
    rec = recertify(router, p, c, s)
    assert rec.certified == {"inpatient": False, "day_case": True}
    assert rec.router.policy.thresholds_for("inpatient")[0] == math.inf
    assert rec.reason["inpatient"]


def test_validation():
    rng = np.random.default_rng(4)
    router = base_router(rng)
    p, c, s = labelled(rng, 200)
    with pytest.raises(ValueError, match="settings"):
        recertify(router, p, c, None)
    with pytest.raises(ValueError, match="settings has"):
        recertify(router, p, c, s[:10])
    with pytest.raises(ValueError, match="min_labelled"):
        recertify(router, p, c, s, min_labelled=0)
    with pytest.raises(ValueError, match="alpha"):
        recertify(router, p, c, s, kind="chow")


def test_a_policy_without_settings_recertifies_as_one_group():
    rng = np.random.default_rng(5)
    p, c, _ = labelled(rng, 1500)
    policy = make_policy("guaranteed", CostModel(), alpha=ALPHA, delta=DELTA).fit(p, c).policy_
    router = Router(decision_rule=None, features=None, confidence=None, policy=policy, p_calibration=p,
                    correct_calibration=c, model_version="m-2")
    p2, c2, _ = labelled(rng, 2500)
    rec = recertify(router, p2, c2, None, delta=0.05)
    assert rec.certified == {"all": True} and rec.delta == 0.05 and rec.method == "ltt_fixed_sequence"
    assert rec.router.policy.group_by is None and rec.router.settings_calibration is None
    assert rec.automated_share["all"] == pytest.approx(np.mean(p2 >= rec.router.policy.t_automate))
