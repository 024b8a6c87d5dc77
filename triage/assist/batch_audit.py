"""Audit a batch of human-coded episodes (seed paper section 4.3), as ``triage audit`` does.

The steps the command runs, each a function: pick the calibration episodes (a split, outside the
coded batch), certify the flag thresholds on them (:func:`certify_flags`), flag the coded batch
and set every flag against the data's own codes (:func:`audit_coded_batch`), and sum it up
(:func:`audit_summary`). The command only reads files, calls these and prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from triage.assist.audit import flag_is_right
from triage.assist.precision import PrecisionThreshold
from triage.assist.suggestions import Assistant, calibrate_assistant
from triage.coder.scores import CodeScores
from triage.data import gold_labels


class Scorer(Protocol):
    """A coder: scores every code for each episode of a table."""

    def predict_proba(self, episodes: pd.DataFrame) -> CodeScores: ...


@dataclass(frozen=True)
class BatchAudit:
    """The flags of a coded batch (with ``agrees_with_data``) and their summary."""

    flags: pd.DataFrame
    summary: dict[str, Any]
    thresholds: dict[str, PrecisionThreshold]


def calibration_episodes(episodes: pd.DataFrame, split: str, exclude_ids: np.ndarray) -> pd.DataFrame:
    """The ``split`` episodes outside the coded batch: where the flag thresholds are certified."""
    return episodes[(episodes["split"] == split) & ~episodes["episode_id"].isin(exclude_ids)]


def certify_flags(coder: Scorer, calibration: pd.DataFrame, *, target: float, delta: float,
                  icd_version: int, random_state: int | None = 0) -> Assistant:
    """Flag thresholds certified on ``calibration`` (simulated first-pass coding against its
    recorded codes); :meth:`Assistant.auditor` uses them."""
    return calibrate_assistant(coder.predict_proba(calibration), gold_labels(calibration), target=target,
                               delta=delta, icd_version=icd_version, random_state=random_state)


def audit_coded_batch(assistant: Assistant, coder: Scorer, batch: pd.DataFrame,
                      coded: Mapping[int, Sequence[str]], icd_version: int) -> BatchAudit:
    """Flag the coded lists of ``batch`` (its rows, ``coded`` keyed by episode id) and set each
    flag against the batch's recorded codes (``agrees_with_data``)."""
    scores = coder.predict_proba(batch)
    lists = [list(coded[int(e)]) for e in scores.episode_ids]
    auditor = assistant.auditor()
    flags = auditor.audit_batch(lists, scores, batch, with_drg=icd_version == 10)
    truth = gold_labels(batch)
    flags["agrees_with_data"] = [flag_is_right(t, code, truth[int(r)])
                                 for r, t, code in zip(flags["row"], flags["type"], flags["code"])]
    return BatchAudit(flags, audit_summary(lists, flags, truth, auditor.thresholds), auditor.thresholds)


def audit_summary(lists: Sequence[Sequence[str]], flags: pd.DataFrame, truth: Sequence[Sequence[str]],
                  thresholds: Mapping[str, PrecisionThreshold]) -> dict[str, Any]:
    """Episodes, flags (by type, MS-DRG-changing), the share of episodes an auditor opens, the
    thresholds, and how the coded lists and the flags agree with the data's own codes."""
    return {
        "episodes": len(lists), "flags": len(flags),
        "episodes_to_open": float(flags["episode_id"].nunique() / max(len(lists), 1)),
        "flags_by_type": {k: int(v) for k, v in flags["type"].value_counts().items()},
        "drg_changing_flags": int(sum(v is True for v in flags["drg_changes"])),
        "thresholds": {t: p.to_dict() for t, p in thresholds.items()},
        "coded_exact_match_vs_data": float(np.mean([set(a) == set(b) for a, b in zip(lists, truth)])),
        "flag_precision_vs_data": float(flags["agrees_with_data"].mean()) if len(flags) else None,
    }
