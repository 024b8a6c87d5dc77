"""``triage run`` (the main job) and ``triage route`` (fit the router and report on test, no tracking)."""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from triage.cli._output import fail
from triage.confidence.targets import TARGETS
from triage.data.schema import ICD_VERSIONS
from triage.policy import FWER_METHODS, KINDS, METHODS

# CLI choices derived from the library's own definitions (one list each)
Target = Enum("Target", {t: t for t in TARGETS}, type=str)
PolicyKind = Enum("PolicyKind", {k: k for k in KINDS}, type=str)
Method = Enum("Method", {m: m for m in METHODS}, type=str)
Fwer = Enum("Fwer", {f: f for f in FWER_METHODS}, type=str)


#: The keys `triage route --json` always emits (core-router issue).
ROUTE_KEYS = (
    "headline", "target", "alpha", "delta", "method", "threshold", "automation_rate", "automated_error_guarantee",
    "automated_error_rate", "test_error_interval_lower", "test_error_interval_upper", "oracle_automation_rate",
    "oracle_automation_at_alpha", "ece", "brier", "auroc_correct", "aurc", "eaurc", "baseline_product_aurc",
    "cost_per_episode", "cost_per_episode_all_human", "certified_saving_per_episode",
    "saving_from_assist_per_episode",
)


# Options `triage run` and `triage route` share (same names, same meaning).
DataOpt = Annotated[Path | None, typer.Option("--data", help="MIMIC-IV/III folder or reference files; default: the synthetic cohort.")]
EpisodesOpt = Annotated[int | None, typer.Option("--synthetic-episodes", help="Size of the synthetic cohort (default 10,000).")]
PredictionsOpt = Annotated[Path | None, typer.Option("--predictions", help="Your coder's test predictions (reference feather or long table).")]
ValPredictionsOpt = Annotated[Path | None, typer.Option("--val-predictions", help="Your coder's val predictions.")]
CoderOpt = Annotated[Path | None, typer.Option("--coder", help="A saved coder (triage coder train) instead of training one.")]
SplitFileOpt = Annotated[Path | None, typer.Option("--split-file", help="Reuse a published split (_id, split).")]
IcdVersionOpt = Annotated[Literal[ICD_VERSIONS] | None, typer.Option("--icd-version", help="ICD revision (default 10).")]
ThresholdOpt = Annotated[float | None, typer.Option("--threshold", help="Fixed coder threshold instead of tuning one.")]
TargetOpt = Annotated[Target | None, typer.Option("--target", help="What counts as a correct automated episode.")]
PolicyOpt = Annotated[PolicyKind | None, typer.Option("--policy", help="Routing policy of the router bundle.")]
MethodOpt = Annotated[Method | None, typer.Option("--method", help="Risk control: ltt (Learn-then-Test, default) or sgr.")]
FwerOpt = Annotated[Fwer | None, typer.Option("--fwer", help="Learn-then-Test's FWER procedure: fixed_sequence (default) or holm.")]
PerSettingOpt = Annotated[bool | None, typer.Option("--per-setting/--one-threshold", help="One threshold per care setting (default; delta split across settings) or one for everyone.")]
AlphaOpt = Annotated[float | None, typer.Option("--alpha", help="Target error rate among automated episodes.")]
DeltaOpt = Annotated[float | None, typer.Option("--delta", help="Allowed probability that the guarantee fails.")]
ManualCostOpt = Annotated[float | None, typer.Option("--manual-cost", help="Cost of coding one episode by hand.")]
AssistCostOpt = Annotated[float | None, typer.Option("--assist-cost", help="Cost of an assisted review.")]
ErrorCostOpt = Annotated[float | None, typer.Option("--error-cost", help="Cost of an automation error.")]
CapacityOpt = Annotated[float | None, typer.Option("--capacity", help="Episodes coders can handle per period.")]
PeriodOpt = Annotated[float | None, typer.Option("--period-episodes", help="Episodes arriving per period.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed for the cohort, split and models.")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML/TOML config; CLI options override it.")]


def _overrides(**kw: Any) -> dict[str, Any]:
    """CLI options -> nested config overrides (None = not given, so the file or default stands)."""
    return {
        "seed": kw["seed"],
        "out": kw["out"],
        "data": {"path": kw["data"], "synthetic_episodes": kw["synthetic_episodes"], "split_file": kw["split_file"],
                 "icd_version": kw["icd_version"], "synthetic_workload": kw.get("workload"),
                 "synthetic_note_words": kw.get("note_scale")},
        "coder": {"predictions": kw["predictions"], "val_predictions": kw["val_predictions"], "path": kw["coder"],
                  "threshold": kw["threshold"]},
        "confidence": {"target": kw["target"].value if kw["target"] else None},
        "policy": {"kind": kw["policy"].value if kw["policy"] else None, "alpha": kw["alpha"], "delta": kw["delta"],
                   "method": kw["method"].value if kw.get("method") else None,
                   "fwer": kw["fwer"].value if kw.get("fwer") else None, "per_setting": kw.get("per_setting"),
                   "costs": {"manual_cost": kw.get("manual_cost"), "assist_cost": kw.get("assist_cost"),
                             "error_cost": kw.get("error_cost"), "capacity": kw.get("capacity"),
                             "period_episodes": kw.get("period_episodes")}},
        "tracking": {"uri": kw.get("tracking_uri"), "experiment": kw.get("experiment"),
                     "promote": kw.get("promote") or None},
    }


def _resolve(config_file: Path | None, overrides: dict[str, Any]):
    from triage.config import ConfigError, resolve_config

    try:
        return resolve_config(config_file, overrides)
    except ConfigError as exc:
        fail(exc)


def _execute(config, console, **kw):
    from triage.data import DataError
    from triage.pipeline import PipelineError, run_pipeline

    try:
        return run_pipeline(config, console=console, **kw)
    except (DataError, PipelineError, ValueError, FileNotFoundError) as exc:
        fail(exc)


def run_progress():
    """Progress of ``triage run`` on stderr: live bars with counts and ETA on a terminal, one line
    per step otherwise, nothing under ``triage -q`` (errors only)."""
    import logging

    from rich.console import Console

    from triage.progress import Reporter, reporter_for

    if logging.getLogger().getEffectiveLevel() >= logging.ERROR:
        return Reporter()
    return reporter_for(Console(stderr=True))


def _pct(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}%"


def print_summary(console, s: dict[str, Any]) -> None:
    """The final terminal summary a coding manager or ML engineer reads first."""
    from rich.table import Table

    t = Table(title="Coder (test split) — seed paper Table 2 style", show_lines=False)
    t.add_column("level")
    t.add_column("exact match", justify="right")
    t.add_column("Jaccard", justify="right")
    for level, key in (("full code", "full"), ("4-character", "4"), ("3-character", "3")):
        t.add_row(level, _pct(s.get(f"exact_match_{key}")), _pct(s.get(f"jaccard_{key}")))
    console.print(t)
    console.print(
        f"micro-F1 {s.get('f1_micro', float('nan')):.3f} · macro AUC-ROC {s.get('auc_roc_macro') or float('nan'):.3f}"
        f" · macro AUC-PR {s.get('auc_pr_macro') or float('nan'):.3f} · principal accuracy {_pct(s.get('principal_accuracy'))}"
    )
    console.print(f"\n[bold]{s.get('headline', '')}[/]\n")
    r = Table(title=f"Routing on test — policy {s['policy_kind']} (target: {s['target']}, "
                    f"α={s['alpha']}, δ={s['delta']}, {s.get('method', '')}"
                    f"{', per care setting' if s.get('per_setting') else ''})")
    r.add_column("")
    r.add_column("value", justify="right")
    r.add_row("automated", f"{_pct(s['automation_rate'])} ({s.get('n_automated', 0)} episodes)")
    for setting, rate in sorted((s.get("automation_by_setting") or {}).items()):
        r.add_row(f"  automated, {setting}", _pct(rate))
    if s.get("assist_rate") is not None:
        r.add_row("assisted review", _pct(s.get("assist_rate")))
    r.add_row("manual", _pct(s.get("manual_rate")))
    r.add_row("guaranteed error bound among automated", _pct(s.get("automated_error_guarantee")))
    r.add_row("error among automated (test)", "none automated" if not s.get("n_automated") else
              f"{_pct(s.get('automated_error_rate'))} "
              f"(95% interval {_pct(s.get('test_error_interval_lower'))}–{_pct(s.get('test_error_interval_upper'))})")
    r.add_row("oracle at α (best any router could do)", _pct(s.get("oracle_automation_at_alpha")))
    r.add_row("confidence AUROC / ECE", f"{s['auroc_correct']:.3f} / {s['ece']:.3f}")
    unit = s.get("cost_unit", "minutes")
    r.add_row(f"certified saving from automation ({unit}/episode)", f"{s.get('certified_saving_per_episode', 0):.2f}")
    r.add_row(f"saving from assisted review ({unit}/episode, assumed costs)",
              f"{s.get('saving_from_assist_per_episode', 0):.2f}")
    console.print(r)
    by_target = s.get("automation_by_target") or {}
    if by_target:
        t2 = Table(title=f"Guaranteed automation by correctness target (α={s['alpha']}, test)")
        for col in ("target", "guaranteed", "oracle at α", "test error"):
            t2.add_column(col, justify="right" if col != "target" else "left")
        for name, v in by_target.items():
            t2.add_row(name, _pct(v.get("guaranteed_automation")), _pct(v.get("oracle_at_alpha")),
                       _pct(v.get("test_error")))
        console.print(t2)
    for setting, need in sorted((s.get("evidence_short") or {}).items()):
        console.print(f"[yellow]{setting}: not enough calibration evidence for the guarantee ({need}).[/]")
    for key, label in (("report", "report"), ("router_dir", "router bundle"),
                       ("exported_router_dir", "exported for serving"), ("mlflow_run_id", "MLflow run"),
                       ("registered_version", "registered version")):
        if s.get(key) is not None:
            console.print(f"{label}: [bold]{s[key]}[/]")


def register(app: typer.Typer) -> None:
    """Add ``triage run`` and ``triage route``."""

    @app.command("run")
    def run(
        data: DataOpt = None,
        synthetic_episodes: EpisodesOpt = None,
        workload: str | None = typer.Option(None, "--workload", help="Synthetic care-setting mix: mixed (default), inpatient, observation, day_case or shares 'inpatient=0.5,observation=0.15,day_case=0.35'."),
        note_scale: float | None = typer.Option(None, "--note-scale", help="Scale of synthetic note length (1.0 = the seed paper's 1,492-word median)."),
        predictions: PredictionsOpt = None,
        val_predictions: ValPredictionsOpt = None,
        coder: CoderOpt = None,
        split_file: SplitFileOpt = None,
        icd_version: IcdVersionOpt = None,
        threshold: ThresholdOpt = None,
        target: TargetOpt = None,
        policy: PolicyOpt = None,
        alpha: AlphaOpt = None,
        delta: DeltaOpt = None,
        method: MethodOpt = None,
        fwer: FwerOpt = None,
        per_setting: PerSettingOpt = None,
        manual_cost: ManualCostOpt = None,
        assist_cost: AssistCostOpt = None,
        error_cost: ErrorCostOpt = None,
        capacity: CapacityOpt = None,
        period_episodes: PeriodOpt = None,
        seed: SeedOpt = None,
        out: Path | None = typer.Option(None, "--out", help="Output folder (default runs/latest)."),
        tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="MLflow tracking URI (default sqlite:///mlflow.db)."),
        experiment: str | None = typer.Option(None, "--experiment", help="MLflow experiment name."),
        promote: bool = typer.Option(False, "--promote/--no-promote", help="Move the champion alias to this run's version."),
        no_tracking: bool = typer.Option(False, "--no-tracking", help="Do not log to MLflow."),
        as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON on stdout (progress on stderr)."),
        config_file: ConfigOpt = None,
    ) -> None:
        """Train, calibrate, choose the policy, bound, report, track and export the router (the main job)."""
        from rich.console import Console

        kw = dict(locals())
        config = _resolve(config_file, _overrides(**kw))
        if no_tracking:
            config.tracking.enabled = False
        console = Console(stderr=as_json)
        source = config.data.path or f"synthetic cohort ({config.data.synthetic_episodes:,} episodes, seed {config.seed})"
        console.print(f"[bold]triage run[/] on {source}")
        result = _execute(config, console, progress=run_progress())
        if as_json:
            from triage.jsonsafe import dumps

            typer.echo(dumps(result.summary, indent=2))
        else:
            print_summary(console, result.summary)

    @app.command("route")
    def route(
        data: DataOpt = None,
        synthetic_episodes: EpisodesOpt = None,
        coder: CoderOpt = None,
        predictions: PredictionsOpt = None,
        val_predictions: ValPredictionsOpt = None,
        split_file: SplitFileOpt = None,
        icd_version: IcdVersionOpt = None,
        threshold: ThresholdOpt = None,
        target: TargetOpt = None,
        policy: PolicyOpt = None,
        alpha: AlphaOpt = None,
        delta: DeltaOpt = None,
        method: MethodOpt = None,
        fwer: FwerOpt = None,
        per_setting: PerSettingOpt = None,
        manual_cost: ManualCostOpt = None,
        assist_cost: AssistCostOpt = None,
        error_cost: ErrorCostOpt = None,
        capacity: CapacityOpt = None,
        period_episodes: PeriodOpt = None,
        seed: SeedOpt = None,
        out: Path | None = typer.Option(None, "--out", help="Where the router bundle and tables go (default runs/route)."),
        as_json: bool = typer.Option(False, "--json", help="Print the routing summary as JSON."),
        config_file: ConfigOpt = None,
    ) -> None:
        """Fit the confidence model, calibrate, choose the policy and report on test (no MLflow, no report)."""
        from rich.console import Console

        kw = dict(locals())
        kw["out"] = kw["out"] or Path("runs/route")
        config = _resolve(config_file, _overrides(**kw))
        config.tracking.enabled = False
        config.export_dir = Path(config.out) / "router"
        console = Console(stderr=True)
        result = _execute(config, console if not as_json else None, write_report=False)
        if as_json:
            s = result.summary
            keys = list(ROUTE_KEYS) + [k for k in s if k not in ROUTE_KEYS]
            from triage.jsonsafe import dumps

            typer.echo(dumps({k: s.get(k) for k in keys}, indent=2))
        else:
            print_summary(Console(), result.summary)
