"""Turning label lists into sparse indicator matrices over one shared label space."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp


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
