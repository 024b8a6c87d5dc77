"""Per-episode code scores: what any automated coder hands to the router.

Kept sparse (top-k per episode) because MIMIC-IV's ~26,000 labels x 122,279 episodes
would be 12 GB as dense float32; everything downstream reads the highest scores only.
Scores not stored are treated as 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp


@dataclass
class CodeScores:
    """Scores in [0, 1]: ``matrix[i, j]`` is P(label ``classes[j]`` | episode ``episode_ids[i]``)."""

    episode_ids: np.ndarray  # (n,) int64
    classes: np.ndarray  # (m,) labels (dotted, see triage.codes.labels), object dtype
    matrix: sp.csr_matrix  # (n, m) float32

    def __post_init__(self) -> None:
        self.episode_ids = np.asarray(self.episode_ids, dtype=np.int64)
        self.classes = np.asarray(self.classes, dtype=object)
        if not sp.issparse(self.matrix):
            self.matrix = sp.csr_matrix(np.asarray(self.matrix, dtype=np.float32))
        self.matrix = sp.csr_matrix(self.matrix, dtype=np.float32)
        n, m = self.matrix.shape
        if n != len(self.episode_ids) or m != len(self.classes):
            raise ValueError(
                f"CodeScores: matrix shape {self.matrix.shape} does not match "
                f"{len(self.episode_ids)} episode ids x {len(self.classes)} classes"
            )

    def __len__(self) -> int:
        return len(self.episode_ids)

    @classmethod
    def from_dense(
        cls, episode_ids, classes, dense: np.ndarray, keep_top_k: int | None = 256
    ) -> "CodeScores":
        """Sparsify a dense block, keeping the ``keep_top_k`` highest scores of each row."""
        dense = np.asarray(dense, dtype=np.float32)
        if keep_top_k is None or keep_top_k >= dense.shape[1]:
            return cls(episode_ids, classes, sp.csr_matrix(dense))
        k = keep_top_k
        idx = np.argpartition(-dense, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(dense, idx, axis=1)
        rows = np.repeat(np.arange(dense.shape[0]), k)
        mat = sp.csr_matrix(
            (vals.ravel(), (rows, idx.ravel())), shape=dense.shape, dtype=np.float32
        )
        mat.eliminate_zeros()
        mat.sort_indices()
        return cls(episode_ids, classes, mat)

    def subset(self, episode_ids) -> "CodeScores":
        """Rows for the given episode ids, in that order (KeyError names the missing ids)."""
        pos = pd.Index(self.episode_ids).get_indexer(np.asarray(episode_ids, dtype=np.int64))
        if (pos < 0).any():
            missing = np.asarray(episode_ids)[pos < 0][:10].tolist()
            raise KeyError(f"episode ids not in the scores: {missing}")
        return CodeScores(self.episode_ids[pos], self.classes, self.matrix[pos])

    def concat(self, other: "CodeScores") -> "CodeScores":
        """This table's rows followed by ``other``'s, over the union of their classes.

        Two prediction files in the long format list only the codes each scored, so their class sets
        differ; a score not stored is 0 (the module's convention), which makes the union exact."""
        if len(self.classes) == len(other.classes) and np.array_equal(self.classes, other.classes):
            classes, a, b = self.classes, self.matrix, other.matrix
        else:
            new = pd.Index(other.classes).difference(pd.Index(self.classes), sort=False)
            classes = np.concatenate([self.classes, np.asarray(new, dtype=object)])
            a, b = self.with_classes(classes).matrix, other.with_classes(classes).matrix
        return CodeScores(np.concatenate([self.episode_ids, other.episode_ids]), classes,
                          sp.vstack([a, b], format="csr"))

    def with_classes(self, classes) -> "CodeScores":
        """The same scores over ``classes``, a superset of this table's classes, in that order."""
        classes = np.asarray(classes, dtype=object)
        pos = pd.Index(classes).get_indexer(self.classes)
        if (pos < 0).any():
            missing = self.classes[pos < 0][:10].tolist()
            raise ValueError(f"CodeScores.with_classes: classes {missing} are not in the new class list")
        coo = self.matrix.tocoo()
        mat = sp.csr_matrix((coo.data, (coo.row, pos[coo.col])), shape=(len(self), len(classes)),
                            dtype=np.float32)
        mat.sort_indices()
        return CodeScores(self.episode_ids, classes, mat)

    def row(self, i: int) -> dict[str, float]:
        """The stored scores of row ``i`` as label -> score."""
        start, end = self.matrix.indptr[i], self.matrix.indptr[i + 1]
        return dict(
            zip(self.classes[self.matrix.indices[start:end]], self.matrix.data[start:end].tolist())
        )

    def to_long(self) -> pd.DataFrame:
        """Long table (episode_id, code, score), the bring-your-own-predictions format."""
        coo = self.matrix.tocoo()
        return pd.DataFrame(
            {
                "episode_id": self.episode_ids[coo.row],
                "code": self.classes[coo.col].astype(str),
                "score": coo.data,
            }
        )

    def save(self, path: str | Path) -> None:
        """Write to a single ``.npz`` file."""
        np.savez_compressed(
            path,
            episode_ids=self.episode_ids,
            classes=self.classes.astype(str),
            data=self.matrix.data,
            indices=self.matrix.indices,
            indptr=self.matrix.indptr,
            shape=np.asarray(self.matrix.shape),
        )

    @classmethod
    def load(cls, path: str | Path) -> "CodeScores":
        with np.load(path, allow_pickle=False) as z:
            mat = sp.csr_matrix(
                (z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"])
            )
            return cls(z["episode_ids"], z["classes"].astype(object), mat)
