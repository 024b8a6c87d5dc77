"""``triage data ...``: inspect a dataset (MIMIC-IV, MIMIC-III, reference files, synthetic cohort)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Literal

import typer

from triage.cli._output import fail
from triage.data.loader import FORMAT_CHOICES
from triage.data.schema import ICD_VERSIONS

data_app = typer.Typer(help="Inspect episode data.", no_args_is_help=True)


FormatChoice = Enum("FormatChoice", {f: f for f in FORMAT_CHOICES}, type=str)


@data_app.command("summary")
def summary(
    data: Path = typer.Option(..., "--data", help="Dataset folder (MIMIC-IV hosp/+note/, MIMIC-III) or reference .feather."),
    format: FormatChoice = typer.Option(FormatChoice["auto"], "--format", help="Input layout; auto-detected by default."),
    as_json: bool = typer.Option(False, "--json", help="Print the statistics as one JSON object."),
    icd_version: Literal[ICD_VERSIONS] | None = typer.Option(None, "--icd-version", help="Keep only ICD-9 (9) or ICD-10 (10) admissions."),
    strict: bool = typer.Option(False, "--strict", help="Fail instead of excluding episodes without note/codes."),
) -> None:
    """Seed-paper statistics of a dataset: episodes, codes and words per episode, code coverage."""
    import warnings

    from rich.console import Console
    from rich.table import Table

    from triage.data import DataError, load_episodes_with_report
    from triage.data.summary import dataset_summary

    err = Console(stderr=True, soft_wrap=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the report below carries every warning
            episodes, report = load_episodes_with_report(data, format=format.value, icd_version=icd_version, strict=strict)
    except DataError as exc:
        fail(exc)
    stats = dataset_summary(episodes)
    if as_json:
        typer.echo(json.dumps(stats, indent=2))
    else:
        table = Table(title=f"Dataset summary: {data}")
        table.add_column("statistic")
        table.add_column("value", justify="right")
        for key, value in stats.items():
            shown = "-" if value is None else (f"{value:,}" if isinstance(value, int) else f"{value:.4g}")
            table.add_row(key, shown)
        Console().print(table)
    err.print(report.summary())
    for w in report.warnings:
        err.print(f"[yellow]warning:[/yellow] {w}")


def register(app: typer.Typer) -> None:
    """Add ``triage data`` to the main app."""
    app.add_typer(data_app, name="data")
