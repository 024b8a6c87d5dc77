"""The sequential task, simulated (seed paper section 4.1.1).

A coder reviews one suggestion at a time, accepting gold codes and rejecting the rest; the
next suggestion is conditioned on the answers so far:

* a rejected code leaves the list, and its siblings (same 3-character category) drop: their
  odds are multiplied by ``sibling_factor`` (the coder has said "not this branch");
* an accepted code lifts its frequent companions: each candidate's odds are multiplied by
  ``min(lift, max_lift) ** lift_power``, with ``lift = P(j | c) / P(j)`` estimated on the
  training episodes' gold codes (pairs seen at least ``min_pairs`` times).

Metrics: steps to full recall (suggestions reviewed until every gold code has been accepted;
``inf`` when that takes more than ``max_steps`` or a gold code is never suggested) and
Precision@k / Recall@k at each step, against the static ranking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from triage.assist.ontology import category_of


class CompanionModel:
    """Co-occurrence lift between labels, from training gold lists."""

    def __init__(self, min_pairs: int = 5) -> None:
        self.min_pairs = min_pairs

    def fit(self, gold: Sequence[Sequence[str]]) -> CompanionModel:
        labels = sorted({lab for g in gold for lab in g})
        self.index_ = {lab: j for j, lab in enumerate(labels)}
        m = len(labels)
        rows, cols = [], []
        for i, g in enumerate(gold):
            for lab in set(g):
                rows.append(i)
                cols.append(self.index_[lab])
        Y = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(gold), m))
        C = (Y.T @ Y).tocsr()
        n = np.asarray(C.diagonal(), dtype=np.float64)
        C.setdiag(0)
        C.data[C.data < self.min_pairs] = 0
        C.eliminate_zeros()
        coo = C.tocoo()
        lift = coo.data * len(gold) / (n[coo.row] * n[coo.col])
        keep = lift > 1.0
        self.lift_ = sp.csr_matrix((lift[keep], (coo.row[keep], coo.col[keep])), shape=(m, m))
        self.lift_.sort_indices()
        return self

    def ids(self, labels: Sequence[str]) -> np.ndarray:
        """Row index of each label in the lift matrix (-1: never seen in training)."""
        return np.fromiter((self.index_.get(str(c), -1) for c in labels), dtype=np.int64, count=len(labels))

    def lifts(self, label_id: int, candidate_ids: np.ndarray) -> np.ndarray:
        """Lift of each candidate given that label ``label_id`` was accepted (1 where unknown)."""
        out = np.ones(len(candidate_ids))
        if label_id < 0:
            return out
        a, b = self.lift_.indptr[label_id], self.lift_.indptr[label_id + 1]
        if a == b:
            return out
        cols, vals = self.lift_.indices[a:b], self.lift_.data[a:b]
        pos = np.minimum(np.searchsorted(cols, candidate_ids), cols.size - 1)
        hit = cols[pos] == candidate_ids
        out[hit] = vals[pos[hit]]
        return out


@dataclass
class SequentialResult:
    steps_static: np.ndarray  # per episode; inf = not within max_steps
    steps_sequential: np.ndarray
    hits_static: np.ndarray  # (n, max_steps) 1 where the step's suggestion was gold
    hits_sequential: np.ndarray
    n_gold: np.ndarray

    def per_step(self) -> pd.DataFrame:
        """Precision@k and Recall@k after k reviewed suggestions, static vs sequential."""
        k = np.arange(1, self.hits_static.shape[1] + 1)
        ok = self.n_gold > 0
        out = {"k": k}
        for name, h in (("static", self.hits_static), ("sequential", self.hits_sequential)):
            cum = np.cumsum(h[ok], axis=1)
            out[f"precision_at_k_{name}"] = (cum / k).mean(axis=0)
            out[f"recall_at_k_{name}"] = (cum / self.n_gold[ok, None]).mean(axis=0)
        return pd.DataFrame(out)

    def summary(self) -> pd.DataFrame:
        rows = []
        ok = self.n_gold > 0
        for name, s in (("static", self.steps_static), ("sequential", self.steps_sequential)):
            s = s[ok]
            fin = np.isfinite(s)
            rows.append({"ranking": name, "n_episodes": int(ok.sum()),
                         "full_recall_within_budget": float(fin.mean()) if s.size else None,
                         "median_steps": float(np.median(s)) if s.size else None,
                         "mean_steps_when_reached": float(s[fin].mean()) if fin.any() else None,
                         "max_steps": self.hits_static.shape[1]})
        return pd.DataFrame(rows)


def simulate_sequential(
    ranked: Sequence[tuple[np.ndarray, np.ndarray]],
    gold: Sequence[Sequence[str]],
    companions: CompanionModel | None = None,
    max_steps: int = 50,
    sibling_factor: float = 0.5,
    lift_power: float = 0.5,
    max_lift: float = 10.0,
) -> SequentialResult:
    """Simulate the feedback loop for each episode: ``ranked[i]`` = (labels, scores) best first."""
    n = len(gold)
    hs, hq = np.zeros((n, max_steps)), np.zeros((n, max_steps))
    ss, sq = np.full(n, np.inf), np.full(n, np.inf)
    n_gold = np.array([len(set(g)) for g in gold])
    for i, ((labs, vals), g) in enumerate(zip(ranked, gold)):
        gs = set(g)
        labs = np.asarray(labs, dtype=object)[: 2 * max_steps]
        vals = np.asarray(vals, dtype=np.float64)[: 2 * max_steps]
        is_gold = np.fromiter((lab in gs for lab in labs), dtype=bool, count=labs.size)
        if not gs:
            continue
        # static ranking
        top = is_gold[:max_steps]
        hs[i, : top.size] = top
        if is_gold.sum() == len(gs):
            last = int(np.flatnonzero(is_gold)[-1]) + 1
            if last <= max_steps:
                ss[i] = last
        # sequential ranking
        if labs.size == 0:
            continue
        cats = np.array([category_of(lab, 3) for lab in labs], dtype=object)
        ids = companions.ids(labs) if companions is not None else None
        odds = np.clip(vals, 1e-9, 1 - 1e-9)
        odds = odds / (1 - odds)
        active = np.ones(labs.size, dtype=bool)
        found = 0
        for step in range(min(max_steps, labs.size)):
            j = int(np.argmax(np.where(active, odds, -1.0)))
            active[j] = False
            if is_gold[j]:
                hq[i, step] = 1
                found += 1
                if found == len(gs):
                    sq[i] = step + 1
                    break
                if companions is not None and lift_power > 0:
                    odds *= np.minimum(companions.lifts(int(ids[j]), ids), max_lift) ** lift_power
            else:
                odds[active & (cats == cats[j])] *= sibling_factor
    return SequentialResult(ss, sq, hs, hq, n_gold)
