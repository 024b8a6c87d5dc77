"""One MLflow run per `triage run`: params, metrics, artifacts and the registered router.

Notebooks read the same run back with :func:`load_run_result`, so what they analyse is what
was logged, not whatever happens to sit in a local folder.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import yaml
from mlflow import MlflowClient
from mlflow.entities import Param

from triage.jsonsafe import dumps, flatten, to_plain
from triage.results import TABLE_NAMES, RunResult
from triage.tracking.params import config_params, sanitize_key, summary_metrics, summary_tags
from triage.tracking.registry import (
    GUARANTEE_KEYS,
    REGISTERED_MODEL,
    VersionFacts,
    champion_facts,
    decide_promotion,
    guarantee_tags,
    log_router_model,
    set_champion,
    tag_version,
)
from triage.tracking.uri import (
    artifact_root_for,
    existing_tracking_uri,
    resolve_tracking_uri,
    tracking_uri_set,
)

DEFAULT_EXPERIMENT = "coding-triage"
CONFIG_ARTIFACT = "config.yaml"
SUMMARY_ARTIFACT = "run_summary.json"
#: Where in the config each guarantee setting lives when the summary does not carry it.
_GUARANTEE_CONFIG_KEYS = {"target": "confidence.target", "alpha": "policy.alpha", "delta": "policy.delta"}


class RunNotFoundError(LookupError):
    """No finished run to read (empty experiment, unknown run id, missing artifact)."""


@dataclass(frozen=True)
class TrackingInfo:
    """Where a run landed: its run id, the registered version (None without a router) and the alias move."""

    run_id: str
    model_version: str | None
    promoted: bool
    reason: str = ""
    tracking_uri: str = ""
    experiment_id: str = ""

    @property
    def model_uri(self) -> str | None:
        return None if self.model_version is None else f"models:/{REGISTERED_MODEL}/{self.model_version}"


def ensure_experiment(client: MlflowClient, name: str, uri: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            raise ValueError(f"MLflow experiment {name!r} at {uri} is deleted; restore it or pick another name")
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=artifact_root_for(uri))


def guarantee_of(result: RunResult) -> dict[str, Any]:
    """Target, alpha and delta of the run's policy (summary first, config as fallback)."""
    flat = flatten(to_plain(dict(result.config)))
    return {
        key: result.summary.get(key, flat.get(_GUARANTEE_CONFIG_KEYS[key])) for key in GUARANTEE_KEYS
    }


def write_run_files(result: RunResult, directory: Path) -> None:
    """The resolved config (YAML) and the flat summary (JSON) as they are logged."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_ARTIFACT).write_text(
        yaml.safe_dump(to_plain(dict(result.config)), sort_keys=False, allow_unicode=True)
    )
    # strict JSON (NaN/inf -> null), the same as the run folder's run_summary.json
    (directory / SUMMARY_ARTIFACT).write_text(dumps(dict(result.summary), indent=2, sort_keys=True))


def _report_dir(result: RunResult, scratch: Path) -> Path:
    """A folder with report.html, figures/ and tables/: the run's own if complete, else written now."""
    if result.out_dir is not None:
        out = Path(result.out_dir)
        if (out / "report.html").is_file() and (out / "tables").is_dir():
            return out
    from triage.report import write_report

    write_report(result, scratch)
    return scratch


def _log_artifacts(result: RunResult, scratch: Path) -> None:
    source = _report_dir(result, scratch / "report")
    mlflow.log_artifact(str(source / "report.html"))
    for sub, patterns in (("figures", ("*.png",)), ("tables", ("*.parquet", "*.csv"))):
        folder = source / sub
        if not folder.is_dir():
            continue
        for pattern in patterns:
            for path in sorted(folder.glob(pattern)):
                mlflow.log_artifact(str(path), artifact_path=sub)
    files = scratch / "files"
    write_run_files(result, files)
    mlflow.log_artifact(str(files / CONFIG_ARTIFACT))
    mlflow.log_artifact(str(files / SUMMARY_ARTIFACT))


def _log_params(client: MlflowClient, run_id: str, params: dict[str, str]) -> None:
    items = [Param(k, v) for k, v in params.items()]
    for start in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run_id, params=items[start:start + 100])


def log_run(
    result: RunResult,
    tracking_uri: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    promote: bool = False,
    objective: str = "cost_per_episode",
    registered_model: str = REGISTERED_MODEL,
    input_example: pd.DataFrame | None = None,
    run_name: str | None = None,
) -> TrackingInfo:
    """Log ``result`` as one MLflow run; register its router and move ``champion`` if it wins."""
    uri = resolve_tracking_uri(tracking_uri)
    with tracking_uri_set(uri), tempfile.TemporaryDirectory() as tmp:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        experiment_id = ensure_experiment(client, experiment, uri)
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
            run_id = run.info.run_id
            _log_params(client, run_id, config_params(result.config))
            mlflow.log_metrics(summary_metrics(result.summary))
            if result.timings:
                mlflow.log_metrics({sanitize_key(f"time_s.{k}"): float(v) for k, v in result.timings.items()})
            mlflow.set_tags(summary_tags(result.summary))
            _log_artifacts(result, Path(tmp))
            if result.router_dir is None:
                mlflow.set_tag("champion_decision", "no router bundle in this run: nothing registered")
                return TrackingInfo(run_id, None, False, "no router bundle", uri, experiment_id)
            icd_version = flatten(to_plain(dict(result.config))).get("data.icd_version", 10)
            info = log_router_model(Path(result.router_dir), input_example, registered_model, icd_version)
            version = str(info.registered_model_version)
            value = result.summary.get(objective)
            guarantee = guarantee_of(result)
            tag_version(client, registered_model, version, {
                "run_id": run_id,
                "objective": objective,
                "objective_value": "None" if value is None else repr(float(value)),
                **guarantee_tags(guarantee),
            })
            new = VersionFacts(version, objective, None if value is None else float(value),
                               {k: str(v) for k, v in guarantee.items() if v is not None})
            promoted, reason = decide_promotion(new, champion_facts(client, registered_model), force=promote)
            if promoted:
                set_champion(client, registered_model, version)
            client.set_model_version_tag(registered_model, version, "promotion_reason", reason)
            mlflow.set_tags({"registered_version": version, "champion_decision": reason})
        return TrackingInfo(run_id, version, promoted, reason, uri, experiment_id)


# -- reading runs back (notebooks, CLI) ------------------------------------------------------


def latest_run_id(experiment: str = DEFAULT_EXPERIMENT, tracking_uri: str | None = None) -> str:
    """The most recent finished run of ``experiment``."""
    uri = existing_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise RunNotFoundError(f"no MLflow experiment {experiment!r} at {uri}: run `triage run` first")
    runs = client.search_runs(
        [exp.experiment_id], filter_string="attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"], max_results=1,
    )
    if not runs:
        raise RunNotFoundError(f"experiment {experiment!r} at {uri} has no finished run")
    return runs[0].info.run_id


def download_run_files(run_id: str, dest: str | Path, tracking_uri: str | None = None) -> Path:
    """Tables, config and summary of a run into ``dest`` (figures and model are left behind)."""
    uri = existing_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=uri)
    try:
        client.get_run(run_id)
    except mlflow.exceptions.MlflowException:
        raise RunNotFoundError(f"no MLflow run {run_id!r} at {uri}") from None
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    names = {a.path for a in client.list_artifacts(run_id)}
    for name in (CONFIG_ARTIFACT, SUMMARY_ARTIFACT, "tables"):
        if name not in names:
            raise RunNotFoundError(f"run {run_id} at {uri} has no artifact {name!r}: not a finished triage run")
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=name, dst_path=str(dest), tracking_uri=uri)
    return dest


def load_run_result(
    run_id: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    tracking_uri: str | None = None,
    cache_dir: str | Path | None = None,
) -> RunResult:
    """Rebuild a RunResult (config, summary, tables) from a logged run; latest run by default."""
    uri = resolve_tracking_uri(tracking_uri)
    run_id = run_id or latest_run_id(experiment, uri)
    target = Path(cache_dir) if cache_dir else Path(tempfile.mkdtemp(prefix=f"triage-run-{run_id[:8]}-"))
    folder = download_run_files(run_id, target / run_id, uri)
    config = yaml.safe_load((folder / CONFIG_ARTIFACT).read_text()) or {}
    summary = json.loads((folder / SUMMARY_ARTIFACT).read_text())
    tables = {}
    for path in sorted((folder / "tables").glob("*.parquet")):
        tables[path.stem] = pd.read_parquet(path)
    unknown = set(tables) - set(TABLE_NAMES)
    summary = {**summary, "mlflow_run_id": run_id}
    result = RunResult(config=config, summary=summary, tables=tables, out_dir=folder)
    if unknown:  # extra tables are kept; noted so a reader knows they are outside the contract
        result.summary["extra_tables"] = ",".join(sorted(unknown))
    return result


def load_latest_run(
    run_id: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    tracking_uri: str | None = None,
    cache_dir: str | Path | None = None,
) -> RunResult:
    """:func:`load_run_result` for a notebook's load cell: also prints which run it read, so an
    executed notebook records the run its figures come from."""
    result = load_run_result(run_id, experiment=experiment, tracking_uri=tracking_uri, cache_dir=cache_dir)
    print(f"MLflow run {result.summary['mlflow_run_id']}: {len(result.tables)} tables")
    return result


def run_table(result: RunResult, name: str) -> pd.DataFrame | None:
    """A table of the run, or None (with a printed note) when the run did not produce it, so a
    notebook section skips itself instead of failing on an older or smaller run."""
    table = result.tables.get(name)
    if table is None or table.empty:
        print(f"this run has no table {name!r}")
        return None
    return table
