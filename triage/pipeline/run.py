"""`triage run`, the list of steps: data -> coder -> evaluation -> roles -> confidence -> policies ->
bounds -> assistance; then the router, the summary and the tables built from what the steps returned,
written once, and the report and MLflow on top."""
from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console

from triage.config import RunConfig, config_to_dict
from triage.pipeline.roles import score_episodes, split_pool
from triage.pipeline.steps import (
    RunSteps,
    automation_by_target,
    build_router,
    choose_policies,
    estimate_bounds,
    evaluate_assist,
    evaluate_coder,
    fit_confidence,
    load_data,
    policy_sweep,
    unseen_moves,
)
from triage.pipeline.summary import build_summary, write_summary
from triage.pipeline.tables import run_tables
from triage.progress import Reporter, reporter_for
from triage.results import RunResult, write_tables


def run_pipeline(config: RunConfig, console: Console | None = None, log_to_mlflow: bool | None = None,
                 write_report: bool = True, progress: Reporter | None = None) -> RunResult:
    """Run every step; write ``config.out`` (summary, tables, figures, report, router) and log to MLflow.

    ``progress`` reports the steps and the counted loops inside them (default: chosen for
    ``console``, see :func:`triage.progress.reporter_for`).
    """
    from triage.data.summary import dataset_summary

    steps = progress if progress is not None else reporter_for(console)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    trains_coder = config.coder.predictions is None and config.coder.path is None
    with steps("data", "Loading episodes"):
        data = load_data(config)
    with steps("summary", "Dataset statistics"):
        statistics = dataset_summary(data.episodes)
    with steps("coder", "Coder: training + cross-fitting" if trains_coder else "Coder: scoring"):
        coding = score_episodes(config, data.episodes)
    with steps("evaluate", "Evaluating the coder (seed paper metrics)"):
        evaluation = evaluate_coder(coding.rule, coding.test)
    with steps("confidence", "Confidence models + calibration"):
        split = split_pool(config, coding)
        confidence = fit_confidence(config, coding.rule, split.parts, coding.targets)
    with steps("policy", "Routing policies"):
        choice = choose_policies(config, confidence, split.evidence)
        unseen = unseen_moves(split.parts)
        automation = automation_by_target(config, confidence, unseen)
        sweep = policy_sweep(config, confidence)
    with steps("bounds", "Upper bounds on subsets"):
        bounds = estimate_bounds(config, split.parts, confidence)
    with steps("assist", "Suggestions and audit for coders (seed paper section 4)"):
        assist = evaluate_assist(config, split.parts)
    run = RunSteps(data=data, statistics=statistics, coding=coding, evaluation=evaluation, split=split,
                   confidence=confidence, choice=choice, automation=automation, unseen=unseen, sweep=sweep, bounds=bounds,
                   assist=assist)

    router = build_router(config, run)
    result = RunResult(config=config_to_dict(config), summary=build_summary(config, run),
                       tables=run_tables(config, run), timings=steps.timings, out_dir=out)
    write_tables(result.tables, out / "tables")  # the one writer of the run's tables
    summary = result.summary
    with steps("router", "Saving the router bundle"):
        result.router_dir = router.save(out / "router")
        export = Path(config.export_dir)
        if export.resolve() != result.router_dir.resolve():
            if export.exists():
                shutil.rmtree(export)
            shutil.copytree(result.router_dir, export)
        summary["router_dir"] = str(result.router_dir)
        summary["exported_router_dir"] = str(export)
    if write_report:
        with steps("report", "Writing the report"):
            from triage.report import write_report as _write_report

            summary["report"] = str(_write_report(result, out, tables_written=True))
    if log_to_mlflow if log_to_mlflow is not None else config.tracking.enabled:
        with steps("tracking", "Logging to MLflow"):
            from triage.tracking import log_run

            info = log_run(result, tracking_uri=config.tracking.uri, experiment=config.tracking.experiment,
                           promote=config.tracking.promote, registered_model=config.tracking.registered_model)
            summary.update(mlflow_run_id=info.run_id, registered_version=info.model_version,
                           promoted=info.promoted)
    summary["timings_seconds"] = {k: round(v, 2) for k, v in steps.timings.items()}
    write_summary(result, out)
    return result
