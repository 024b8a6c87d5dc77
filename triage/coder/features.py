"""Text features for the baseline coder: hashed word n-grams, TF-IDF weighted.

Hashing needs no vocabulary pass, so the expensive tokenising happens once per episode and
is shared by every cross-fitting fold; only the cheap IDF is refitted per fold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer


def make_hasher(n_features: int, ngram_range: tuple[int, int]) -> HashingVectorizer:
    return HashingVectorizer(
        n_features=n_features,
        ngram_range=tuple(ngram_range),
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    )


def hash_texts(hasher: HashingVectorizer, texts: Sequence[str], n_jobs: int = 1) -> sp.csr_matrix:
    """Raw n-gram counts, tokenised in ``n_jobs`` processes (order preserved)."""
    texts = list(texts)
    if n_jobs <= 1 or len(texts) < 2000:
        return hasher.transform(texts)
    n_chunks = max(n_jobs, len(texts) // 5000)
    bounds = np.linspace(0, len(texts), n_chunks + 1).astype(int)
    parts = Parallel(n_jobs=n_jobs)(
        delayed(hasher.transform)(texts[a:b]) for a, b in zip(bounds[:-1], bounds[1:])
    )
    return sp.vstack(parts, format="csr")


class SelectedTfidf:
    """TF-IDF over the hashed columns seen in at least ``min_df`` training episodes.

    Dropping columns that (almost) never occur shrinks the network's first layer from 2^18 rows
    to the tens of thousands of n-grams that carry signal, which is what keeps training fast.
    """

    def __init__(self, min_df: int = 1) -> None:
        self.min_df = min_df

    def fit(self, counts: sp.csr_matrix) -> "SelectedTfidf":
        df = np.bincount(sp.csr_matrix(counts).indices, minlength=counts.shape[1])
        cols = np.flatnonzero(df >= max(int(self.min_df), 1))
        if cols.size == 0:  # tiny corpora: keep every column that occurs at all
            cols = np.flatnonzero(df >= 1)
        self.columns_ = cols.astype(np.int64)
        self.transformer_ = TfidfTransformer(sublinear_tf=True).fit(counts[:, self.columns_])
        return self

    @property
    def n_features_(self) -> int:
        return int(self.columns_.size)

    def transform(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        return sp.csr_matrix(self.transformer_.transform(counts[:, self.columns_]), dtype=np.float32)


def fit_tfidf(counts: sp.csr_matrix, min_df: int = 1) -> SelectedTfidf:
    return SelectedTfidf(min_df).fit(counts)


def tfidf(transformer: SelectedTfidf, counts: sp.csr_matrix) -> sp.csr_matrix:
    return transformer.transform(counts)
