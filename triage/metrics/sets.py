"""Set metrics on predicted vs gold label lists: what human coding audits measure.

Exact match (instance accuracy) and Jaccard (code accuracy) at full, 4- and 3-character
level (seed paper Table 2: both sides truncated), and precision/recall/F1 with the
reference pipeline's definitions (f1 = tp / (tp + 0.5 (fp + fn))).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from triage.codes.labels import Level, truncate_labels
from triage.coder.align import LabelSpace, check_same_length


def _truncate_all(label_lists: Sequence[Sequence[str]], level: Level | int) -> list[list[str]]:
    return [truncate_labels(labs, level) for labs in label_lists]


def set_counts(
    pred_labels: Sequence[Sequence[str]],
    gold_labels: Sequence[Sequence[str]],
    level: Level | int = "full",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-episode (|pred & gold|, |pred|, |gold|) after truncating both sides to ``level``."""
    check_same_length(pred_labels, gold_labels)
    if level != "full":
        pred_labels = _truncate_all(pred_labels, level)
        gold_labels = _truncate_all(gold_labels, level)
    inter = np.fromiter(
        (len(set(p) & set(g)) for p, g in zip(pred_labels, gold_labels)),
        dtype=np.int64,
        count=len(gold_labels),
    )
    n_pred = np.fromiter((len(set(p)) for p in pred_labels), dtype=np.int64, count=len(pred_labels))
    n_gold = np.fromiter((len(set(g)) for g in gold_labels), dtype=np.int64, count=len(gold_labels))
    return inter, n_pred, n_gold


def exact_match_per_episode(pred_labels, gold_labels, level: Level | int = "full") -> np.ndarray:
    """1.0 where the predicted set equals the gold set (order ignored), else 0.0."""
    inter, n_pred, n_gold = set_counts(pred_labels, gold_labels, level)
    return ((inter == n_pred) & (inter == n_gold)).astype(np.float64)


def jaccard_per_episode(pred_labels, gold_labels, level: Level | int = "full") -> np.ndarray:
    """|pred & gold| / |pred | gold| per episode; two empty sets agree perfectly (1.0)."""
    inter, n_pred, n_gold = set_counts(pred_labels, gold_labels, level)
    union = n_pred + n_gold - inter
    out = np.ones(len(inter), dtype=np.float64)
    nz = union > 0
    out[nz] = inter[nz] / union[nz]
    return out


def exact_match_ratio(pred_labels, gold_labels, level: Level | int = "full") -> float:
    return float(exact_match_per_episode(pred_labels, gold_labels, level).mean())


def jaccard_score(pred_labels, gold_labels, level: Level | int = "full") -> float:
    return float(jaccard_per_episode(pred_labels, gold_labels, level).mean())


def _safe_div(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den > 0)
    return out


def micro_prf(pred_labels, gold_labels) -> dict[str, float]:
    """Micro precision, recall, F1 pooled over all (episode, code) pairs."""
    inter, n_pred, n_gold = set_counts(pred_labels, gold_labels)
    tp, fp, fn = inter.sum(), (n_pred - inter).sum(), (n_gold - inter).sum()
    return {
        "precision_micro": float(_safe_div(tp, tp + fp)),
        "recall_micro": float(_safe_div(tp, tp + fn)),
        "f1_micro": float(_safe_div(tp, tp + 0.5 * (fp + fn))),
    }


def macro_prf(pred_labels, gold_labels, labels: Sequence[str] | None = None) -> dict[str, float]:
    """Macro precision, recall, F1: the mean over codes of each code's value.

    ``labels`` is the code set to average over; by default every code that occurs in the gold
    or the predictions (a code with neither contributes 0, as in the reference pipeline).
    """
    check_same_length(pred_labels, gold_labels)
    space = LabelSpace(labels if labels is not None else ())
    if labels is None:
        space.extend(gold_labels).extend(pred_labels)
    else:
        pred_labels = [[lab for lab in p if lab in space.index] for p in pred_labels]
        gold_labels = [[lab for lab in g if lab in space.index] for g in gold_labels]
    if len(space) == 0:
        return {"precision_macro": 0.0, "recall_macro": 0.0, "f1_macro": 0.0}
    P = space.indicator(pred_labels)
    Y = space.indicator(gold_labels)
    tp = np.asarray(P.multiply(Y).sum(axis=0)).ravel()
    n_pred = np.asarray(P.sum(axis=0)).ravel()
    n_gold = np.asarray(Y.sum(axis=0)).ravel()
    fp, fn = n_pred - tp, n_gold - tp
    return {
        "precision_macro": float(_safe_div(tp, tp + fp).mean()),
        "recall_macro": float(_safe_div(tp, tp + fn).mean()),
        "f1_macro": float(_safe_div(tp, tp + 0.5 * (fp + fn)).mean()),
    }
