"""Code-coverage analysis (seed paper Figures 2-4): how much of the coding the top-k codes cover."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from triage.codes.labels import truncate_label
from triage.metrics.sequence import is_diagnosis_label, principal

DEFAULT_KS: tuple[int, ...] = (10, 50, 100, 200, 400, 800, 1600, 3200, 6400)


def code_coverage(
    label_lists: Sequence[Sequence[str]],
    ks: Iterable[int] = DEFAULT_KS,
    principal_only: bool = False,
) -> pd.DataFrame:
    """Coverage by the k most frequent codes, one row per k.

    Columns: ``occurrence_coverage`` (share of all code occurrences that are top-k codes),
    ``episodes_fully_covered`` (share of episodes whose codes are all top-k),
    ``episodes_any_covered`` (share with at least one top-k code). ``principal_only`` keeps
    just each episode's principal diagnosis (Figure 3).
    """
    if principal_only:
        lists = [[p] if (p := principal(labs)) is not None else [] for labs in label_lists]
    else:
        lists = [list(dict.fromkeys(labs)) for labs in label_lists]
    lists = [labs for labs in lists if labs]
    if not lists:
        raise ValueError("code_coverage: no episode has any code")
    counts = Counter(lab for labs in lists for lab in labs)
    ranked = [lab for lab, _ in counts.most_common()]
    rank = {lab: r for r, lab in enumerate(ranked)}
    freq = np.array([counts[lab] for lab in ranked], dtype=np.float64)
    cum_occ = np.cumsum(freq) / freq.sum()
    worst = np.array([max(rank[lab] for lab in labs) for labs in lists])
    best = np.array([min(rank[lab] for lab in labs) for labs in lists])
    rows = []
    for k in sorted(set(int(k) for k in ks)):
        if k <= 0:
            raise ValueError(f"code_coverage: k must be positive, got {k}")
        rows.append(
            {
                "k": k,
                "occurrence_coverage": float(cum_occ[min(k, len(ranked)) - 1]),
                "episodes_fully_covered": float((worst < k).mean()),
                "episodes_any_covered": float((best < k).mean()),
            }
        )
    return pd.DataFrame(rows)


def category_distribution(label_lists: Sequence[Sequence[str]]) -> pd.Series:
    """Episodes by number of unique 3-character diagnosis categories (Figure 4), as shares.

    Index: number of unique categories; values: share of episodes.
    """
    n_cats = [
        len({truncate_label(lab, 3) for lab in labs if is_diagnosis_label(lab)})
        for labs in label_lists
    ]
    if not n_cats:
        raise ValueError("category_distribution: no episodes")
    s = pd.Series(n_cats).value_counts(normalize=True).sort_index()
    s.index.name = "unique_3char_categories"
    s.name = "share_of_episodes"
    return s
