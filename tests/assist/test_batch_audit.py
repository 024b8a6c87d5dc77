"""The audit of a coded batch (`triage audit`'s maths, now in the library), pinned on a small input.

The flag table's hash and the figures below were taken from the command's own code before the
calibration and summary moved out of the CLI into :mod:`triage.assist.batch_audit`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from triage.assist.audit import flag_is_right
from triage.assist.batch_audit import audit_coded_batch, calibration_episodes, certify_flags
from triage.assist.human_coding import simulate_human_coding
from triage.coder.scores import CodeScores
from triage.data import gold_labels

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pinning import frame_hash


class _FixedCoder:
    """A coder whose scores are the cohort's own (row looked up by episode id)."""

    def __init__(self, scores: CodeScores):
        self.scores = scores
        self.pos = {int(e): i for i, e in enumerate(scores.episode_ids)}

    def predict_proba(self, episodes: pd.DataFrame) -> CodeScores:
        rows = np.array([self.pos[int(e)] for e in episodes["episode_id"]])
        s = self.scores
        return CodeScores(s.episode_ids[rows], s.classes, s.matrix[rows])


@pytest.fixture(scope="module")
def batch(cohort):
    scores, gold, episodes = cohort
    episodes = episodes.assign(split=np.where(np.arange(len(episodes)) % 2 == 0, "val", "test"))
    test = episodes[episodes["split"] == "test"]
    sim = simulate_human_coding(gold_labels(test), sorted({c for g in gold for c in g}), 0.61, random_state=1)
    coded = {int(e): c for e, c in zip(test["episode_id"], sim.coded)}
    return _FixedCoder(scores), episodes, coded




@pytest.mark.parametrize(("target", "delta", "seed", "n_flags", "n_drg", "flags_hash"), [
    (0.8, 0.1, 0, 126, 23, "d96dba1be8cc5375"),
    (0.6, 0.2, 3, 171, 34, "3bfae363ce4459ba"),
])
def test_audit_of_a_coded_batch_matches_the_commands_former_output(batch, target, delta, seed, n_flags, n_drg,
                                                                   flags_hash):
    coder, episodes, coded = batch
    ids = np.fromiter(coded, dtype=np.int64)
    cal = calibration_episodes(episodes, "val", ids)
    assert len(cal) == 300 and not cal["episode_id"].isin(ids).any()
    assistant = certify_flags(coder, cal, target=target, delta=delta, icd_version=10, random_state=seed)
    by_id = episodes.set_index("episode_id", drop=False)
    result = audit_coded_batch(assistant, coder, by_id.loc[ids].reset_index(drop=True), coded, 10)
    s, flags = result.summary, result.flags
    assert (s["flags"], s["drg_changing_flags"]) == (n_flags, n_drg)
    assert frame_hash(flags) == flags_hash
    # the summary is the flags' own arithmetic
    assert s["episodes"] == len(coded) and sum(s["flags_by_type"].values()) == len(flags)
    assert s["episodes_to_open"] == flags["episode_id"].nunique() / len(coded)
    truth = gold_labels(by_id.loc[ids].reset_index(drop=True))
    agree = [flag_is_right(t, c, truth[r]) for r, t, c in zip(flags["row"], flags["type"], flags["code"])]
    assert s["flag_precision_vs_data"] == pytest.approx(np.mean(agree))
    assert set(s["thresholds"]) == {"missing", "unsupported", "principal"}
