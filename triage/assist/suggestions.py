"""Suggestions for the assisted route (seed paper section 4.1.2, the recall task).

For an episode routed to a person: the coder's best ``k`` codes, grouped by ontology (chapter,
then category; PCS section, then body system) so a coder reviews groups rather than a flat
list, each with its probability. Codes whose code-level precision is certified ``>=`` the
target (:mod:`triage.assist.precision`) are **pre-filled** (pre-accepted in the coder's form,
the second design of section 4.1.2); the rest are offered; certain categories whose codes are
not (:mod:`triage.assist.partial`) are offered as partial codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from triage.assist.ontology import category_of, ontology_group
from triage.assist.partial import partial_suggestions
from triage.assist.precision import PrecisionThreshold, certify_precision, rank_in_group
from triage.coder.align import align
from triage.coder.scores import CodeScores
from triage.codes.labels import label_kind

DEFAULT_K = 15


def ranked_rows(scores: CodeScores) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each episode's stored (labels, scores), best first (ties by label, as the decision rule)."""
    S = scores.matrix
    out = []
    for i in range(S.shape[0]):
        a, b = S.indptr[i], S.indptr[i + 1]
        cols, vals = S.indices[a:b], S.data[a:b]
        order = np.lexsort((scores.classes[cols].astype(str), -vals))
        out.append((scores.classes[cols[order]], vals[order].astype(np.float64)))
    return out


def code_candidates(scores: CodeScores, gold, aligned=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(score, is gold, episode row, 0-based rank in the row) of every stored (episode, code);
    ``aligned``: ``align(scores, gold)`` when the caller has it already."""
    a = aligned if aligned is not None else align(scores, gold)
    rows = np.repeat(np.arange(a.S.shape[0]), np.diff(a.S.indptr))
    return a.S.data.astype(np.float64), a.entry_is_gold, rows, _rank_in_row(a.S)


def category_candidates(scores: CodeScores, gold, level: int = 3):
    """(noisy-OR score, category is gold, episode row, category) per (episode, category)."""
    S = scores.matrix
    cats = np.asarray([category_of(str(c), level) for c in scores.classes], dtype=object)
    uniq, cat_id = np.unique(cats, return_inverse=True)
    rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
    key = rows * uniq.size + cat_id[S.indices]
    k, inv = np.unique(key, return_inverse=True)
    log_miss = np.bincount(inv, weights=np.log1p(-np.clip(S.data.astype(np.float64), 0, 1 - 1e-9)))
    score = 1.0 - np.exp(log_miss)
    r, c = k // uniq.size, k % uniq.size
    cat_index = {cat: j for j, cat in enumerate(uniq)}
    gold_keys = np.fromiter((i * uniq.size + cat_index[cat] for i, gl in enumerate(gold)
                             for cat in {category_of(g, level) for g in gl} if cat in cat_index), dtype=np.int64)
    correct = np.isin(k, gold_keys)
    return score, correct, r, uniq[c]


class Assistant:
    """The fitted state behind suggestions and audits: certified thresholds, JSON-serialisable.

    Store ``to_dict()`` in the router bundle (``Router.info["assist"]``); the service rebuilds
    the assistant from there with :meth:`from_dict`.
    """

    def __init__(self, prefill: PrecisionThreshold, category: PrecisionThreshold,
                 audit: Mapping[str, PrecisionThreshold] | None = None, icd_version: int = 10,
                 k: int = DEFAULT_K, category_level: int = 3) -> None:
        self.prefill = prefill
        self.category = category
        self.audit = dict(audit or {})
        self.icd_version = icd_version
        self.k = k
        self.category_level = category_level

    def to_dict(self) -> dict[str, Any]:
        return {"format": 1, "icd_version": self.icd_version, "k": self.k, "category_level": self.category_level,
                "prefill": self.prefill.to_dict(), "category": self.category.to_dict(),
                "audit": {t: p.to_dict() for t, p in self.audit.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Assistant:
        if d.get("format") != 1:
            raise ValueError(f"assist calibration format {d.get('format')!r}, expected 1")
        return cls(PrecisionThreshold.from_dict(d["prefill"]), PrecisionThreshold.from_dict(d["category"]),
                   {t: PrecisionThreshold.from_dict(p) for t, p in d.get("audit", {}).items()},
                   int(d.get("icd_version", 10)), int(d.get("k", DEFAULT_K)), int(d.get("category_level", 3)))

    # ------------------------------------------------------------------ suggestions
    def suggest(self, scores: Mapping[str, float], k: int | None = None,
                describe: Any = None) -> dict[str, Any]:
        """One episode's suggestion list: grouped codes, pre-filled subset, partial codes."""
        k = self.k if k is None else int(k)
        v = self.icd_version
        ranked = sorted(scores.items(), key=lambda t: (-t[1], t[0]))[:k]
        t = self.prefill.threshold
        prefilled = [lab for lab, s in ranked if s >= t][: self.prefill.max_per_episode]
        pre = set(prefilled)
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        for lab, s in ranked:
            top, name, sub = ontology_group(lab, v)
            g = groups.setdefault((top, sub), {"group": top, "group_name": name, "category": sub,
                                               "score": float(s), "codes": []})
            row = {"code": lab, "kind": label_kind(lab, v), "score": float(s), "prefilled": lab in pre}
            if describe is not None:
                row["description"] = describe(lab, v)
            g["codes"].append(row)
        partial = partial_suggestions(dict(scores), self.category.threshold, prefilled, self.category_level)
        return {
            "groups": list(groups.values()),  # in order of each group's best code
            "prefilled": prefilled,
            "offered": [lab for lab, _ in ranked if lab not in pre],
            "partial": partial,
            "guarantee": {"prefill": self.prefill.to_dict(), "partial": self.category.to_dict(),
                          "statement": self.prefill.statement()},
        }

    def auditor(self, max_flags: int | None = None):
        """The :class:`~triage.assist.audit.Auditor` with this calibration's flag thresholds."""
        from triage.assist.audit import MAX_FLAGS_PER_EPISODE, Auditor

        if not self.audit:
            raise ValueError("this assist calibration has no audit thresholds")
        return Auditor(self.audit, self.icd_version, max_flags or MAX_FLAGS_PER_EPISODE)

    def prefilled_lists(self, scores: CodeScores, k: int | None = None) -> list[list[str]]:
        """Pre-filled codes of every episode (evaluation)."""
        k = self.k if k is None else k
        t, cap = self.prefill.threshold, self.prefill.max_per_episode
        return [labs[:k][vals[:k] >= t][:cap].tolist() for labs, vals in ranked_rows(scores)]


def calibrate_assistant(
    scores: CodeScores,
    gold: list[list[str]],
    *,
    target: float = 0.95,
    delta: float = 0.1,
    unit: str = "episode",
    max_per_episode: int = 5,
    audit_target: float | None = None,
    coded: list[list[str]] | None = None,
    icd_version: int = 10,
    k: int = DEFAULT_K,
    random_state: int | None = 0,
    inputs: dict | None = None,
) -> Assistant:
    """Certify the pre-fill, partial-code and audit-flag thresholds on calibration episodes.

    ``scores``/``gold``: calibration episodes only (disjoint from those evaluated or served).
    ``coded``: first-pass human coding of the same episodes for the audit thresholds (past
    audits); ``None`` simulates it with :func:`triage.assist.human_coding.simulate_human_coding`
    at the seed paper's human exact match. Each of the three audit flag types gets ``delta / 3``
    so all three guarantees hold together with probability ``>= 1 - delta``. ``inputs``: the
    candidates of :func:`calibration_inputs` when several targets are certified on the same data.
    """
    from triage.assist.audit import calibrate_audit
    from triage.assist.human_coding import simulate_human_coding

    if len(gold) != len(scores):
        raise ValueError(f"calibration: {len(scores)} score rows but {len(gold)} gold lists")
    if inputs is None:
        if coded is None:
            pool = sorted({str(x) for x in scores.classes} | {lab for gl in gold for lab in gl})
            coded = simulate_human_coding(gold, pool, random_state=random_state).coded
        inputs = calibration_inputs(scores, gold, coded, k)
    s, c, g = inputs["codes"]
    prefill = certify_precision(s, c, g, target, delta, unit, max_per_episode, n_groups=len(gold),
                                random_state=random_state)
    cs, cc, cg = inputs["categories"]
    category = certify_precision(cs, cc, cg, target, delta, unit, max_per_episode, n_groups=len(gold),
                                 random_state=random_state)
    audit = calibrate_audit(scores, coded, gold, target=audit_target or target, delta=delta, unit=unit,
                            random_state=random_state, frame=inputs["flags"])
    return Assistant(prefill, category, audit, icd_version, k)


def calibration_inputs(scores: CodeScores, gold, coded, k: int = DEFAULT_K) -> dict:
    """The calibration candidates :func:`calibrate_assistant` certifies on (computed once)."""
    from triage.assist.audit import flag_table

    s, c, g, rank = code_candidates(scores, gold)
    top = rank < k  # only the top-k suggestions can be pre-filled: certify what is shown
    cs, cc, cg, _ = category_candidates(scores, gold)
    return {"codes": (s[top], c[top], g[top]), "categories": (cs, cc, cg),
            "flags": flag_table(coded, scores, gold)}


def _rank_in_row(S) -> np.ndarray:
    """0-based rank of each stored entry within its CSR row (descending score), in CSR order."""
    rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
    order, ranked = rank_in_group(S.data.astype(np.float64), rows)
    rank = np.empty(S.nnz, dtype=np.int64)
    rank[order] = ranked
    return rank


