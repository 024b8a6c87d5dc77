"""The decision rule: scores -> an ordered predicted code list.

``global`` tunes one threshold for micro-F1 over a grid, as the reference pipeline does on
val; ``per_code`` tunes each code's own threshold (codes without a positive keep the global
one); ``top_k`` keeps the k best-scored codes. A code is predicted when its score is
strictly above its threshold. Lists are ordered by descending score, so the first diagnosis
label is the predicted principal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import scipy.sparse as sp

from triage.coder.scores import CodeScores
from triage.coder.align import align


class DecisionRule:
    def __init__(
        self,
        kind: Literal["global", "per_code", "top_k"] = "global",
        threshold: float = 0.5,
        k: int = 15,
        grid: Sequence[float] | None = None,
    ) -> None:
        self.kind = kind
        self.threshold = threshold
        self.k = k
        self.grid = grid

    def _grid(self) -> np.ndarray:
        return np.asarray(np.linspace(0, 1, 100) if self.grid is None else self.grid, dtype=np.float64)

    def _validate(self) -> None:
        if self.kind not in ("global", "per_code", "top_k"):
            raise ValueError(f"kind must be 'global', 'per_code' or 'top_k', got {self.kind!r}")
        if self.kind == "top_k" and self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")

    def fit(self, scores: CodeScores, gold_labels: Sequence[Sequence[str]]) -> DecisionRule:
        """Tune the threshold(s) on held-out scores (e.g. val) against their gold labels."""
        self._validate()
        a = align(scores, gold_labels)
        vals = a.S.data.astype(np.float64)
        pos = a.entry_is_gold
        total_gold = a.Y.nnz
        grid = self._grid()
        # tp(t) / fp(t) = stored positive / negative scores > t (unstored scores are 0, never > t>=0)
        pos_sorted, neg_sorted = np.sort(vals[pos]), np.sort(vals[~pos])
        tp = pos_sorted.size - np.searchsorted(pos_sorted, grid, side="right")
        fp = neg_sorted.size - np.searchsorted(neg_sorted, grid, side="right")
        f1 = _f1(tp, fp, total_gold - tp)
        self.threshold_ = float(grid[int(np.argmax(f1))])
        self.f1_micro_ = float(f1.max())
        self.classes_ = scores.classes
        if self.kind == "per_code":
            self.thresholds_ = self._per_code(a, vals, pos, grid, len(scores.classes))
        return self

    def _per_code(self, a, vals, pos, grid, m) -> np.ndarray:
        cols = a.S.indices
        n_gold = np.bincount(a.Y.indices, minlength=a.shape[1])[:m]
        best_f1 = np.full(m, -1.0)
        best_t = np.full(m, self.threshold_)
        for t in grid:
            above = vals > t
            tp = np.bincount(cols[above & pos], minlength=a.shape[1])[:m]
            fp = np.bincount(cols[above & ~pos], minlength=a.shape[1])[:m]
            f1 = _f1(tp, fp, n_gold - tp)
            better = f1 > best_f1
            best_f1[better], best_t[better] = f1[better], t
        best_t[n_gold == 0] = self.threshold_
        return best_t

    def _threshold_vector(self, classes: np.ndarray) -> np.ndarray | float:
        if self.kind == "per_code":
            if not hasattr(self, "thresholds_"):
                raise RuntimeError("per_code DecisionRule is not fitted: call fit() first")
            if len(classes) != len(self.classes_) or (classes != self.classes_).any():
                raise ValueError("scores have other classes than the ones the rule was fitted on")
            return self.thresholds_
        return getattr(self, "threshold_", self.threshold)

    def predict(self, scores: CodeScores) -> list[list[str]]:
        """Predicted labels per episode, ordered by descending score."""
        self._validate()
        S = sp.csr_matrix(scores.matrix)
        rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
        vals, cols = S.data, S.indices
        if self.kind == "top_k":
            keep = vals > 0
        else:
            thr = self._threshold_vector(scores.classes)
            keep = vals > (thr[cols] if isinstance(thr, np.ndarray) else thr)
        rows, vals, cols = rows[keep], vals[keep], cols[keep]
        order = np.lexsort((cols, -vals, rows))
        rows, cols = rows[order], cols[order]
        bounds = np.searchsorted(rows, np.arange(S.shape[0] + 1))
        labels = scores.classes
        out = [labels[cols[a:b]].tolist() for a, b in zip(bounds[:-1], bounds[1:])]
        if self.kind == "top_k":
            out = [labs[: self.k] for labs in out]
        return out

    def predict_row(self, row: Mapping[str, float]) -> list[str]:
        """One episode's labels from a label -> score mapping (what the service receives)."""
        if self.kind == "top_k":
            items = [(lab, s) for lab, s in row.items() if s > 0]
        elif self.kind == "per_code":
            thr = self._threshold_vector(self.classes_)
            index = self._class_index()
            fallback = self.threshold_
            items = [
                (lab, s) for lab, s in row.items()
                if s > (thr[index[lab]] if lab in index else fallback)
            ]
        else:
            t = getattr(self, "threshold_", self.threshold)
            items = [(lab, s) for lab, s in row.items() if s > t]
        items.sort(key=lambda x: (-x[1], x[0]))
        labs = [lab for lab, _ in items]
        return labs[: self.k] if self.kind == "top_k" else labs

    def _class_index(self) -> dict[str, int]:
        if not hasattr(self, "_index"):
            self._index = {lab: j for j, lab in enumerate(self.classes_)}
        return self._index

    def to_dict(self) -> dict:
        """JSON-ready state (for the router bundle)."""
        d = {"kind": self.kind, "threshold": float(getattr(self, "threshold_", self.threshold)),
             "k": int(self.k)}
        if self.kind == "per_code":
            d["classes"] = [str(c) for c in self.classes_]
            d["thresholds"] = [float(t) for t in self.thresholds_]
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> DecisionRule:
        rule = cls(kind=d["kind"], threshold=d["threshold"], k=d.get("k", 15))
        rule.threshold_ = float(d["threshold"])
        if d["kind"] == "per_code":
            rule.classes_ = np.asarray(d["classes"], dtype=object)
            rule.thresholds_ = np.asarray(d["thresholds"], dtype=np.float64)
        return rule


def _f1(tp, fp, fn) -> np.ndarray:
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    den = tp + 0.5 * (fp + fn)
    return np.divide(tp, den, out=np.zeros_like(den), where=den > 0)
