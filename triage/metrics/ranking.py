"""Threshold-free metrics on sparse code scores (seed paper recommendations 2 and 3).

Scores come as a top-k sparse matrix (``CodeScores``); an unstored score is 0, so every
metric here treats the implicit zeros as one tie group at the bottom of each ranking and
never builds a dense episodes x codes matrix. Ties are handled the way scikit-learn does
(average ranks for AUC, threshold groups for AP, "score >=" ranks for per-document AP and
coverage error), so the values equal scikit-learn's on the densified data.

The label space is the scores' classes plus any gold label the coder has no column for
(those get score 0: a code the coder cannot predict counts against it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from triage.coder.align import AlignedScores

# ---------------------------------------------------------------- per-code (column) metrics


def _column_order(cols: np.ndarray, vals: np.ndarray, descending: bool) -> np.ndarray:
    """Stable order by (group, value), the value ascending or descending within each group.

    One float64 sort on ``group + value / 2`` is ~2x faster than ``np.lexsort``; nearly equal
    values can collide in that key, so the result is checked and the two-key sort used if so.
    """
    v = vals.astype(np.float64)
    if cols.size > 1 and cols.max() < 2**20:
        order = np.argsort(cols + 0.5 * ((1.0 - v) if descending else v), kind="stable")
        c, w = cols[order], v[order]
        step = np.diff(w) if not descending else -np.diff(w)
        if ((np.diff(c) > 0) | ((np.diff(c) == 0) & (step >= 0))).all():
            return order
    return np.lexsort((-v if descending else v, cols))


def _tie_groups(cols: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted (cols, vals): index of each entry's group start and group end."""
    n = cols.size
    new = np.ones(n, dtype=bool)
    if n > 1:
        new[1:] = (cols[1:] != cols[:-1]) | (vals[1:] != vals[:-1])
    starts = np.flatnonzero(new)
    gid = np.cumsum(new) - 1
    ends = np.append(starts[1:], n) - 1
    return starts[gid], ends[gid]


def _column_auc(cols, vals, is_pos, n_rows: int, n_cols: int, n_pos: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of each column (NaN where a column has no positive or no negative)."""
    order = _column_order(cols, vals, descending=False)
    c, v, p = cols[order], vals[order], is_pos[order]
    stored = np.bincount(c, minlength=n_cols)
    col_start = np.concatenate([[0], np.cumsum(stored)[:-1]])
    zeros = n_rows - stored
    gs, ge = _tie_groups(c, v)
    # average rank within the column's stored block, then shifted above the zero block
    rank = (gs + ge) / 2.0 - col_start[c] + 1.0 + zeros[c]
    pos_rank_sum = np.bincount(c[p], weights=rank[p], minlength=n_cols)
    stored_pos = np.bincount(c[p], minlength=n_cols)
    pos_rank_sum = pos_rank_sum + (n_pos - stored_pos) * (zeros + 1) / 2.0
    n_pos = n_pos.astype(np.float64)
    n_neg = n_rows - n_pos
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (pos_rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    auc[(n_pos == 0) | (n_neg == 0)] = np.nan
    return auc


def _column_ap(cols, vals, is_pos, n_rows: int, n_cols: int, n_pos: np.ndarray) -> np.ndarray:
    """Average precision of each column, as sklearn's average_precision_score (NaN: no positive)."""
    order = _column_order(cols, vals, descending=True)
    c, v, p = cols[order], vals[order], is_pos[order].astype(np.float64)
    stored = np.bincount(c, minlength=n_cols)
    col_start = np.concatenate([[0], np.cumsum(stored)[:-1]])
    cum_pos = np.cumsum(p)
    before = np.concatenate([[0.0], cum_pos])[col_start]  # positives before each column
    _, ge = _tie_groups(c, v)
    tp_at = cum_pos[ge] - before[c] if c.size else np.zeros(0)
    cnt_at = ge - col_start[c] + 1.0
    # each stored positive adds (1/P) * precision at the end of its threshold group
    contrib = np.bincount(c, weights=p * tp_at / np.maximum(cnt_at, 1), minlength=n_cols)
    stored_pos = np.bincount(c, weights=p, minlength=n_cols)
    n_pos_f = n_pos.astype(np.float64)
    zeros = n_rows - stored
    missing = n_pos_f - stored_pos  # positives in the zero group: precision there is P / n
    contrib = contrib + np.where(zeros > 0, missing * n_pos_f / n_rows, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ap = contrib / n_pos_f
    ap[n_pos == 0] = np.nan
    return ap


def _coo(a: AlignedScores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    S = a.S
    rows = np.repeat(np.arange(S.shape[0], dtype=np.int64), np.diff(S.indptr))
    return rows, S.indices.astype(np.int64), S.data.astype(np.float64)


def per_code_auc_roc(a: AlignedScores) -> np.ndarray:
    _, cols, vals = _coo(a)
    n_pos = np.bincount(a.Y.indices, minlength=a.shape[1])
    return _column_auc(cols, vals, a.entry_is_gold, a.shape[0], a.shape[1], n_pos)


def per_code_average_precision(a: AlignedScores) -> np.ndarray:
    _, cols, vals = _coo(a)
    n_pos = np.bincount(a.Y.indices, minlength=a.shape[1])
    return _column_ap(cols, vals, a.entry_is_gold, a.shape[0], a.shape[1], n_pos)


def auc_roc_macro(a: AlignedScores) -> float:
    """Mean per-code AUC-ROC over codes with at least one positive and one negative."""
    auc = per_code_auc_roc(a)
    return float(np.nanmean(auc)) if np.isfinite(auc).any() else float("nan")


def auc_roc_micro(a: AlignedScores) -> float:
    """AUC-ROC of all (episode, code) pairs pooled, as roc_auc_score(Y.ravel(), S.ravel())."""
    _, _, vals = _coo(a)
    n_cells = a.shape[0] * a.shape[1]
    n_pos = np.array([a.Y.nnz])
    cols = np.zeros(vals.size, dtype=np.int64)
    return float(_column_auc(cols, vals, a.entry_is_gold, n_cells, 1, n_pos)[0])


def auc_pr_macro(a: AlignedScores) -> float:
    """Mean per-code average precision (AUC-PR) over codes with at least one positive."""
    ap = per_code_average_precision(a)
    return float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")


# ------------------------------------------------------------ per-document (row) metrics


@dataclass
class RowRanking:
    """Each row's stored entries sorted by descending score, with gold flags and tie groups."""

    rows: np.ndarray
    is_pos: np.ndarray
    rank_in_row: np.ndarray  # 1-based position in the row's ranking
    tie_rank: np.ndarray  # |{stored j : s_j >= s}| (sklearn's tie-pessimistic rank)
    tie_pos: np.ndarray  # |{stored gold j : s_j >= s}|
    n_gold: np.ndarray  # (n,)
    n_labels: int


def row_ranking(a: AlignedScores) -> RowRanking:
    rows, _, vals = _coo(a)
    order = _column_order(rows, vals, descending=True)
    r, v, p = rows[order], vals[order], a.entry_is_gold[order]
    row_start = a.S.indptr[:-1]
    _, ge = _tie_groups(r, v)
    cum_pos = np.cumsum(p)
    before = np.concatenate([[0], cum_pos])[row_start]
    position = np.arange(r.size) - row_start[r] + 1
    tie_rank = ge - row_start[r] + 1
    tie_pos = cum_pos[ge] - before[r] if r.size else np.zeros(0, dtype=np.int64)
    n_gold = np.diff(a.Y.indptr)
    return RowRanking(r, p, position, tie_rank, tie_pos, n_gold, a.shape[1])


def _hits_within(rr: RowRanking, k: np.ndarray | int, n: int) -> np.ndarray:
    limit = k[rr.rows] if isinstance(k, np.ndarray) else k
    hit = rr.is_pos & (rr.rank_in_row <= limit)
    return np.bincount(rr.rows[hit], minlength=n).astype(np.float64)


def precision_at_k_per_episode(rr: RowRanking, k: int) -> np.ndarray:
    """Share of the top-k ranked codes that are gold (denominator k, as the reference)."""
    return _hits_within(rr, k, len(rr.n_gold)) / k


def recall_at_k_per_episode(rr: RowRanking, k: int) -> np.ndarray:
    """Share of the gold codes found among the top-k ranked codes (NaN: no gold)."""
    hits = _hits_within(rr, k, len(rr.n_gold))
    return _div_gold(hits, rr.n_gold)


def r_precision_per_episode(rr: RowRanking) -> np.ndarray:
    """Precision among the top-R ranked codes, R = number of gold codes (NaN: no gold)."""
    hits = _hits_within(rr, rr.n_gold, len(rr.n_gold))
    return _div_gold(hits, rr.n_gold)


def average_precision_per_episode(rr: RowRanking) -> np.ndarray:
    """Per-document AP over the code ranking (= sklearn's label ranking AP; NaN: no gold).

    A gold code without a stored score ties with every other unstored code at the bottom,
    so its rank is the size of the label space.
    """
    n = len(rr.n_gold)
    p = rr.is_pos
    s = np.bincount(rr.rows[p], weights=rr.tie_pos[p] / rr.tie_rank[p], minlength=n)
    stored_pos = np.bincount(rr.rows[p], minlength=n)
    missing = rr.n_gold - stored_pos
    s = s + missing * rr.n_gold / rr.n_labels
    return _div_gold(s, rr.n_gold)


def coverage_error_per_episode(rr: RowRanking) -> np.ndarray:
    """How far down the ranking one must go to cover every gold code (NaN: no gold)."""
    return _deepest_gold(rr, rr.tie_rank, missing=rr.n_labels)


def _deepest_gold(rr: RowRanking, rank: np.ndarray, missing: float) -> np.ndarray:
    """Per episode, the largest ``rank`` of its gold codes; ``missing`` when a gold code was not
    scored at all, NaN for an episode without gold."""
    n = len(rr.n_gold)
    p = rr.is_pos
    deepest = np.zeros(n)
    np.maximum.at(deepest, rr.rows[p], rank[p])
    stored_pos = np.bincount(rr.rows[p], minlength=n)
    out = np.where(stored_pos < rr.n_gold, missing, deepest).astype(np.float64)
    out[rr.n_gold == 0] = np.nan
    return out


def _div_gold(num: np.ndarray, n_gold: np.ndarray) -> np.ndarray:
    out = np.full(len(n_gold), np.nan)
    ok = n_gold > 0
    out[ok] = num[ok] / n_gold[ok]
    return out


def steps_to_full_recall_per_episode(rr: RowRanking, max_steps: int | None = None) -> np.ndarray:
    """Suggestions a coder reviews, top down, until every gold code has been shown (seed paper
    section 4.1.1). Unlike ``coverage_error`` it counts positions (a coder sees one code at a
    time, ties in the order shown), and it is ``inf`` when some gold code is never suggested or
    comes after ``max_steps``; NaN for an episode without gold."""
    out = _deepest_gold(rr, rr.rank_in_row, missing=np.inf)
    if max_steps is not None:
        out[out > max_steps] = np.inf  # NaN (no gold) stays NaN
    return out
