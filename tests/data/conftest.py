"""Small MIMIC-IV / MIMIC-III folders written in the exact published layouts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest


def write_csv(df: pd.DataFrame, path: Path, gz: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = path.with_name(path.name + (".csv.gz" if gz else ".csv"))
    df.to_csv(out, index=False)
    return out


def mimic4_tables() -> dict[str, pd.DataFrame]:
    """Three patients, five admissions; admission 105 has an addendum; 106 has codes, no note; 107 a note, no codes."""
    dx = pd.DataFrame(
        [  # deliberately out of seq_num order in the file
            (1, 101, 2, "E119", 10), (1, 101, 1, "I214", 10), (1, 101, 3, "N1830", 10),
            (1, 102, 1, "I10", 10), (1, 102, 2, "Z7901", 10),
            (2, 103, 1, "4019", 9), (2, 103, 2, "E8790", 9), (2, 103, 3, "V3001", 9),
            (3, 104, 1, "I509", 10),
            (3, 105, 1, "J189", 10), (3, 105, 2, "I10", 10),
            (3, 106, 1, "K359", 10),
        ],
        columns=["subject_id", "hadm_id", "seq_num", "icd_code", "icd_version"],
    )
    px = pd.DataFrame(
        [
            (1, 101, 1, "2180-01-02", "02703DZ", 10),
            (2, 103, 1, "2150-01-01", "3893", 9),
        ],
        columns=["subject_id", "hadm_id", "seq_num", "chartdate", "icd_code", "icd_version"],
    )
    notes = pd.DataFrame(
        [
            ("1-DS-1", 1, 101, "DS", 1, "2180-01-05 10:00:00", "2180-01-05 11:00:00", "Chest pain ___ stent placed."),
            ("1-DS-2", 1, 102, "DS", 2, "2181-01-05 10:00:00", "2181-01-05 11:00:00", "Hypertension follow up."),
            ("2-DS-1", 2, 103, "DS", 1, "2150-01-05 10:00:00", "2150-01-05 11:00:00", "Newborn, cesarean."),
            ("3-DS-1", 3, 104, "DS", 1, "2190-01-05 10:00:00", "2190-01-05 11:00:00", "Heart failure."),
            ("3-AD-2", 3, 105, "AD", 2, "2191-01-06 10:00:00", "2191-01-06 11:00:00", "ADDENDUM: culture positive."),
            ("3-DS-3", 3, 105, "DS", 1, "2191-01-05 10:00:00", "2191-01-05 11:00:00", "Pneumonia, treated."),
            ("3-DS-4", 3, 107, "DS", 3, "2192-01-05 10:00:00", "2192-01-05 11:00:00", "Note without codes."),
        ],
        columns=["note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text"],
    )
    admissions = pd.DataFrame(
        [
            (1, 101, "2180-01-01 08:00:00", "2180-01-05 12:00:00", None, "URGENT", 0),
            (1, 102, "2181-01-01 08:00:00", "2181-01-03 08:00:00", None, "ELECTIVE", 0),
            (2, 103, "2150-01-01 08:00:00", "2150-01-04 08:00:00", None, "NEWBORN", 0),
            (3, 104, "2190-01-01 08:00:00", "2190-01-02 08:00:00", "2190-01-02 08:00:00", "EW EMER.", 1),
            (3, 105, "2191-01-01 08:00:00", "2191-01-05 08:00:00", None, "EW EMER.", 0),
            (3, 106, "2191-06-01 08:00:00", "2191-06-02 08:00:00", None, "EW EMER.", 0),
            (3, 107, "2192-01-01 08:00:00", "2192-01-02 08:00:00", None, "EW EMER.", 0),
        ],
        columns=["subject_id", "hadm_id", "admittime", "dischtime", "deathtime", "admission_type", "hospital_expire_flag"],
    )
    patients = pd.DataFrame(
        [(1, "M", 60, 2180, "2008 - 2010", None), (2, "F", 0, 2150, "2008 - 2010", None),
         (3, "F", 80, 2190, "2011 - 2013", "2192-02-01")],
        columns=["subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"],
    )
    return {"hosp/diagnoses_icd": dx, "hosp/procedures_icd": px, "note/discharge": notes,
            "hosp/admissions": admissions, "hosp/patients": patients}


def write_mimic4(root: Path, tables: dict[str, pd.DataFrame] | None = None, gz: bool = True) -> Path:
    for name, df in (tables or mimic4_tables()).items():
        write_csv(df, root / name, gz=gz)
    return root


def mimic3_tables() -> dict[str, pd.DataFrame]:
    dx = pd.DataFrame(
        [(1, 10, 201, 2, "25000"), (2, 10, 201, 1, "4280"), (3, 10, 201, 3, "E8790"),
         (4, 11, 202, 1, "V3001"), (5, 11, 202, None, "V053"),
         (6, 12, 203, 1, "41401")],
        columns=["ROW_ID", "SUBJECT_ID", "HADM_ID", "SEQ_NUM", "ICD9_CODE"],
    ).astype({"SEQ_NUM": "Int64"})
    px = pd.DataFrame([(1, 10, 201, 1, "3893"), (2, 12, 203, 1, "3615")],
                      columns=["ROW_ID", "SUBJECT_ID", "HADM_ID", "SEQ_NUM", "ICD9_CODE"])
    notes = pd.DataFrame(
        [
            (1, 10, 201, "2100-01-06", None, None, "Discharge summary", "Addendum", None, None, "Addendum text."),
            (2, 10, 201, "2100-01-05", None, None, "Discharge summary", "Report", None, None, "Main report."),
            (3, 10, 201, "2100-01-04", None, None, "Nursing", "Nursing note", None, None, "Not a summary."),
            (4, 11, 202, "2101-01-05", None, None, "Discharge summary", "Report", None, 1, "Erroneous report."),
            (5, 11, 202, "2101-01-05", None, None, "Discharge summary", "Report", None, None, "Newborn report."),
            (6, 12, 203, "2102-01-05", None, None, "Radiology", "CHEST", None, None, "Only radiology."),
        ],
        columns=["ROW_ID", "SUBJECT_ID", "HADM_ID", "CHARTDATE", "CHARTTIME", "STORETIME", "CATEGORY",
                 "DESCRIPTION", "CGID", "ISERROR", "TEXT"],
    ).astype({"ISERROR": "Int64", "CGID": "Int64"})
    admissions = pd.DataFrame(
        [(1, 10, 201, "2100-01-01 00:00:00", "2100-01-05 00:00:00", "EMERGENCY", 0),
         (2, 11, 202, "2101-01-01 00:00:00", "2101-01-03 00:00:00", "NEWBORN", 0),
         (3, 12, 203, "2102-01-01 00:00:00", "2102-01-03 00:00:00", "ELECTIVE", 1)],
        columns=["ROW_ID", "SUBJECT_ID", "HADM_ID", "ADMITTIME", "DISCHTIME", "ADMISSION_TYPE", "HOSPITAL_EXPIRE_FLAG"],
    )
    patients = pd.DataFrame(
        [(1, 10, "M", "2030-01-01 00:00:00"), (2, 11, "F", "2101-01-01 00:00:00"), (3, 12, "M", "1800-01-01 00:00:00")],
        columns=["ROW_ID", "SUBJECT_ID", "GENDER", "DOB"],
    )
    return {"DIAGNOSES_ICD": dx, "PROCEDURES_ICD": px, "NOTEEVENTS": notes, "ADMISSIONS": admissions, "PATIENTS": patients}


def write_mimic3(root: Path, tables: dict[str, pd.DataFrame] | None = None) -> Path:
    for name, df in (tables or mimic3_tables()).items():
        write_csv(df, root / name)
    return root


@pytest.fixture
def mimic4_dir(tmp_path: Path) -> Path:
    return write_mimic4(tmp_path / "mimiciv")


@pytest.fixture
def mimic3_dir(tmp_path: Path) -> Path:
    return write_mimic3(tmp_path / "mimiciii")


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_CACHE_DIR", str(tmp_path / "cache"))


class MimicWriters:
    """The writers above as a fixture (pytest's importlib mode cannot import conftest)."""

    mimic4_tables = staticmethod(mimic4_tables)
    mimic3_tables = staticmethod(mimic3_tables)
    write_mimic4 = staticmethod(write_mimic4)
    write_mimic3 = staticmethod(write_mimic3)
    write_csv = staticmethod(write_csv)


@pytest.fixture
def mimic() -> type[MimicWriters]:
    return MimicWriters
