"""PNG figures drawn from a run's tables (the report embeds them; MLflow and notebooks reuse them).

Every function takes the table(s) of :mod:`triage.results` and returns a matplotlib ``Figure``
built without pyplot, so drawing is safe in servers and tests (no global state, no display).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from triage.policy.human import (
    HUMAN_INSTANCE_ACCURACY_UK_HOSPITAL,
    HUMAN_INSTANCE_ACCURACY_UK_STUDY,
)
from triage.results import RunResult

#: Published human instance accuracy drawn on the bounds figure (seed paper §3.5).
HUMAN_LINES = {
    f"human, UK study ({HUMAN_INSTANCE_ACCURACY_UK_STUDY:.0%})": HUMAN_INSTANCE_ACCURACY_UK_STUDY,
    f"human, UK hospital ({HUMAN_INSTANCE_ACCURACY_UK_HOSPITAL:.1%})": HUMAN_INSTANCE_ACCURACY_UK_HOSPITAL,
}
DPI = 110

def require_columns(table: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    """Fail with the table and the missing column names rather than a KeyError deep in matplotlib."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table {name!r} must be a DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"table {name!r} lacks column(s) {missing} (has {list(table.columns)})")
    if table.empty:
        raise ValueError(f"table {name!r} is empty: nothing to draw")


def _percent_axis(ax: Any, which: str = "both") -> None:
    from matplotlib.ticker import PercentFormatter

    if which in ("x", "both"):
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    if which in ("y", "both"):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))


def reliability_figure(reliability: pd.DataFrame, highlight: str | None = None) -> Figure:
    """Observed exact-match rate against mean predicted probability, one line per confidence model."""
    require_columns(reliability, "reliability", ("model", "mean_confidence", "share_correct", "count"))
    fig = Figure(figsize=(6.0, 5.0), dpi=DPI)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    for model, part in reliability.groupby("model", sort=True):
        part = part[part["count"] > 0].sort_values("mean_confidence")
        bold = highlight is None or model == highlight
        ax.plot(part["mean_confidence"], part["share_correct"], marker="o", markersize=4,
                linewidth=2.2 if bold else 1.0, alpha=1.0 if bold else 0.6, label=str(model))
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted P(correct)",
           ylabel="observed share correct", title="Reliability diagram (test episodes)")
    _percent_axis(ax)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def risk_coverage_figure(
    risk_coverage: pd.DataFrame, alpha: float | None = None, chosen: tuple[float, float] | None = None
) -> Figure:
    """Error rate among automated episodes as more episodes are automated (most confident first)."""
    require_columns(risk_coverage, "risk_coverage", ("coverage", "risk"))
    rc = risk_coverage.sort_values("coverage")
    fig = Figure(figsize=(6.0, 4.5), dpi=DPI)
    ax = fig.add_subplot()
    ax.plot(rc["coverage"], rc["risk"], color="C0", label="error among automated")
    if "risk_upper" in rc.columns:
        ax.plot(rc["coverage"], rc["risk_upper"], color="C0", linestyle=":", linewidth=1,
                label="upper confidence limit")
    if alpha is not None and np.isfinite(alpha):
        ax.axhline(alpha, color="C3", linestyle="--", linewidth=1, label=f"target α = {alpha:.0%}")
    if chosen is not None and all(np.isfinite(chosen)):
        ax.plot(*chosen, marker="*", markersize=14, color="C3", linestyle="none", label="chosen policy")
    ax.set(xlim=(0, 1), ylim=(0, max(0.05, float(np.nanmax(rc["risk"])) * 1.05)),
           xlabel="coverage (share of episodes automated)", ylabel="error rate among automated",
           title="Risk–coverage")
    _percent_axis(ax)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def cost_coverage_figure(
    cost_coverage: pd.DataFrame,
    all_human: float | None = None,
    chosen: tuple[float, float] | None = None,
    unit: str = "minutes",
) -> Figure:
    """Cost per episode as more episodes are automated, against coding everything by hand."""
    require_columns(cost_coverage, "cost_coverage", ("coverage", "cost_per_episode"))
    cc = cost_coverage.sort_values("coverage")
    fig = Figure(figsize=(6.0, 4.5), dpi=DPI)
    ax = fig.add_subplot()
    ax.plot(cc["coverage"], cc["cost_per_episode"], color="C2", label="realised cost per episode")
    if "expected_cost_per_episode" in cc.columns:
        ax.plot(cc["coverage"], cc["expected_cost_per_episode"], color="C2", linestyle=":",
                linewidth=1, label="expected from confidence")
    if all_human is None and "cost_per_episode_all_human" in cc.columns:
        all_human = float(cc["cost_per_episode_all_human"].iloc[0])
    if all_human is not None and np.isfinite(all_human):
        ax.axhline(all_human, color="grey", linestyle="--", linewidth=1, label="all coded by hand")
    if chosen is not None and all(np.isfinite(chosen)):
        ax.plot(*chosen, marker="*", markersize=14, color="C3", linestyle="none", label="chosen policy")
    ax.set(xlim=(0, 1), xlabel="coverage (share of episodes automated)",
           ylabel=f"cost per episode ({unit})", title="Cost–coverage")
    _percent_axis(ax, "x")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def subset_bounds_figure(bounds: pd.DataFrame, human_lines: Mapping[str, float] = HUMAN_LINES) -> Figure:
    """Per subset: the coder's exact-match rate with its interval, the oracle at alpha, the realistic
    automation rate under the guarantee, and the published human accuracy lines."""
    require_columns(bounds, "bounds", ("subset", "value", "exact_match_rate", "exact_match_lower",
                                       "exact_match_upper"))
    rows = bounds.reset_index(drop=True)
    labels = [f"{f}: {s}" for f, s in zip(rows["subset"], rows["value"])]
    y = np.arange(len(rows))[::-1]
    fig = Figure(figsize=(7.5, max(3.5, 0.28 * len(rows) + 2.2)), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    em = rows["exact_match_rate"].to_numpy(float)
    err = np.vstack([em - rows["exact_match_lower"].to_numpy(float), rows["exact_match_upper"].to_numpy(float) - em])
    ax.errorbar(em, y, xerr=np.clip(err, 0, None), fmt="o", color="C0", markersize=4, capsize=2,
                label="correct rate (zero-error oracle) with 95% interval")
    if "oracle_automation_rate" in rows.columns:
        ax.plot(rows["oracle_automation_rate"], y, marker="|", markersize=8, linestyle="none", color="C2",
                label="oracle at target α")
    if "realistic_automation_rate" in rows.columns:
        ax.plot(rows["realistic_automation_rate"], y, marker="D", markersize=4, linestyle="none", color="C1",
                label="guaranteed automation at target α (test)")
    for (label, value), style in zip(human_lines.items(), ("--", "-.")):
        ax.axvline(value, color="C3", linestyle=style, linewidth=1, label=label)
    ax.set_yticks(y, labels, fontsize=7)
    ax.set(xlim=(0, 1), xlabel="share of the subset's episodes", title="Routable subsets: upper bounds")
    _percent_axis(ax, "x")
    ax.grid(axis="x", alpha=0.3)
    fig.legend(fontsize=7, loc="outside lower center", ncols=2)
    return fig


def coverage_figure(coverage: pd.DataFrame) -> Figure:
    """Seed paper Figures 2 and 3: how well the top-k codes cover occurrences and episodes."""
    require_columns(coverage, "coverage", ("top_k",))
    cov = coverage.sort_values("top_k")
    series = {
        "occurrence_share": "share of code occurrences",
        "episode_any": "episodes with ≥1 top-k code",
        "episode_full": "episodes fully covered",
    }
    colors = dict(zip(series, ("C0", "C1", "C2")))
    principal = sorted((c for c in cov.columns if c.startswith("principal_")),
                       key=lambda c: list(series).index(c[10:]) if c[10:] in series else len(series))
    panels = [("All codes (seed Fig. 2)", [c for c in series if c in cov.columns])]
    if principal:
        panels.append(("Principal diagnosis only (seed Fig. 3)", principal))
    if not panels[0][1] and not principal:
        raise ValueError(f"table 'coverage' has no coverage columns (has {list(cov.columns)})")
    fig = Figure(figsize=(6.0 * len(panels), 4.5), dpi=DPI)
    for i, (title, cols) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), i)
        for col in cols:
            name = col.removeprefix("principal_")
            ax.plot(cov["top_k"], cov[col], marker="o", markersize=3, color=colors.get(name),
                    label=series.get(name, name.replace("_", " ")))
        ax.set(xlabel="top-k most frequent codes", ylabel="coverage", ylim=(0, 1.02), title=title)
        _percent_axis(ax, "y")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def categories_figure(categories: pd.DataFrame) -> Figure:
    """Seed paper Figure 4: episodes by number of unique three-character categories."""
    require_columns(categories, "categories_per_episode", ("n_categories", "share"))
    cat = categories.sort_values("n_categories")
    fig = Figure(figsize=(6.5, 4.0), dpi=DPI)
    ax = fig.add_subplot()
    # a numeric axis: gaps in the long tail stay gaps, and the locator picks ticks that never
    # crowd (one label per bar ran together past ~20 bars)
    ax.bar(cat["n_categories"].astype(float), cat["share"], width=0.8, color="C0")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=12, integer=True))
    ax.set(xlabel="unique three-character codes per episode", ylabel="share of episodes",
           title="Categories per episode (seed Fig. 4)")
    _percent_axis(ax, "y")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def _number(summary: Mapping[str, Any], key: str) -> float | None:
    value = summary.get(key)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def _point(summary: Mapping[str, Any], x: str, y: str) -> tuple[float, float] | None:
    px, py = _number(summary, x), _number(summary, y)
    return None if px is None or py is None else (px, py)


def run_figures(result: RunResult) -> dict[str, Figure]:
    """Every figure the run's tables allow, keyed by file stem; a missing table skips its figure."""
    t, s = result.tables, result.summary
    unit = str(((result.config.get("policy") or {}).get("costs") or {}).get("unit", "minutes"))
    makers = {
        "reliability": ("reliability", lambda df: reliability_figure(df, s.get("confidence_model"))),
        "risk_coverage": ("risk_coverage", lambda df: risk_coverage_figure(
            df, _number(s, "alpha"), _point(s, "automation_rate", "automated_error_rate"))),
        "cost_coverage": ("cost_coverage", lambda df: cost_coverage_figure(
            df, _number(s, "cost_per_episode_all_human"), _point(s, "automation_rate", "cost_per_episode"),
            unit)),
        "subset_bounds": ("bounds", subset_bounds_figure),
        "coverage": ("coverage", coverage_figure),
        "categories_per_episode": ("categories_per_episode", categories_figure),
    }
    figures = {}
    for stem, (table, make) in makers.items():
        if table in t and t[table] is not None and not t[table].empty:
            figures[stem] = make(t[table])
    return figures


def write_figures(result: RunResult, out_dir: str | Path) -> dict[str, Path]:
    """Draw every available figure to ``out_dir/<name>.png``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for stem, fig in run_figures(result).items():
        path = out_dir / f"{stem}.png"
        fig.savefig(path, format="png")
        paths[stem] = path
    return paths


#: How each replay event is marked on the replay figure: (label, colour, line style).
REPLAY_MARKS = {
    "go_live": ("go-live", "tab:green", "-"),
    "shift": ("shift (coder v2)", "tab:purple", "--"),
    "alarm": ("watch alarm -> fallback", "tab:red", "-"),
    "recertified": ("re-certified", "tab:blue", "-"),
}


def replay_figure(timeline: pd.DataFrame, events: list[Mapping[str, Any]], alpha: float,
                  window: int = 300, settings: tuple[str, ...] = ("day_case", "inpatient",
                                                                   "observation")) -> Figure:
    """A replayed year: realised error among automated episodes (rolling over each setting's last
    ``window`` automated episodes of the policy version in force, from the simulation's ground
    truth) against alpha, and the
    automation rate (rolling over the last ``window`` episodes of each setting), with go-live, the
    shift, the watch's alarm and re-certification marked."""
    require_columns(timeline, "timeline", ("index", "care_setting", "automated", "correct"))
    fig = Figure(figsize=(10.0, 6.4), dpi=DPI)
    err_ax, auto_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    colours = {"day_case": "tab:orange", "inpatient": "tab:gray", "observation": "tab:cyan"}
    for setting in settings:
        part = timeline[timeline["care_setting"] == setting]
        if part.empty:
            continue
        auto = part[part["automated"]]
        colour = colours.get(setting)
        # rolling within each policy version: a new version starts a new watch and a new curve
        versions = auto["policy_version"] if "policy_version" in auto else pd.Series("", index=auto.index)
        first = True
        for _, seg in auto.groupby(versions.to_numpy(), sort=False):
            if len(seg) < max(20, window // 5):
                continue
            wrong = (~seg["correct"].astype(bool)).astype(float)
            rolling = wrong.rolling(window, min_periods=max(20, window // 5)).mean()
            err_ax.plot(seg["index"], rolling, color=colour, linewidth=1.4,
                        label=f"{setting}: error among automated" if first else None)
            first = False
        rate = part["automated"].astype(float).rolling(window, min_periods=window // 5).mean()
        auto_ax.plot(part["index"], rate, color=colour, linewidth=1.2, label=setting)
    overall = timeline["automated"].astype(float).rolling(window, min_periods=window // 5).mean()
    auto_ax.plot(timeline["index"], overall, color="black", linewidth=1.4, label="all settings")
    err_ax.axhline(alpha, color="black", linestyle=":", linewidth=1.2, label=f"alpha = {alpha:g}")
    seen = set()
    for e in events:
        mark = REPLAY_MARKS.get(str(e.get("kind")))
        if mark is None:
            continue
        label, colour, style = mark
        for ax in (err_ax, auto_ax):
            ax.axvline(e["episode"], color=colour, linestyle=style, linewidth=1.1,
                       label=label if (ax is err_ax and label not in seen) else None)
        seen.add(label)
    err_ax.set_ylabel(f"realised error among automated\n(rolling, last {window} automated)")
    err_ax.set_ylim(0, max(0.35, alpha * 2.5))
    _percent_axis(err_ax, "y")
    err_ax.legend(loc="upper left", fontsize=7, ncol=2)
    err_ax.set_title("A year in a hospital, replayed through the service")
    auto_ax.set_ylabel(f"automation rate\n(rolling, last {window} episodes)")
    auto_ax.set_xlabel("episode (arrival order)")
    auto_ax.set_ylim(0, 1)
    _percent_axis(auto_ax, "y")
    auto_ax.legend(loc="upper left", fontsize=7, ncol=4)
    fig.tight_layout()
    return fig
