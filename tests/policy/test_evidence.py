"""The evidence plan's delta weights, the fixed sequence's one start on independent labels, and why
nothing is certified (issue #22)."""

import numpy as np
import pytest
from scipy import stats

from triage.policy import CostModel
from triage.policy.automation import automation_rows
from triage.policy.evidence import delta_weights, evidence_plan, setting_deltas
from triage.policy.guarantees import (
    error_free_needed,
    expected_automation,
    risk_control,
    sequence_start,
)
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


def _calibrated_draw(rng, n):
    """A calibrated confidence model: correct ~ Bernoulli(p)."""
    p = np.sort(rng.beta(8, 1.5, n))[::-1]
    return p, rng.random(n) < p


def test_sequence_start_moves_below_errors_at_the_top_of_the_reference():
    rng = np.random.default_rng(0)
    p, _ = _calibrated_draw(rng, 1000)
    p_ref, clean = _calibrated_draw(rng, 2000)
    bad_top = clean.copy()
    bad_top[:100] = rng.random(100) > 0.3  # the reference's 100 most confident: 30% wrong
    in_bad_top = int((p >= p_ref[99]).sum())
    n_min = error_free_needed(0.1, 0.1)
    clean_start = sequence_start(p, 0.1, 0.1, p_ref, clean)
    bad_start = sequence_start(p, 0.1, 0.1, p_ref, bad_top)
    assert n_min <= clean_start < bad_start and bad_start > in_bad_top  # the start goes below the bad top
    counts = np.arange(n_min, 1001, 10)
    expected = expected_automation(np.sort(p)[::-1], counts, 0.1, 0.1, p_ref, bad_top)
    chosen = expected[(bad_start - n_min) // 10]
    assert expected[0] < 1 and chosen > 10  # starting at the top certifies (almost) nothing; the chosen start does
    assert sequence_start(p, 0.1, 0.1) >= n_min  # no reference: label-free
    assert bad_start == sequence_start(p, 0.1, 0.1, p_ref, bad_top)  # seeded: same data, same start


def test_at_a_large_policy_part_the_start_goes_where_its_first_test_is_near_certain():
    """12,000 policy episodes (MIMIC-IV size): starting at the 22 most confident would stake everything on
    them; the planned start lies deeper, where fresh draws of the same model pass its first test."""
    rng = np.random.default_rng(3)
    p, _ = _calibrated_draw(rng, 12_000)
    p_ref, c_ref = _calibrated_draw(rng, 4_000)
    start = sequence_start(p, 0.1, 0.1, p_ref, c_ref)
    assert start > 10 * error_free_needed(0.1, 0.1)
    t = np.sort(p)[::-1][start - 1]
    k_crit = int(np.flatnonzero(stats.binom.cdf(np.arange(start), start, 0.1) <= 0.1).max())
    errors = rng.binomial(1, 1 - p[p >= t], size=(500, int((p >= t).sum()))).sum(axis=1)
    assert (errors <= k_crit).mean() >= 0.95


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


def test_the_reason_says_whether_any_start_could_have_passed():
    """Whether a start chosen with hindsight would have passed separates "the plan missed" from "this
    evidence and ranking cannot certify alpha at all"."""
    p = np.linspace(1, 0.5, 600)
    spread = np.ones(600, bool)
    spread[::12] = False  # 8% wrong everywhere: nothing passes at alpha = 0.05
    res = risk_control(p, spread, 0.05, 0.1)
    assert "no number of top policy episodes passes" in why_nothing_certified(p, spread, 0.05, res)
    top_only = np.ones(600, bool)
    top_only[:60:4] = False  # 15 errors in the top 60, none below
    res = risk_control(p, top_only, 0.05, 0.1)
    assert not res.feasible  # the label-free starts sit inside the bad top
    reason = why_nothing_certified(p, top_only, 0.05, res)
    n = int(reason.split("a start at the top ")[1].split()[0])  # the fewest that pass with its 15 errors
    assert stats.binom.cdf(15, n, 0.05) <= res.delta_per_test < stats.binom.cdf(15, n - 1, 0.05)


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


def test_an_ungrouped_row_keeps_the_whole_reason():
    """One threshold for everyone: the row's reason is the policy's, clauses and all."""
    p = np.linspace(1, 0.5, 600)
    correct = np.ones(600, bool)
    correct[::12] = False  # 8% wrong everywhere: nothing passes at alpha = 0.05
    rows = automation_rows("t", p, correct, None, p, correct, None, CostModel(), [0.05], 0.1,
                           methods=[("ltt", "fixed_sequence")])
    assert rows[0]["setting"] == "all" and rows[0]["n_automated"] == 0
    assert rows[0]["reason"].startswith("errors at the top of the ranking")
    assert "no number of top policy episodes passes" in rows[0]["reason"]
