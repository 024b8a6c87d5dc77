"""The evidence plan's delta weights, the fixed sequence's one start on independent labels, and why
nothing is certified (issue #22)."""

import numpy as np
import pytest

from triage.policy import CostModel
from triage.policy.automation import automation_rows
from triage.policy.evidence import delta_weights, evidence_plan, setting_deltas
from triage.policy.guarantees import error_free_needed, risk_control, sequence_start
from triage.policy.policies import GuaranteedPolicy, why_nothing_certified


def test_delta_weights_sum_to_one_and_favour_the_setting_short_of_evidence():
    w = delta_weights({"day_case": 500.0, "observation": 120.0}, alpha=0.05)
    assert sum(w.values()) == pytest.approx(1.0)
    assert w["observation"] > w["day_case"]  # its planned p-value is far larger
    assert delta_weights({}, 0.05) == {}


def test_evidence_plan_shares_delta_by_weight_and_one_start_uses_the_whole_share():
    settings = np.array(["day_case"] * 700 + ["observation"] * 330 + ["inpatient"] * 900)
    rates = {"day_case": 0.76, "observation": 0.42, "inpatient": 0.03}
    plan = evidence_plan(settings, rates, 0.05, 0.1, "ltt", "fixed_sequence", one_start=True)
    deltas = setting_deltas(plan)
    assert set(deltas) == {"day_case", "observation"}  # inpatient cannot certify anything
    assert sum(deltas.values()) == pytest.approx(0.1)
    row = plan.set_index("setting").loc["observation"]
    assert row["delta_per_test"] == pytest.approx(row["delta_setting"])
    two = evidence_plan(settings, rates, 0.05, 0.1, "ltt", "fixed_sequence").set_index("setting")
    assert two.loc["observation", "delta_per_test"] == pytest.approx(two.loc["observation", "delta_setting"] / 2)


def test_sequence_start_moves_below_errors_at_the_top_of_the_reference():
    rng = np.random.default_rng(0)
    p = np.sort(rng.random(1000))[::-1]
    p_ref = np.sort(rng.random(600))[::-1]
    clean = np.ones(600, bool)
    bad_top = clean.copy()
    bad_top[:30:2] = False  # half of the reference's top 30 wrong
    n_min = error_free_needed(0.1, 0.1)
    clean_start = sequence_start(p, 0.1, 0.1, p_ref, clean)
    assert n_min <= clean_start < 100  # nothing to avoid: an early start where the first test surely passes
    assert sequence_start(p, 0.1, 0.1, p_ref, bad_top) > clean_start + 50  # the start goes below the bad top
    assert sequence_start(p, 0.1, 0.1) >= n_min  # no reference: label-free


def test_one_start_from_independent_labels_certifies_where_the_top_is_bad():
    """A bad top of the ranking stops a sequence that starts there; the reference moves the start."""
    rng = np.random.default_rng(1)

    def draw(n):
        p = np.sort(rng.random(n))[::-1]
        correct = rng.random(n) < 0.99
        correct[: n // 25] = rng.random(n // 25) < 0.4  # the most confident 4% are often wrong
        return p, correct

    p, c = draw(1500)
    ref = draw(700)
    with_ref = risk_control(p, c, 0.1, 0.05, reference=ref)
    assert with_ref.feasible and with_ref.delta_per_test == 0.05  # one sequence at the whole level
    assert with_ref.threshold < 0.5


def test_group_deltas_are_checked():
    p = np.linspace(0, 1, 400)
    c = p > 0.3
    g = np.repeat(["a", "b"], 200)
    est = GuaranteedPolicy(alpha=0.1, delta=0.1)
    with pytest.raises(ValueError, match="sum to at most delta"):
        est.fit(p, c, groups=g, group_deltas={"a": 0.08, "b": 0.05})
    with pytest.raises(ValueError, match="no share of delta"):
        est.fit(p, c, groups=g, group_deltas={"a": 0.05})
    policy = est.fit(p, c, groups=g, group_deltas={"a": 0.02, "b": 0.08}).policy_
    assert policy.constraints["group_delta"] == {"a": 0.02, "b": 0.08}


def test_the_reason_names_too_little_evidence_or_errors_at_the_top():
    p = np.linspace(1, 0.5, 40)
    res = risk_control(p, np.ones(40, bool), 0.05, 0.1)
    assert "too little evidence" in why_nothing_certified(p, np.ones(40, bool), 0.05, res)
    p = np.linspace(1, 0.5, 300)
    c = np.ones(300, bool)
    c[:60:3] = False
    res = risk_control(p, c, 0.05, 0.1)
    assert not res.feasible
    assert why_nothing_certified(p, c, 0.05, res).startswith("errors at the top of the ranking")


def test_automation_rows_give_quality_per_setting_and_a_lower_limit_saving():
    rng = np.random.default_rng(3)
    n = 3000
    p = rng.random(n)
    correct = rng.random(n) < p
    settings = rng.choice(["day_case", "observation"], n)
    rows = automation_rows("t", p[:1500], correct[:1500], settings[:1500], p[1500:], correct[1500:], settings[1500:],
                           CostModel(), [0.1], 0.1, methods=[("ltt", "fixed_sequence")],
                           planning_rates={"day_case": 0.5, "observation": 0.5},
                           reference=(p[:600], correct[:600], settings[:600]))
    by = {r["setting"]: r for r in rows}
    assert set(by) == {"all", "day_case", "observation"}
    for r in rows:
        assert 0.5 < r["auroc"] <= 1 and 0 <= r["ece"] < 1 and r["top_k"] == 50
        assert (r["reason"] == "") == (r["n_automated"] > 0)
        if r["n_automated"]:
            expected = r["automation_lower"] * (20 - r["guarantee"] * 120)
            assert r["certified_saving_per_episode"] == pytest.approx(expected)
