"""Realistic upper bounds on tractable subsets (seed paper §3.5, recommendation 5).

For each subset of episodes (by number of 3-character categories, chapter, MDC, admission type,
LOS band, note length band, care type, number of predicted codes):

* the *oracle bound* at alpha: ``min(1, EMR / (1 - alpha))``, the most any router could automate
  at error <= alpha if it knew which episodes the coder gets right (beside the zero-error rate,
  the coder's correct rate itself, with a Clopper–Pearson interval);
* the *realistic bound*: the automation rate reached on test data by the guaranteed-risk policy
  (error among automated <= alpha w.p. >= 1 - delta, the run's own risk-control method) fitted on
  the subset's calibration part, with an exact interval on that rate;
* the cost saving per episode of that policy against all-human coding.

Subsets defined from routing-time information (predicted codes, admission, care setting, note)
are *routable*: a router could use them, so each carries a guarantee, and delta is split across
all routable rows (a list fixed by the subset columns, before any label is seen) so that every
row's guarantee holds at once. Subsets defined from the gold codes (gold category count,
principal chapter) are *diagnostic*: no router can see them, so they describe where the coder
is good, and their policies are reported without a joint guarantee.

:func:`discover_subsets` searches rules over routing-time features (leaves of a shallow decision
tree) whose error can be guaranteed <= alpha, found on one split and confirmed on another.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

from triage.codes.chapters import diagnosis_chapter
from triage.codes.labels import label_kind, truncate_label
from triage.data.settings import episode_settings
from triage.policy.automation import method_label
from triage.policy.costs import CostModel, check_correct, check_probabilities
from triage.policy.guarantees import (
    DEFAULT_FWER,
    DEFAULT_METHOD,
    clopper_pearson_interval,
    clopper_pearson_upper,
)
from triage.policy.human import HUMAN_REFERENCE_LINES
from triage.policy.policies import GuaranteedPolicy, evaluate_policy, oracle_automation_at

SUBSET_COLUMNS = (
    "gold_categories_band",
    "pred_categories_band",
    "principal_chapter",
    "mdc",
    "admission_type",
    "los_band",
    "note_length_band",
    "care_setting",
    "n_predicted_codes_band",
)
#: Subset columns derived from gold codes: diagnostic only, never routing information.
DIAGNOSTIC_COLUMNS = frozenset({"gold_categories_band", "principal_chapter"})


def category_band(n: int) -> str:
    """Band of a number of unique 3-character categories, as in seed Figure 4."""
    if n <= 0:
        return "0"
    if n <= 3:
        return str(n)
    return "4-5" if n <= 5 else ">=6"


def _count_band(n: int) -> str:
    if n <= 3:
        return str(n)
    if n <= 5:
        return "4-5"
    if n <= 10:
        return "6-10"
    return ">10"


def _interval_band(values: pd.Series, edges: Sequence[float], unit: str) -> pd.Series:
    labels = [f"{edges[i]:g}-{edges[i + 1]:g}{unit}" for i in range(len(edges) - 2)] + [f">={edges[-2]:g}{unit}"]
    out = pd.cut(values.astype(float), bins=list(edges), right=False, labels=labels)
    return out.astype(object).where(out.notna(), "unknown").astype(str)


def build_subset_columns(
    episodes: pd.DataFrame,
    predicted: Sequence[Sequence[str]] | None = None,
    mdc: Sequence[Any] | None = None,
    los_edges: Sequence[float] = (0, 1, 3, 7, 14, np.inf),
    note_word_edges: Sequence[float] = (0, 500, 1000, 1500, 2000, 3000, np.inf),
) -> pd.DataFrame:
    """Subset columns for :func:`subset_bounds`, one row per episode (same index as ``episodes``).

    ``predicted`` is the coder's predicted label list per episode (routing-time); the gold
    band (``gold_categories_band``, ``principal_chapter``) is for analysis only — it is not
    known when routing. ``mdc`` is the predicted MDC per episode if the caller has grouped
    DRGs. ``care_setting`` is the episode table's column (derived from ``admission_type``, see
    :mod:`triage.data.settings`), or mapped from ``admission_type`` when the column is absent.
    """
    needed = {"diagnoses", "icd_version"}
    missing = needed - set(episodes.columns)
    if missing:
        raise ValueError(f"episodes is missing column(s) {sorted(missing)}")
    n = len(episodes)
    out = pd.DataFrame(index=episodes.index)
    versions = episodes["icd_version"].to_numpy()
    gold_counts = []
    chapters = []
    for i, (dx, v) in enumerate(zip(episodes["diagnoses"], versions)):
        if not isinstance(dx, (list, tuple, np.ndarray)):
            raise ValueError(f"episodes column 'diagnoses' must hold lists of codes; row {i} is {dx!r}")  # noqa: TRY004 (the project reports bad input as ValueError)
        # ICD-9 E codes have 4-character categories (E879); everything else 3.
        e9 = int(v) == 9
        gold_counts.append(len({str(c)[:4] if e9 and str(c).startswith("E") else str(c)[:3] for c in dx}))
        chapters.append(diagnosis_chapter(dx[0], int(v)) if len(dx) else "none")
    out["gold_categories_band"] = [category_band(k) for k in gold_counts]
    out["principal_chapter"] = chapters
    if predicted is not None:
        if len(predicted) != n:
            raise ValueError(f"predicted has {len(predicted)} label lists, expected {n} (one per episode)")
        pred_cats, pred_counts = [], []
        for labels, v in zip(predicted, versions):
            labels = list(labels)
            dx = [lab for lab in labels if label_kind(lab, int(v)) == "dx"]
            pred_cats.append(len({truncate_label(lab, 3) for lab in dx}))
            pred_counts.append(len(labels))
        out["pred_categories_band"] = [category_band(k) for k in pred_cats]
        out["n_predicted_codes_band"] = [_count_band(k) for k in pred_counts]
    if mdc is not None:
        if len(mdc) != n:
            raise ValueError(f"mdc has {len(mdc)} values, expected {n}")
        out["mdc"] = pd.Series(list(mdc), index=episodes.index).astype(object).fillna("unknown").astype(str)
    if "admission_type" in episodes:
        out["admission_type"] = episodes["admission_type"].astype(object).fillna("unknown").astype(str)
    if "los_days" in episodes:
        out["los_band"] = _interval_band(episodes["los_days"], los_edges, "d")
    if "text" in episodes:
        words = episodes["text"].fillna("").astype(str).str.split().str.len()
        out["note_length_band"] = _interval_band(words, note_word_edges, "w")
    if "care_setting" in episodes or "admission_type" in episodes:
        out["care_setting"] = episode_settings(episodes).astype(str).to_numpy()
    return out


def _split_masks(n: int, calibration: Any, test: Any) -> tuple[np.ndarray, np.ndarray]:
    cal = check_correct("calibration", calibration, n)
    tst = ~cal if test is None else check_correct("test", test, n)
    if (cal & tst).any():
        raise ValueError("calibration and test masks overlap: the realistic bound needs disjoint splits")
    return cal, tst


def _bound_row(
    p: np.ndarray, correct: np.ndarray, cal: np.ndarray, tst: np.ndarray, costs: CostModel,
    alpha: float, delta: float, method: str, fwer: str, level: float, min_calibration: int, n_test_total: int,
) -> dict[str, Any]:
    n_cal, n_test = int(cal.sum()), int(tst.sum())
    k_right = int(correct[tst].sum())
    lo, hi = clopper_pearson_interval(k_right, n_test, level)
    rate = k_right / n_test if n_test else np.nan
    row: dict[str, Any] = {
        "n_calibration": n_cal,
        "n_test": n_test,
        "share": n_test / n_test_total if n_test_total else np.nan,
        "exact_match_rate": rate,
        "exact_match_lower": float(lo),
        "exact_match_upper": float(hi),
        "oracle_automation_rate": oracle_automation_at(alpha, rate) if n_test else np.nan,
        "oracle_zero_error_rate": rate,
    }
    blank = {
        "threshold": np.inf, "feasible": False, "realistic_automation_rate": 0.0,
        "realistic_lower": 0.0, "realistic_upper": float(clopper_pearson_interval(0, n_test, level)[1]) if n_test else np.nan,
        "automated_error_rate": np.nan, "test_error_lower": np.nan, "test_error_upper": np.nan, "guarantee": np.nan,
        "cost_per_episode": costs.all_human_cost(), "cost_saving_per_episode": 0.0,
    }
    if n_cal < min_calibration or n_test == 0:
        row.update(blank, note=f"fewer than {min_calibration} calibration episodes" if n_cal < min_calibration else "no test episodes")
        return row
    pol = GuaranteedPolicy(alpha=alpha, delta=delta, method=method, fwer=fwer, costs=costs).fit(
        p[cal], correct[cal]).policy_
    ev = evaluate_policy(pol, p[tst], correct[tst], costs, level=level)
    row.update(
        threshold=pol.t_automate,
        feasible=pol.feasible,
        realistic_automation_rate=ev["automation_rate"],
        realistic_lower=ev["automation_rate_lower"],
        realistic_upper=ev["automation_rate_upper"],
        automated_error_rate=ev["automated_error_rate"],
        test_error_lower=ev["automated_error_lower"],
        test_error_upper=ev["automated_error_upper"],
        guarantee=ev["automated_error_guarantee"] if ev["n_automated"] else np.nan,
        cost_per_episode=ev["cost_per_episode"],
        cost_saving_per_episode=ev["cost_saving_per_episode"],
        note=pol.note,
    )
    return row


def subset_bounds(
    subsets: pd.DataFrame,
    p: Any,
    correct: Any,
    calibration: Any,
    test: Any = None,
    costs: CostModel | None = None,
    alpha: float = 0.1,
    delta: float = 0.1,
    columns: Iterable[str] | None = None,
    method: str = DEFAULT_METHOD,
    fwer: str = DEFAULT_FWER,
    level: float = 0.95,
    min_calibration: int = 30,
) -> pd.DataFrame:
    """Oracle and realistic bounds per subset: one tidy row per (subset column, value).

    ``p``/``correct`` are per-episode arrays aligned with ``subsets`` rows; ``calibration`` and
    ``test`` are boolean masks (test defaults to the complement). Shares, exact-match rates and
    realised automation are measured on the test part; the policy is fitted on the calibration
    part of the same subset. A first row ``subset == "all"`` gives the whole population.

    ``kind`` is "routable" or "diagnostic" (gold-defined). Routable rows (with "all") share delta
    equally (``delta_row``), so all their guarantees hold at once with probability >= 1 - delta;
    diagnostic rows are fitted at delta each and carry no joint guarantee.
    """
    p = check_probabilities("p", p)
    n = p.shape[0]
    if len(subsets) != n:
        raise ValueError(f"subsets has {len(subsets)} rows, p has {n}: they must be aligned")
    correct = check_correct("correct", correct, n)
    cal, tst = _split_masks(n, calibration, test)
    costs = CostModel() if costs is None else costs
    cols = [c for c in SUBSET_COLUMNS if c in subsets.columns] if columns is None else list(columns)
    for c in cols:
        if c not in subsets.columns:
            raise ValueError(f"subsets has no column {c!r} (columns: {list(subsets.columns)})")
    n_test_total = int(tst.sum())
    # the routable list is fixed by the subset columns and their values, before any label is seen
    values = {c: pd.factorize(subsets[c].astype(object).fillna("unknown").astype(str), sort=True) for c in cols}
    n_routable = 1 + sum(len(values[c][1]) for c in cols if c not in DIAGNOSTIC_COLUMNS)
    d_routable = delta / n_routable

    def args(d: float) -> tuple:
        return (costs, alpha, d, method, fwer, level, min_calibration, n_test_total)

    rows = [{"subset": "all", "value": "all", "kind": "routable", "delta_row": d_routable,
             **_bound_row(p, correct, cal, tst, *args(d_routable))}]
    for col in cols:
        codes, uniques = values[col]
        kind = "diagnostic" if col in DIAGNOSTIC_COLUMNS else "routable"
        d = delta if kind == "diagnostic" else d_routable
        for j, value in enumerate(uniques):
            m = codes == j
            rows.append({"subset": col, "value": value, "kind": kind, "delta_row": d, **_bound_row(
                p[m], correct[m], cal[m], tst[m], *args(d))})
    df = pd.DataFrame(rows)
    df.insert(2, "alpha", alpha)
    df.insert(3, "delta", delta)
    df["method"] = method_label(method, fwer)
    df["unit"] = costs.unit
    return df


def human_reference_frame() -> pd.DataFrame:
    """Published human accuracy as reference lines (seed paper §3.5)."""
    sources = {
        "human_instance_accuracy_uk_study": ("instance (exact set)", "UK study, 50 episodes (Gan et al. 2024 §3.5)"),
        "human_instance_accuracy_uk_hospital": ("instance (exact set)", "Abdulla et al. 2020, UK hospital, 4 months"),
        "human_code_accuracy_uk_median": ("code", "Burns et al. 2012, median of 32 UK studies (50-98%)"),
    }
    return pd.DataFrame(
        [{"reference": k, "accuracy": v, "metric": sources[k][0], "source": sources[k][1]}
         for k, v in HUMAN_REFERENCE_LINES.items()]
    )


# ---------------------------------------------------------------------------------------------
# discovered subsets

#: Columns that carry gold information and must never be routing features.
GOLD_COLUMNS = frozenset({"correct", "diagnoses", "procedures", "gold_categories_band", "principal_chapter", "split"})


def _leaf_rules(tree: DecisionTreeClassifier, names: Sequence[str]) -> dict[int, str]:
    t = tree.tree_
    rules: dict[int, str] = {}

    def text(bounds: dict[str, list[float]]) -> str:
        # keep only the tightest bound per feature: "p > 0.7 and p > 0.8" reads "p > 0.8"
        parts = []
        for name, (lo, hi) in bounds.items():
            if lo > -np.inf:
                parts.append(f"{name} > {lo:.6g}")
            if hi < np.inf:
                parts.append(f"{name} <= {hi:.6g}")
        return " and ".join(parts) if parts else "all"

    def walk(node: int, bounds: dict[str, list[float]]) -> None:
        if t.children_left[node] == -1:
            rules[node] = text(bounds)
            return
        name, thr = names[t.feature[node]], float(t.threshold[node])
        lo, hi = bounds.get(name, [-np.inf, np.inf])
        walk(t.children_left[node], {**bounds, name: [lo, min(hi, thr)]})
        walk(t.children_right[node], {**bounds, name: [max(lo, thr), hi]})

    walk(0, {})
    return rules


def discover_subsets(
    features: pd.DataFrame,
    correct: Any,
    find: Any,
    confirm: Any,
    alpha: float = 0.1,
    delta: float = 0.1,
    max_depth: int = 3,
    min_samples_leaf: float = 0.01,
    random_state: int = 0,
) -> pd.DataFrame:
    """Rules over routing-time features whose error among automated is guaranteed <= alpha.

    A shallow tree predicting ``correct`` is fitted on the ``find`` split; each leaf is a rule
    that automates every episode it matches. Candidates are leaves whose Clopper–Pearson upper
    limit on ``find`` (at delta / number of leaves) is <= alpha; each candidate is then
    confirmed on the disjoint ``confirm`` split at delta / number of candidates (Bonferroni), so
    every confirmed rule holds with probability >= 1 - delta jointly. Returns one row per leaf,
    most accurate first, with a final ``rule == "confirmed union"`` row (automate every episode
    any confirmed rule matches; its bound is the largest rule bound, valid because the union's
    risk is a mixture of the rules' risks). The fitted tree is in ``result.attrs["tree"]``.
    """
    if not isinstance(features, pd.DataFrame):
        raise ValueError("features must be a pandas DataFrame of routing-time features")  # noqa: TRY004 (the project reports bad input as ValueError)
    leaked = sorted(GOLD_COLUMNS & set(features.columns))
    if leaked:
        raise ValueError(f"features contain gold-derived column(s) {leaked}: rules may use routing-time features only")
    nonnum = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if nonnum:
        raise ValueError(f"features column(s) {nonnum} are not numeric: encode them first")
    n = len(features)
    correct = check_correct("correct", correct, n)
    f_mask = check_correct("find", find, n)
    c_mask = check_correct("confirm", confirm, n)
    if (f_mask & c_mask).any():
        raise ValueError("find and confirm masks overlap: confirmation needs a disjoint split")
    if not f_mask.any() or not c_mask.any():
        raise ValueError("find and confirm splits must both be non-empty")
    X = features.to_numpy(dtype=float)
    if np.isnan(X).any():
        col = features.columns[np.isnan(X).any(axis=0)][0]
        raise ValueError(f"features column {col!r} has missing values: impute them first")
    tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=min_samples_leaf, random_state=random_state)
    tree.fit(X[f_mask], correct[f_mask])
    rules = _leaf_rules(tree, list(features.columns))
    leaves = tree.apply(X)
    ids = np.array(sorted(rules))
    d_find = delta / len(ids)
    rows = []
    for leaf in ids:
        in_leaf = leaves == leaf
        nf, nc = int((in_leaf & f_mask).sum()), int((in_leaf & c_mask).sum())
        kf, kc = int((in_leaf & f_mask & ~correct).sum()), int((in_leaf & c_mask & ~correct).sum())
        rows.append({
            "leaf": int(leaf), "rule": rules[leaf],
            "share_find": nf / f_mask.sum(), "error_find": kf / nf if nf else np.nan,
            "upper_find": float(clopper_pearson_upper(kf, nf, d_find)),
            "share_confirm": nc / c_mask.sum(), "n_confirm": nc, "errors_confirm": kc,
            "error_confirm": kc / nc if nc else np.nan,
        })
    df = pd.DataFrame(rows)
    df["candidate"] = df["upper_find"] <= alpha
    n_cand = max(1, int(df["candidate"].sum()))
    df["upper_confirm"] = clopper_pearson_upper(df["errors_confirm"], df["n_confirm"], delta / n_cand)
    df["confirmed"] = df["candidate"] & (df["upper_confirm"] <= alpha)
    df = df.sort_values(["confirmed", "error_find"], ascending=[False, True]).reset_index(drop=True)
    conf = df[df["confirmed"]]
    nc, kc = int(conf["n_confirm"].sum()), int(conf["errors_confirm"].sum())
    union = {
        "leaf": -1, "rule": "confirmed union", "share_find": float(conf["share_find"].sum()),
        "error_find": np.nan, "upper_find": np.nan, "share_confirm": nc / c_mask.sum(),
        "n_confirm": nc, "errors_confirm": kc, "error_confirm": kc / nc if nc else np.nan,
        # each confirmed rule's risk is <= its bound on one joint event, so the union's (a mixture) is <= the max
        "candidate": bool(len(conf)), "upper_confirm": float(conf["upper_confirm"].max()) if nc else np.nan,
        "confirmed": bool(len(conf)),
    }
    df = pd.concat([df, pd.DataFrame([union])], ignore_index=True)
    df.insert(0, "alpha", alpha)
    df.insert(1, "delta", delta)
    df.attrs["tree"] = tree
    return df
