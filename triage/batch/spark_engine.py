"""``triage batch --engine spark``: the same routing step run on Spark executors.

How the work is laid out (and why):

* **mapInArrow over the loaded router.** Each Python worker loads the router bundle (and its
  coder) once, then routes whole Arrow record batches with ``route_many``, the step the pandas
  engine runs; rows cross the JVM/Python boundary as Arrow with no pandas conversion.
  ``benchmarks/bench_batch.py`` measured this against ``mlflow.pyfunc.spark_udf`` over the
  registered pyfunc and against ``mapInPandas`` (figures in the README). ``method="pandas"``
  and ``method="udf"`` remain available for comparison.
* **The bundle travels with the job** (``SparkContext.addArchive``): executors need the
  project's Python environment, not access to the MLflow server or the driver's disk.
* **One pass over the input, nothing collected to the driver** but counts. Duplicate ids are
  found with one aggregation over ``episode_id`` and flagged with a join. The routing pass
  writes the decisions with Spark's own writer; the task that rejects rows writes them to one
  Parquet file per input partition (``part-<partition>.parquet``, written whole and renamed into
  place, so a retried or speculative attempt rewrites the same rows instead of adding to them),
  moved to ``--errors`` when the job succeeds. Keeping both kinds of rows for a second pass
  (``persist(DISK_ONLY)``, the first design) cost about a third of the JVM's CPU time and made
  Spark on two cores slower than the pandas engine on one (``benchmarks/bench_batch.py``).
* **Partitions are sized from the input**: about ``rows_per_partition`` rows each (fewer for
  episodes with notes), at least two per core, by setting the file split size from the input's
  bytes (no shuffle); an input that cannot be split that finely (few Parquet row groups, CSV with
  multi-line notes) is repartitioned.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from triage.batch.io import COMPLETE, OLD, PARTIAL, RUNNING, format_of, list_inputs, run_marker, writer_alive
from triage.decisions.batch import route_batch
from triage.decisions.episodes import INPUT_COLUMNS, check_columns
from triage.decisions.errors import BatchInputError, rejected_table
from triage.decisions.rows import output_schema

log = logging.getLogger("triage.batch")

DUPLICATE = "_duplicate"
SOURCE = "_source"
#: Rows per partition: score-only episodes, and episodes whose notes the coder reads.
ROWS_PER_PARTITION = 50_000
ROWS_PER_PARTITION_TEXT = 5_000
METHODS = ("arrow", "pandas", "udf")
#: JVM options of a local master (see :func:`spark_session`).
LOCAL_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


# ----------------------------------------------------------------------- session
def spark_session(master: str | None = "local[*]", app_name: str = "triage-batch",
                  conf: dict[str, str] | None = None) -> Any:
    """A SparkSession for batch routing (``master=None``: whatever spark-submit configured).

    One thread per task for OpenMP/torch in the workers: Spark already runs one task per core.
    On a ``local`` master the JVM shares the cores with the Python workers that do the routing
    and only moves bytes, so it runs with the C1 compiler alone and the serial collector
    (:data:`LOCAL_JVM_OPTIONS`): on 200,000 episodes that halved the JVM's CPU time (29.7 to
    15.0 CPU-seconds) and cut the job from 43 s to 37 s on 2 cores. A cluster's JVMs keep
    their own settings; ``conf`` overrides any of these.
    """
    from pyspark.sql import SparkSession

    local = bool(master) and master.startswith("local")
    if local:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    settings = {
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.executorEnv.OMP_NUM_THREADS": "1",
        "spark.executorEnv.MKL_NUM_THREADS": "1",
        **({"spark.driver.extraJavaOptions": LOCAL_JVM_OPTIONS} if local else {}),
        **(conf or {}),
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


# ----------------------------------------------------------------------- schemas
def _spark_type(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "bigint"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_boolean(t):
        return "boolean"
    return "string"


def _ddl(schema: pa.Schema) -> str:
    return ", ".join(f"`{f.name}` {_spark_type(f.type)}" for f in schema)


# ----------------------------------------------------------------------- workers
_ROUTERS: dict[str, Any] = {}
_LOADS: Counter[str] = Counter()


def worker_router(bundle_ref: str) -> Any:
    """The router of ``bundle_ref``, loaded once per Python worker process and kept."""
    router = _ROUTERS.get(bundle_ref)
    if router is None:
        from triage.batch.model import load_batch_router
        from triage.router import bundle_dir

        path = bundle_ref
        if not os.path.isdir(path):
            from pyspark import SparkFiles

            path = SparkFiles.get(bundle_ref)
        from pyspark import TaskContext

        ctx = TaskContext.get()
        cores = max(1, int(ctx.cpus()) if ctx is not None else 1)
        router = _ROUTERS[bundle_ref] = load_batch_router(bundle_dir(path), cores=cores)
        _LOADS[bundle_ref] += 1
    return router


def _with_sources(rejects: list, sources: list | None, first_row: int) -> list:
    if sources is None:
        return rejects
    return [replace(r, source=sources[r.row - first_row]) for r in rejects]


def route_arrow_batches(batches: Iterator[pa.RecordBatch], bundle_ref: str, id_type: pa.DataType,
                        partition: int, rejects_dir: str | None = None) -> Iterator[pa.RecordBatch]:
    """Route a partition's Arrow batches; yields decision batches (``rows.output_schema``).

    The partition's rejected rows are written, once the partition is done, to
    ``rejects_dir/part-<partition>.parquet`` (see :func:`write_partition_rejects`).
    """
    router = worker_router(bundle_ref)
    row = 0
    rejected: list = []
    for batch in batches:
        names = batch.schema.names
        dup = batch.column(DUPLICATE).to_pylist() if DUPLICATE in names else None
        if dup is not None:
            dup = [bool(d) for d in dup]
        sources = batch.column(SOURCE).to_pylist() if SOURCE in names else None
        decisions, rejects = route_batch(router, batch, first_row=row, partition=partition, duplicate=dup,
                                         episode_id_type=id_type)
        rejected += _with_sources(rejects, sources, row)
        row += batch.num_rows
        yield from decisions.to_batches()
    if rejected and rejects_dir is not None:
        write_partition_rejects(rejects_dir, partition, rejected_table(rejected))


def write_partition_rejects(rejects_dir: str, partition: int, table: pa.Table) -> str:
    """Write one partition's rejected rows as ``part-<partition>.parquet`` under ``rejects_dir``.

    Written to a temporary name and renamed, so a reader never sees half a file; the name is
    the partition's, so a retried or speculative attempt replaces the same rows (routing is
    deterministic) instead of duplicating them.
    """
    fs, root = worker_filesystem(rejects_dir)
    final = f"{root}/part-{partition:05d}.parquet"
    tmp = f"{root}/.tmp-{partition:05d}-{uuid.uuid4().hex[:8]}.parquet"
    import pyarrow.parquet as pq

    with fs.open_output_stream(tmp) as sink:
        pq.write_table(table, sink)
    fs.move(tmp, final)
    return final


def worker_filesystem(uri: str) -> tuple[Any, str]:
    """A pyarrow filesystem and path for a Hadoop-qualified URI (``file:/``, ``hdfs://``, ``s3a://``,
    ``gs://``, ``dbfs:/``), as Spark's own writer would resolve it."""
    from pyarrow import fs

    if uri.startswith("file:") or "://" not in uri and not uri.startswith("dbfs:"):
        path = uri.removeprefix("file://").removeprefix("file:")
        return fs.LocalFileSystem(), "/" + path.lstrip("/") if uri.startswith("file:") else path
    if uri.startswith("dbfs:"):  # Databricks mounts DBFS on every node
        return fs.LocalFileSystem(), "/dbfs/" + uri.removeprefix("dbfs:").lstrip("/")
    if uri.startswith(("s3a://", "s3n://")):
        uri = "s3://" + uri.split("://", 1)[1]
    return fs.FileSystem.from_uri(uri)


def _arrow_mapper(bundle_ref: str, id_type: pa.DataType, rejects_dir: str):
    def fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        yield from route_arrow_batches(batches, bundle_ref, id_type, ctx.partitionId() if ctx else 0, rejects_dir)

    return fn


def _pandas_mapper(bundle_ref: str, id_type: pa.DataType, rejects_dir: str):
    def fn(frames: Iterator[Any]) -> Iterator[Any]:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        batches = (pa.RecordBatch.from_pandas(f, preserve_index=False) for f in frames)
        for out in route_arrow_batches(batches, bundle_ref, id_type, ctx.partitionId() if ctx else 0,
                                       rejects_dir):
            yield out.to_pandas()

    return fn


# ----------------------------------------------------------------------- input
def read_input(spark: Any, path: str, input_format: str = "auto") -> tuple[Any, str]:
    """The input as a DataFrame and its format; BatchInputError names the path when unreadable."""
    fmt = input_format
    if fmt == "auto":
        fmt = _guess_format(path)
    reader = spark.read
    try:
        if fmt == "csv":
            # RFC 4180 quoting ("" inside a quoted field, as pandas and spreadsheets write) and notes
            # with line breaks; every column read as text, typed per row like the pandas engine
            df = (reader.option("header", "true").option("inferSchema", "false").option("escape", '"')
                  .option("multiLine", "true").csv(path))
        elif fmt == "delta":
            df = reader.format("delta").load(path)
        elif fmt == "parquet":
            nanos = _nanosecond_timestamp_columns(path)
            if nanos:
                # pandas < 3 writes datetimes as TIMESTAMP(NANOS), a type Spark refuses: read them as
                # the integers they are and turn them back into microsecond timestamps
                spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
            df = reader.parquet(path)
            if nanos:
                from pyspark.sql import functions as F

                df = df.select(*[
                    F.expr(f"timestamp_micros(`{c}` div 1000)").alias(c) if c in nanos else F.col(f"`{c}`")
                    for c in df.columns])
        else:
            raise BatchInputError(f"unknown input format {input_format!r} (parquet, csv, delta)")
    except BatchInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - Spark raises many kinds; the message names the path
        raise BatchInputError(f"{path}: cannot read as {fmt}: {_first_line(exc)}") from None
    check_columns(df.columns, source=path)
    return df, fmt


def _nanosecond_timestamp_columns(path: str) -> set[str]:
    """Columns stored as nanosecond timestamps in a local Parquet input (read from the footer of
    its first file; another file system's inputs are read as they are)."""
    if "://" in path and not path.startswith("file:"):
        return set()
    try:
        first = list_inputs(path.removeprefix("file://")).files[0]
        import pyarrow.parquet as pq

        schema = pq.read_schema(first)
    except Exception:  # noqa: BLE001 - unreadable here: Spark's own read names the problem
        return set()
    return {f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.unit == "ns"}


def _guess_format(path: str) -> str:
    if "://" not in path or path.startswith("file:"):
        local = Path(path.removeprefix("file://"))
        if (local / "_delta_log").is_dir():
            return "delta"
        if local.is_dir():
            return list_inputs(local).format
    return "csv" if format_of(path.rstrip("/")) == "csv" else "parquet"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:500] if text else type(exc).__name__


def _input_bytes(spark: Any, path: str) -> int | None:
    try:
        jvm = spark.sparkContext._jvm
        p = jvm.org.apache.hadoop.fs.Path(path)
        fs = p.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        return int(fs.getContentSummary(p).getLength())
    except Exception:  # noqa: BLE001 - sizing is an optimisation; Spark's default splits still work
        return None


def plan_partitions(n_rows: int, parallelism: int, rows_per_partition: int) -> int:
    """Partitions for ``n_rows``: about ``rows_per_partition`` each, at least two per core."""
    return max(2 * parallelism, math.ceil(n_rows / max(1, rows_per_partition)), 1)


# ----------------------------------------------------------------------- the job
def run_spark(
    input_path: str,
    bundle: str | Path,
    output: str,
    errors: str,
    *,
    spark: Any = None,
    master: str | None = "local[*]",
    input_format: str = "auto",
    rows_per_partition: int | None = None,
    overwrite: bool = False,
    method: str = "arrow",
    model_uri: str | None = None,
) -> dict[str, Any]:
    """Route every episode of ``input_path`` on Spark into ``output``; rejected rows to ``errors``.

    ``method``: ``"arrow"`` (mapInArrow, the default), ``"pandas"`` (mapInPandas) or ``"udf"``
    (``mlflow.pyfunc.spark_udf`` over the pyfunc; no row-level rejects: a bad row fails the job).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    t0 = time.perf_counter()
    spark = spark or spark_session(master)
    _clean_stale(spark, output, errors)
    _check_spark_output(spark, output, overwrite)
    _check_spark_output(spark, errors, overwrite)
    router = _bundle_facts(bundle)  # the driver needs only versions and has_coder, not the model
    df, fmt = _scan(spark, input_path, input_format)
    saved = spark.conf.get(SPLIT_BYTES, None)
    try:
        return _route(spark, df, fmt, input_path, bundle, output, errors, overwrite, method, model_uri,
                      rows_per_partition, router, t0)
    except (BatchInputError, ValueError):
        raise
    except Exception as exc:  # noqa: BLE001 - Spark's errors: keep the one line that names the file
        raise _job_error(exc, input_path) from None
    finally:
        if saved is None:
            spark.conf.unset(SPLIT_BYTES)
        else:
            spark.conf.set(SPLIT_BYTES, saved)


SPLIT_BYTES = "spark.sql.files.maxPartitionBytes"


def _scan(spark: Any, input_path: str, input_format: str) -> tuple[Any, str]:
    """The input's routing columns and the file each row came from."""
    df, fmt = read_input(spark, input_path, input_format)
    keep = [c for c in INPUT_COLUMNS if c in df.columns]
    return df.select(*keep, _source_column(df)), fmt


def _route(spark, df, fmt, input_path, bundle, output, errors, overwrite, method, model_uri,
           rows_per_partition, router, t0) -> dict[str, Any]:
    from pyspark.sql import functions as F

    from triage.batch.pandas_engine import summary

    keep = [c for c in INPUT_COLUMNS if c in df.columns]
    scan_parts = df.rdd.getNumPartitions()  # a plain file scan: planning only, no job

    # one aggregation over the ids: rows, duplicated ids, and (CSV) whether ids are integers
    id_dtype = dict(df.dtypes)["episode_id"]
    typed_ints = id_dtype in ("tinyint", "smallint", "int", "bigint")
    by_id = df.groupBy("episode_id").count()
    non_int = (F.lit(0) if id_dtype != "string" else  # only text ids (CSV) can turn out to be integers
               F.when(F.col("episode_id").isNotNull() & ~F.col("episode_id").rlike(r"^-?[0-9]{1,18}$"), 1).otherwise(0))
    facts = by_id.agg(
        F.sum("count").alias("rows"),
        F.sum(F.when(F.col("episode_id").isNotNull() & (F.col("count") > 1), 1).otherwise(0)).alias("dup_ids"),
        F.sum(non_int).alias("non_int"),
    ).collect()[0]
    n_rows = int(facts["rows"] or 0)
    integer_ids = typed_ints or (id_dtype == "string" and n_rows > 0 and int(facts["non_int"] or 0) == 0)
    id_type = pa.int64() if integer_ids else pa.string()

    # partitions sized from the input: file splits of input bytes / partitions wanted (no shuffle);
    # a repartition only when the files cannot be split that finely (few row groups, one CSV)
    has_text = "text" in keep and router.has_coder
    per_part = rows_per_partition or (ROWS_PER_PARTITION_TEXT if has_text else ROWS_PER_PARTITION)
    n_parts = plan_partitions(n_rows, spark.sparkContext.defaultParallelism, per_part)

    def fits(parts: int) -> bool:
        return n_parts // 2 + 1 <= parts <= 4 * n_parts

    total = None if fits(scan_parts) or fmt == "csv" else _input_bytes(spark, input_path)
    if total:
        spark.conf.set(SPLIT_BYTES, str(max(1 << 20, math.ceil(total / n_parts))))
        df, _ = _scan(spark, input_path, fmt)
        scan_parts = df.rdd.getNumPartitions()
    if fits(scan_parts):
        n_parts = scan_parts
    else:
        df = df.repartition(n_parts)

    df = df.withColumn("episode_id", F.col("episode_id").cast("bigint" if integer_ids else "string"))
    if int(facts["dup_ids"] or 0):  # few ids: a broadcast join, the partitions stay as they are
        dups = (by_id.where(F.col("count") > 1).select(F.col("episode_id").cast(df.schema["episode_id"].dataType))
                .withColumn(DUPLICATE, F.lit(True)))
        if int(facts["dup_ids"]) <= 1_000_000:
            dups = F.broadcast(dups)
        df = df.join(dups, on="episode_id", how="left")

    if method == "udf":
        return _run_udf(spark, df, keep, bundle, model_uri, output, errors, overwrite, router, t0, n_rows,
                        input_path, n_parts)

    bundle_ref = _distribute(spark, bundle)
    schema = output_schema(id_type)
    run = uuid.uuid4().hex[:8]
    decided, rejects = _Staging(spark, output, run), _Staging(spark, errors, run)
    mapper = _arrow_mapper if method == "arrow" else _pandas_mapper
    mapping = df.mapInArrow if method == "arrow" else df.mapInPandas
    mapped = mapping(mapper(bundle_ref, id_type, rejects.uri), _ddl(schema))
    try:
        # into the staging folder that holds only _RUNNING: nothing is at `output` until the end
        mapped.write.mode("append").parquet(decided.uri)
        decided.complete()
        rejects.complete(rejected_table([]))
        rejects.finish(overwrite)
        decided.finish(overwrite)  # the result takes its name last
    except BaseException:
        decided.abort()
        rejects.abort()
        raise
    # counts of what was written: one column of each dataset read back
    routes = Counter({r["route"]: int(r["count"])
                      for r in spark.read.parquet(output).groupBy("route").count().collect()})
    rejected = Counter({r["column"]: int(r["count"])
                        for r in spark.read.parquet(errors).groupBy("column").count().collect()})
    return summary("spark", input_path, output, errors, n_rows, routes, rejected, time.perf_counter() - t0,
                   router, method=method, partitions=n_parts, master=spark.sparkContext.master)


class _Staging:
    """A dataset's folder while the job runs (``<dest>.partial-<run>``, with ``_RUNNING`` naming
    the driver), moved to ``dest`` once the job succeeded and the completion marker is in it; on
    failure it is removed, and one a killed driver left is removed by the next run
    (:meth:`clean_stale`). Paths go through Hadoop's FileSystem, as Spark's own writer does, so
    the same code serves local disks, HDFS and S3 (where a rename is a copy: not atomic, but the
    marker is written before it)."""

    def __init__(self, spark: Any, dest: str, run: str | None = None) -> None:
        jvm = spark.sparkContext._jvm
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._jvm = jvm
        self._Path = jvm.org.apache.hadoop.fs.Path
        dest_path = self._Path(dest)
        self.fs = dest_path.getFileSystem(conf)
        self.dest = self.fs.makeQualified(dest_path)
        self.path = self.uri = None
        if run is not None:  # None: only to clean what earlier runs left
            self.path = self._Path(self.dest.toString().rstrip("/") + PARTIAL + run)
            self.fs.mkdirs(self.path)
            self._write(self._Path(self.path, RUNNING), run_marker())
            self.uri = self.path.toString()

    def _write(self, path: Any, data: bytes) -> None:
        out = self.fs.create(path, True)
        try:
            out.write(bytearray(data))
        finally:
            out.close()

    def clean_stale(self) -> list[str]:
        """Remove ``<dest>.partial-*`` folders of killed runs and ``<dest>.old-*`` folders."""
        parent, name = self.dest.getParent(), self.dest.getName()
        removed = []
        if parent is None or not self.fs.exists(parent):
            return removed
        for status in self.fs.listStatus(parent):
            p = status.getPath()
            rest = p.getName()[len(name):] if p.getName().startswith(name) else ""
            if not status.isDirectory() or (self.path is not None and p.equals(self.path)) \
                    or not rest.startswith((PARTIAL, OLD)):
                continue
            if rest.startswith(PARTIAL):
                marker = self._Path(p, RUNNING)
                data = None
                if self.fs.exists(marker):
                    stream = self.fs.open(marker)
                    try:
                        data = bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
                    finally:
                        stream.close()
                if writer_alive(data):
                    continue
            self.fs.delete(p, True)
            removed.append(p.toString())
        return removed

    def complete(self, empty_schema: pa.Table | None = None) -> None:
        """Every row is in: write the completion marker (and an empty file for an empty dataset)."""
        import pyarrow.parquet as pq

        has_data = any(st.getPath().getName().endswith(".parquet") for st in self.fs.listStatus(self.path))
        if not has_data and empty_schema is not None:  # an empty dataset still has its schema
            fs, root = worker_filesystem(self.uri)
            with fs.open_output_stream(f"{root}/part-00000.parquet") as sink:
                pq.write_table(empty_schema, sink)
        self.fs.delete(self._Path(self.path, "_temporary"), True)
        self.fs.delete(self._Path(self.path, RUNNING), False)
        self._write(self._Path(self.path, COMPLETE), b"")

    def finish(self, overwrite: bool) -> None:
        """Move the complete staging folder to its name (replacing the old one with --overwrite)."""
        if self.fs.exists(self.dest):
            if not overwrite:
                raise BatchInputError(f"{self.dest.toString()}: output exists; pass --overwrite to replace it")
            old = self._Path(self.dest.toString().rstrip("/") + OLD + uuid.uuid4().hex[:8])
            if not self.fs.rename(self.dest, old):
                raise OSError(f"could not move the old {self.dest.toString()} aside")
            self._rename()
            self.fs.delete(old, True)
        else:
            self._rename()

    def _rename(self) -> None:
        if not self.fs.rename(self.path, self.dest):
            raise OSError(f"could not move {self.uri} to {self.dest.toString()}")

    def abort(self) -> None:
        try:
            self.fs.delete(self.path, True)
        except Exception:  # noqa: BLE001 - best effort; the job's own error is the one to report
            log.warning("could not remove %s", self.uri)


def _clean_stale(spark: Any, *dests: str) -> None:
    """Remove what killed runs left beside the outputs (no JVM access: left to the operator)."""
    for dest in dests:
        try:
            staging = _Staging(spark, dest)
        except Exception:  # noqa: BLE001 - Spark Connect: no Hadoop FileSystem from Python
            return
        for stale in staging.clean_stale():
            log.warning("removed %s, left by an interrupted run", stale)


def _bundle_facts(bundle: str | Path) -> Any:
    """Model and policy versions and whether a coder is bundled, from the manifest alone."""
    import json
    from types import SimpleNamespace

    from triage.router import MANIFEST

    path = Path(bundle) / MANIFEST
    if not path.is_file():
        raise BatchInputError(f"{bundle}: not a router bundle (no {MANIFEST})")
    m = json.loads(path.read_text())
    return SimpleNamespace(model_version=m.get("model_version"), has_coder=bool(m.get("has_coder")),
                           policy=SimpleNamespace(version=(m.get("policy") or {}).get("version")))


def _source_column(df: Any) -> Any:
    from pyspark.sql import functions as F

    try:
        return F.col("_metadata.file_path").alias(SOURCE)
    except Exception:  # noqa: BLE001 - not a file source
        return F.lit(None).cast("string").alias(SOURCE)


def _job_error(exc: BaseException, input_path: str) -> BaseException:
    """A Spark failure as a BatchInputError naming the file, when the input caused it."""
    lines = [line.strip() for line in str(exc).splitlines()]
    for line in lines:  # the Python worker's own error, when there is one
        if "BatchInputError" in line or "FileNotFoundError" in line:
            return BatchInputError(line[:500])
    for line in lines:  # Spark's file errors name the file and the column
        if "FAILED_READ_FILE" in line or "reading file" in line or "PATH_NOT_FOUND" in line:
            detail = line.split("Exception: ", 1)[-1]
            return BatchInputError(f"{input_path}: Spark could not read the input: {detail[:600]}")
    return exc


def _check_spark_output(spark: Any, path: str, overwrite: bool) -> None:
    if overwrite:
        return
    try:
        jvm = spark.sparkContext._jvm
        p = jvm.org.apache.hadoop.fs.Path(path)
        if p.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(p):
            raise BatchInputError(f"{path}: output exists; pass --overwrite to replace it")
    except BatchInputError:
        raise
    except Exception:  # noqa: BLE001 - no JVM access (Spark Connect): the writer refuses instead
        return


def worker_loads(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """A mapInArrow probe: this Python worker's pid and the most times it loaded any one bundle
    (1: loaded once and kept, however many partitions the worker ran)."""
    for _ in batches:
        pass
    yield pa.RecordBatch.from_pydict({"pid": [os.getpid()], "loads": [max(_LOADS.values(), default=0)]})


_DISTRIBUTED: dict[tuple[int, str], str] = {}


def _distribute(spark: Any, bundle: str | Path) -> str:
    """Ship the bundle to every executor once per SparkContext; returns the name workers load."""
    sc = spark.sparkContext
    key = (id(sc), str(Path(bundle).resolve()))
    if key in _DISTRIBUTED:
        return _DISTRIBUTED[key]
    name = f"triage-router-{uuid.uuid4().hex[:12]}"
    staging = Path(tempfile.mkdtemp(prefix="triage-batch-"))
    archive = shutil.make_archive(str(staging / name), "zip", root_dir=str(bundle))
    sc.addArchive(archive)
    _DISTRIBUTED[key] = Path(archive).name
    return Path(archive).name


# ----------------------------------------------------------------------- spark_udf (measured)
def _run_udf(spark, df, keep, bundle, model_uri, output, errors, overwrite, router, t0, n_rows, input_path,
             n_parts) -> dict[str, Any]:
    """``mlflow.pyfunc.spark_udf`` over the pyfunc model: the MLflow-native way, kept to compare."""
    import mlflow
    from pyspark.sql import functions as F

    from triage.batch.pandas_engine import summary

    uri = model_uri or _pyfunc_dir(bundle)
    udf = mlflow.pyfunc.spark_udf(spark, uri, env_manager="local")
    cols = [c for c in keep if c in {i.name for i in udf.metadata.get_input_schema().inputs}]
    out = df.select(udf(F.struct(*cols)).alias("d")).select("d.*")
    staging = _Staging(spark, output, uuid.uuid4().hex[:8])
    try:  # committed as the default method's output is: staged, marked, renamed
        out.write.mode("append").parquet(staging.uri)
        staging.complete()
        staging.finish(overwrite)
    except BaseException:
        staging.abort()
        raise
    counts = spark.read.parquet(output).groupBy("route").count().collect()
    routes = Counter({r["route"]: int(r["count"]) for r in counts})
    return summary("spark", input_path, output, errors, n_rows, routes, Counter(), time.perf_counter() - t0,
                   router, method="udf", partitions=n_parts, master=spark.sparkContext.master)


def _pyfunc_dir(bundle: str | Path) -> str:
    """Save the bundle as the project's pyfunc model (models-from-code) in a temporary folder."""
    import mlflow

    from triage.tracking.registry import MODEL_CODE, ROUTER_ARTIFACT, model_signature

    dest = Path(tempfile.mkdtemp(prefix="triage-pyfunc-")) / "model"
    mlflow.pyfunc.save_model(
        path=str(dest), python_model=str(MODEL_CODE), artifacts={ROUTER_ARTIFACT: str(bundle)},
        signature=model_signature(), pip_requirements=[f"mlflow=={mlflow.__version__}", "coding-triage"],
    )
    return str(dest)
