"""Monitoring summaries: realised error of automated decisions with the policy's exact interval."""

from __future__ import annotations

import pytest

from service.monitoring import summarise
from service.store import GroupStats
from triage.policy.guarantees import clopper_pearson_interval


def test_summarise_groups_by_model_and_policy():
    stats = [
        GroupStats("m1", "p1", "automate", 8, 5, 1),
        GroupStats("m1", "p1", "manual", 2, 1, 0),
        GroupStats("m1", "p2", "assist", 3, 0, 0),
    ]
    g1, g2 = summarise(stats)
    assert g1["routed"] == {"automate": 8, "assist": 0, "manual": 2}
    assert g1["automation_rate"] == pytest.approx(0.8)
    assert g1["outcomes"] == 6 and g1["realised_error"] == pytest.approx(0.2)
    assert g2["automated_with_outcome"] == 0 and g2["realised_error_interval"] is None
    lo, hi = clopper_pearson_interval(1, 5, 0.95)
    assert g1["realised_error_interval"] == {"lower": pytest.approx(lo), "upper": pytest.approx(hi), "confidence": 0.95}
    assert 0 < g1["realised_error_interval"]["lower"] < 0.2 < g1["realised_error_interval"]["upper"] < 1
