import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from triage.policy import (
    KINDS,
    POLICY_CLASSES,
    CapacityPolicy,
    ChowPolicy,
    CostModel,
    GuaranteedPolicy,
    HumanParityPolicy,
    Policy,
    ThreeWayPolicy,
    chow_thresholds,
    evaluate_policy,
    human_parity_alpha,
    make_policy,
    oracle_automation_at,
)


def choose(kind, p, c, costs, weight_gap=None, groups=None, certify_groups=None, **params):
    return make_policy(kind, costs, **params).fit(p, c, groups=groups, weight_gap=weight_gap,
                                                  certify_groups=certify_groups).policy_


def _cal(seed=0, m=4000, a=5.0, b=2.0):
    rng = np.random.default_rng(seed)
    p = rng.beta(a, b, m)
    return p, rng.random(m) < p


# -- Chow / Bayes ---------------------------------------------------------------------------------


def test_chow_two_way_hand_example():
    # automate when (1 - p) * 40 < 10  <=>  p > 0.75
    cm = CostModel(manual_cost=10, error_cost=40)
    assert chow_thresholds(cm) == (pytest.approx(0.75), None)
    pol = choose("chow", [0.5, 0.8], [True, True], cm)
    assert list(pol.route([0.74, 0.76, 0.99])) == ["manual", "automate", "automate"]


def test_chow_three_way_hand_examples():
    # assist with no residual error: automate only when (1-p)*40 < 4  <=>  p > 0.9; assist otherwise
    t_auto, t_assist = chow_thresholds(CostModel(manual_cost=10, assist_cost=4, error_cost=40))
    assert (t_auto, t_assist) == (pytest.approx(0.9), 0.0)
    # with assist_error_cost 20: automate vs assist p > 1 - 4/20 = 0.8; assist vs manual p > 1 - 6/20 = 0.7
    cm = CostModel(manual_cost=10, assist_cost=4, error_cost=40, assist_error_cost=20)
    t_auto, t_assist = chow_thresholds(cm)
    assert (t_auto, t_assist) == (pytest.approx(0.8), pytest.approx(0.7))
    pol = choose("chow", [0.5, 0.9], [False, True], cm)
    assert list(pol.route([0.65, 0.75, 0.85])) == ["manual", "assist", "automate"]
    # errors free: automate everything; assist dearer than manual: never assist
    assert chow_thresholds(CostModel(manual_cost=10, error_cost=0)) == (0.0, None)
    assert chow_thresholds(CostModel(manual_cost=10, assist_cost=12, error_cost=40))[1] is None


@settings(max_examples=60, deadline=None)
@given(
    m=st.floats(0.5, 50), a=st.floats(0.0, 50), e=st.floats(0.0, 500), ae=st.floats(0.0, 100),
    p=st.lists(st.floats(0, 1), min_size=1, max_size=30),
)
def test_chow_routes_to_the_cheapest_expected_route(m, a, e, ae, p):
    cm = CostModel(manual_cost=m, assist_cost=a, error_cost=e, assist_error_cost=ae)
    pol = choose("chow", p, [True] * len(p), cm)
    routes = pol.route(p)
    exp = cm.expected_costs(p)
    chosen = np.select([routes == r for r in exp], [exp[r] for r in exp])
    best = np.min(np.vstack(list(exp.values())), axis=0)
    np.testing.assert_allclose(chosen, best, rtol=1e-9, atol=1e-9)
    # so the model-expected cost on calibration data never exceeds the all-human cost
    assert pol.expected["model_cost_per_episode"] <= cm.all_human_cost() + 1e-9


def test_chow_drg_weighted_routes_per_episode():
    cm = CostModel(manual_cost=50, error_cost=0, unit="money", drg_weighted=True, base_rate=1000)
    p = np.array([0.9, 0.9])
    gap = np.array([0.1, 2.0])  # expected costs 10 and 200 against 50
    pol = choose("chow", p, [True, True], cm, weight_gap=gap)
    assert pol.rule == "expected_cost"
    assert list(pol.route(p, weight_gap=gap)) == ["automate", "manual"]
    with pytest.raises(ValueError, match="weight_gap"):
        pol.route(p)


# -- thresholds: monotone automation ----------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(t1=st.floats(0, 1), t2=st.floats(0, 1), seed=st.integers(0, 10_000))
def test_automation_rate_is_monotone_in_threshold(t1, t2, seed):
    p = np.random.default_rng(seed).random(300)
    lo, hi = min(t1, t2), max(t1, t2)
    cm = CostModel()
    rates = []
    for t in (lo, hi):
        pol = Policy("guaranteed", t, None, cm.to_dict(), {"alpha": 0.1}, {})
        rates.append((pol.route(p) == "automate").mean())
    assert rates[0] >= rates[1]


# -- guaranteed risk / human parity ---------------------------------------------------------------------


@pytest.mark.parametrize("method,fwer", [("sgr", "holm"), ("ltt", "fixed_sequence"), ("ltt", "holm")])
def test_guaranteed_policy_reports_its_guarantee(method, fwer):
    p, c = _cal(1)
    pol = choose("guaranteed", p, c, CostModel(manual_cost=10, error_cost=60), alpha=0.12, delta=0.1, method=method,
                 fwer=fwer)
    assert pol.feasible
    # LTT certifies alpha itself; SGR its Clopper-Pearson bound at delta / ceil(log2 m), never above alpha
    g = pol.expected["automated_error_guarantee"]
    assert g == pytest.approx(0.12) if method == "ltt" else g <= 0.12
    assert 0 < pol.expected["automation_rate"] < 1
    assert pol.expected["automated_error_lower"] <= pol.expected["automated_error_rate"] <= pol.expected["automated_error_upper"]
    ev = evaluate_policy(pol, *_cal(2))
    assert ev["alpha"] == 0.12 and ev["automated_error_rate"] <= 0.12 + 0.03


def test_human_parity_constants_and_alpha():
    assert human_parity_alpha("uk_study") == pytest.approx(0.46)
    p, c = _cal(0, a=2, b=2)
    pol = choose("human_parity", p, c, CostModel(), human_reference="uk_hospital")
    assert pol.constraints["alpha"] == pytest.approx(0.325)
    assert pol.expected["automated_error_guarantee"] == pytest.approx(0.325)
    with pytest.raises(ValueError, match="reference"):
        choose("human_parity", p, c, CostModel(), human_reference="mars")


def test_infeasible_guarantee_automates_nothing_and_says_why():
    p, c = _cal(0, m=300, a=2, b=2)
    pol = choose("guaranteed", p, c, CostModel(), alpha=0.001, delta=0.05)
    assert not pol.feasible and "error <= 0.001" in pol.note and "without an error" in pol.note
    assert (pol.route(p) == "manual").all()
    assert pol.expected["automated_error_guarantee"] is None


# -- capacity ------------------------------------------------------------------------------------------


def test_capacity_feasible_automates_what_humans_cannot_absorb():
    p, c = _cal(3, a=8, b=1)
    cm = CostModel(manual_cost=10, error_cost=30, capacity=700, period_episodes=1000)
    pol = choose("capacity", p, c, cm, alpha=0.2, delta=0.1)
    assert pol.feasible
    assert pol.expected["automation_rate"] == pytest.approx(0.3, abs=0.002)
    # the automated ones are the most confident
    auto = pol.route(p) == "automate"
    assert p[auto].min() >= p[~auto].max()


def test_capacity_infeasible_case_says_so():
    p, c = _cal(3, a=2, b=2)  # ~50% accuracy
    cm = CostModel(manual_cost=10, error_cost=30, capacity=200, period_episodes=1000)
    pol = choose("capacity", p, c, cm, alpha=0.05, delta=0.1)
    assert not pol.feasible
    assert "requires automating >= 80.0%" in pol.note and "alpha=0.05" in pol.note
    assert pol.expected["automation_rate"] == pytest.approx(0.8, abs=0.002)
    with pytest.raises(ValueError, match="capacity"):
        choose("capacity", p, c, CostModel())


# -- three-way ---------------------------------------------------------------------------------------------


def _brute_three_way_cost(p, c, cm, t_auto, t_assist):
    routes = np.where(p >= t_auto, "automate", np.where(p >= t_assist, "assist", "manual"))
    return cm.realised_costs(routes, c).mean()


def test_three_way_minimises_cost_under_the_guarantee():
    p, c = _cal(4, m=1500, a=8, b=1.5)
    cm = CostModel(manual_cost=10, assist_cost=4, error_cost=40, assist_error_cost=6)
    grid = np.linspace(0, 1, 41)
    pol = choose("three_way", p, c, cm, alpha=0.08, delta=0.1, method="ltt", fwer="holm")
    assert pol.t_assist is not None and pol.t_assist <= pol.t_automate
    assert pol.expected["n_automated"] > 0
    assert pol.expected["automated_error_guarantee"] == pytest.approx(0.08)
    from triage.policy import candidate_thresholds, ltt_valid

    valid, _ = ltt_valid(p, c, 0.08, 0.1, candidate_thresholds(p, 0.08, 0.1, "holm"), "holm")
    grid = np.linspace(0, 1, 101)
    best = min(
        _brute_three_way_cost(p, c, cm, ta, ts)
        for ta in list(valid) + [math.inf] for ts in grid if ts <= ta
    )
    assert pol.expected["cost_per_episode"] == pytest.approx(best)
    assert pol.expected["cost_per_episode"] <= cm.all_human_cost()
    with pytest.raises(ValueError, match="assist_cost"):
        choose("three_way", p, c, CostModel(), alpha=0.1)


# -- serialisation -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["chow", "guaranteed", "three_way", "capacity", "human_parity"])
def test_json_round_trip(kind):
    p, c = _cal(5, m=1000)
    cm = CostModel(manual_cost=10, assist_cost=3, error_cost=50, capacity=400, period_episodes=1000)
    pol = choose(kind, p, c, cm, alpha=0.1 if kind != "human_parity" else None)
    text = pol.to_json()
    json.loads(text)  # strict JSON (no NaN / Infinity)
    assert "NaN" not in text and "Infinity" not in text
    back = Policy.from_json(text)
    assert back.to_dict() == pol.to_dict()
    assert back.version == pol.version
    np.testing.assert_array_equal(back.route(p), pol.route(p))


def test_version_is_a_content_hash_and_edits_are_caught():
    p, c = _cal(6, m=500)
    a = choose("guaranteed", p, c, CostModel(), alpha=0.1)
    b = choose("guaranteed", p, c, CostModel(), alpha=0.1)
    assert a.version == b.version and len(a.version) == 16
    assert choose("guaranteed", p, c, CostModel(), alpha=0.15).version != a.version
    data = a.to_dict()
    data["t_automate"] = 0.01
    with pytest.raises(ValueError, match="edited"):
        Policy.from_dict(data)
    with pytest.raises(ValueError, match="missing"):
        Policy.from_dict({"kind": "chow"})
    with pytest.raises(ValueError, match="not valid"):
        Policy.from_json("{oops")


def test_bad_inputs_name_the_argument():
    cm = CostModel()
    with pytest.raises(ValueError, match="p must lie"):
        choose("chow", [0.2, 1.3], [True, False], cm)
    with pytest.raises(ValueError, match="correct"):
        choose("chow", [0.2, 0.3], [True], cm)
    with pytest.raises(ValueError, match="kind"):
        choose("magic", [0.2], [True], cm)
    with pytest.raises(ValueError, match="alpha"):
        choose("guaranteed", [0.2], [True], cm)
    with pytest.raises(ValueError, match="correct_test"):
        evaluate_policy(choose("chow", [0.2], [True], cm), [0.3], [2])


# -- estimator contract, groups, oracle ---------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_policies_are_clonable_estimators(kind):
    cm = CostModel(manual_cost=10, assist_cost=3, error_cost=50, capacity=400, period_episodes=1000)
    est = make_policy(kind, cm, alpha=0.1, delta=0.1)
    assert isinstance(est, POLICY_CLASSES[kind]) and est.kind == kind
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    with pytest.raises(NotFittedError):
        twin.route([0.5])
    p, c = _cal(8, m=1500)
    np.testing.assert_array_equal(est.fit(p, c).route(p), est.policy_.route(p))
    assert not hasattr(twin, "policy_")


def test_each_kind_takes_only_its_own_parameters():
    assert set(GuaranteedPolicy().get_params()) == {"alpha", "delta", "method", "fwer", "costs"}
    assert set(ChowPolicy().get_params()) == {"costs"}
    assert "reference" in HumanParityPolicy().get_params()
    with pytest.raises(ValueError, match="method"):
        GuaranteedPolicy(method="magic").fit([0.5, 0.9], [True, True])
    with pytest.raises(ValueError, match="alpha"):
        GuaranteedPolicy(alpha=1.5).fit([0.5, 0.9], [True, True])
    with pytest.raises(ValueError, match="assist_cost"):
        ThreeWayPolicy(costs=CostModel()).fit([0.5, 0.9], [True, True])
    with pytest.raises(ValueError, match="capacity"):
        CapacityPolicy(costs=CostModel()).fit([0.5, 0.9], [True, True])


def _two_settings(seed: int, n: int, hard: tuple[float, float]):
    """Calibrated confidences of ``n`` easy day cases then ``n`` inpatients from Beta(``hard``)."""
    rng = np.random.default_rng(seed)
    easy = rng.beta(12, 1, n)
    p = np.r_[easy, rng.beta(*hard, n)]
    c = rng.random(p.size) < p
    return easy, p, c, np.r_[np.full(n, "day_case"), np.full(n, "inpatient")]


def test_groups_get_their_own_thresholds_with_delta_split():
    easy, p, c, g = _two_settings(3, 2000, hard=(2, 3))
    pol = choose("guaranteed", p, c, CostModel(), groups=g, alpha=0.1, delta=0.1)
    assert pol.group_by == "care_setting" and set(pol.groups) == {"day_case", "inpatient"}
    assert pol.constraints["group_delta"] == pytest.approx(0.05)
    assert pol.groups["day_case"]["feasible"] and pol.groups["day_case"]["automation_rate"] > 0.3
    assert not pol.groups["inpatient"]["feasible"] and "automate nothing" in pol.groups["inpatient"]["note"]
    routes = pol.route(p, groups=g)
    assert (routes[2000:] != "automate").all()
    # the same as fitting the group alone at delta / 2
    alone = choose("guaranteed", easy, c[:2000], CostModel(), alpha=0.1, delta=0.05)
    assert pol.groups["day_case"]["t_automate"] == alone.t_automate
    # a grouped policy needs groups; an unseen group goes to people
    with pytest.raises(ValueError, match="groups"):
        pol.route(p)
    assert list(pol.route([0.999], groups=["observation"])) == ["manual"]
    ev = evaluate_policy(pol, p, c, groups=g)
    assert ev["by_group"]["day_case"]["automation_rate"] == pytest.approx(pol.groups["day_case"]["automation_rate"])
    back = Policy.from_json(pol.to_json())
    assert back.version == pol.version
    np.testing.assert_array_equal(back.route(p, groups=g), routes)


def test_version_one_records_still_load_with_their_hash():
    p, c = _cal(6, m=500)
    pol = choose("chow", p, c, CostModel())
    data = pol.to_dict()
    data["schema_version"] = 1
    data.pop("groups"), data.pop("group_by")
    data.pop("version")
    old = Policy.from_dict(data)
    assert old.schema_version == 1 and old.group_by is None
    # a version-1 record as stored, with its hash, loads and keeps it; an edited one is refused
    assert old.version == old.content_hash()
    stored = {**data, "version": old.version}
    assert Policy.from_dict(stored).version == old.version
    with pytest.raises(ValueError, match="does not match its content"):
        Policy.from_dict({**stored, "t_automate": 0.5})


@pytest.mark.parametrize("rate,alpha,expected", [(0.2, 0.1, 0.2 / 0.9), (0.95, 0.1, 1.0), (0.0, 0.05, 0.0)])
def test_oracle_automation_at_alpha(rate, alpha, expected):
    assert oracle_automation_at(alpha, rate) == pytest.approx(expected)
    # it is what an oracle achieves: rank the correct episodes first and take the largest share
    # whose error among the automated stays <= alpha (found by search, not by the formula)
    n = 10_000
    correct = np.zeros(n, dtype=bool)
    correct[: int(rate * n)] = True
    errors = np.cumsum(~correct)
    feasible = errors <= alpha * np.arange(1, n + 1)
    best = (np.flatnonzero(feasible).max() + 1) if feasible.any() else 0
    assert best / n == pytest.approx(expected, abs=1e-3)


def test_groups_left_out_of_certification_automate_nothing_and_free_delta():
    _, p, c, g = _two_settings(4, 1500, hard=(1, 8))
    both = choose("guaranteed", p, c, CostModel(), groups=g, alpha=0.1, delta=0.1)
    only = choose("guaranteed", p, c, CostModel(), groups=g, alpha=0.1, delta=0.1, certify_groups=["day_case"])
    assert only.constraints["group_delta"] == pytest.approx(0.1) and both.constraints["group_delta"] == 0.05
    assert not only.groups["inpatient"]["feasible"] and "no share of delta" in only.groups["inpatient"]["note"]
    # the whole delta on the group that can use it: a threshold at least as low as with half of it
    assert only.groups["day_case"]["t_automate"] <= both.groups["day_case"]["t_automate"]
    # a three-way policy still assists the uncertified group
    cm = CostModel(manual_cost=20, assist_cost=8, error_cost=120, assist_error_cost=30)
    three = choose("three_way", p, c, cm, groups=g, alpha=0.1, delta=0.1, certify_groups=["day_case"])
    assert three.groups["inpatient"]["t_automate"] == math.inf


def test_route_one_routes_as_route_does():
    """The per-request route of one p (no arrays) takes route's thresholds and comparisons: equal
    at and around every threshold, per group, and for a group the policy never saw."""
    _, p, c, g = _two_settings(4, 1500, hard=(3, 2))
    grouped = choose("three_way", p, c, CostModel(manual_cost=20, assist_cost=8, error_cost=60),
                     groups=g, alpha=0.2, delta=0.1)
    plain = choose("three_way", p, c, CostModel(manual_cost=20, assist_cost=8, error_cost=60),
                   alpha=0.2, delta=0.1)
    assert plain.t_assist is not None and grouped.group_by == "care_setting"
    for pol in (plain, grouped):
        cuts = [t for grp in (pol.groups.values() if pol.group_by else [vars(pol)])
                for t in (grp["t_automate"], grp["t_assist"]) if t is not None and math.isfinite(t)]
        probes = np.r_[p[:300], cuts, np.nextafter(cuts, 0), np.nextafter(cuts, 1), 0.0, 1.0]
        routes = set()
        for setting in ("day_case", "inpatient", "observation"):  # observation: never seen
            groups = [setting] * len(probes) if pol.group_by else None
            expected = pol.route(probes, groups=groups).tolist()
            assert [pol.route_one(x, setting if pol.group_by else None) for x in probes] == expected
            routes |= set(expected)
        assert {"automate", "assist"} <= routes and ("manual" in routes) == (pol is grouped)
    with pytest.raises(ValueError, match="groups"):
        grouped.route_one(0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plain.route_one(1.5)
