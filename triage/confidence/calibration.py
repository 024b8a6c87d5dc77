"""Post-hoc calibration of a confidence score given on the logit scale.

Every method is fitted on a split the score's model did not train on. scikit-learn methods go
through ``CalibratedClassifierCV(FrozenEstimator(...))`` over a pass-through of the logit, so the
model itself is never refitted; each fitted calibrator is then reduced to a few numbers
(``map``) so the service can apply it to one episode in microseconds.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

METHODS: tuple[str, ...] = ("isotonic", "sigmoid", "temperature", "venn-abers", "none")
Method = Literal[METHODS]


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


class LogitPassThrough(ClassifierMixin, BaseEstimator):
    """A 'classifier' whose decision function is column 0 of X: the already-computed logit."""

    def fit(self, X, y=None):
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X):
        return np.asarray(X, dtype=np.float64)[:, 0]

    def predict(self, X):
        return (self.decision_function(X) > 0).astype(int)

    def predict_proba(self, X):
        p = sigmoid(self.decision_function(X))
        return np.column_stack([1 - p, p])


class LogitCalibrator(BaseEstimator):
    """Maps a logit to a calibrated probability with one of :data:`METHODS`."""

    def __init__(self, method: Method = "isotonic") -> None:
        self.method = method

    def fit(self, z: np.ndarray, y: np.ndarray) -> LogitCalibrator:
        if self.method not in METHODS:
            raise ValueError(f"calibration method must be one of {METHODS}, got {self.method!r}")
        z = np.asarray(z, dtype=np.float64).ravel()
        y = np.asarray(y).astype(int).ravel()
        if len(z) != len(y):
            raise ValueError(f"calibration data: {len(z)} scores but {len(y)} labels")
        if self.method == "none":
            return self
        if len(np.unique(y)) < 2:
            raise ValueError(
                f"calibration method {self.method!r} needs both correct and incorrect episodes "
                f"in the calibration split; all {len(y)} are {int(y[0]) if len(y) else 'absent'}"
            )
        if self.method == "venn-abers":
            from venn_abers import VennAbers

            p = sigmoid(z)
            with warnings.catch_warnings():  # the package probes all-NaN gradient slices
                warnings.simplefilter("ignore", RuntimeWarning)
                self.sk_ = VennAbers().fit(np.column_stack([1 - p, p]), y)
            self.p0_, self.p1_, self.c_ = self.sk_.p0_, self.sk_.p1_, self.sk_.c_
            return self
        base = FrozenEstimator(LogitPassThrough().fit(z[:, None], y))
        # A frozen model predicts the same on every fold, so one "split" whose test part is all of
        # the data gives the same calibration as the default 5 folds, and works on a handful of episodes.
        everything = [(np.arange(len(z)), np.arange(len(z)))]
        self.sk_ = CalibratedClassifierCV(base, method=self.method, cv=everything).fit(z[:, None], y)
        cal = self.sk_.calibrated_classifiers_[0].calibrators[0]
        if self.method == "isotonic":
            self.x_ = np.asarray(cal.X_thresholds_, dtype=np.float64)
            self.y_ = np.asarray(cal.y_thresholds_, dtype=np.float64)
        elif self.method == "sigmoid":
            self.a_, self.b_ = float(cal.a_), float(cal.b_)
        else:  # temperature: softmax(beta * (-z, z)) -> sigmoid(2 beta z)
            self.beta_ = float(np.ravel(cal.beta_)[0])
        return self

    def __getstate__(self) -> dict:
        # the library's fitted object (``sk_``) is kept for ``reference_map`` cross-checks in the
        # fitting process only: ``map`` needs just the numbers above, and a model file stores those
        return {k: v for k, v in self.__dict__.items() if k != "sk_"}

    def map(self, z: np.ndarray) -> np.ndarray:
        """Calibrated P(correct) for logits ``z`` (pure numpy: the fast path)."""
        z = np.asarray(z, dtype=np.float64)
        m = self.method
        if m == "none":
            return sigmoid(z)
        if m == "isotonic":
            return np.interp(z, self.x_, self.y_)
        if m == "sigmoid":
            return 1.0 / (1.0 + np.exp(self.a_ * z + self.b_))
        if m == "temperature":
            return sigmoid(2.0 * self.beta_ * z)
        # Venn-ABERS (Vovk et al. 2015): p = p1 / (1 - p0 + p1) from the two isotonic fits.
        p = sigmoid(z)
        p0 = self.p0_[np.searchsorted(self.c_, p, "right"), 1]
        p1 = self.p1_[np.searchsorted(self.c_, p, "left"), 1]
        return p1 / (1.0 - p0 + p1)

    def reference_map(self, z: np.ndarray) -> np.ndarray:
        """The same probabilities computed by the underlying library (for cross-checks)."""
        z = np.asarray(z, dtype=np.float64)
        if self.method == "none":
            return sigmoid(z)
        if not hasattr(self, "sk_"):
            raise RuntimeError("reference_map needs the calibrator as fitted (a loaded model keeps only its numbers)")
        if self.method == "venn-abers":
            p = sigmoid(z)
            return self.sk_.predict_proba(np.column_stack([1 - p, p]))[0][:, 1]
        return self.sk_.predict_proba(z[:, None])[:, 1]


def choose_method(
    z: np.ndarray,
    y: np.ndarray,
    methods: tuple[str, ...] = METHODS,
    n_splits: int = 5,
    random_state: int | None = 0,
) -> tuple[str, dict[str, float]]:
    """Method with the lowest cross-validated log loss on the calibration data.

    Each method is scored on folds it was not fitted on, so the choice is not flattered by
    isotonic regression's ability to memorise its own fitting data.
    """
    z = np.asarray(z, dtype=np.float64).ravel()
    y = np.asarray(y).astype(int).ravel()
    n_minor = int(min(y.sum(), len(y) - y.sum()))
    if n_minor < 2:
        raise ValueError(
            "calibration='auto' needs at least 2 correct and 2 incorrect calibration episodes"
        )
    folds = StratifiedKFold(min(n_splits, n_minor), shuffle=True, random_state=random_state)
    losses = {m: [] for m in methods}
    for tr, te in folds.split(z, y):
        for m in methods:
            p = LogitCalibrator(m).fit(z[tr], y[tr]).map(z[te])
            losses[m].append(log_loss(y[te], np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1]))
    mean = {m: float(np.mean(v)) for m, v in losses.items()}
    return min(mean, key=mean.get), mean
