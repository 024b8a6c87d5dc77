"""The file ``spark-submit`` runs: ``triage batch --engine spark`` on an existing cluster.

    spark-submit --master yarn --deploy-mode client \\
        "$(python -c 'import triage.batch.spark_job as j; print(j.__file__)')" \\
        hdfs:///data/episodes/ --out hdfs:///data/routed/ \\
        --model models:/coding-triage-router@champion --tracking-uri https://mlflow.example.org

The master, executors and memory come from spark-submit; the driver resolves the model (an MLflow
URI is downloaded to the driver) and ships the bundle to the executors with the job, so the
executors need the project's Python environment (PYSPARK_PYTHON) but no MLflow access.
"""

from __future__ import annotations

import argparse
import json
import sys

from triage.batch import INPUT_FORMATS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="spark_job.py", description=__doc__.split("\n")[0])
    ap.add_argument("input", help="Parquet/CSV file or directory, or a Delta table (any Hadoop path).")
    ap.add_argument("--out", required=True, help="Output Parquet dataset.")
    ap.add_argument("--errors", default=None, help="Rejected rows dataset (default: OUT-errors).")
    ap.add_argument("--model", default="models:/coding-triage-router@champion",
                    help="Router bundle directory (on the driver) or MLflow model URI.")
    ap.add_argument("--tracking-uri", default=None, help="MLflow tracking URI for a models:/ or runs:/ model.")
    ap.add_argument("--input-format", default="auto", choices=INPUT_FORMATS)
    ap.add_argument("--rows-per-partition", type=int, default=None)
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)

    from triage.batch.model import resolve_bundle
    from triage.batch.spark_engine import run_spark, spark_session
    from triage.decisions.errors import BatchInputError

    try:
        bundle = resolve_bundle(args.model, args.tracking_uri)
        spark = spark_session(master=None)  # spark-submit's --master and --conf apply
        summary = run_spark(args.input, bundle, args.out, args.errors or f"{args.out.rstrip('/')}-errors",
                            spark=spark, input_format=args.input_format,
                            rows_per_partition=args.rows_per_partition, overwrite=args.overwrite)
    except BatchInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
