"""evaluate_assistance is pinned: the same small inputs give the same eight tables.

The hashes were taken before ``evaluate_assistance`` was split into named steps
(:class:`AssistSettings` in, :class:`AssistanceTables` out), under pandas 3.1.1, and re-taken with
the version-independent ``tests/pinning.py`` hash under pandas 2.3.3 when the dependency range
moved to pandas < 3 (same code). They must survive every refactor. A
deliberate change to a table updates them in the same commit and says why.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from triage.assist import evaluate_assistance
from triage.assist.evaluation import AssistSettings, assistance_tables
from triage.coder.decision import DecisionRule

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pinning import frame_hash

CASES = {
    "with-episodes": ((300, 0), True, {"target": 0.9, "extra_targets": (0.8,), "max_steps": 20, "random_state": 0}),
    "no-episodes": ((240, 3), False, {"target": 0.95, "max_steps": 10, "random_state": 5,
                                      "max_sequential_episodes": 60, "ks": (3, 8)}),
}
PINNED = {
    "with-episodes": {
        "assist_recall": "5f4665c25518ae80", "assist_prefill": "1be9fca8818ede68",
        "assist_partial": "627f48366bacb321", "assist_sequential": "1e436888beda347d",
        "assist_steps": "3cfdd8bf2eb57e14", "assist_audit": "8fcc4ad88073659e",
        "assist_audit_curve": "6bcc455963813717", "assist_audit_summary": "0f73735071e08253",
    },
    "no-episodes": {
        "assist_recall": "b3fbae4e5687a891", "assist_prefill": "71f9139c381457dc",
        "assist_partial": "9b5a00e0db02ef30", "assist_sequential": "e1878efb6b4c8d38",
        "assist_steps": "9c246f33d4f411fb", "assist_audit": "c7a77250f3aeab98",
        "assist_audit_curve": "95c130139f1a417d", "assist_audit_summary": "8943a68c55d75829",
    },
}


def _inputs(make_scored_cohort, size, with_episodes):
    scores, gold, episodes = make_scored_cohort(*size)
    cal = np.arange(len(gold)) % 3 != 0
    return scores, DecisionRule(threshold=0.5).predict(scores), gold, episodes if with_episodes else None, cal


@pytest.mark.parametrize("case", list(CASES))
def test_tables_match_their_pinned_hashes(case, make_scored_cohort):
    size, with_episodes, kw = CASES[case]
    tables = evaluate_assistance(*_inputs(make_scored_cohort, size, with_episodes), **kw)
    assert {name: frame_hash(df) for name, df in tables.items()} == PINNED[case]


def test_typed_result_and_settings_give_the_same_tables(make_scored_cohort):
    size, with_episodes, kw = CASES["no-episodes"]
    typed = assistance_tables(*_inputs(make_scored_cohort, size, with_episodes), AssistSettings(**kw))
    assert {name: frame_hash(df) for name, df in typed.as_dict().items()} == PINNED["no-episodes"]
    # negative control: another seed for the simulated coders changes the audit tables
    other = assistance_tables(*_inputs(make_scored_cohort, size, with_episodes),
                              AssistSettings(**{**kw, "random_state": 6}))
    assert frame_hash(other.audit_summary) != PINNED["no-episodes"]["assist_audit_summary"]
