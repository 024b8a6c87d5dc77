"""A small seeded CPU MLP on routing features (the torch alternative to LightGBM).

NaN is common in the features (no accepted code, unknown metadata): each column with missing
values in training gets a missing-indicator input and the value itself is imputed with 0
after standardisation.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


class MLPLogit:
    """Standardisation + network; ``logit(X)`` is the uncalibrated correctness logit."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray, missing_cols: np.ndarray, net: nn.Module):
        self.mean = mean
        self.scale = scale
        self.missing_cols = missing_cols
        self.net = net

    def inputs(self, X: np.ndarray) -> np.ndarray:
        Z = (X - self.mean) / self.scale
        miss = np.isnan(X[:, self.missing_cols]).astype(np.float64)
        return np.hstack([np.nan_to_num(Z, nan=0.0), miss]).astype(np.float32)

    def logit(self, X: np.ndarray) -> np.ndarray:
        """In float64: float32 kernels pick their summation order by batch size (and CPU), so an
        episode's logit would move with the rows scored beside it (scikit-learn's
        check_methods_subset_invariance caught it); in float64 that drift is far below any threshold."""
        net = getattr(self, "_net64", None)
        if net is None:
            net = self._net64 = copy.deepcopy(self.net).double().eval()
        with torch.no_grad():
            out = net(torch.from_numpy(self.inputs(X).astype(np.float64)))
        return out.numpy().ravel()

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_net64"}  # rebuilt on first use


def fit_mlp(
    X: np.ndarray,
    y: np.ndarray,
    hidden: Sequence[int] = (64, 32),
    epochs: int = 20,
    batch_size: int = 512,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    random_state: int | None = 0,
    n_threads: int = 2,
) -> MLPLogit:
    """Train with Adam on binary cross-entropy; same seed and threads, same weights."""
    with warnings.catch_warnings():  # all-NaN columns: mean 0, scale 1
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nan_to_num(np.nanmean(X, axis=0))
        scale = np.nan_to_num(np.nanstd(X, axis=0))
    scale[scale == 0] = 1.0
    missing_cols = np.flatnonzero(np.isnan(X).any(axis=0))
    seed = 0 if random_state is None else int(random_state)
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            layers: list[nn.Module] = []
            d = X.shape[1] + len(missing_cols)
            for h in hidden:
                layers += [nn.Linear(d, h), nn.ReLU()]
                d = h
            layers.append(nn.Linear(d, 1))
            net = nn.Sequential(*layers)
            model = MLPLogit(mean, scale, missing_cols, net)
            Xt = torch.from_numpy(model.inputs(X))
            yt = torch.from_numpy(y.astype(np.float32)).reshape(-1, 1)
            opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
            loss_fn = nn.BCEWithLogitsLoss()
            gen = torch.Generator().manual_seed(seed)
            n = len(Xt)
            net.train()
            for _ in range(epochs):
                perm = torch.randperm(n, generator=gen)
                for start in range(0, n, batch_size):
                    idx = perm[start : start + batch_size]
                    opt.zero_grad()
                    loss = loss_fn(net(Xt[idx]), yt[idx])
                    loss.backward()
                    opt.step()
            net.eval()
    finally:
        torch.set_num_threads(prev_threads)
    return model
