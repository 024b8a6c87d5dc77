"""MIMIC-III v1.4 loader: upper-case tables, ICD-9 only, ``NOTEEVENTS`` discharge summaries.

Discharge summaries are ``CATEGORY == 'Discharge summary'``; rows flagged ``ISERROR = 1`` are
dropped; the report (``DESCRIPTION == 'Report'``) comes first and its addenda follow in chart
order. Notes are filtered batch by batch, so the other ~1.8 M notes never sit in memory.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from triage.data.assemble import build_episodes, canonical_codes
from triage.data.errors import DataError, LoadReport
from triage.data.notes import merge_notes
from triage.data.tables import (
    find_table,
    read_admissions,
    read_code_tables,
    read_table,
    require_table,
)

# MIMIC-III hides ages above 89 by shifting dates of birth ~300 years back; such patients get
# the commonly used median age of that group instead of an impossible ~300.
AGE_OVER_89 = 91.4


def _codes(path: Path, report: LoadReport) -> pd.DataFrame:
    table, missing = read_table(path, {"HADM_ID": "int", "ICD9_CODE": "str"}, {"SEQ_NUM": "float"})  # nullable in MIMIC-III
    df = table.to_pandas().rename(columns={"HADM_ID": "episode_id", "ICD9_CODE": "code", "SEQ_NUM": "seq_num"})
    if "seq_num" not in df:
        report.warn(f"{path}: no SEQ_NUM column; code order taken from file order")
        df["seq_num"] = pd.NA
    if df["episode_id"].isna().any():
        raise DataError(f"{path}: column 'HADM_ID' has {int(df['episode_id'].isna().sum())} empty values")
    # MIMIC-III has rows with no code at all (placeholders): they carry no information, not an error.
    n_empty = int(df["code"].isna().sum())
    if n_empty:
        report.warn(f"{path}: {n_empty} rows with an empty ICD9_CODE ignored")
        df = df[df["code"].notna()]
    df["code"] = canonical_codes(df["code"])
    df["icd_version"] = 9
    return df[["episode_id", "seq_num", "code", "icd_version"]]


def _discharge_filter(batch: pa.RecordBatch) -> pa.RecordBatch:
    names = batch.schema.names
    keep = pc.equal(pc.utf8_lower(pc.utf8_trim_whitespace(batch.column(names.index("CATEGORY")))), "discharge summary")
    keep = pc.and_kleene(keep, pc.is_valid(batch.column(names.index("HADM_ID"))))
    if "ISERROR" in names:
        err = batch.column(names.index("ISERROR"))
        keep = pc.and_kleene(keep, pc.invert(pc.fill_null(pc.equal(err, 1), False)))
    return batch.filter(pc.fill_null(keep, False))


def _notes(path: Path, report: LoadReport) -> tuple[pd.DataFrame, pa.ChunkedArray]:
    table, _ = read_table(
        path,
        {"SUBJECT_ID": "int", "HADM_ID": "int", "CATEGORY": "str", "TEXT": "text"},
        {"DESCRIPTION": "str", "CHARTDATE": "time", "ISERROR": "int"},
        batch_filter=_discharge_filter,
        allow_empty=True,
    )
    if table.num_rows == 0:
        raise DataError(f"{path}: no usable 'Discharge summary' rows in column 'CATEGORY'")
    texts = table.column("TEXT")
    df = table.drop_columns(["TEXT"]).to_pandas().rename(columns={"HADM_ID": "episode_id", "SUBJECT_ID": "subject_id"})
    desc = df["DESCRIPTION"].astype("str").str.strip().str.lower() if "DESCRIPTION" in df else None
    df["rank"] = (desc != "report").astype("int8") if desc is not None else 0
    df["order"] = df["CHARTDATE"] if "CHARTDATE" in df else 0
    return merge_notes(df[["episode_id", "subject_id", "rank", "order"]], texts, report, path)


def _meta(root: Path, report: LoadReport) -> pd.DataFrame | None:
    meta = read_admissions(root, "ADMISSIONS", report, upper=True)
    if meta is None:
        return None
    pat_path = find_table(root, "PATIENTS")
    if pat_path is None:
        report.warn(f"{root}: no PATIENTS table; age and gender are empty")
        return meta
    pt, _ = read_table(pat_path, {"SUBJECT_ID": "int"}, {"GENDER": "str", "DOB": "time"})
    pats = pt.to_pandas().drop_duplicates("SUBJECT_ID").set_index("SUBJECT_ID")
    subj = meta["subject_id"]
    if "GENDER" in pats:
        meta["gender"] = subj.map(pats["GENDER"]).to_numpy()
    if "DOB" in pats and "admittime" in meta:
        dob = subj.map(pats["DOB"])
        # year arithmetic: shifted MIMIC dates overflow ns timedeltas for the >89 group
        age = (meta["admittime"].dt.year - dob.dt.year) + (meta["admittime"].dt.dayofyear - dob.dt.dayofyear) / 365.25
        meta["age"] = age.where(age < 150, AGE_OVER_89).astype("float64").to_numpy()
    return meta


def load_mimic3(root: Path, icd_version: int | None = None, strict: bool = False) -> tuple[pd.DataFrame, LoadReport]:
    root = Path(root)
    report = LoadReport(source=str(root), format="mimic-iii")
    if icd_version == 10:
        raise DataError(f"{root}: MIMIC-III is coded in ICD-9 only; icd_version=10 selects nothing")
    dx, px = read_code_tables(root, "DIAGNOSES_ICD", "PROCEDURES_ICD", _codes, report)
    notes, texts = _notes(require_table(root, "NOTEEVENTS"), report)
    meta = _meta(root, report)
    df = build_episodes(notes, texts, dx, px, meta, report, icd_version=icd_version, strict=strict)
    return df, report
