"""evaluate_assistance: the run's tables, calibration kept apart from evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from triage.allocation.effort import EffortModel
from triage.assist import evaluate_assistance
from triage.coder.decision import DecisionRule

TABLES = {"assist_recall", "assist_prefill", "assist_partial", "assist_sequential", "assist_steps",
          "assist_audit", "assist_audit_curve", "assist_audit_summary"}


@pytest.fixture(scope="module")
def tables(cohort):
    scores, gold, episodes = cohort
    rule = DecisionRule(threshold=0.5)  # a fixed threshold needs no fitting
    cal = np.arange(len(gold)) % 2 == 0
    return evaluate_assistance(scores, rule.predict(scores), gold, episodes, cal, target=0.9,
                               extra_targets=(0.8,), max_steps=20, random_state=0)


def test_every_table_and_its_key_figures(tables):
    assert set(tables) == TABLES
    rec = tables["assist_recall"].set_index("k")
    assert list(rec.index) == [5, 10, 15] and (np.diff(rec["recall_at_k"]) >= 0).all()
    pre = tables["assist_prefill"]
    full = pre[(pre["what"] == "full codes") & (pre["target"] == 0.9)].iloc[0]
    assert full["feasible"] and full["shown"] > 0
    assert full["ci_high"] >= 0.9  # the realised precision is consistent with the guarantee
    assert full["assist_minutes_with"] < full["assist_minutes_without"]  # pre-filled codes save time
    steps = tables["assist_steps"]
    assert steps["ranking"].tolist() == ["static", "sequential", "sequential (tuned on calibration)"]
    summary = tables["assist_audit_summary"].iloc[0]
    assert tables["assist_audit_summary"]["target"].tolist() == [0.9, 0.8]
    assert 0.5 <= summary["human_exact_match"] <= 0.72
    assert summary["exact_match_after_audit"] >= summary["human_exact_match"]
    audit = tables["assist_audit"]
    assert set(audit["flag"]) == {"missing", "unsupported", "principal"} and set(audit["target"]) == {0.9, 0.8}


def test_bad_calibration_mask_is_refused(cohort):
    scores, gold, episodes = cohort
    with pytest.raises(ValueError, match="calibration_mask"):
        evaluate_assistance(scores, gold, gold, episodes, np.ones(len(gold), bool))
    with pytest.raises(ValueError, match="row-aligned"):
        evaluate_assistance(scores, gold[:-1], gold, episodes, np.arange(len(gold)) % 2 == 0)


def test_prefilled_codes_shorten_assisted_minutes_only():
    m = EffortModel()
    route = np.array(["assist", "manual", "assist"])
    words, codes, cats = np.full(3, 1000.0), np.full(3, 6.0), np.full(3, 3.0)
    base = m.predict(route, words, codes, cats)
    less = m.predict(route, words, codes, cats, n_prefilled=np.array([4, 4, 10]))
    per_code = m.coefficients["assist"][2]
    assert less[1] == base[1]
    assert less[0] == pytest.approx(base[0] - 0.75 * per_code * 4)
    assert less[2] == pytest.approx(base[2] - 0.75 * per_code * 6)  # at most every code
    assert m.minutes("assist", 1000, 6, 3, n_prefilled=4) == pytest.approx(less[0])


def test_allocator_charges_less_for_prefilled_assisted_episodes():
    from triage.allocation import Allocator
    from triage.allocation.episodes import EpisodeInputError

    base = {"route": "assist", "p_correct": 0.5, "principal": "I50.9", "n_codes": 6, "n_categories": 3}
    t = Allocator().score([{**base, "episode_id": 1}, {**base, "episode_id": 2, "n_prefilled": 4}])
    assert t["minutes"].iloc[1] < t["minutes"].iloc[0]
    with pytest.raises(EpisodeInputError, match="n_prefilled"):
        Allocator().score([{**base, "episode_id": 1, "n_prefilled": -1}])
