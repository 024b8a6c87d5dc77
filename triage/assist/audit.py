"""The offline auditor (seed paper section 4.3): check a human-coded episode after the fact.

Three kinds of flag, each scored so that a higher score means a likelier real error:

* ``missing`` — a code the coder left out that the model is confident about (under-coding);
  score = the code's probability; right when the code is gold.
* ``unsupported`` — a coded code the model finds no support for; score = 1 - its probability;
  right when the code is not gold. Only codes the model scored are judged (a code outside its
  label space is unknown to it, not unsupported).
* ``principal`` — the model would sequence another diagnosis first; score = the margin between
  the model's principal and the coded one; right when the model's principal is the gold one.

Each kind shows at most its best flag per episode (by default) and gets its own threshold
certified on calibration episodes (coded and audited) with
:func:`triage.assist.precision.certify_precision` at ``delta / 3`` (one flag per episode makes the
exact binomial test valid under i.i.d. episodes), so all three precision
guarantees hold together with probability ``>= 1 - delta``; the pooled flag precision is then
at least the target too. Every flag carries the MS-DRG change its correction would cause
(:mod:`triage.codes.drg`): the billing impact the seed paper asks audits to measure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from triage.assist.precision import DEFAULT_GRID, PrecisionThreshold, certify_precision, shown_mask
from triage.coder.scores import CodeScores
from triage.codes.labels import canonical, label_kind
from triage.metrics.sequence import is_diagnosis_label, principal

FLAG_TYPES = ("missing", "unsupported", "principal")
MAX_FLAGS_PER_EPISODE = 10
#: Flags whose DRG impact is computed per flag shown: the shown ones are chosen among the
#: ``GROUPED_FLAGS_PER_SHOWN * max_flags`` highest-scoring flags, DRG-changing ones first.
GROUPED_FLAGS_PER_SHOWN = 4
#: Flags scoring below this are never raised (keeps candidate lists short); thresholds are
#: certified on a grid starting here, so calibration and use see the same candidates.
MIN_FLAG_SCORE = 0.2
FLAG_GRID = DEFAULT_GRID[DEFAULT_GRID >= MIN_FLAG_SCORE]
_is_dx = lru_cache(maxsize=1 << 16)(is_diagnosis_label)


def flag_candidates(coded: Sequence[str], scores: Mapping[str, float],
                    known: set[str] | frozenset[str] | None = None) -> list[dict[str, Any]]:
    """Every possible flag of one coded episode (score >= MIN_FLAG_SCORE, before thresholds).

    ``known``: labels the model can score; a coded code in ``known`` without a score in
    ``scores`` (a sparse top-k row) has score 0. Without ``known`` only scored codes are judged.
    """
    coded = list(dict.fromkeys(coded))
    have = set(coded)
    out = [{"type": "missing", "code": lab, "score": float(s)} for lab, s in scores.items()
           if lab not in have and s >= MIN_FLAG_SCORE]
    for lab in coded:
        if lab in scores or (known is not None and lab in known):
            u = 1.0 - float(scores.get(lab, 0.0))
            if u >= MIN_FLAG_SCORE:
                out.append({"type": "unsupported", "code": lab, "score": u})
    dx = [(lab, s) for lab, s in scores.items() if _is_dx(lab)]
    coded_p = principal(coded)
    if dx and coded_p is not None:
        best, s_best = max(dx, key=lambda t: (t[1], t[0]))
        if best != coded_p:
            margin = float(s_best) - float(scores.get(coded_p, 0.0))
            if margin >= MIN_FLAG_SCORE:
                out.append({"type": "principal", "code": best, "score": margin, "replaces": coded_p})
    return out


def corrected(coded: Sequence[str], flag: Mapping[str, Any]) -> list[str]:
    """The coded list after accepting one flag (missing: add as secondary; unsupported: drop;
    principal: move the model's principal first)."""
    coded = list(dict.fromkeys(coded))
    if flag["type"] == "missing":
        return coded + [flag["code"]]
    if flag["type"] == "unsupported":
        return [c for c in coded if c != flag["code"]]
    rest = [c for c in coded if c != flag["code"]]
    return [flag["code"]] + rest


def drg_of(labels: Sequence[str], version: int, gender: Any = None, died: Any = None):
    """MS-DRG of an ordered label list (ICD-10 only; None when it cannot be grouped)."""
    if version != 10:
        return None
    dx = [canonical(c) for c in labels if label_kind(c, 10) == "dx"]
    px = [canonical(c) for c in labels if label_kind(c, 10) == "px"]
    if not dx:
        return None
    from triage.codes.drg import group_episode

    try:
        return group_episode(dx, px, gender, is_alive=not (died is True or died == 1))
    except ValueError:
        return None


def _weight(g) -> float | None:
    return None if g is None or g.weight is None or math.isnan(g.weight) else float(g.weight)


class Auditor:
    """Certified thresholds per flag type; audits one coded episode or a batch."""

    def __init__(self, thresholds: Mapping[str, PrecisionThreshold], icd_version: int = 10,
                 max_flags: int = MAX_FLAGS_PER_EPISODE) -> None:
        self.thresholds = dict(thresholds)
        self.icd_version = icd_version
        self.max_flags = max_flags

    def audit(self, coded: Sequence[str], scores: Mapping[str, float], gender: Any = None,
              died: Any = None, with_drg: bool = True, known=None) -> dict[str, Any]:
        """Flags above their certified thresholds, DRG impact first, then score."""
        flags = []
        for f in flag_candidates(coded, scores, known):
            t = self.thresholds.get(f["type"])
            if t is not None and t.feasible and f["score"] >= t.threshold:
                flags.append(f)
        flags.sort(key=lambda f: -f["score"])
        # the certified rule shows each type's best max_per_episode
        per_type: dict[str, int] = {}
        kept = []
        for f in flags:
            cap = self.thresholds[f["type"]].max_per_episode
            if per_type.get(f["type"], 0) < cap:
                per_type[f["type"]] = per_type.get(f["type"], 0) + 1
                kept.append(f)
        # MS-DRG grouping (~0.1 ms to seconds per flag) only for the best-scoring flags that can
        # still be shown: a bundle allowing many flags per type must not group thousands
        kept = kept[: GROUPED_FLAGS_PER_SHOWN * self.max_flags]
        before = drg_of(coded, self.icd_version, gender, died) if with_drg else None
        for f in kept:
            f["drg_before"] = before.drg if before else None
            if with_drg:
                after = drg_of(corrected(coded, f), self.icd_version, gender, died)
                f["drg_after"] = after.drg if after else None
                wb, wa = _weight(before), _weight(after)
                f["drg_weight_change"] = None if wb is None or wa is None else wa - wb
                f["drg_changes"] = (after.drg if after else None) != f["drg_before"]
        kept.sort(key=lambda f: (not f.get("drg_changes", False), -abs(f.get("drg_weight_change") or 0.0),
                                 -f["score"]))
        return {"flags": kept[: self.max_flags], "drg": before.drg if before else None,
                "drg_weight": _weight(before), "n_flags": min(len(kept), self.max_flags)}

    def raise_flags(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of a :func:`flag_table` that the certified thresholds raise (vectorised)."""
        keep = np.zeros(len(frame), dtype=bool)
        score, row = frame["score"].to_numpy(), frame["row"].to_numpy()
        for t, th in self.thresholds.items():
            m = np.flatnonzero((frame["type"] == t).to_numpy())
            if th.feasible and m.size:
                keep[m] = shown_mask(score[m], row[m], th.threshold, th.max_per_episode)
        return frame[keep]

    def drg_effects(self, raised: pd.DataFrame, coded: Sequence[Sequence[str]],
                    episodes: pd.DataFrame | None = None) -> pd.DataFrame:
        """Raised flags with the MS-DRG before and after accepting each one."""
        out = raised.copy()
        genders = episodes["gender"].tolist() if episodes is not None and "gender" in episodes else None
        died = episodes["died"].tolist() if episodes is not None and "died" in episodes else None
        before, after, change, changes = [], [], [], []
        for r, t, code, rep in zip(out["row"], out["type"], out["code"], out["replaces"]):
            g = genders[r] if genders else None
            d = died[r] if died else None
            b = drg_of(coded[r], self.icd_version, g, d)
            a = drg_of(corrected(coded[r], {"type": t, "code": code, "replaces": rep}), self.icd_version, g, d)
            wb, wa = _weight(b), _weight(a)
            before.append(b.drg if b else None)
            after.append(a.drg if a else None)
            change.append(None if wb is None or wa is None else wa - wb)
            changes.append((a.drg if a else None) != (b.drg if b else None))
        out["drg_before"], out["drg_after"] = before, after
        out["drg_weight_change"], out["drg_changes"] = change, changes
        return out

    def audit_batch(self, coded: Sequence[Sequence[str]], scores: CodeScores,
                    episodes: pd.DataFrame | None = None, with_drg: bool = True,
                    frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """One row per raised flag, ranked within each episode as :meth:`audit` ranks them.

        ``scores`` rows align with ``coded``; ``episodes`` (same order) supplies gender/died;
        ``frame``: a precomputed :func:`flag_table` of the same batch.
        """
        if len(coded) != len(scores):
            raise ValueError(f"audit: {len(coded)} coded episodes but {len(scores)} score rows")
        frame = flag_table(coded, scores) if frame is None else frame
        raised = self.raise_flags(frame)
        if with_drg:
            raised = self.drg_effects(raised, coded, episodes)
        else:
            raised = raised.assign(drg_before=None, drg_after=None, drg_weight_change=None, drg_changes=False)
        raised = raised.assign(
            _d=~np.asarray([v is True for v in raised["drg_changes"]], dtype=bool),
            _w=-np.abs(pd.to_numeric(raised["drg_weight_change"], errors="coerce").fillna(0.0).to_numpy()),
            _s=-raised["score"].to_numpy())
        raised = raised.sort_values(["row", "_d", "_w", "_s"], kind="stable")
        raised["rank"] = raised.groupby("row").cumcount() + 1
        raised = raised[raised["rank"] <= self.max_flags]
        raised.insert(0, "episode_id", scores.episode_ids[raised["row"].to_numpy()])
        cols = ["episode_id", "row", "rank", "type", "code", "score", "replaces", "drg_before", "drg_after",
                "drg_weight_change", "drg_changes"] + (["correct"] if "correct" in raised else [])
        return raised[cols].reset_index(drop=True)


def flag_is_right(flag_type: str, code: str, gold: Sequence[str]) -> bool:
    """Whether an audit reading ``gold`` agrees with a flag: a code flagged missing is in gold, one
    flagged unsupported is not, a principal swap names gold's principal diagnosis."""
    if flag_type == "missing":
        return code in gold
    if flag_type == "unsupported":
        return code not in gold
    return code == principal(gold)


def flag_table(coded: Sequence[Sequence[str]], scores: CodeScores,
               gold: Sequence[Sequence[str]] | None = None) -> pd.DataFrame:
    """Every flag candidate of a batch with its episode row and, given gold, whether it is right."""
    rows = []
    known = frozenset(str(x) for x in scores.classes)
    for i, c in enumerate(coded):
        for f in flag_candidates(c, scores.row(i), known):
            rows.append((i, f["type"], f["code"], f["score"], f.get("replaces")))
    frame = pd.DataFrame(rows, columns=["row", "type", "code", "score", "replaces"])
    if gold is not None:
        frame["correct"] = np.asarray([flag_is_right(t, code, gold[r]) for r, t, code
                                       in zip(frame["row"], frame["type"], frame["code"])], dtype=bool)
    return frame


def calibrate_audit(scores: CodeScores, coded: Sequence[Sequence[str]], gold: Sequence[Sequence[str]],
                    target: float = 0.95, delta: float = 0.1, unit: str = "episode",
                    max_per_episode: int = 1, random_state: int | None = 0,
                    frame: pd.DataFrame | None = None) -> dict[str, PrecisionThreshold]:
    """A certified threshold per flag type from coded-and-audited calibration episodes
    (``frame``: their :func:`flag_table` with gold, when already computed)."""
    frame = flag_table(coded, scores, gold) if frame is None else frame
    out = {}
    for t in FLAG_TYPES:
        part = frame[frame["type"] == t]
        out[t] = certify_precision(part["score"].to_numpy(), part["correct"].to_numpy(), part["row"].to_numpy(),
                                   target, delta / len(FLAG_TYPES), unit, max_per_episode,
                                   grid=FLAG_GRID, n_groups=len(coded), random_state=random_state)
    return out
