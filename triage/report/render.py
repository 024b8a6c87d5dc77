"""Render a RunResult into report.html with jinja2; figures are embedded as base64 PNG."""

from __future__ import annotations

import base64
import datetime as dt
import math
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from triage.confidence.targets import MEANINGS
from triage.figures import HUMAN_LINES, write_figures
from triage.jsonsafe import flatten, to_plain
from triage.report.practice import policy_in_practice
from triage.report.tables import format_value, html_table
from triage.results import RunResult, write_tables

TEMPLATE = "report.html.j2"


#: Sections in reading order: (id, title, tables shown under it, figures shown in it).
SECTIONS = (
    ("policy", "The chosen policy and what it means", ("policies",), ("risk_coverage", "cost_coverage")),
    ("settings", "Care settings: what can be automated where", ("settings", "evidence"), ()),
    ("targets", "Automation by correctness target and risk-control method",
     ("automation_by_target", "unseen_drg_moves"), ()),
    ("dataset", "The data against the seed paper", ("dataset_summary",), ("coverage", "categories_per_episode")),
    ("coder", "The automated coder", ("coder_metrics", "coder_metrics_by_setting"), ()),
    ("confidence", "How far to trust the coder: confidence and calibration",
     ("confidence_check", "confidence_models"), ("reliability",)),
    ("bounds", "Which subsets could be automated: upper bounds", ("bounds",), ("subset_bounds",)),
    ("diagnostic", "Where the coder is good: gold-defined subsets (diagnostic)", ("diagnostic_subsets",), ()),
    ("discovered", "Discovered subsets", ("discovered_subsets",), ()),
    ("assist", "Assisting and auditing coders (seed paper section 4)",
     ("assist_recall", "assist_prefill", "assist_partial", "assist_steps", "assist_audit_summary", "assist_audit"), ()),
)
#: Columns of the per-target table shown in the report (all of them are in tables/).
_TARGET_COLUMNS = ("target", "method", "alpha", "setting", "guaranteed_automation", "oracle_at_alpha",
                   "ratio_to_oracle", "n_automated", "test_error", "test_error_lower", "test_error_upper",
                   "guarantee", "certified_saving_per_episode", "feasible", "auroc", "ece", "top_k_predicted_error",
                   "top_k_observed_error", "reason")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: resources.files("triage.report").joinpath("templates", name).read_text("utf-8")
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v, digits=0: "–" if v is None else f"{v:,.{digits}f}"
    env.filters["pct"] = lambda v, digits=1: "–" if v is None else f"{v:.{digits}%}"
    env.filters["fmt"] = lambda v: format_value(v)
    return env


def _embedded(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def coder_metrics_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Seed Table 2 style: value ×100 ± half the 95% interval width when the metric is a rate."""
    if "metric" not in metrics.columns or "value" not in metrics.columns:
        raise ValueError(f"table 'coder_metrics' needs columns metric and value (has {list(metrics.columns)})")
    rows = []
    for rec in metrics.to_dict(orient="records"):
        value = rec["value"]
        lo, hi = rec.get("ci_low"), rec.get("ci_high")
        numbers = [x for x in (value, lo, hi) if isinstance(x, (int, float)) and not math.isnan(x)]
        scale = 100.0 if numbers and all(0.0 <= x <= 1.0 for x in numbers) else 1.0
        has_ci = all(isinstance(x, (int, float)) and not math.isnan(x) for x in (lo, hi))
        cell = "–" if not isinstance(value, (int, float)) or math.isnan(value) else f"{value * scale:.2f}"
        if has_ci and cell != "–":
            cell += f" ± {(hi - lo) * scale / 2:.2f}"
        extra = {k: v for k, v in rec.items() if k not in ("metric", "value", "ci_low", "ci_high")}
        rows.append({"metric": rec["metric"], "value": cell,
                     "95% interval": f"{lo * scale:.2f}–{hi * scale:.2f}" if has_ci else "–",
                     "scale": "×100" if scale == 100 else "", **extra})
    return pd.DataFrame(rows)


def _threshold_cell(t: Any) -> str:
    return "none" if t is None or (isinstance(t, float) and not math.isfinite(t)) else f"{t:.3f}"


def policies_table(df: pd.DataFrame) -> pd.DataFrame:
    """The policies as read: one ``thresholds`` column (per care setting when the policy has one
    set per setting, whose top-level ``t_automate`` is infinite) instead of ``t_automate``/``t_assist``."""
    if "t_automate" not in df.columns:
        return df
    text = []
    for rec in df.to_dict(orient="records"):
        per = rec.get("thresholds_by_setting")
        t_auto, t_assist = rec["t_automate"], rec.get("t_assist")
        if isinstance(per, str) and per:
            text.append(per)
        elif rec.get("per_setting") and not (isinstance(t_auto, float) and math.isfinite(t_auto)):
            text.append("per care setting (see the router bundle's policy)")
        else:
            auto = ("automate none" if _threshold_cell(t_auto) == "none"
                    else f"automate p ≥ {_threshold_cell(t_auto)}")
            text.append(auto + (f", assist p ≥ {_threshold_cell(t_assist)}"
                                if _threshold_cell(t_assist) != "none" else ""))
    out = df.drop(columns=[c for c in ("t_automate", "t_assist", "thresholds_by_setting", "version")
                           if c in df.columns])
    out.insert(min(2, len(out.columns)), "thresholds", text)
    return out


#: What ``calibration == "none"`` means (ConfidenceModel.calibrate): not a choice, a fallback
NO_CALIBRATION = ("none: the probability-calibration part had fewer than 2 episodes of one class, so no "
                  "calibration could be learned; the model's own probabilities are used (their ECE is measured)")


def confidence_models_table(df: pd.DataFrame, summary: dict[str, Any]) -> pd.DataFrame:
    """The compared confidence models, the run's own marked, an unlearnable calibration explained."""
    out = df.copy()
    if "model" in out.columns and summary.get("confidence_model"):
        out.insert(1, "chosen", out["model"].astype(str).eq(str(summary["confidence_model"])))
    if "calibration" in out.columns:
        out["calibration"] = [NO_CALIBRATION if str(c) == "none" else c for c in out["calibration"]]
    return out


def _headline_rows(df: pd.DataFrame, summary: dict[str, Any]) -> pd.Series:
    """Rows of the per-target table that matter first: this run's α, every setting pooled."""
    mask = pd.Series(True, index=df.index)
    if "setting" in df.columns:
        mask &= df["setting"].astype(str).eq("all")
    if "alpha" in df.columns and summary.get("alpha") is not None:
        mask &= (df["alpha"].astype(float) - float(summary["alpha"])).abs() < 1e-9
    if "headline" in df.columns:
        mask |= df["headline"].fillna(False).astype(bool)
    return mask


def _section_tables(tables: dict[str, pd.DataFrame], summary: dict[str, Any] | None = None
                    ) -> dict[str, Markup | None]:
    summary = summary or {}
    out: dict[str, Markup | None] = {}
    for _, _, names, _ in SECTIONS:
        for table in names:
            df = tables.get(table)
            if df is None or df.empty:
                out[table] = None
            elif table == "coder_metrics":
                out[table] = html_table(coder_metrics_table(df), percent_columns=set())
            elif table == "confidence_models":
                out[table] = html_table(confidence_models_table(df, summary))
            elif table == "policies":
                out[table] = html_table(policies_table(df))
            elif table == "automation_by_target":
                shown = df[[c for c in _TARGET_COLUMNS if c in df.columns]]
                out[table] = html_table(shown, percent_columns={
                    "guaranteed_automation", "oracle_at_alpha", "ratio_to_oracle", "test_error", "test_error_lower",
                    "test_error_upper", "guarantee", "alpha", "top_k_predicted_error", "top_k_observed_error"},
                    show=_headline_rows(df, summary), link=f"tables/{table}.csv")
            elif len(df) > 25:
                out[table] = html_table(df, show=pd.Series(df.index < 15, index=df.index),
                                        link=f"tables/{table}.csv")
            else:
                out[table] = html_table(df)
    return out


def _kpis(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """Headline numbers that exist in this run's summary, formatted for the top of the page."""
    wanted = [
        ("automation_rate", "episodes automated (test)", "pct"),
        ("automated_error_guarantee", "guaranteed error bound among automated", "pct"),
        ("automated_error_rate", "error among automated (test)", "pct"),
        ("test_error_interval_upper", "95% interval upper end of that test error", "pct"),
        ("oracle_automation_at_alpha", "oracle at α (best any router could do)", "pct"),
        ("certified_saving_per_episode", "certified saving from automation per episode", "num"),
        ("saving_from_assist_per_episode", "assisted-review saving per episode (assumed costs)", "num"),
        ("cost_per_episode_all_human", "cost per episode, all by hand", "num"),
        ("ece", "calibration error (ECE)", "num"),
        ("auroc_correct", "AUROC (right vs wrong)", "num"),
    ]
    out = []
    for key, label, kind in wanted:
        value = summary.get(key)
        if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
            out.append((label, f"{value:.1%}" if kind == "pct" else f"{value:,.3g}"))
    return out


def render_report(result: RunResult, figure_paths: dict[str, Path]) -> str:
    """The report as an HTML string (figures read from ``figure_paths`` and embedded)."""
    summary = dict(result.summary)
    config = to_plain(dict(result.config))
    costs = (config.get("policy") or {}).get("costs") or {}
    try:
        practice = policy_in_practice(summary, costs)
    except ValueError:
        practice = None
    sections = [
        {"id": sid, "title": title, "tables": tables,
         "figures": [(name, _embedded(figure_paths[name])) for name in figs if name in figure_paths]}
        for sid, title, tables, figs in SECTIONS
    ]
    context = {
        "title": "Coding triage run report",
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "summary": summary,
        "kpis": _kpis(summary),
        "practice": practice,
        "costs": costs,
        "sections": sections,
        "tables": _section_tables(result.tables, summary),
        "human_lines": HUMAN_LINES,
        "target_meaning": MEANINGS.get(str(summary.get("target")), "see the confidence section"),
        "config_rows": sorted(flatten(config).items()),
        "timings": sorted(result.timings.items(), key=lambda kv: -kv[1]),
        "summary_rows": sorted((k, format_value(v)) for k, v in summary.items()),
    }
    return _environment().get_template(TEMPLATE).render(**context)


def write_report(result: RunResult, out_dir: str | Path, tables_written: bool = False) -> Path:
    """Write ``out_dir/report.html`` plus ``figures/*.png`` (and ``tables/`` unless ``tables_written``:
    a run writes its tables once, before the report)."""
    if not isinstance(result, RunResult):
        raise TypeError(f"write_report needs a RunResult, got {type(result).__name__}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not tables_written:
        write_tables(result.tables, out_dir / "tables")
    figures = write_figures(result, out_dir / "figures")
    path = out_dir / "report.html"
    path.write_text(render_report(result, figures), encoding="utf-8")
    return path
