"""The champion rule: lower cost at the same guarantee moves the alias; anything else keeps it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from triage.tracking.registry import VersionFacts, decide_promotion

G = {"target": "exact", "alpha": "0.1", "delta": "0.1"}


def facts(version, value, guarantee=G, objective="cost_per_episode"):
    return VersionFacts(str(version), objective, value, dict(guarantee))


def test_first_version_becomes_champion():
    assert decide_promotion(facts(1, 9.0), None)[0]


def test_cheaper_at_same_guarantee_is_promoted_dearer_is_not():
    champion = facts(1, 9.0)
    ok, reason = decide_promotion(facts(2, 8.5), champion)
    assert ok and "promoted" in reason
    ok, reason = decide_promotion(facts(3, 9.5), champion)
    assert not ok and "champion kept" in reason
    assert not decide_promotion(facts(4, 9.0), champion)[0]  # a tie does not move the alias


def test_different_guarantee_never_auto_promotes_even_if_cheaper():
    champion = facts(1, 9.0)
    looser = facts(2, 1.0, {**G, "alpha": "0.2"})
    ok, reason = decide_promotion(looser, champion)
    assert not ok and "alpha 0.1 -> 0.2" in reason
    assert not decide_promotion(facts(3, 1.0, {**G, "target": "drg"}), champion)[0]
    assert not decide_promotion(facts(4, 1.0, {"target": "exact", "alpha": "0.1"}), champion)[0]


def test_force_promotes_whatever_the_numbers():
    ok, reason = decide_promotion(facts(2, 99.0, {**G, "delta": "0.5"}), facts(1, 1.0), force=True)
    assert ok and "request" in reason


def test_maximised_objectives_compare_the_other_way():
    champion = facts(1, 0.30, objective="automation_rate")
    assert decide_promotion(facts(2, 0.35, objective="automation_rate"), champion)[0]
    assert not decide_promotion(facts(3, 0.25, objective="automation_rate"), champion)[0]


def test_missing_objective_or_other_objective_keeps_champion():
    champion = facts(1, 9.0)
    assert not decide_promotion(facts(2, None), champion)[0]
    assert not decide_promotion(facts(3, 1.0, objective="automation_rate"), champion)[0]


@given(st.floats(0, 100), st.floats(0, 100))
def test_promotion_is_exactly_strict_improvement(new, old):
    assert decide_promotion(facts(2, new), facts(1, old))[0] == (new < old)
