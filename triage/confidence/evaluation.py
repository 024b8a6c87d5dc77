"""How good is a confidence score? Calibration, discrimination and selective risk.

Risk–coverage follows fd-shifts (IML-DKFZ): episodes sorted by confidence, tied confidences
accepted or rejected together; AURC is the area under selective risk vs coverage and E-AURC
subtracts the optimum AURC* = r + (1 - r) ln(1 - r) for overall error rate r.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

Strategy = Literal["uniform", "quantile"]


def _check(correct: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(correct)
    p = np.asarray(p, dtype=np.float64)
    if y.ndim != 1 or p.shape != y.shape:
        raise ValueError(f"correct and p must be 1-D of equal length, got {y.shape} and {p.shape}")
    if len(y) == 0:
        raise ValueError("correct and p are empty")
    if not np.isin(y, (0, 1, True, False)).all():
        raise ValueError("correct must be 0/1 or boolean")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("p must be probabilities in [0, 1] without NaN")
    return y.astype(np.float64), p


def _bins(p: np.ndarray, n_bins: int, strategy: Strategy) -> np.ndarray:
    """Bin index of each score: equal-width on [0, 1] or equal-mass (quantile edges)."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1))
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    # right-closed bins (a, b]; the lowest bin also takes its left edge
    return np.clip(np.searchsorted(edges, p, side="left") - 1, 0, n_bins - 1)


def reliability_diagram(
    correct: Any, p: Any, n_bins: int = 15, strategy: Strategy = "uniform"
) -> pd.DataFrame:
    """One row per non-empty bin: count, mean confidence, observed share correct, bounds."""
    y, p = _check(correct, p)
    b = _bins(p, n_bins, strategy)
    count = np.bincount(b, minlength=n_bins)
    conf = np.bincount(b, weights=p, minlength=n_bins)
    acc = np.bincount(b, weights=y, minlength=n_bins)
    lo = np.full(n_bins, np.inf)
    hi = np.full(n_bins, -np.inf)
    np.minimum.at(lo, b, p)
    np.maximum.at(hi, b, p)
    nz = count > 0
    return pd.DataFrame(
        {
            "bin": np.flatnonzero(nz),
            "count": count[nz],
            "p_min": lo[nz],
            "p_max": hi[nz],
            "mean_confidence": conf[nz] / count[nz],
            "share_correct": acc[nz] / count[nz],
        }
    )


def ece(correct: Any, p: Any, n_bins: int = 15, strategy: Strategy = "uniform") -> float:
    """Expected calibration error: count-weighted mean |share correct - mean confidence|."""
    d = reliability_diagram(correct, p, n_bins, strategy)
    return float(np.sum(d["count"] * np.abs(d["share_correct"] - d["mean_confidence"])) / d["count"].sum())


def brier(correct: Any, p: Any) -> float:
    y, p = _check(correct, p)
    return float(np.mean((p - y) ** 2))


def log_loss(correct: Any, p: Any, eps: float = 1e-15) -> float:
    y, p = _check(correct, p)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def auroc(correct: Any, p: Any) -> float:
    """AUROC of confidence for separating correct from incorrect (NaN if one class only)."""
    y, p = _check(correct, p)
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def auprc(correct: Any, p: Any) -> float:
    """Average precision with 'correct' as the positive class (NaN if none correct)."""
    y, p = _check(correct, p)
    return float(average_precision_score(y, p)) if y.sum() > 0 else float("nan")


def selective_risk_curve(correct: Any, confidence: Any) -> pd.DataFrame:
    """Selective risk at each coverage reachable by a threshold (ties accepted together): the one
    tie-grouped curve behind :func:`aurc` and :func:`triage.policy.risk_coverage_curve`.

    Row j: accept every episode with confidence >= ``threshold``; ``coverage`` is the share
    accepted and ``risk`` the error rate among them. Ordered by decreasing threshold.
    """
    y, c = _check_conf(correct, confidence)
    order = np.argsort(-c, kind="stable")
    cs, err = c[order], 1.0 - y[order]
    last = np.r_[cs[1:] != cs[:-1], True]  # end of each tie group
    k = np.flatnonzero(last) + 1
    cum_err = np.cumsum(err)[last]
    return pd.DataFrame({"threshold": cs[last], "coverage": k / len(y), "risk": cum_err / k})


def _check_conf(correct: Any, confidence: Any) -> tuple[np.ndarray, np.ndarray]:
    """Like _check but any finite real confidence is allowed (AURC only uses its order)."""
    y = np.asarray(correct)
    c = np.asarray(confidence, dtype=np.float64)
    if y.ndim != 1 or c.shape != y.shape or len(y) == 0:
        raise ValueError(f"correct and confidence must be 1-D, equal, non-empty; got {y.shape}, {c.shape}")
    if not np.isin(y, (0, 1, True, False)).all():
        raise ValueError("correct must be 0/1 or boolean")
    if not np.isfinite(c).all():
        raise ValueError("confidence must be finite")
    return y.astype(np.float64), c


def aurc(correct: Any, confidence: Any) -> float:
    """Area under the risk–coverage curve (step integral over tie groups)."""
    rc = selective_risk_curve(correct, confidence)
    dcov = np.diff(np.r_[0.0, rc["coverage"].to_numpy()])
    return float(np.sum(dcov * rc["risk"].to_numpy()))


def optimal_aurc(correct: Any) -> float:
    """AURC* = r + (1 - r) ln(1 - r): the AURC of a perfect ranking (continuous form)."""
    y = np.asarray(correct, dtype=np.float64)
    r = 1.0 - y.mean()
    return float(r + (1 - r) * np.log(1 - r)) if r < 1 else 1.0


def eaurc(correct: Any, confidence: Any) -> float:
    """Excess AURC over the optimum: 0 for a perfect ranking (up to discretisation)."""
    return aurc(correct, confidence) - optimal_aurc(correct)


def evaluate(correct: Any, p: Any, n_bins: int = 15) -> dict[str, float]:
    """Every scalar metric of one calibrated confidence."""
    return {
        "ece": ece(correct, p, n_bins, "uniform"),
        "ece_equal_mass": ece(correct, p, n_bins, "quantile"),
        "brier": brier(correct, p),
        "log_loss": log_loss(correct, p),
        "auroc": auroc(correct, p),
        "auprc": auprc(correct, p),
        "aurc": aurc(correct, p),
        "eaurc": eaurc(correct, p),
    }


def compare_models(
    models: Mapping[str, Any],
    X: Any,
    correct: Any,
    n_bins: int = 15,
) -> pd.DataFrame:
    """One row per model (fitted ConfidenceModel, or an array of P(correct)), metrics as columns.

    Both baselines ("product" and "min-accepted" kinds, or entries with those names) must be
    among ``models``; every row also gets its AURC and AUROC difference to each baseline.
    """
    probs: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    for name, m in models.items():
        if hasattr(m, "predict_proba"):
            probs[name] = m.predict_proba(X)[:, 1]
            kinds[name] = getattr(m, "kind", name)
        else:
            probs[name] = np.asarray(m, dtype=np.float64)
            kinds[name] = name
    base = {}
    for b in ("product", "min-accepted"):
        names = [n for n, k in kinds.items() if k == b]
        if not names:
            raise ValueError(f"compare_models needs the {b!r} baseline among the models")
        base[b] = names[0]
    rows = {name: evaluate(correct, p, n_bins) for name, p in probs.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    for b, name in base.items():
        table[f"aurc_minus_{b}"] = table["aurc"] - table.loc[name, "aurc"]
        table[f"auroc_minus_{b}"] = table["auroc"] - table.loc[name, "auroc"]
    table.insert(0, "kind", [kinds[n] for n in table.index])
    return table
