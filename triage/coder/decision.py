"""The decision rule: scores -> an ordered predicted code list.

``global`` tunes one threshold for micro-F1 over a grid, as the reference pipeline does on
val; ``per_code`` tunes each code's own threshold (codes without a positive keep the global
one); ``top_k`` keeps the k best-scored codes. A code is predicted when its score is
strictly above its threshold. Lists are ordered by descending score, so the first diagnosis
label is the predicted principal.

The rule is a scikit-learn estimator (``clone``, ``get_params``, ``check_is_fitted``): a fixed
``threshold`` (or ``top_k``) makes it stateless, usable without ``fit``; ``threshold=None``
tunes it in ``fit(X, y)`` (held-out scores and their gold label lists), and predicting before
that raises ``NotFittedError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from triage.coder.scores import CodeScores
from triage.coder.align import align


#: The decision rules (see the module docstring).
KINDS: tuple[str, ...] = ("global", "per_code", "top_k")


class DecisionRule(BaseEstimator):
    """Scores -> ordered predicted label lists.

    ``threshold``: a fixed global threshold (``per_code``: the fallback of codes without a
    positive), or None to tune it in ``fit``. ``k``: codes kept by ``top_k``. ``grid``: the
    thresholds tried (default 100 points on [0, 1]).
    """

    def __init__(
        self,
        kind: Literal[KINDS] = "global",
        threshold: float | None = None,
        k: int = 15,
        grid: Sequence[float] | None = None,
    ) -> None:
        self.kind = kind
        self.threshold = threshold
        self.k = k
        self.grid = grid

    def __sklearn_is_fitted__(self) -> bool:
        """A fixed global threshold and top-k need no fitting; tuned and per-code rules do."""
        if self.kind == "top_k" or (self.kind == "global" and self.threshold is not None):
            return True
        return hasattr(self, "threshold_")

    def _grid(self) -> np.ndarray:
        return np.asarray(np.linspace(0, 1, 100) if self.grid is None else self.grid, dtype=np.float64)

    def _validate(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "top_k" and self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")

    def fit(self, X: CodeScores, y: Sequence[Sequence[str]]) -> DecisionRule:
        """Tune the threshold(s) on held-out scores ``X`` (e.g. val) against their gold label
        lists ``y``. A fixed ``threshold`` is kept (``f1_micro_`` is then its micro-F1 on X)."""
        self._validate()
        scores = X
        a = align(scores, y)
        vals = a.S.data.astype(np.float64)
        pos = a.entry_is_gold
        total_gold = a.Y.nnz
        grid = self._grid()
        tried = grid if self.threshold is None else np.array([float(self.threshold)])
        # tp(t) / fp(t) = stored positive / negative scores > t (unstored scores are 0, never > t>=0)
        pos_sorted, neg_sorted = np.sort(vals[pos]), np.sort(vals[~pos])
        tp = pos_sorted.size - np.searchsorted(pos_sorted, tried, side="right")
        fp = neg_sorted.size - np.searchsorted(neg_sorted, tried, side="right")
        f1 = _f1(tp, fp, total_gold - tp)
        self.threshold_ = float(tried[int(np.argmax(f1))])
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

    def _global_threshold(self) -> float:
        return float(self.threshold_ if hasattr(self, "threshold_") else self.threshold)

    def _threshold_vector(self, classes: np.ndarray) -> np.ndarray | float:
        if self.kind == "per_code":
            if len(classes) != len(self.classes_) or (classes != self.classes_).any():
                raise ValueError("scores have other classes than the ones the rule was fitted on")
            return self.thresholds_
        return self._global_threshold()

    def predict(self, X: CodeScores) -> list[list[str]]:
        """Predicted labels per episode of the scores ``X``, ordered by descending score."""
        self._validate()
        check_is_fitted(self)
        scores = X
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
        check_is_fitted(self)
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
            t = self._global_threshold()
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
        check_is_fitted(self)
        threshold = None if self.kind == "top_k" and self.threshold is None else self._global_threshold()
        d = {"kind": self.kind, "threshold": threshold, "k": int(self.k)}
        if self.kind == "per_code":
            d["classes"] = [str(c) for c in self.classes_]
            d["thresholds"] = [float(t) for t in self.thresholds_]
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> DecisionRule:
        rule = cls(kind=d["kind"], threshold=d["threshold"], k=d.get("k", 15))
        if d["threshold"] is not None:
            rule.threshold_ = float(d["threshold"])
        if d["kind"] == "per_code":
            rule.classes_ = np.asarray(d["classes"], dtype=object)
            rule.thresholds_ = np.asarray(d["thresholds"], dtype=np.float64)
        return rule


def _f1(tp, fp, fn) -> np.ndarray:
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    den = tp + 0.5 * (fp + fn)
    return np.divide(tp, den, out=np.zeros_like(den), where=den > 0)
