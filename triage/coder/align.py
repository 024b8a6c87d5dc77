"""Scores and gold labels on one label space: the primitive the decision rule (tuning) and the
metrics (evaluation) share, kept with the coder so the metrics may import it and not the reverse.

``LabelSpace`` turns label lists into sparse indicator matrices over one ordered label space;
``align`` puts a ``CodeScores`` and gold label lists on the scores' classes plus any gold label the
coder has no column for (those score 0: a code the coder cannot predict counts against it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from triage.coder.scores import CodeScores


class LabelSpace:
    """An ordered label -> column mapping that grows as new labels are seen."""

    def __init__(self, labels: Iterable[str] = ()) -> None:
        self.index: dict[str, int] = {}
        for lab in labels:
            self.index.setdefault(str(lab), len(self.index))

    def __len__(self) -> int:
        return len(self.index)

    @property
    def labels(self) -> np.ndarray:
        return np.asarray(list(self.index), dtype=object)

    def extend(self, label_lists: Iterable[Sequence[str]]) -> LabelSpace:
        for labs in label_lists:
            for lab in labs:
                self.index.setdefault(lab, len(self.index))
        return self

    def indicator(self, label_lists: Sequence[Sequence[str]]) -> sp.csr_matrix:
        """Boolean CSR (n x len(self)); duplicate labels in a row count once."""
        index = self.index
        indptr = np.zeros(len(label_lists) + 1, dtype=np.int64)
        cols: list[int] = []
        for i, labs in enumerate(label_lists):
            row = {index[lab] for lab in labs}
            cols.extend(sorted(row))
            indptr[i + 1] = len(cols)
        indices = np.asarray(cols, dtype=np.int64)
        data = np.ones(len(indices), dtype=bool)
        return sp.csr_matrix((data, indices, indptr), shape=(len(label_lists), len(self)))


def check_same_length(pred: Sequence, gold: Sequence, what: str = "predicted") -> None:
    if len(pred) != len(gold):
        raise ValueError(
            f"{what} has {len(pred)} episodes but gold_labels has {len(gold)}; "
            "they must be aligned row by row"
        )


@dataclass
class AlignedScores:
    """Scores and gold indicators over one label space, plus per stored entry gold flags."""

    S: sp.csr_matrix  # (n, m) float32, explicit zeros removed, sorted indices
    Y: sp.csr_matrix  # (n, m) bool
    labels: np.ndarray
    entry_is_gold: np.ndarray  # (S.nnz,) bool, in S's CSR order

    @property
    def shape(self) -> tuple[int, int]:
        return self.S.shape


def align(scores: CodeScores, gold_labels: Sequence[Sequence[str]]) -> AlignedScores:
    """Put scores and gold labels on one label space (scores' classes first)."""
    check_same_length(scores.episode_ids, gold_labels, "scores")
    space = LabelSpace(scores.classes).extend(gold_labels)
    n, m = len(gold_labels), len(space)
    S = scores.matrix.copy()
    if S.data.size and (np.isnan(S.data).any() or S.data.min() < 0 or S.data.max() > 1):
        raise ValueError("scores must lie in [0, 1] with no NaN")
    S.eliminate_zeros()
    S = sp.csr_matrix((S.data, S.indices, S.indptr), shape=(n, m))
    S.sort_indices()
    Y = space.indicator(gold_labels)
    Y.sort_indices()
    return AlignedScores(S, Y, space.labels, _lookup(S, Y))


def _keys(M: sp.csr_matrix) -> np.ndarray:
    rows = np.repeat(np.arange(M.shape[0], dtype=np.int64), np.diff(M.indptr))
    return rows * M.shape[1] + M.indices.astype(np.int64)


def _lookup(S: sp.csr_matrix, Y: sp.csr_matrix) -> np.ndarray:
    """Whether each stored entry of S is a gold (episode, code) pair."""
    ks, ky = _keys(S), _keys(Y)
    if ky.size == 0:
        return np.zeros(ks.size, dtype=bool)
    pos = np.searchsorted(ky, ks)
    pos[pos >= ky.size] = ky.size - 1
    return ky[pos] == ks
