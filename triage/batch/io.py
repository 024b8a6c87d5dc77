"""Batch input and output: Parquet files, Parquet dataset directories and CSV, read in chunks.

Input is streamed: a Parquet file is read one ``chunk_rows`` batch at a time (only the columns
the router reads), a CSV file one block at a time, so memory stays bounded whatever the input
size. Before routing, the ``episode_id`` column alone is read once to find duplicate ids (every
copy is rejected) and to fix the output's id type. Output is a Parquet dataset directory written
under a temporary name and moved into place when complete.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from triage.decisions.episodes import INPUT_COLUMNS, check_columns
from triage.decisions.errors import BatchInputError
from triage.decisions.rows import STRING
from triage.decisions.validation import EPISODE_ID_BOUND

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2")
#: Bytes per CSV read block (the CSV reader's unit of streaming).
CSV_BLOCK_BYTES = 8 << 20


@dataclass(frozen=True)
class Inputs:
    """The files of one batch input, all of one format."""

    root: str
    format: str  # "parquet" | "csv"
    files: tuple[str, ...]


def _hidden(path: Path, root: Path) -> bool:
    """Files and folders starting with '_' or '.' are metadata, not data (as Spark and Hive read)."""
    return any(part.startswith(("_", ".")) for part in path.relative_to(root).parts)


def format_of(name: str) -> str | None:
    """'parquet' or 'csv' from a file name's suffix, None for anything else."""
    low = name.lower()
    if low.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if low.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def list_inputs(path: str | Path) -> Inputs:
    """The data files of a Parquet/CSV file or of a directory of them (a Parquet dataset)."""
    p = Path(path)
    if not p.exists():
        raise BatchInputError(f"{p}: input not found")
    if p.is_file():
        fmt = format_of(p.name)
        if fmt is None:
            raise BatchInputError(f"{p}: unknown input format (expected {', '.join(PARQUET_SUFFIXES + CSV_SUFFIXES)})")
        return Inputs(str(p), fmt, (str(p),))
    if (p / "_delta_log").is_dir():
        raise BatchInputError(
            f"{p}: a Delta table; read it with --engine spark on a cluster with Delta Lake, "
            "or export it to Parquet first (its directory holds files that are no longer part of the table)"
        )
    files = sorted(f for f in p.rglob("*") if f.is_file() and not _hidden(f, p))
    by_format: dict[str, list[str]] = {}
    for f in files:
        fmt = format_of(f.name)
        if fmt is not None:
            by_format.setdefault(fmt, []).append(str(f))
    if not by_format:
        raise BatchInputError(f"{p}: no Parquet or CSV files in this directory")
    if len(by_format) > 1:
        raise BatchInputError(f"{p}: mixes Parquet and CSV files; give one format per input")
    fmt, found = next(iter(by_format.items()))
    return Inputs(str(p), fmt, tuple(found))


def _csv_reader(path: str, columns: list[str] | None, types: dict[str, pa.DataType],
                ragged: list[tuple[int, int, int]] | None = None) -> pacsv.CSVStreamingReader:
    found = ragged if ragged is not None else []

    def skip(row: pacsv.InvalidRow) -> str:  # a row with too few or too many fields: set aside
        found.append((row.number if row.number is not None else -1, row.expected_columns, row.actual_columns))
        return "skip"

    return pacsv.open_csv(
        path,
        # one thread: the row numbers of skipped rows are known only to a serial parser
        read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES, use_threads=False),
        parse_options=pacsv.ParseOptions(newlines_in_values=True,
                                         invalid_row_handler=skip),
        convert_options=pacsv.ConvertOptions(
            column_types=types, include_columns=columns, strings_can_be_null=True,
        ),
    )


def arrow_message(exc: BaseException) -> str:
    """An Arrow reader error without the row text or values it may quote ("Expected 3 columns,
    got 4: <the row>", "invalid value '<text>'")."""
    text = (str(exc).splitlines() or [type(exc).__name__])[0]
    m = re.match(r"^(.*?Expected \d+ columns, got \d+)", text)
    if m:
        return m.group(1)
    return _QUOTED.sub("<value>", text)[:200]


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def file_columns(path: str, fmt: str) -> list[str]:
    """Column names of one input file; BatchInputError names the file when it cannot be read."""
    try:
        if fmt == "parquet":
            return list(pq.read_schema(path).names)
        return list(_csv_reader(path, None, {}).schema.names)
    except UnicodeDecodeError:
        raise BatchInputError(f"{path}: the header (line 1) is not UTF-8 text; write the file as UTF-8") from None
    except (pa.ArrowException, OSError) as exc:
        raise BatchInputError(f"{path}: cannot read as {fmt.upper()}: {arrow_message(exc)}") from None


def routing_columns(path: str, fmt: str) -> list[str]:
    """The columns of ``path`` the router reads; raises when a required one is missing."""
    names = file_columns(path, fmt)
    check_columns(names, source=path)
    return [c for c in INPUT_COLUMNS if c in names]


def _csv_types(columns: list[str]) -> dict[str, pa.DataType]:
    # every routing column as bytes: a value of the wrong type or not valid UTF-8 is then one
    # rejected row (named by row and column), not a file the CSV reader refuses half-way through
    return {c: pa.binary() for c in columns}


def _decoded(col: pa.Array, target: pa.DataType | None = None) -> pa.Array:
    """A CSV column read as bytes, as text (and as ``target``, e.g. int64 ids) when every value
    decodes; else left as bytes, so the rows that do not decode are rejected one by one."""
    try:
        col = col.cast(pa.string())
    except pa.ArrowInvalid:
        return col
    if target is not None and target != pa.string():
        try:
            return col.cast(target)
        except pa.ArrowInvalid:
            return col
    return col


def iter_batches(path: str, fmt: str, chunk_rows: int, id_type: pa.DataType = STRING,
                 ragged: list[tuple[int, int, int]] | None = None) -> Iterator[pa.RecordBatch]:
    """The router's columns of ``path``, ``chunk_rows`` rows at a time (CSV: one read block).

    CSV rows with the wrong number of fields are skipped and appended to ``ragged`` as
    (row number counting the header as 1, fields expected, fields found)."""
    columns = routing_columns(path, fmt)
    try:
        if fmt == "parquet":
            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows, columns=columns):
                check_id_type(batch.schema.field("episode_id").type, path)
                yield batch
        else:
            for batch in _csv_reader(path, columns, _csv_types(columns), ragged):
                yield pa.RecordBatch.from_arrays(
                    [_decoded(batch.column(i), id_type if name == "episode_id" else None)
                     for i, name in enumerate(batch.schema.names)], names=batch.schema.names)
    except (pa.ArrowException, OSError) as exc:
        raise BatchInputError(f"{path}: cannot read as {fmt.upper()}: {arrow_message(exc)}") from None


def check_id_type(t: pa.DataType, path: str) -> None:
    """Ids are integers or strings (a float column is checked value by value); anything else
    (lists, structs, binary) stops the job naming the file and the column."""
    if not (pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t)
            or pa.types.is_floating(t) or pa.types.is_null(t) or pa.types.is_dictionary(t)):
        raise BatchInputError(f"{path}: column 'episode_id' has type {t}; ids must be integers or strings")


def _normal_ids(col: pa.ChunkedArray, path: str) -> pa.ChunkedArray:
    """One file's ids as int64 (integer columns, integral floats) or string, whatever the width."""
    t = col.type
    check_id_type(t, path)
    if pa.types.is_dictionary(t):
        col, t = col.cast(t.value_type), t.value_type
        check_id_type(t, path)
    if pa.types.is_integer(t) or pa.types.is_null(t):
        return col.cast(pa.int64())
    if pa.types.is_floating(t):
        # an id that is no exact integer is rejected row by row later; it takes part in no duplicate
        ok = pc.and_(pc.equal(pc.floor(col), col), pc.less_equal(pc.abs(col), float(EPISODE_ID_BOUND)))
        return pc.if_else(ok, col, None).cast(pa.int64())
    return col.cast(pa.string())


@dataclass(frozen=True)
class IdFacts:
    """What the pre-pass over ``episode_id`` found: the output id type and the duplicated ids."""

    id_type: pa.DataType
    duplicates: pa.Array
    n_rows: int


def scan_ids(inputs: Inputs) -> IdFacts:
    """Read only ``episode_id`` of every file: duplicated ids and whether ids are integers.

    Files may differ in the id's width (int32 / int64) or kind (integers in one, strings in
    another: all are then compared as strings)."""
    columns: list[pa.ChunkedArray] = []
    for path in inputs.files:
        routing_columns(path, inputs.format)  # the missing-column check names this file
        try:
            if inputs.format == "parquet":
                col = _normal_ids(pq.read_table(path, columns=["episode_id"]).column("episode_id"), path)
            else:
                raw = pacsv.read_csv(
                    path, parse_options=pacsv.ParseOptions(newlines_in_values=True,
                                                           invalid_row_handler=lambda row: "skip"),
                    convert_options=pacsv.ConvertOptions(
                        include_columns=["episode_id"], column_types={"episode_id": pa.binary()},
                        strings_can_be_null=True)).column("episode_id")
                col = pa.chunked_array([_text_or_null(c) for c in raw.chunks], pa.string())
        except (pa.ArrowException, OSError) as exc:
            raise BatchInputError(f"{path}: cannot read as {inputs.format.upper()}: {arrow_message(exc)}") from None
        columns.append(col)
    kinds = {c.type for c in columns}
    text_ids = pa.string() in kinds
    chunks = [chunk for c in columns for chunk in (c.cast(pa.string()) if text_ids else c).chunks]
    ids = pa.chunked_array(chunks, pa.string() if text_ids or not chunks else pa.int64())
    if pa.types.is_integer(ids.type) or (inputs.format == "csv" and _all_integers(ids)):
        id_type = pa.int64()
    else:
        id_type = pa.string()
    ids = ids.cast(id_type)
    counts = pc.value_counts(ids.drop_null()) if len(ids) else None
    if counts is None or len(counts) == 0:
        dups = pa.array([], id_type)
    else:
        dups = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    return IdFacts(id_type, dups, len(ids))


def _text_or_null(col: pa.Array) -> pa.Array:
    """Bytes as text; a value that is not UTF-8 becomes null (its row is rejected later)."""
    try:
        return col.cast(pa.string())
    except pa.ArrowInvalid:
        values = []
        for v in col.to_pylist():
            try:
                values.append(None if v is None else v.decode("utf-8"))
            except UnicodeDecodeError:
                values.append(None)
        return pa.array(values, pa.string())


def _all_integers(ids: pa.ChunkedArray) -> bool:
    present = ids.drop_null()
    return len(present) > 0 and bool(pc.all(pc.match_substring_regex(present, r"^-?[0-9]{1,18}$")).as_py())


def duplicate_mask(batch: pa.RecordBatch, duplicates: pa.Array) -> list[bool] | None:
    """Row i is True when its id occurs more than once in the whole input (None: no duplicates)."""
    if len(duplicates) == 0:
        return None
    ids = batch.column("episode_id")
    if pa.types.is_binary(ids.type):  # a CSV block with an id that is not UTF-8
        ids = _text_or_null(ids)
    if ids.type != duplicates.type:
        ids = _normal_ids(pa.chunked_array([ids]), "input")
        if ids.type != duplicates.type:
            ids = ids.cast(duplicates.type)
    return pc.fill_null(pc.is_in(ids, value_set=duplicates), False).to_pylist()


#: Staging folders of a run: ``<dest>.partial-<run>`` while it writes, ``<dest>.old-<run>`` while
#: an ``--overwrite`` swaps it in. Neither is ever a result.
PARTIAL = ".partial-"
OLD = ".old-"
#: The completion marker: written into a dataset when every row is in it, before it is moved to
#: its name (Spark and Hadoop write and check the same file). :func:`read_output` requires it.
COMPLETE = "_SUCCESS"
#: Who is writing a staging folder (host, pid): the next run removes a staging folder whose
#: writer is gone, and leaves one whose writer still runs.
RUNNING = "_RUNNING"


def run_marker() -> bytes:
    import json
    import socket
    import time

    return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}).encode()


def writer_alive(marker: bytes | None) -> bool:
    """Whether the run that wrote ``marker`` may still be running (another host: assumed so)."""
    import json
    import socket

    try:
        info = json.loads(marker) if marker else None
    except ValueError:
        info = None
    if not isinstance(info, dict) or not isinstance(info.get("pid"), int):
        return False  # no readable marker: the run died before writing it, or it is not ours
    if info.get("host") != socket.gethostname():
        return True
    try:
        os.kill(info["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(dest: str | Path) -> list[Path]:
    """Remove what interrupted runs left beside ``dest`` (``dest.partial-*`` whose writer is gone,
    ``dest.old-*``); returns the folders removed."""
    dest = Path(dest)
    removed = []
    if not dest.parent.is_dir():
        return removed
    for p in dest.parent.iterdir():
        if not p.name.startswith(dest.name) or not p.is_dir():
            continue
        rest = p.name[len(dest.name):]
        if rest.startswith(PARTIAL):
            marker = p / RUNNING
            if writer_alive(marker.read_bytes() if marker.is_file() else None):
                continue
        elif not rest.startswith(OLD):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def read_output(path: str | Path, **kwargs) -> pa.Table:
    """A dataset ``triage batch`` wrote, read only when its completion marker says it is whole."""
    p = Path(path)
    if not (p / COMPLETE).is_file():
        raise BatchInputError(f"{p}: not a complete batch output (no {COMPLETE}); an interrupted run, "
                              "or not written by triage batch")
    return pq.read_table(p, **kwargs)


class DatasetWriter:
    """A Parquet dataset directory written part file by part file, moved into place on close.

    Rows go to ``<dest>.partial-<id>/part-NNNNN.parquet`` (a new part every ``rows_per_file``
    rows; ``_RUNNING`` names the writing process); ``commit`` writes the completion marker and
    renames the directory to ``dest``, so a killed job leaves nothing at ``dest``, and the next
    run removes its staging folder (:func:`clean_stale`).
    """

    def __init__(self, dest: str | Path, schema: pa.Schema, rows_per_file: int = 1_000_000) -> None:
        self.dest = Path(dest)
        self.schema = schema
        self.rows_per_file = rows_per_file
        self.staging = self.dest.with_name(f"{self.dest.name}{PARTIAL}{uuid.uuid4().hex[:8]}")
        self.staging.mkdir(parents=True)
        (self.staging / RUNNING).write_bytes(run_marker())
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_file = 0
        self._part = 0
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        while table.num_rows:
            if self._writer is None or self._rows_in_file >= self.rows_per_file:
                self._open()
            take = min(table.num_rows, self.rows_per_file - self._rows_in_file)
            self._writer.write_table(table.slice(0, take))
            self._rows_in_file += take
            self.rows += take
            table = table.slice(take)

    def _open(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer = pq.ParquetWriter(self.staging / f"part-{self._part:05d}.parquet", self.schema)
        self._part += 1
        self._rows_in_file = 0

    def close(self) -> None:
        """Finish the files and mark the staging folder complete (still under its staging name)."""
        if self._writer is None:  # an empty dataset still has its schema
            self._open()
        self._writer.close()
        _fsync_dir(self.staging)
        (self.staging / COMPLETE).write_bytes(b"")
        (self.staging / RUNNING).unlink(missing_ok=True)

    def commit(self) -> Path:
        if not (self.staging / COMPLETE).exists():
            self.close()
        replace_dir(self.staging, self.dest)
        return self.dest

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        shutil.rmtree(self.staging, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    """Flush the part files' data before the marker says they are whole (a crash of the machine
    after the rename must not leave a marked dataset with empty files)."""
    for f in path.iterdir():
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())


def replace_dir(src: Path, dest: Path) -> None:
    """Move ``src`` to ``dest``, replacing what was there only once ``src`` is complete."""
    if dest.exists():
        old = dest.with_name(f"{dest.name}{OLD}{uuid.uuid4().hex[:8]}")
        os.replace(dest, old)
        os.replace(src, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dest)


def check_output(dest: str | Path, overwrite: bool) -> None:
    """Refuse to replace an existing non-empty output unless asked to."""
    p = Path(dest)
    if p.exists() and not overwrite and (p.is_file() or any(p.iterdir())):
        raise BatchInputError(f"{p}: output exists; pass --overwrite to replace it")
