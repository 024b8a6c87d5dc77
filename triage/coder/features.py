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


def fit_tfidf(counts: sp.csr_matrix) -> TfidfTransformer:
    return TfidfTransformer(sublinear_tf=True).fit(counts)


def tfidf(transformer: TfidfTransformer, counts: sp.csr_matrix) -> sp.csr_matrix:
    X = transformer.transform(counts)
    return sp.csr_matrix(X, dtype=np.float32)
