"""Expected coding minutes per episode, and fitting them from observed timings.

minutes(route) = intercept + per_1000_words * words/1000 + per_code * n_codes
                 + per_category * n_categories
with one non-negative coefficient set per human route (``manual``, ``assist``); automated episodes
cost the configured audit minutes. On the assisted route a *pre-filled* code (certified precise,
pre-accepted in the form: ``triage.assist``) is confirmed rather than looked for, so it costs
``prefilled_code_fraction`` of ``per_code`` (default 0.25: an assumption until timings are fitted;
assisted coding studies report 40-46% less time overall, CliniCoCo 2024, Easy-ICD 2025).
Fitting uses non-negative least squares (scipy ``nnls``) because a negative per-code time is
meaningless and would make long notes look free.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from triage.allocation.config import EFFORT_FEATURES, HUMAN_ROUTES, AllocationConfig, load_config

FEATURE_COLUMNS = ("note_words", "n_codes", "n_categories")


def effort_design(note_words: np.ndarray, n_codes: np.ndarray, n_categories: np.ndarray) -> np.ndarray:
    """Design matrix in the order of ``EFFORT_FEATURES``."""
    n = len(note_words)
    return np.column_stack([
        np.ones(n), np.asarray(note_words, float) / 1000.0, np.asarray(n_codes, float),
        np.asarray(n_categories, float),
    ])


class EffortModel:
    """Coding minutes per episode from note length, predicted codes and categories, and route.

    Parameters
    ----------
    config : AllocationConfig, optional
        Supplies the prior coefficients (used for routes without enough timings) and audit minutes.
    min_rows : int
        Timings needed per route before its coefficients are re-estimated.
    """

    def __init__(self, config: AllocationConfig | None = None, min_rows: int = 8,
                 prefilled_code_fraction: float = 0.25):
        if not 0.0 <= prefilled_code_fraction <= 1.0:
            raise ValueError(f"prefilled_code_fraction must lie in [0, 1], got {prefilled_code_fraction!r}")
        self.config = config
        self.min_rows = min_rows
        self.prefilled_code_fraction = prefilled_code_fraction

    def _cfg(self) -> AllocationConfig:
        if self.config is None:
            self.config = load_config()
        return self.config

    @property
    def coefficients(self) -> dict[str, np.ndarray]:
        """Fitted coefficients if ``fit`` ran, else the configured ones."""
        if hasattr(self, "coef_"):
            return self.coef_
        routes = self._cfg().effort_routes
        return {r: np.array([routes[r][k] for k in EFFORT_FEATURES]) for r in HUMAN_ROUTES}

    def fit(self, timings: pd.DataFrame, minutes: np.ndarray | None = None) -> EffortModel:
        """Estimate per-route coefficients from observed coding times.

        ``timings`` has columns route, note_words, n_codes, n_categories and, unless ``minutes`` is
        given, ``minutes``. Routes with fewer than ``min_rows`` rows keep the configured values.
        """
        if not isinstance(timings, pd.DataFrame):
            timings = pd.DataFrame(list(timings))
        y = timings["minutes"] if minutes is None and "minutes" in timings else minutes
        need = ["route", *FEATURE_COLUMNS]
        missing = [c for c in need if c not in timings.columns] + ([] if y is not None else ["minutes"])
        if missing:
            raise ValueError(f"timings: missing column(s) {missing}")
        y = np.asarray(y, dtype=float)
        if len(y) != len(timings):
            raise ValueError(f"timings: {len(timings)} rows but {len(y)} minutes")
        X_cols = {}
        for col in FEATURE_COLUMNS:
            values = pd.to_numeric(timings[col], errors="coerce").to_numpy(float)
            bad = ~np.isfinite(values) | (values < 0)
            if bad.any():
                raise ValueError(f"timings: column {col!r} has a non-numeric or negative value "
                                 f"{timings[col].iloc[int(np.argmax(bad))]!r} at row {int(np.argmax(bad))}")
            X_cols[col] = values
        bad = ~np.isfinite(y) | (y < 0)
        if bad.any():
            raise ValueError(f"timings: column 'minutes' has an invalid value at row {int(np.argmax(bad))}")
        X = effort_design(X_cols["note_words"], X_cols["n_codes"], X_cols["n_categories"])
        routes = timings["route"].astype(str).to_numpy()
        coef = {r: v.copy() for r, v in self.coefficients.items()}
        fitted, residual = [], {}
        for route in HUMAN_ROUTES:
            rows = routes == route
            if rows.sum() >= max(self.min_rows, X.shape[1]):
                beta, _ = nnls(X[rows], y[rows])
                coef[route] = beta
                fitted.append(route)
                residual[route] = float(np.sqrt(np.mean((X[rows] @ beta - y[rows]) ** 2)))
        self.coef_ = coef
        self.fitted_routes_ = tuple(fitted)
        self.rmse_ = residual
        return self

    def predict(self, route: np.ndarray, note_words: np.ndarray, n_codes: np.ndarray,
                n_categories: np.ndarray, n_prefilled: np.ndarray | None = None) -> np.ndarray:
        """Expected minutes per episode (automated ones: the audit minutes).

        ``n_prefilled``: pre-filled codes among ``n_codes`` (assisted route only); each saves
        ``(1 - prefilled_code_fraction) * per_code`` minutes.
        """
        X = effort_design(note_words, n_codes, n_categories)
        route = np.asarray(route)
        out = np.full(len(route), self._cfg().audit_minutes, dtype=float)
        for r, beta in self.coefficients.items():
            rows = route == r
            if rows.any():
                out[rows] = X[rows] @ beta
        if n_prefilled is not None:
            pre = np.minimum(np.asarray(n_prefilled, dtype=float), np.asarray(n_codes, dtype=float))
            if (pre < 0).any():
                raise ValueError("n_prefilled must be non-negative")
            rows = route == "assist"
            beta = self.coefficients.get("assist")
            if beta is not None and rows.any():
                out[rows] -= self._prefill_saving(beta[2], pre[rows])
        return out

    def minutes(self, route: str, note_words: float, n_codes: float, n_categories: float,
                n_prefilled: float = 0) -> float:
        """Expected minutes of one episode (scalar hot path); see ``predict`` for ``n_prefilled``."""
        beta = self.coefficients.get(route)
        if beta is None:
            return self._cfg().audit_minutes
        saved = self._prefill_saving(beta[2], min(n_prefilled, n_codes)) if route == "assist" else 0.0
        return float(beta[0] + beta[1] * note_words / 1000.0 + beta[2] * n_codes + beta[3] * n_categories - saved)

    def _prefill_saving(self, per_code: float, n_prefilled: float | np.ndarray) -> float | np.ndarray:
        """Minutes saved by ``n_prefilled`` pre-filled codes (a model pickled before the attribute
        existed keeps the 0.25 default)."""
        return (1.0 - getattr(self, "prefilled_code_fraction", 0.25)) * per_code * n_prefilled

    def to_dict(self) -> Mapping[str, dict[str, float]]:
        return {r: dict(zip(EFFORT_FEATURES, map(float, b))) for r, b in self.coefficients.items()}
