"""evaluate_assistance is pinned: the same small inputs give the same eight tables.

The hashes were taken before ``evaluate_assistance`` was split into named steps
(:class:`AssistSettings` in, :class:`AssistanceTables` out) and must survive every refactor. A
deliberate change to a table updates them in the same commit and says why.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from triage.assist import evaluate_assistance
from triage.assist.evaluation import AssistSettings, assistance_tables
from triage.coder.decision import DecisionRule


def _table_hash(df: pd.DataFrame) -> str:
    cells = pd.util.hash_pandas_object(df.astype(str), index=True).to_numpy().tobytes()
    header = ("|".join(map(str, df.columns)) + "|" + "|".join(map(str, df.dtypes))).encode()
    return hashlib.sha256(cells + header).hexdigest()[:16]


CASES = {
    "with-episodes": ((300, 0), True, {"target": 0.9, "extra_targets": (0.8,), "max_steps": 20, "random_state": 0}),
    "no-episodes": ((240, 3), False, {"target": 0.95, "max_steps": 10, "random_state": 5,
                                      "max_sequential_episodes": 60, "ks": (3, 8)}),
}
PINNED = {
    "with-episodes": {
        "assist_recall": "ce09f20cb5be3786", "assist_prefill": "939989fa1e5b4515",
        "assist_partial": "4f93ab47ef7ad320", "assist_sequential": "9f00944381e858aa",
        "assist_steps": "1bc2f739fb756b2e", "assist_audit": "bc51b6bbc69c65ac",
        "assist_audit_curve": "1b1a3ccb46ddacaf", "assist_audit_summary": "1eea341d0597570c",
    },
    "no-episodes": {
        "assist_recall": "a3565ee28ca2531d", "assist_prefill": "6c7c99fbc0360193",
        "assist_partial": "ae0d026b7902d29a", "assist_sequential": "cfc4e111cd457e3f",
        "assist_steps": "66549a9b99d1d0dc", "assist_audit": "30ad8c10c9ea2c4d",
        "assist_audit_curve": "a667d472e4d04ea0", "assist_audit_summary": "3577e813d8e8f3bd",
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
    assert {name: _table_hash(df) for name, df in tables.items()} == PINNED[case]


def test_typed_result_and_settings_give_the_same_tables(make_scored_cohort):
    size, with_episodes, kw = CASES["no-episodes"]
    typed = assistance_tables(*_inputs(make_scored_cohort, size, with_episodes), AssistSettings(**kw))
    assert {name: _table_hash(df) for name, df in typed.as_dict().items()} == PINNED["no-episodes"]
    # negative control: another seed for the simulated coders changes the audit tables
    other = assistance_tables(*_inputs(make_scored_cohort, size, with_episodes),
                              AssistSettings(**{**kw, "random_state": 6}))
    assert _table_hash(other.audit_summary) != PINNED["no-episodes"]["assist_audit_summary"]
