"""The structural task (seed paper section 4.2): partial codes a coder finishes.

Parent prediction is much easier than the full code (Nguyen et al. 2023: parent micro-F1 29.1
vs 10.5 on MIMIC-III full). Where no full code of a category can be pre-filled but the
category itself is certain, the coder is offered the category (``I50.-``) with its candidate
children and picks the child. A category's score is the noisy-OR of its codes' scores (the
chance that at least one of them is gold if they were independent); it only ranks categories,
the certification on calibration data (:mod:`triage.assist.precision`) sets the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from triage.assist.ontology import category_of


def category_scores(scores: Mapping[str, float], level: int = 3) -> dict[str, float]:
    """Noisy-OR score of each category (or ``level``-character stem) present in ``scores``."""
    miss: dict[str, float] = {}
    for lab, s in scores.items():
        cat = category_of(lab, level)
        miss[cat] = miss.get(cat, 1.0) * (1.0 - float(s))
    return {cat: 1.0 - m for cat, m in miss.items()}


def partial_suggestions(
    scores: Mapping[str, float],
    category_threshold: float,
    prefilled: Sequence[str] = (),
    level: int = 3,
    n_children: int = 5,
) -> list[dict]:
    """Categories scoring ``>= category_threshold`` with no pre-filled code, best first.

    Each item: ``{"category", "score", "candidates": [{"code", "score"}, ...]}`` (the
    category's best-scored children, for the coder to choose from).
    """
    if not np.isfinite(category_threshold):
        return []
    done = {category_of(c, level) for c in prefilled}
    cats = category_scores(scores, level)
    out = []
    for cat, s in sorted(cats.items(), key=lambda t: (-t[1], t[0])):
        if s < category_threshold:
            break
        if cat in done:
            continue
        kids = sorted(((lab, v) for lab, v in scores.items() if category_of(lab, level) == cat),
                      key=lambda t: (-t[1], t[0]))[:n_children]
        out.append({"category": cat, "score": float(s),
                    "candidates": [{"code": lab, "score": float(v)} for lab, v in kids]})
    return out


def category_right_when_code_wrong(
    suggested: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], level: int = 3
) -> dict[str, float | int | None]:
    """Among suggested codes that are not gold, the share whose category is gold.

    The seed paper's argument for partial codes in one number: how often the coder would have
    been put on the right branch by a full code that was itself wrong.
    """
    wrong = right = 0
    for s, g in zip(suggested, gold):
        gs = set(g)
        gcat = {category_of(c, level) for c in g}
        for c in s:
            if c not in gs:
                wrong += 1
                right += category_of(c, level) in gcat
    return {"n_wrong_codes": wrong, "category_right": right,
            "category_right_share": right / wrong if wrong else None}
