"""``triage models list|promote|export``: registered router versions, the champion alias, export."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer

from triage.cli._output import fail

models_app = typer.Typer(help="Registered router versions in MLflow; converting old model files.", no_args_is_help=True)

_URI_HELP = "MLflow tracking URI (default: MLFLOW_TRACKING_URI or sqlite:///mlflow.db)."
_NAME_HELP = "Registered model name."


@models_app.command("list")
def list_cmd(
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=_URI_HELP),
    name: str = typer.Option("coding-triage-router", "--name", help=_NAME_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the versions as JSON records."),
) -> None:
    """Every registered version with its aliases, objective and guarantee."""
    from rich.console import Console
    from rich.table import Table

    from triage.tracking import TrackingStoreNotFound, list_models, resolve_tracking_uri

    try:
        versions = list_models(tracking_uri, name=name)
    except TrackingStoreNotFound as exc:
        fail(exc)
    if as_json:
        typer.echo(versions.to_json(orient="records", date_format="iso"))
        return
    if versions.empty:
        Console(stderr=True).print(f"no versions of {name!r} at {resolve_tracking_uri(tracking_uri)}")
        return
    table = Table(title=f"{name} at {resolve_tracking_uri(tracking_uri)}")
    for col in ("version", "aliases", "objective", "objective_value", "target", "alpha", "delta", "run_id",
                "promotion_reason"):
        table.add_column(col, overflow="fold")
    for row in versions.to_dict(orient="records"):
        value = row["objective_value"]
        table.add_row(
            str(row["version"]), row["aliases"] or "", row["objective"] or "",
            "-" if value is None or math.isnan(value) else f"{value:.4g}",
            *(str(row[k] or "-") for k in ("target", "alpha", "delta", "run_id", "promotion_reason")),
        )
    Console().print(table)


@models_app.command("promote")
def promote_cmd(
    version: str = typer.Argument(..., help="Version number to make champion."),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=_URI_HELP),
    name: str = typer.Option("coding-triage-router", "--name", help=_NAME_HELP),
    alias: str = typer.Option("champion", "--alias", help="Alias to move."),
) -> None:
    """Point the champion alias (or --alias) at VERSION."""

    from triage.tracking import RegistryError, TrackingStoreNotFound, promote

    try:
        promote(version, tracking_uri, name=name, alias=alias)
    except (RegistryError, TrackingStoreNotFound) as exc:
        fail(exc)
    typer.echo(f"{name}@{alias} -> version {version}")


@models_app.command("export")
def export_cmd(
    uri: str = typer.Option("models:/coding-triage-router@champion", "--uri", help="Model URI to export."),
    out: Path = typer.Option("models/router", "--out", help="Folder for the router bundle."),  # noqa: B008
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=_URI_HELP),
) -> None:
    """Copy a registered router bundle out of MLflow so the service runs without a tracking server."""

    from triage.tracking import RegistryError, TrackingStoreNotFound, export_model

    try:
        dest = export_model(uri, out, tracking_uri)
    except (RegistryError, TrackingStoreNotFound) as exc:
        fail(exc)
    source = json.loads((dest / "mlflow_source.json").read_text())
    version = f" (version {source['version']})" if "version" in source else ""
    typer.echo(f"exported {uri}{version} to {dest}")


@models_app.command("convert")
def convert_cmd(
    source: Path = typer.Argument(..., help="A pickled router bundle (format 1) or a pickled coder.joblib."),  # noqa: B008
    dest: Path = typer.Argument(..., help="Where to write it in the current format (a new folder or file)."),  # noqa: B008
    trust: bool = typer.Option(False, "--i-trust-this-file",
                               help="Confirm SOURCE comes from you: reading a pickle runs any code it holds."),
) -> None:
    """Convert a model saved as a pickle by an earlier version into files that cannot run code.

    Reading the old file unpickles it, i.e. runs whatever it holds: convert only what you (or
    your own `triage run`) wrote, once, and serve the converted copy."""
    from triage.router import MANIFEST, convert_pickle_bundle

    if not trust:
        fail(f"{source}: converting unpickles the file, which runs any code it holds; if it is yours, "
             "run again with --i-trust-this-file")
    try:
        if (source / MANIFEST).is_file():
            out = convert_pickle_bundle(source, dest)
        else:
            from triage.coder import TextCoder

            if dest.exists():
                fail(f"{dest}: exists")
            out = TextCoder.from_pickle(source).save(dest)
    except (OSError, ValueError, TypeError) as exc:
        fail(f"{type(exc).__name__}: {exc}")
    typer.echo(f"converted {source} -> {out}")


def register(app: typer.Typer) -> None:
    """Add ``triage models ...`` to the main app."""
    app.add_typer(models_app, name="models")
