"""``triage batch``: route a table of episodes (Parquet, CSV, or a directory of them) in bulk."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer

from triage.batch import INPUT_FORMATS, PANDAS_INPUT_FORMATS
from triage.cli._output import fail

InputFormat = Enum("InputFormat", {f: f for f in INPUT_FORMATS}, type=str)


class Engine(str, Enum):
    pandas = "pandas"
    spark = "spark"


def batch(
    input_path: str = typer.Argument(..., metavar="INPUT", help="Parquet file, CSV file, or a directory of "
                                     "Parquet/CSV files (a Parquet dataset). Columns as the service's request: "
                                     "episode_id, code_scores (JSON) or text, and routing metadata."),
    out: str = typer.Option(..., "--out", help="Output Parquet dataset (a directory): one row per routed episode."),
    model: str = typer.Option(
        "models:/coding-triage-router@champion", "--model",
        help="Router bundle directory or any MLflow model URI (models:/NAME@alias, runs:/..., a path)."),
    errors: str | None = typer.Option(
        None, "--errors", help="Parquet dataset of rejected rows with the column and reason (default: OUT-errors)."),
    engine: Engine = typer.Option(Engine.pandas, "--engine", help="pandas (one process, streamed in chunks) "  # noqa: B008
                                  "or spark."),
    spark_master: str = typer.Option("local[*]", "--spark-master", help="Spark master URL (engine spark)."),
    chunk_rows: int = typer.Option(20_000, "--chunk-rows", min=1, help="Rows per chunk (engine pandas)."),
    rows_per_partition: int | None = typer.Option(
        None, "--rows-per-partition", min=1,
        help="Rows per Spark partition (default 50,000; 5,000 when the coder reads notes)."),
    input_format: InputFormat = typer.Option("auto", "--input-format", help="auto guesses from the file names; "  # noqa: B008
                                             "delta needs --engine spark."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output/errors datasets."),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri", help="MLflow tracking URI for a models:/ or runs:/ --model "
        "(default: MLFLOW_TRACKING_URI or sqlite:///mlflow.db)."),
) -> None:
    """Route every episode of INPUT; print a JSON summary (routes, rejected rows, throughput)."""
    from triage.batch.model import resolve_bundle
    from triage.decisions.errors import BatchInputError

    input_format = InputFormat(input_format).value
    errors = errors or f"{out.rstrip('/')}-errors"
    try:
        bundle = resolve_bundle(model, tracking_uri)
        if engine is Engine.pandas:
            if input_format not in PANDAS_INPUT_FORMATS:
                raise BatchInputError(f"--input-format {input_format} needs --engine spark")
            from triage.batch.pandas_engine import run_pandas

            result = run_pandas(input_path, bundle, out, errors, chunk_rows=chunk_rows, overwrite=overwrite)
        else:
            from triage.batch.spark_engine import run_spark

            result = run_spark(input_path, bundle, out, errors, master=spark_master, input_format=input_format,
                               rows_per_partition=rows_per_partition, overwrite=overwrite)
    except BatchInputError as exc:
        fail(exc)
    text = json.dumps(result, indent=2)
    if "://" not in out and Path(out).is_dir():
        (Path(out) / "_summary.json").write_text(text + "\n")
    typer.echo(text)


def register(app: typer.Typer) -> None:
    """Add ``triage batch`` to the main app."""
    app.command("batch")(batch)
