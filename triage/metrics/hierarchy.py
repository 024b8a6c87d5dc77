"""A hierarchical metric that does not penalise a sibling code like an unrelated one.

CoPHE (Falis et al. 2021, "CoPHE: A Count-Preserving Hierarchical Evaluation Metric in
Large-Scale Multi-Label Text Classification") compares predicted and gold *counts* at every
ancestor of the codes instead of sets of leaves: predicting ``I50.9`` for a gold ``I50.23``
is wrong at the full-code level but right at the category ``I50`` level, whereas an
unrelated ``J18.9`` is wrong at every level. Counts are preserved (two gold codes under
``I50`` need two predictions there), so a parent is not credited twice for one prediction.

The hierarchy used here is the code's own prefix structure (the seed paper's 3- and
4-character levels plus the full code; ICD-10-PCS: section and body system, then the full
code), which keeps the metric free of code tables and usable for every ICD version. Per
episode, at each level L: ``tp_L = sum_node min(pred_L(node), gold_L(node))``,
``fp_L = sum max(pred - gold, 0)``, ``fn_L = sum max(gold - pred, 0)``; the hierarchical
precision/recall/F1 pool the counts over levels and episodes (micro), as CoPHE does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from triage.coder.align import check_same_length
from triage.codes.labels import truncate_label

#: Levels of the prefix hierarchy, coarsest first.
HIERARCHY_LEVELS: tuple[str, ...] = ("3", "4", "full")


def _node(label: str, level: str) -> str:
    if level == "full":
        return label
    if "." not in label and len(label) == 7:  # ICD-10-PCS: section+body system, +root operation
        return "pcs:" + label[: 2 if level == "3" else 3]
    return truncate_label(label, level)


def _counts(labels: Sequence[str], level: str) -> Counter:
    return Counter(_node(lab, level) for lab in dict.fromkeys(labels))


def hierarchical_counts(
    pred_labels: Sequence[Sequence[str]],
    gold_labels: Sequence[Sequence[str]],
    levels: Sequence[str] = HIERARCHY_LEVELS,
) -> dict[str, np.ndarray]:
    """Per-episode count-preserving tp/fp/fn summed over ``levels`` (arrays of length n)."""
    check_same_length(pred_labels, gold_labels)
    n = len(gold_labels)
    tp, fp, fn = np.zeros(n), np.zeros(n), np.zeros(n)
    for i, (p, g) in enumerate(zip(pred_labels, gold_labels)):
        for level in levels:
            cp, cg = _counts(p, level), _counts(g, level)
            both = sum(min(v, cg[k]) for k, v in cp.items())
            tp[i] += both
            fp[i] += sum(cp.values()) - both
            fn[i] += sum(cg.values()) - both
    return {"tp": tp, "fp": fp, "fn": fn}


def hierarchical_prf(
    pred_labels: Sequence[Sequence[str]],
    gold_labels: Sequence[Sequence[str]],
    levels: Sequence[str] = HIERARCHY_LEVELS,
    counts: dict[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """Micro hierarchical precision, recall and F1 (CoPHE-style, prefix hierarchy); ``counts``:
    :func:`hierarchical_counts` of the same lists, when already computed."""
    c = counts if counts is not None else hierarchical_counts(pred_labels, gold_labels, levels)
    tp, fp, fn = (float(c[k].sum()) for k in ("tp", "fp", "fn"))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = tp / (tp + 0.5 * (fp + fn)) if tp + fp + fn else 1.0
    return {"hierarchical_precision": p, "hierarchical_recall": r, "hierarchical_f1": f}


def hierarchical_f1_per_episode(
    pred_labels: Sequence[Sequence[str]],
    gold_labels: Sequence[Sequence[str]],
    levels: Sequence[str] = HIERARCHY_LEVELS,
    counts: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Each episode's hierarchical F1 (1.0 when both sides are empty), for intervals; ``counts`` as
    in :func:`hierarchical_prf`."""
    c = counts if counts is not None else hierarchical_counts(pred_labels, gold_labels, levels)
    den = c["tp"] + 0.5 * (c["fp"] + c["fn"])
    out = np.ones(len(den))
    np.divide(c["tp"], den, out=out, where=den > 0)
    return out
