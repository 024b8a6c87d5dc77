"""Confidence models: P(the automated code list is correct | routing-time features).

Four kinds share one interface and one calibration step:
``lightgbm`` (default), ``torch-mlp``, and two baselines that need no training, ``product``
(the product-form probability that the thresholded set is exact) and ``min-accepted`` (the
lowest accepted score). Every kind produces a logit; a :class:`LogitCalibrator` fitted on a
held-out split turns it into a probability.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from triage.artifacts import load_state, save_state
from triage.confidence.calibration import METHODS, LogitCalibrator, choose_method
from triage.confidence.features import FEATURE_NAMES

KINDS: tuple[str, ...] = ("lightgbm", "torch-mlp", "product", "min-accepted")
BASELINES: tuple[str, ...] = ("product", "min-accepted")
#: ``ConfidenceModel(calibration=...)``: "auto" chooses among METHODS by cross-validated log loss.
CALIBRATIONS: tuple[str, ...] = ("auto", *METHODS)
_CLIP = 1e-6
#: Fewest episodes of the rarer class for which "auto" compares calibration methods by CV.
MIN_AUTO_CALIBRATION = 10


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _CLIP, 1 - _CLIP)
    return np.log(p) - np.log1p(-p)


class ConfidenceModel(ClassifierMixin, BaseEstimator):
    """Calibrated probability that an episode's automated code list is correct.

    Parameters
    ----------
    kind : "lightgbm" | "torch-mlp" | "product" | "min-accepted".
    calibration : "auto" (lowest cross-validated log loss on the calibration split) or one of
        "isotonic", "sigmoid", "temperature", "venn-abers", "none".
    feature_names : column names of X (default: a DataFrame's columns, else :data:`FEATURE_NAMES`
        when X has that many columns, else ``x0, x1, ...``); baselines read their column by name.
        ``n_features_in_`` is the width of the X ``fit`` saw.
    cal_fraction : share of (X, y) ``fit`` holds out to calibrate on, for a model used on its own.
        0 trains the ranking on all of (X, y) and leaves the probabilities to :meth:`calibrate`
        on held-out episodes whose scores are of the kind seen at routing time (the pipeline does
        this: the ranking learns from every out-of-fold fitting episode, the probabilities from the
        deployed coder's scores; a hold-out inside the fitting part would train nothing the run
        keeps). ``predict_proba`` before :meth:`calibrate` then raises.
    n_estimators, learning_rate, num_leaves, max_depth, min_child_samples : LightGBM. Small
        trees (7 leaves, depth 4): as accurate as 31 leaves on coder-shaped scores (AUROC 0.921
        vs 0.918, log loss 0.331 vs 0.335 on 10,000 test rows of the benchmark data) and 7x
        cheaper to explain per decision (TreeSHAP cost grows with leaves x depth^2).
    hidden, epochs, batch_size, lr, weight_decay : torch MLP.
    n_jobs : threads for LightGBM and torch (1 by default: OpenMP threads spin badly on a
        shared, oversubscribed machine).
    """

    def __init__(
        self,
        kind: str = "lightgbm",
        calibration: str = "auto",
        random_state: int | None = 0,
        feature_names: Sequence[str] | None = None,
        cal_fraction: float = 0.2,
        n_estimators: int = 150,
        learning_rate: float = 0.08,
        num_leaves: int = 7,
        max_depth: int = 4,
        min_child_samples: int = 50,
        hidden: tuple[int, ...] = (64, 32),
        epochs: int = 20,
        batch_size: int = 512,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        n_jobs: int = 1,
    ) -> None:
        self.kind = kind
        self.calibration = calibration
        self.random_state = random_state
        self.feature_names = feature_names
        self.cal_fraction = cal_fraction
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # NaN = unknown feature (LightGBM and the MLP handle it)
        tags.classifier_tags.multi_class = False  # y is correct or not
        return tags

    # ------------------------------------------------------------ checks
    def _names(self) -> list[str]:
        """Feature names of the fitted columns (before fit: the ones the parameters imply)."""
        names = getattr(self, "feature_names_", None)
        if names is not None:
            return list(names)
        return list(self.feature_names) if self.feature_names is not None else list(FEATURE_NAMES)

    def _fit_names(self, n: int) -> list[str]:
        if self.feature_names is not None:
            names = [str(f) for f in self.feature_names]
            if len(names) != n:
                raise ValueError(f"X has {n} feature columns but feature_names names {len(names)}")
            return names
        if hasattr(self, "feature_names_in_"):  # a DataFrame's columns
            return [str(f) for f in self.feature_names_in_]
        return list(FEATURE_NAMES) if n == len(FEATURE_NAMES) else [f"x{i}" for i in range(n)]

    def _no_infinity(self, X: np.ndarray, what: str) -> np.ndarray:
        if np.isinf(X).any():
            col = int(np.flatnonzero(np.isinf(X).any(axis=0))[0])
            raise ValueError(f"{what} column {self._names()[col]!r} contains infinity")
        return X

    def _check_X(self, X: Any, what: str = "X") -> np.ndarray:
        """The per-request check (cheaper than scikit-learn's ``validate_data``): 2-D, the fitted
        width, no infinity."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"{what} must be 2-D (episodes x features), got shape {X.shape}")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"{what} has {X.shape[1]} features, but ConfidenceModel is expecting "
                             f"{self.n_features_in_} features as input")
        return self._no_infinity(X, what)

    @staticmethod
    def _check_y(y: Any, n: int, what: str = "y") -> np.ndarray:
        y = np.asarray(y)
        if y.shape != (n,):
            raise ValueError(f"{what} must have shape ({n},), got {y.shape}")
        if not np.isin(y, (0, 1, True, False)).all():
            raise ValueError(f"{what} must be 0/1 or boolean (correct or not)")
        return y.astype(int)

    # --------------------------------------------------------------- fit
    def fit(self, X, y) -> ConfidenceModel:
        """Train on part of (X, y) and calibrate on the held-out ``cal_fraction`` (baselines: all of it)."""
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.calibration not in CALIBRATIONS:
            raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {self.calibration!r}")
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite=False)
        check_classification_targets(y)
        if type_of_target(y) == "multiclass":
            raise ValueError("Only binary classification is supported: y is whether each episode is correct (0/1)")
        self.feature_names_ = self._fit_names(X.shape[1])
        X = self._no_infinity(X, "X")
        y = self._check_y(y, len(X))
        self.classes_ = np.array([0, 1])
        if not 0 <= self.cal_fraction < 1:
            raise ValueError(f"cal_fraction must lie in [0, 1), got {self.cal_fraction!r}")
        if self.kind not in BASELINES and len(np.unique(y)) < 2:
            raise ValueError(f"y has one class only ({int(y[0])}): a {self.kind} model needs both correct and "
                             "incorrect episodes")
        if self.kind in BASELINES:
            X_tr, y_tr, X_cal, y_cal = X, y, X, y  # nothing is trained: all of it calibrates
        elif self.cal_fraction == 0:
            X_tr, y_tr, X_cal, y_cal = X, y, None, None  # calibrate() supplies the probabilities
        else:
            X_tr, X_cal, y_tr, y_cal = train_test_split(
                X, y, test_size=self.cal_fraction, random_state=self.random_state, stratify=y
            )
        with warnings.catch_warnings():  # all-NaN columns have no median: use 0
            warnings.simplefilter("ignore", RuntimeWarning)
            self.reference_ = np.nan_to_num(np.nanmedian(X_tr, axis=0))
        self._fit_model(X_tr, y_tr)
        if X_cal is None:
            for name in ("calibrator_", "calibration_method_", "calibration_losses_", "n_calibration_"):
                self.__dict__.pop(name, None)  # a refit forgets the old calibration
            return self
        return self._fit_calibrator(X_cal, y_cal)

    def calibrate(self, X_cal, y_cal) -> ConfidenceModel:
        """Re-fit only the probability calibration, on held-out episodes (the ranking stays)."""
        check_is_fitted(self)
        X_cal = self._check_X(X_cal, "X_cal")
        y_cal = self._check_y(y_cal, len(X_cal), "y_cal")
        return self._fit_calibrator(X_cal, y_cal)

    def _fit_calibrator(self, X_cal: np.ndarray, y_cal: np.ndarray) -> ConfidenceModel:
        z_cal = self.decision_function(X_cal)
        self.n_calibration_ = len(y_cal)
        n_minor = int(min(y_cal.sum(), len(y_cal) - y_cal.sum()))
        if n_minor < 2:
            # (almost) one class only: no calibration can be learned; keep the model's own logit
            self.calibration_method_, self.calibration_losses_ = "none", {}
            self.calibrator_ = LogitCalibrator("none").fit(z_cal, y_cal)
            return self
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # small folds: sklearn warns per split
            if self.calibration == "auto" and n_minor >= MIN_AUTO_CALIBRATION:
                method, self.calibration_losses_ = choose_method(z_cal, y_cal, random_state=self.random_state)
            elif self.calibration == "auto":
                # too few of one class to compare methods fairly: two-parameter Platt scaling
                method, self.calibration_losses_ = "sigmoid", {}
            else:
                method, self.calibration_losses_ = self.calibration, {}
            self.calibration_method_ = method
            self.calibrator_ = LogitCalibrator(method).fit(z_cal, y_cal)
        return self

    def _fit_model(self, X: np.ndarray, y: np.ndarray) -> None:
        names = self._names()
        if self.kind in BASELINES:
            column = "log_p_exact" if self.kind == "product" else "min_accepted"
            if column not in names:
                raise ValueError(f"the {self.kind} baseline reads the feature {column!r}, which X's "
                                 f"{len(names)} columns lack (pass feature_names)")
            self._col_ = names.index(column)
            return
        if self.kind == "lightgbm":
            import lightgbm as lgb

            params = {
                "objective": "binary",
                "learning_rate": self.learning_rate,
                "num_leaves": self.num_leaves,
                "max_depth": self.max_depth,
                "min_data_in_leaf": self.min_child_samples,
                "feature_fraction": 0.9,
                "seed": 0 if self.random_state is None else int(self.random_state),
                "deterministic": True,
                "force_row_wise": True,
                "num_threads": self.n_jobs,
                "verbose": -1,
            }
            data = lgb.Dataset(X, label=y, feature_name=[f"f{i}" for i in range(X.shape[1])])
            self.booster_ = lgb.train(params, data, num_boost_round=self.n_estimators)
        else:
            from triage.confidence.mlp import fit_mlp

            self.mlp_ = fit_mlp(
                X, y, hidden=self.hidden, epochs=self.epochs, batch_size=self.batch_size,
                lr=self.lr, weight_decay=self.weight_decay, random_state=self.random_state,
                n_threads=self.n_jobs,
            )

    # ----------------------------------------------------------- predict
    def _check_fitted(self) -> None:
        check_is_fitted(self)
        if not hasattr(self, "calibrator_"):
            raise NotFittedError("ConfidenceModel has no probability calibration (cal_fraction=0): call "
                                 "calibrate(X_cal, y_cal) on held-out episodes first")

    def _raw(self, X: np.ndarray, n_threads: int | None = None) -> np.ndarray:
        """Uncalibrated logit, X already checked."""
        if self.kind == "product":
            lp = np.minimum(np.nan_to_num(X[:, self._col_], nan=np.log(_CLIP)), -1e-12)
            lp = np.maximum(lp, np.log(_CLIP))
            return lp - np.log(-np.expm1(lp))
        if self.kind == "min-accepted":
            # No accepted code: an empty set is never exact, so confidence is as low as it goes.
            return _logit(np.nan_to_num(X[:, self._col_], nan=0.0))
        if self.kind == "lightgbm":
            return self.booster_.predict(X, raw_score=True, num_threads=n_threads or self.n_jobs)
        return self.mlp_.logit(X)

    def decision_function(self, X) -> np.ndarray:
        """Uncalibrated logit of correctness."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=False)
        return self._raw(self._no_infinity(X, "X"))

    def predict_proba(self, X) -> np.ndarray:
        """(n, 2): columns P(incorrect), P(correct)."""
        self._check_fitted()
        p = self.calibrator_.map(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)

    def predict_one(self, x: np.ndarray) -> float:
        """Calibrated P(correct) of one feature row: the service's per-request path."""
        x = np.asarray(x, dtype=np.float64).reshape(1, -1)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(f"feature row has {x.shape[1]} values, expected {self.n_features_in_}")
        # one thread: for a single row, waking an OpenMP team costs ~25x the prediction itself
        return float(self.calibrator_.map(self._raw(x, n_threads=1))[0])

    def predict_one_explained(self, x: np.ndarray, top_k: int = 5) -> tuple[float, list[tuple[str, float]]]:
        """:meth:`predict_one` and :meth:`contributions` of one row in a single model call.

        LightGBM: its single-row predictor, set up once (:class:`_SingleRowContributions`), the
        rest as :meth:`predict_explained` does it, so the answer is the batch's to the bit.
        """
        X = self._check_X(np.asarray(x, dtype=np.float64).reshape(1, -1), "X")
        if self.kind != "lightgbm":
            p, reasons = self.predict_explained(X, top_k)
            return float(p[0]), reasons[0]
        contrib = self._single_row().contributions(X[0]).reshape(1, -1)
        p = self.calibrator_.map(contrib.sum(axis=1))
        return float(p[0]), _top_contributions(contrib[:, :-1], self._names(), top_k)[0]

    def _single_row(self) -> _SingleRowContributions:
        """The booster's single-row predictor, made on first use (not saved; remade for a new booster)."""
        cached = self.__dict__.get("_single_row_predictor")
        if cached is None or cached.booster is not self.booster_:
            cached = _SingleRowContributions(self.booster_, self.n_features_in_)
            self.__dict__["_single_row_predictor"] = cached
        return cached

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_single_row_predictor", None)  # a handle into the booster, made again on first use
        return state

    def predict_explained(self, X, top_k: int = 5) -> tuple[np.ndarray, list[list[tuple[str, float]]]]:
        """Calibrated P(correct) and the top contributions of every row, in one model call.

        For LightGBM the SHAP contributions plus the bias column sum to the raw score, so the
        explanation costs no second prediction; a single row and a batch take the same path, so
        the service's one-episode and batch answers are identical.
        """
        X = self._check_X(np.asarray(X, dtype=np.float64).reshape(-1, self.n_features_in_), "X")
        if self.kind != "lightgbm":
            threads = 1 if X.shape[0] < 64 else self.n_jobs
            return self.calibrator_.map(self._raw(X, n_threads=threads)), self.contributions_many(X, top_k)
        contrib = self.booster_.predict(X, pred_contrib=True, num_threads=1 if X.shape[0] < 64 else self.n_jobs)
        p = self.calibrator_.map(contrib.sum(axis=1))
        return p, _top_contributions(contrib[:, :-1], self._names(), top_k)

    def contributions(self, X_one, top_k: int = 5) -> list[tuple[str, float]]:
        """Largest per-feature contributions to one episode's logit ("reasons"), by magnitude.

        LightGBM: exact SHAP values (``pred_contrib``). Other kinds: occlusion, the change in
        logit when the feature is replaced by its training median.
        """
        return self.contributions_many(np.asarray(X_one, dtype=np.float64).reshape(1, -1), top_k)[0]

    def contributions_many(self, X, top_k: int = 5) -> list[list[tuple[str, float]]]:
        """:meth:`contributions` for every row of ``X`` in one model call (batch routing)."""
        self._check_fitted()
        X = self._check_X(np.asarray(X, dtype=np.float64).reshape(-1, self.n_features_in_), "X")
        threads = 1 if X.shape[0] < 64 else self.n_jobs  # a team of threads costs more than one small call
        if self.kind == "lightgbm":
            contrib = self.booster_.predict(X, pred_contrib=True, num_threads=threads)[:, :-1]
        else:
            n, d = X.shape
            occluded = np.repeat(X, d, axis=0)
            cols = np.tile(np.arange(d), n)
            occluded[np.arange(n * d), cols] = self.reference_[cols]
            contrib = self._raw(X, n_threads=threads)[:, None] - self._raw(occluded, n_threads=threads).reshape(n, d)
        return _top_contributions(contrib, self._names(), top_k)

    # ------------------------------------------------------------ persist
    def save(self, path: str | Path) -> None:
        """One state file (JSON + arrays, :mod:`triage.artifacts`): never a pickle."""
        self._check_fitted()
        save_state(self, path, what="confidence")

    @classmethod
    def load(cls, path: str | Path) -> ConfidenceModel:
        return load_state(path, expect=cls)


class _SingleRowContributions:
    """LightGBM's single-row prediction (``LGBM_BoosterPredictForMatSingleRowFast``) of SHAP
    contributions: the C++ predictor ``Booster.predict(X, pred_contrib=True, num_threads=1)`` runs,
    set up once instead of on every call (the Python wrapper's per-call setup costs more than one
    row's prediction). Same predictor, parameters and iterations, so the same numbers
    (tests/confidence/test_models.py compares them bit for bit). One call at a time through the
    shared buffers (LightGBM serialises single-row predictions on a booster anyway)."""

    def __init__(self, booster: Any, n_features: int) -> None:
        import ctypes
        import threading

        from lightgbm.basic import (
            _C_API_DTYPE_FLOAT64,
            _C_API_PREDICT_CONTRIB,
            _LIB,
            _c_str,
            _param_dict_to_str,
            _safe_call,
        )

        self.booster = booster  # the fast config points into it: kept alive with it
        self._lib = _LIB
        self._safe_call = _safe_call
        self._handle = ctypes.c_void_p()
        # Booster.predict's iterations when none is given (start 0: the best iteration, if any)
        _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle, ctypes.c_int(_C_API_PREDICT_CONTRIB), ctypes.c_int(0),
            ctypes.c_int(booster.best_iteration), ctypes.c_int(_C_API_DTYPE_FLOAT64),
            ctypes.c_int32(n_features), _c_str(_param_dict_to_str({"num_threads": 1})),
            ctypes.byref(self._handle)))
        # a private function object: argtypes set here leave lightgbm's own _LIB entry untouched
        self._predict = _LIB["LGBM_BoosterPredictForMatSingleRowFast"]
        self._predict.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64),
                                  ctypes.c_void_p]
        self._predict.restype = ctypes.c_int
        self._row = np.empty(n_features, dtype=np.float64)
        self._out = np.empty(n_features + 1, dtype=np.float64)
        self._n = ctypes.c_int64(0)
        self._n_ref = ctypes.byref(self._n)
        self._row_ptr, self._out_ptr = self._row.ctypes.data, self._out.ctypes.data
        self._lock = threading.Lock()

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """(n_features + 1,) contributions of one checked row, the bias last."""
        with self._lock:
            self._row[:] = x
            self._safe_call(self._predict(self._handle, self._row_ptr, self._n_ref, self._out_ptr))
            if self._n.value != self._out.size:
                raise ValueError(f"LightGBM returned {self._n.value} contributions, expected {self._out.size}")
            return self._out.copy()

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value:
            self._lib.LGBM_FastConfigFree(handle)
            handle.value = None


def _top_contributions(contrib: np.ndarray, names: list[str], top_k: int) -> list[list[tuple[str, float]]]:
    """The ``top_k`` largest contributions of each row by magnitude, as (feature, value)."""
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :top_k]
    return [[(names[j], float(row[j])) for j in idx] for row, idx in zip(contrib, order)]
