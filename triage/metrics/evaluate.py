"""One entry point for the whole evaluation suite: set, ranking, sequence metrics and CIs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from triage.coder.align import align, check_same_length
from triage.coder.scores import CodeScores
from triage.metrics import hierarchy, intervals, ranking, sequence, sets


#: Interval methods of ``evaluate(ci=...)``: a normal approximation or a percentile bootstrap.
CI_METHODS = ("normal", "bootstrap")

def evaluate(
    pred_labels: Sequence[Sequence[str]],
    gold_labels: Sequence[Sequence[str]],
    scores: CodeScores | None = None,
    *,
    threshold: float | None = None,
    ci: Literal[CI_METHODS] | None = "normal",
    ci_level: float = 0.95,
    n_bootstrap: int = 1000,
    random_state: int | None = 0,
    precision_ks: Sequence[int] = (1, 5, 8, 15),
    recall_ks: Sequence[int] = (5, 10, 15),
    steps_budget: int = 50,
    macro_labels: Sequence[str] | None = None,
) -> dict:
    """Evaluate predicted label lists (and, if given, the scores behind them) against gold.

    ``pred_labels[i]``/``gold_labels[i]``/``scores`` row ``i`` describe the same episode; gold
    lists are principal-first. Threshold-free metrics need ``scores`` and are None without.
    Rates are in [0, 1]; ``coverage_error`` is a rank. ``result["ci"][name]`` holds
    (low, high) at ``ci_level``: every per-episode metric gets one; micro P/R/F1 only with the
    bootstrap. ``hierarchical_*`` is the CoPHE-style count-preserving metric of
    :mod:`triage.metrics.hierarchy` (a sibling code costs less than an unrelated one);
    ``steps_to_full_recall`` is the median number of ranked suggestions a coder reviews until
    every gold code was shown, and ``full_recall_within_budget`` the share of episodes where that
    happens within ``steps_budget`` suggestions (seed paper section 4.1).
    """
    check_same_length(pred_labels, gold_labels)
    if scores is not None:
        check_same_length(scores.episode_ids, gold_labels, "scores")
    n = len(gold_labels)
    if n == 0:
        raise ValueError("evaluate: no episodes to evaluate")
    per_ep: dict[str, np.ndarray] = {}
    for level, tag in (("full", "full"), (4, "4"), (3, "3")):
        inter, n_pred, n_gold = sets.set_counts(pred_labels, gold_labels, level)
        union = n_pred + n_gold - inter
        per_ep[f"exact_match_{tag}"] = ((inter == n_pred) & (inter == n_gold)).astype(float)
        jac = np.ones(n)
        np.divide(inter, union, out=jac, where=union > 0)
        per_ep[f"jaccard_{tag}"] = jac
        if tag == "full":
            counts = (inter, n_pred, n_gold)
    per_ep["principal_accuracy"] = sequence.principal_correct_per_episode(pred_labels, gold_labels)
    per_ep["sequence_exact_match"] = sequence.sequence_exact_match_per_episode(
        pred_labels, gold_labels
    )

    out: dict = {"n_episodes": n, "threshold": None if threshold is None else float(threshold)}
    out.update({k: _mean(v) for k, v in per_ep.items()})
    out.update(sets.micro_prf(pred_labels, gold_labels))
    out.update(sets.macro_prf(pred_labels, gold_labels, labels=macro_labels))
    h_counts = hierarchy.hierarchical_counts(pred_labels, gold_labels)
    out.update(hierarchy.hierarchical_prf(pred_labels, gold_labels, counts=h_counts))
    per_ep["hierarchical_f1"] = hierarchy.hierarchical_f1_per_episode(pred_labels, gold_labels, counts=h_counts)

    rank_keys = (
        ["auc_roc_micro", "auc_roc_macro", "auc_pr_macro", "map_documents"]
        + [f"precision_at_{k}" for k in precision_ks]
        + [f"recall_at_{k}" for k in recall_ks]
        + ["r_precision", "coverage_error", "steps_to_full_recall", "full_recall_within_budget"]
    )
    if scores is None:
        out.update({k: None for k in rank_keys})
    else:
        a = align(scores, gold_labels)
        out["auc_roc_micro"] = ranking.auc_roc_micro(a)
        out["auc_roc_macro"] = ranking.auc_roc_macro(a)
        out["auc_pr_macro"] = ranking.auc_pr_macro(a)
        rr = ranking.row_ranking(a)
        has_gold = rr.n_gold > 0
        per_ep["map_documents"] = ranking.average_precision_per_episode(rr)
        for k in precision_ks:
            v = ranking.precision_at_k_per_episode(rr, k)
            v[~has_gold] = np.nan  # documents without gold are left out, as in the reference
            per_ep[f"precision_at_{k}"] = v
        for k in recall_ks:
            per_ep[f"recall_at_{k}"] = ranking.recall_at_k_per_episode(rr, k)
        per_ep["r_precision"] = ranking.r_precision_per_episode(rr)
        per_ep["coverage_error"] = ranking.coverage_error_per_episode(rr)
        for k in rank_keys[3:-2]:
            out[k] = _mean(per_ep[k])
        steps = ranking.steps_to_full_recall_per_episode(rr, steps_budget)
        steps = steps[~np.isnan(steps)]
        out["steps_to_full_recall"] = float(np.median(steps)) if steps.size else None
        out["full_recall_within_budget"] = float(np.isfinite(steps).mean()) if steps.size else None
        out["steps_budget"] = int(steps_budget)
        out["n_codes_scored"] = len(scores.classes)
    out["n_labels_gold"] = int(counts[2].sum())
    out["ci_level"] = ci_level
    out["ci_method"] = ci
    out["ci"] = _intervals(per_ep, counts, ci, ci_level, n_bootstrap, random_state)
    return out


def _mean(v: np.ndarray) -> float | None:
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else None


def _intervals(per_ep, counts, method, level, n_boot, random_state) -> dict:
    if method is None:
        return {}
    if method == "normal":
        return {k: intervals.normal_ci(v, level) for k, v in per_ep.items()}
    if method != "bootstrap":
        raise ValueError(f"ci must be one of {CI_METHODS} or None, got {method!r}")
    n = len(next(iter(per_ep.values())))
    idx = intervals.bootstrap_indices(n, n_boot, random_state)
    res = {k: intervals.bootstrap_ci(v, idx, level) for k, v in per_ep.items()}
    tp, n_pred, n_gold = (np.asarray(c, dtype=np.float64) for c in counts)
    res["precision_micro"] = intervals.bootstrap_ratio_ci(tp, n_pred, idx, level)
    res["recall_micro"] = intervals.bootstrap_ratio_ci(tp, n_gold, idx, level)
    res["f1_micro"] = intervals.bootstrap_ratio_ci(tp, (n_pred + n_gold) / 2.0, idx, level)
    return res
