"""The joint multi-label network: sparse TF-IDF rows -> linear or small MLP -> one logit per code.

A sparse row times a weight matrix is an ``EmbeddingBag`` sum weighted by the TF-IDF values,
over the n-gram columns kept by ``features.SelectedTfidf``.
BCE is computed over all codes at once, so 26,000 codes cost one matrix product, not 26,000
models.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F


class SparseTextNet(nn.Module):
    def __init__(self, n_features: int, n_classes: int, hidden_size: int | None) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        width = hidden_size if hidden_size else n_classes
        self.embed = nn.EmbeddingBag(n_features, width, mode="sum")
        self.embed_bias = nn.Parameter(torch.zeros(width))
        if hidden_size:
            # TF-IDF rows have unit L2 norm, so std 1 gives unit-variance hidden units
            nn.init.normal_(self.embed.weight, std=1.0)
            self.out = nn.Linear(hidden_size, n_classes)
            self.dropout = nn.Dropout(0.2)
        else:
            nn.init.zeros_(self.embed.weight)
            self.out = None

    def forward(self, indices, offsets, weights) -> torch.Tensor:
        return self.head(self.embed(indices, offsets, per_sample_weights=weights))

    def head(self, bag: torch.Tensor) -> torch.Tensor:
        """Everything after the sparse first layer (shared by training and prediction)."""
        h = bag + self.embed_bias
        if self.out is None:
            return h
        return self.out(self.dropout(torch.relu(h)))

    def output_bias(self) -> torch.Tensor:
        return self.embed_bias if self.out is None else self.out.bias


def _batch(X: sp.csr_matrix, rows: np.ndarray):
    B = X[rows]
    return (
        torch.from_numpy(B.indices.astype(np.int64)),
        torch.from_numpy(B.indptr[:-1].astype(np.int64)),
        torch.from_numpy(B.data.astype(np.float32)),
    )


def train_network(
    X: sp.csr_matrix,
    Y: sp.csr_matrix,
    hidden_size: int | None,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    on_epoch: Callable[[], None] | None = None,
) -> SparseTextNet:
    """Fit with Adam on minibatches of sparse rows; output biases start at the code priors.

    ``on_epoch`` is called after each epoch (progress reporting).

    The first layer has one row per *selected* n-gram column (tens of thousands, see
    ``features.SelectedTfidf``), small enough for dense gradients and plain Adam.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n, m = Y.shape
    net = SparseTextNet(X.shape[1], m, hidden_size)
    prior = np.clip(np.asarray(Y.sum(axis=0)).ravel() / max(n, 1), 1e-6, 1 - 1e-6)
    with torch.no_grad():
        net.output_bias().copy_(torch.from_numpy(np.log(prior / (1 - prior)).astype(np.float32)))
    # fused: one kernel for all Adam updates; the default per-tensor loop over the dense
    # first-layer gradient was 6x slower and dominated training time
    opt = torch.optim.Adam(net.parameters(), lr=lr, fused=True)
    Y = sp.csr_matrix(Y, dtype=np.float32)
    X = sp.csr_matrix(X, dtype=np.float32)
    net.train()
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            logits = net(*_batch(X, rows))
            target = torch.from_numpy(Y[rows].toarray())
            # sum over codes, mean over episodes: rare codes are not drowned by the 26k negatives
            loss = F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / len(rows)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if on_epoch is not None:
            on_epoch()
    net.eval()
    return net


def predict_top_k(
    net: SparseTextNet, X: sp.csr_matrix, keep_top_k: int | None, chunk_size: int = 1024
) -> sp.csr_matrix:
    """Sigmoid scores, computed ``chunk_size`` rows at a time, top-k of each row kept (CSR)."""
    n = X.shape[0]
    m = net.out.out_features if net.out is not None else net.embed.embedding_dim
    k = m if keep_top_k is None else min(keep_top_k, m)
    data, indices = [], []
    with torch.no_grad():
        for start in range(0, n, chunk_size):
            rows = np.arange(start, min(start + chunk_size, n))
            probs = torch.sigmoid(net(*_batch(X, rows)))
            vals, idx = torch.topk(probs, k, dim=1, sorted=False)
            data.append(vals.numpy().astype(np.float32).ravel())
            indices.append(idx.numpy().astype(np.int64).ravel())
    data = np.concatenate(data) if data else np.zeros(0, np.float32)
    indices = np.concatenate(indices) if indices else np.zeros(0, np.int64)
    indptr = np.arange(n + 1, dtype=np.int64) * k
    mat = sp.csr_matrix((data, indices, indptr), shape=(n, m))
    mat.sort_indices()
    mat.eliminate_zeros()
    return mat
