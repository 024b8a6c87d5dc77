"""MIMIC-IV (v2.2+) loader: ``hosp/`` codes and admissions, ``note/discharge`` texts.

Required: ``hosp/diagnoses_icd`` and ``note/discharge``. Optional with a warning:
``hosp/procedures_icd`` (no procedures then), ``hosp/admissions`` (no times/type/death),
``hosp/patients`` (no age/gender), and optional columns such as ``chartdate``, ``note_type``.
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

CODE_COLUMNS = {"hadm_id": "int", "icd_code": "str", "icd_version": "int"}


def locate(root: Path) -> tuple[Path, Path]:
    """The ``hosp`` and ``note`` folders under ``root`` (``root`` itself may hold the hosp tables)."""
    hosp = root / "hosp" if (root / "hosp").is_dir() else root
    candidates = [root / "note", *sorted(root.glob("*/note")), root]
    note = next((c for c in candidates if find_table(c, "discharge") is not None), root / "note")
    return hosp, note


def _codes(path: Path, report: LoadReport) -> pd.DataFrame:
    table, missing = read_table(path, CODE_COLUMNS, {"seq_num": "float"})
    df = table.to_pandas()
    if "seq_num" in missing:
        report.warn(f"{path}: no seq_num column; code order taken from file order")
        df["seq_num"] = pd.NA
    df = df.rename(columns={"hadm_id": "episode_id", "icd_code": "code"})
    if df["episode_id"].isna().any():
        raise DataError(f"{path}: column 'hadm_id' has {int(df['episode_id'].isna().sum())} empty values")
    df["code"] = canonical_codes(df["code"])
    return df[["episode_id", "seq_num", "code", "icd_version"]]


def _notes(path: Path, report: LoadReport) -> tuple[pd.DataFrame, pa.ChunkedArray]:
    table, missing = read_table(
        path,
        {"subject_id": "int", "hadm_id": "int", "text": "text"},
        {"note_type": "str", "note_seq": "int", "charttime": "time"},
    )
    # rows without an admission are not episodes (MIMIC-IV discharge notes always have one)
    n_null = table.column("hadm_id").null_count
    if n_null:
        report.warn(f"{path}: {n_null} notes without hadm_id ignored")
        table = table.filter(pc.is_valid(table.column("hadm_id")))
    texts = table.column("text")
    df = table.drop_columns(["text"]).to_pandas().rename(columns={"hadm_id": "episode_id"})
    df["rank"] = (df["note_type"].astype("str").str.upper() == "AD").astype("int8") if "note_type" in df else 0
    df["order"] = df["note_seq"] if "note_seq" in df else (df["charttime"] if "charttime" in df else 0)
    return merge_notes(df[["episode_id", "subject_id", "rank", "order"]], texts, report, path)


def _meta(hosp: Path, report: LoadReport) -> pd.DataFrame | None:
    meta = read_admissions(hosp, "admissions", report)
    pat_path = find_table(hosp, "patients")
    if pat_path is None:
        report.warn(f"{hosp}: no patients table; age and gender are empty")
        return meta
    pt, _ = read_table(
        pat_path, {"subject_id": "int"}, {"gender": "str", "anchor_age": "float", "anchor_year": "int"}
    )
    pats = pt.to_pandas().drop_duplicates("subject_id").set_index("subject_id")
    if meta is None:
        return None  # age and gender need the admission -> subject link
    subj = meta["subject_id"]
    if "gender" in pats:
        meta["gender"] = subj.map(pats["gender"]).to_numpy()
    if "anchor_age" in pats:
        age = subj.map(pats["anchor_age"]).astype("float64")
        if "anchor_year" in pats and "admittime" in meta:
            # MIMIC-IV shifts years per patient; age at admission = anchor_age + years since anchor_year
            age = age + (meta["admittime"].dt.year - subj.map(pats["anchor_year"])).astype("float64")
        meta["age"] = age.to_numpy()
    return meta


def load_mimic4(root: Path, icd_version: int | None = None, strict: bool = False) -> tuple[pd.DataFrame, LoadReport]:
    root = Path(root)
    report = LoadReport(source=str(root), format="mimic-iv")
    hosp, note_dir = locate(root)
    dx, px = read_code_tables(hosp, "diagnoses_icd", "procedures_icd", _codes, report)
    notes, texts = _notes(require_table(note_dir, "discharge"), report)
    meta = _meta(hosp, report)
    df = build_episodes(notes, texts, dx, px, meta, report, icd_version=icd_version, strict=strict)
    return df, report
