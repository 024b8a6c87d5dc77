"""Per-episode correctness targets: was the automated code list right, by a given standard?

Exact full-code set is the default because it is the seed paper's instance accuracy, the
standard a human-free episode must meet. The others are looser (3-character set, same DRG,
Jaccard) or stricter (sequence-aware: the principal diagnosis must also match), or judge the
fields coding audits judge:

* ``principal``: the principal diagnosis is right (NHS clinical coding audit standard: primary
  diagnosis >= 90% at Level 2, >= 95% at Level 3);
* ``principal_drg``: the principal is right and the list groups to the same MS-DRG (payment);
* ``audit``: the principal is right, every predicted secondary code (other diagnoses and the
  procedures) is in the gold set, and at most one gold secondary is missing. An auditor scores
  secondary codes per code (>= 80-90% at Levels 2-3); one omission out of a typical episode's
  secondaries keeps it at that standard, a wrong code added never does (it changes the record).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from triage.codes.labels import label_kind, truncate_labels

Target = Literal["exact", "exact3", "sequence", "drg", "jaccard", "principal", "principal_drg", "audit"]
TARGETS: tuple[str, ...] = ("exact", "exact3", "sequence", "drg", "jaccard", "principal", "principal_drg", "audit")
#: Each target in plain words (the report and the notebooks say what "correct" meant in a run)
MEANINGS: dict[str, str] = {
    "exact": "the whole code set exactly right",
    "exact3": "the code set right at the 3-character category level",
    "sequence": "the whole code set exactly right and the principal diagnosis first",
    "drg": "the code list groups to the same MS-DRG",
    "jaccard": "the code set overlaps the gold set by at least the Jaccard threshold",
    "principal": "the principal diagnosis right",
    "principal_drg": "the principal diagnosis right and the same MS-DRG",
    "audit": "the principal right, no wrong code added, at most one secondary code missed",
}
#: The targets every run reports side by side (the headline is the run's own target).
REPORTED_TARGETS: tuple[str, ...] = ("exact", "principal", "principal_drg", "audit")
#: Secondary codes an ``audit``-correct list may miss.
AUDIT_MAX_MISSED = 1


def _principal(labels: Sequence[str], version: int) -> str | None:
    """First diagnosis label of an ordered list (the predicted or coded principal)."""
    for lab in labels:
        if label_kind(lab, version) == "dx":
            return lab
    return None


def _versions(episodes: pd.DataFrame | None, n: int) -> np.ndarray:
    if episodes is None or "icd_version" not in episodes.columns:
        return np.full(n, 10, dtype=np.int64)
    v = pd.to_numeric(episodes["icd_version"], errors="coerce").to_numpy()
    bad = ~np.isin(v, (9, 10))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"episodes column 'icd_version' must be 9 or 10; row {i} has {v[i]!r}")
    return v.astype(np.int64)


def correctness(
    pred_labels: Sequence[Sequence[str]],
    gold_labels: Sequence[Sequence[str]],
    target: Target = "exact",
    tau: float = 0.8,
    episodes: pd.DataFrame | None = None,
) -> np.ndarray:
    """Boolean array, one per episode: is the predicted label list correct under ``target``?

    ``pred_labels`` are ordered (highest score first, so the first diagnosis is the predicted
    principal); ``gold_labels`` in coded order (principal first). ``episodes`` (aligned row by
    row) supplies ``icd_version`` for "sequence" and ``age``/``gender``/``died`` for "drg".
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    n = len(pred_labels)
    if len(gold_labels) != n:
        raise ValueError(
            f"pred_labels has {n} episodes but gold_labels has {len(gold_labels)}"
        )
    if episodes is not None and len(episodes) != n:
        raise ValueError(f"episodes has {len(episodes)} rows but pred_labels has {n}")
    if target == "jaccard" and not 0.0 <= tau <= 1.0:
        raise ValueError(f"tau must be in [0, 1], got {tau!r}")

    if target == "drg":
        return _same_drg(pred_labels, gold_labels, episodes)
    if target in ("principal", "principal_drg", "audit"):
        versions = _versions(episodes, n)
        principal_ok = np.fromiter(
            (_principal(p, v) == _principal(g, v)
             for p, g, v in zip(pred_labels, gold_labels, versions)), dtype=bool, count=n)
        if target == "principal":
            return principal_ok
        if target == "principal_drg":
            return principal_ok & _same_drg(pred_labels, gold_labels, episodes)
        out = principal_ok.copy()
        for i, (p, g) in enumerate(zip(pred_labels, gold_labels)):
            if out[i]:
                ps, gs = set(p), set(g)
                out[i] = ps <= gs and len(gs - ps) <= AUDIT_MAX_MISSED
        return out

    out = np.empty(n, dtype=bool)
    if target == "exact":
        for i, (p, g) in enumerate(zip(pred_labels, gold_labels)):
            out[i] = set(p) == set(g)
    elif target == "exact3":
        for i, (p, g) in enumerate(zip(pred_labels, gold_labels)):
            out[i] = set(truncate_labels(p, 3)) == set(truncate_labels(g, 3))
    elif target == "sequence":
        versions = _versions(episodes, n)
        for i, (p, g) in enumerate(zip(pred_labels, gold_labels)):
            out[i] = set(p) == set(g) and _principal(p, versions[i]) == _principal(
                g, versions[i]
            )
    else:  # jaccard
        for i, (p, g) in enumerate(zip(pred_labels, gold_labels)):
            ps, gs = set(p), set(g)
            union = len(ps | gs)
            out[i] = (len(ps & gs) / union if union else 1.0) >= tau
    return out


def _same_drg(pred_labels, gold_labels, episodes: pd.DataFrame | None) -> np.ndarray:
    """Billing-equivalent: the predicted list groups to the gold list's MS-DRG."""
    if episodes is None:
        raise ValueError(
            "target='drg' needs episodes with columns 'age', 'gender', 'died' (and 'icd_version')"
        )
    from triage.confidence._codes import drg_codes

    missing = [c for c in ("age", "gender", "died") if c not in episodes.columns]
    if missing:
        raise ValueError(f"target='drg' needs episodes columns {missing}")
    versions = _versions(episodes, len(episodes))
    if (versions != 10).any():
        i = int(np.flatnonzero(versions != 10)[0])
        raise ValueError(
            f"target='drg' needs ICD-10 episodes (MS-DRG groups ICD-10-CM/PCS); row {i} is ICD-9"
        )
    meta = episodes[["age", "gender", "died"]].reset_index(drop=True)
    pred_drg = drg_codes(pred_labels, meta)
    gold_drg = drg_codes(gold_labels, meta)
    # An ungroupable gold list (no principal) can be matched by nothing.
    return (pred_drg == gold_drg) & (gold_drg != "")
