"""Sequence metrics (seed paper recommendation 8): the principal diagnosis and the order.

The gold list keeps MIMIC's seq_num order (principal first); a predicted list is ordered by
descending score, so its first diagnosis label is the predicted principal.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from triage.coder.align import check_same_length


def is_diagnosis_label(label: str) -> bool:
    """Whether a label is a diagnosis, read from its dotted form alone.

    ICD-10-CM and ICD-9-CM diagnoses carry a dot after 3 (E codes: 4) characters; ICD-9
    procedures after 2; ICD-10-PCS codes are 7 characters without a dot. Undotted 3-5
    character labels are ICD-9 diagnoses without a decimal part (``401``).
    """
    dot = label.find(".")
    if dot >= 0:
        return dot >= 3
    return 3 <= len(label) <= 5


def principal(labels: Sequence[str]) -> str | None:
    """The first diagnosis label of an ordered list (None when there is none)."""
    for lab in labels:
        if is_diagnosis_label(lab):
            return lab
    return None


def principal_correct_per_episode(pred_labels, gold_labels) -> np.ndarray:
    """1.0 where the predicted principal equals the gold principal; NaN where gold has none."""
    check_same_length(pred_labels, gold_labels)
    out = np.full(len(gold_labels), np.nan)
    for i, (p, g) in enumerate(zip(pred_labels, gold_labels)):
        gp = principal(g)
        if gp is not None:
            out[i] = float(principal(p) == gp)
    return out


def sequence_exact_match_per_episode(pred_labels, gold_labels) -> np.ndarray:
    """1.0 where the code sets are equal AND the principal diagnosis is the same."""
    check_same_length(pred_labels, gold_labels)
    return np.fromiter(
        (
            float(set(p) == set(g) and principal(p) == principal(g))
            for p, g in zip(pred_labels, gold_labels)
        ),
        dtype=np.float64,
        count=len(gold_labels),
    )
