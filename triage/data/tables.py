"""Finding and reading MIMIC CSV tables with pyarrow: only the needed columns, clear errors.

Reading streams record batches so a filter (e.g. MIMIC-III discharge summaries out of all of
NOTEEVENTS) applies before the whole table is in memory.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from triage.codes.labels import canonical
from triage.data.errors import DataError

Kind = str  # "int", "str", "time", "float"

# "text": large_string so >2 GB of notes fit one column and never need a cast (a full copy)
_ARROW = {"int": pa.int64(), "str": pa.string(), "text": pa.large_string(), "time": pa.timestamp("ns"),
          "float": pa.float64()}
_BLOCK = 1 << 24  # 16 MB: long notes need large blocks


def find_table(folder: Path, name: str) -> Path | None:
    """``name.csv.gz`` or ``name.csv`` in either case (MIMIC-III is upper-case), or None."""
    for stem in (name, name.upper(), name.lower()):
        for ext in (".csv.gz", ".csv"):
            p = folder / f"{stem}{ext}"
            if p.is_file():
                return p
    return None


def require_table(folder: Path, name: str) -> Path:
    p = find_table(folder, name)
    if p is None:
        raise DataError(f"{folder / (name + '.csv.gz')}: file not found (also tried .csv and upper case)")
    return p


def header(path: Path) -> list[str]:
    """Column names of a CSV (gzipped or not)."""
    try:
        # the first line alone, in bytes: a text-mode reader decodes a whole block ahead and
        # would blame the header for a bad byte in a note further down
        with _open_bytes(path) as fh:
            first = fh.readline()
        row = next(csv.reader(io.StringIO(first.decode("utf-8"))), None)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: row 1 (the header): byte {exc.start + 1} is not UTF-8 "
                        f"({exc.object[exc.start:exc.start + 1]!r}); {_UTF8_FIX}") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read header ({exc})") from None
    if not row:
        raise DataError(f"{path}: empty table (no header)")
    return [c.strip() for c in row]


def read_table(
    path: Path,
    required: Mapping[str, Kind],
    optional: Mapping[str, Kind] | None = None,
    batch_filter: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None,
    allow_empty: bool = False,
) -> tuple[pa.Table, set[str]]:
    """Read the named columns (case-insensitive) and return them under the requested names.

    Returns the table and the set of optional columns that were absent. Raises DataError naming
    the file and column on a missing required column, a wrong type, or an empty table.
    """
    optional = dict(optional or {})
    cols = header(path)
    by_lower = {c.lower(): c for c in cols}
    wanted: dict[str, str] = {}  # actual name -> requested name
    for name in required:
        actual = by_lower.get(name.lower())
        if actual is None:
            raise DataError(f"{path}: missing column {name!r} (has {', '.join(cols)})")
        wanted[actual] = name
    missing_optional = set()
    for name in optional:
        actual = by_lower.get(name.lower())
        if actual is None:
            missing_optional.add(name)
        else:
            wanted[actual] = name
    kinds = {**required, **optional}
    types = {actual: _ARROW[kinds[name]] for actual, name in wanted.items()}
    convert = pacsv.ConvertOptions(
        include_columns=list(wanted),
        column_types=types,
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        timestamp_parsers=["%Y-%m-%d %H:%M:%S", "%Y-%m-%d", pacsv.ISO8601],
    )
    read = pacsv.ReadOptions(block_size=_BLOCK)
    ragged: list[tuple[int, int]] = []

    def _ragged(row) -> str:  # Arrow's own message would quote the row, i.e. note text
        ragged.append((row.expected_columns, row.actual_columns))
        return "skip"

    parse = pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=_ragged)
    batches = []
    try:
        with pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert) as reader:
            schema = reader.schema
            for batch in reader:
                if batch_filter is not None:
                    batch = batch_filter(batch)
                batches.append(batch)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        if "invalid UTF8" in str(exc) or "invalid utf8" in str(exc).lower():
            raise DataError(_utf8_message(path, str(exc), cols)) from None
        raise DataError(_explain(path, str(exc), cols, kinds, wanted)) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if ragged:
        raise DataError(_ragged_message(path, len(ragged), *ragged[0]))
    if batch_filter is not None and batches:
        schema = batches[0].schema
    table = pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()
    table = table.rename_columns([wanted.get(c, c) for c in table.column_names])
    if table.num_rows == 0 and not allow_empty:
        raise DataError(f"{path}: empty table (no rows)")
    return table, missing_optional


_UTF8_FIX = "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8)"


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def _utf8_message(path: Path, msg: str, cols: list[str]) -> str:
    """Where the first byte that is not UTF-8 sits (line and column), never the text around it."""
    m = re.search(r"column #(\d+)", msg)
    column = f"column {cols[int(m.group(1))]!r}, " if m and int(m.group(1)) < len(cols) else ""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, offset = 1, 0
    try:
        with _open_bytes(path) as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    bad = exc.start
                    line += chunk[:bad].count(b"\n")
                    return (f"{path}: {column}line {line} (byte {offset + bad + 1}): not UTF-8 "
                            f"({chunk[bad:bad + 1]!r}); {_UTF8_FIX}")
                line += chunk.count(b"\n")
                offset += len(chunk)
    except OSError:
        pass
    return f"{path}: {column}not UTF-8; {_UTF8_FIX}"


def _ragged_message(path: Path, n: int, expected: int, actual: int) -> str:
    """Which record has the wrong number of fields (found with the csv module, quotes and
    newlines in notes handled), without quoting it: rows hold note text."""
    where = ""
    try:
        with _open_bytes(path) as fh:
            text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
            reader = csv.reader(text)
            width = len(next(reader, []))
            for record, row in enumerate(reader, start=2):
                if len(row) != width:
                    where = f"row {record} (line {reader.line_num}) "
                    break
    except (OSError, csv.Error):
        pass
    more = f" ({n} such rows)" if n > 1 else ""
    return (f"{path}: {where}has {actual} fields where the header has {expected}{more}; "
            f"a separator or quote is missing or extra: quote fields holding commas, quotes or "
            f"line breaks (\"...\", with \"\" inside)")


def _explain(path: Path, msg: str, cols: list[str], kinds: Mapping[str, Kind], wanted: Mapping[str, str]) -> str:
    m = re.search(r"column #(\d+)", msg)
    if m and int(m.group(1)) < len(cols):
        actual = cols[int(m.group(1))]
        name = wanted.get(actual, actual)
        kind = {"int": "integer", "time": "date-time", "float": "number", "str": "text", "text": "text"}.get(kinds.get(name, ""), "")
        bad = re.search(r"invalid value '([^']*)'", msg)
        value = f": bad value {bad.group(1)!r}" if bad else ""
        return f"{path}: column {actual!r} should be {kind or 'parseable'}{value}"
    first = msg.splitlines()[0] if msg else "unparseable CSV"
    if first.count(": ") >= 2:  # Arrow appends the offending row: it may be note text
        first = first.rsplit(": ", 1)[0]
    return f"{path}: {first[:200]}"


def read_code_tables(folder: Path, dx_table: str, px_table: str, read_codes, report):
    """Diagnoses (required) and procedures (optional: warned about, then empty) of one layout.

    ``read_codes(path, report)`` is the layout's own reader of one ``*_ICD`` table.
    """
    dx = read_codes(require_table(folder, dx_table), report)
    px_path = find_table(folder, px_table)
    if px_path is None:
        report.warn(f"{folder}: no {px_table} table; episodes have no procedures")
        return dx, dx.iloc[:0]
    return dx, read_codes(px_path, report)


_ADMISSION_COLUMNS = {"admittime": "time", "dischtime": "time", "admission_type": "str",
                      "hospital_expire_flag": "int"}


def read_admissions(folder: Path, name: str, report, upper: bool = False) -> pd.DataFrame | None:
    """MIMIC's admissions table (III: upper-case ``name`` and columns, IV: lower-case) indexed by
    episode_id, with subject_id, admittime, dischtime, admission_type and died; None, with a
    warning, when the folder has no such table."""
    path = find_table(folder, name)
    if path is None:
        report.warn(f"{folder}: no {name} table; admittime, dischtime, los_days, admission_type, died and age "
                    "are empty")
        return None
    spell = str.upper if upper else str
    table, missing = read_table(path, {spell("subject_id"): "int", spell("hadm_id"): "int"},
                                {spell(c): kind for c, kind in _ADMISSION_COLUMNS.items()})
    if missing:
        report.warn(f"{path}: missing optional columns {sorted(missing)}")
    meta = table.to_pandas().rename(columns=str.lower).rename(columns={"hadm_id": "episode_id"})
    meta = meta.drop_duplicates("episode_id").set_index("episode_id")
    if "hospital_expire_flag" in meta:
        meta["died"] = meta["hospital_expire_flag"].astype("Int64") == 1
    return meta


def load_procedure_descriptions(path: str | Path) -> dict[str, str]:
    """ICD-9 procedure descriptions from MIMIC-IV ``d_icd_procedures`` or MIMIC-III ``D_ICD_PROCEDURES``.

    MIMIC-IV mixes versions (``icd_version`` column): only version-9 rows are kept.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    cols = {c.lower(): c for c in df.columns}
    code_col = cols.get("icd_code") or cols.get("icd9_code")
    title_col = cols.get("long_title")
    if code_col is None or title_col is None:
        raise DataError(f"{path}: needs columns icd_code (or ICD9_CODE) and long_title, has {list(df.columns)}")
    if "icd_version" in cols:
        df = df[df[cols["icd_version"]].str.strip() == "9"]
    return {canonical(c): t for c, t in zip(df[code_col], df[title_col]) if c}
