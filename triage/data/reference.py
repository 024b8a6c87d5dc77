"""The reference pipeline's (Edin et al. 2023) preprocessed data file, e.g. ``mimiciv_icd10.feather``.

Its columns: ``_id`` (hadm_id), ``subject_id``, ``text`` (already lower-cased and stripped of
digits and punctuation), ``icd10_diag``/``icd10_proc`` (or ``icd9_*``) as lists of dotted
codes, ``target`` (procedures then diagnoses), ``num_words``, ``num_targets`` and the note's
columns (``note_id``, ``note_type``, ``note_seq``, ``charttime``, ``storetime``).

What cannot be recovered: that pipeline sorted each episode's codes alphabetically and dropped
codes seen < 10 times, so the principal diagnosis is unknown and the first diagnosis here is
only the alphabetically first. Admission times, age and gender are not in the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.feather as feather

from triage.codes.labels import canonical, label_kind
from triage.data.assemble import CODE_PATTERNS, conform
from triage.data.errors import DataError, LoadReport


def _as_list(value) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [str(v) for v in value]


def load_reference(path: Path, icd_version: int | None = None, strict: bool = False) -> tuple[pd.DataFrame, LoadReport]:
    """The episode table (``triage.data.schema``) of a reference feather file, and its report.

    ``icd_version`` is needed only when the file has no ``icd9_*``/``icd10_*`` columns; ``strict``
    turns any excluded episode into an error. Steps: the columns to read, the ICD version they
    hold, the rows read and checked, the code lists, then the episodes excluded and why.
    """
    path = Path(path)
    report = LoadReport(source=str(path), format="reference")
    cols = _columns(path)
    version = _icd_version(path, cols, icd_version)
    code_cols = _code_columns(path, cols, version)
    df, ids = _read_rows(path, cols, code_cols, report)
    dx, px = _code_lists(df, code_cols, version)
    out = pd.DataFrame({
        "episode_id": ids.astype("int64").to_numpy(),
        "subject_id": pd.to_numeric(df["subject_id"], errors="coerce").to_numpy(),
        "text": df["text"].to_numpy(),
        "diagnoses": dx.to_numpy(), "procedures": px.to_numpy(),
    })
    excluded = _excluded(out, version, report)
    if out["episode_id"].duplicated().any():
        raise DataError(f"{path}: column '_id' repeats id {int(out['episode_id'][out['episode_id'].duplicated()].iloc[0])}")
    if strict and report.excluded:
        raise DataError(f"strict mode: {report.summary()}")
    out = out[~excluded].sort_values("episode_id", kind="stable")
    out["icd_version"] = version
    for col in ("admittime", "dischtime", "admission_type", "died", "age", "gender", "split"):
        out[col] = None
    report.n_loaded = len(out)
    return conform(out), report


def _columns(path: Path) -> list[str]:
    """The file's column names; DataError when it is missing, unreadable or lacks _id/text."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        cols = feather.read_table(path, memory_map=True).schema.names
    except Exception as exc:
        raise DataError(f"{path}: not a readable feather file ({type(exc).__name__}: {exc})") from None
    for col in ("_id", "text"):
        if col not in cols:
            raise DataError(f"{path}: missing column {col!r} (has {', '.join(cols)})")
    return cols


def _icd_version(path: Path, cols: list[str], icd_version: int | None) -> int:
    """The ICD version the code columns name (``icd_version`` when none does, and it must agree)."""
    versions = [v for v in (10, 9) if f"icd{v}_diag" in cols or f"icd{v}_proc" in cols]
    if len(versions) > 1:
        raise DataError(f"{path}: both ICD-9 and ICD-10 code columns present; cannot tell the version")
    version = versions[0] if versions else icd_version
    if version is None:
        raise DataError(f"{path}: no icd9_*/icd10_* columns; pass icd_version to read column 'target'")
    if icd_version is not None and icd_version != version:
        raise DataError(f"{path}: file holds ICD-{version} codes but icd_version={icd_version} was asked")
    return version


def _code_columns(path: Path, cols: list[str], version: int) -> list[str]:
    """``icd{v}_diag``/``icd{v}_proc`` when present, else ``target`` (procedures and diagnoses)."""
    code_cols = [c for c in (f"icd{version}_diag", f"icd{version}_proc") if c in cols] or ["target"]
    if code_cols == ["target"] and "target" not in cols:
        raise DataError(f"{path}: missing code columns (icd{version}_diag / icd{version}_proc / target)")
    return code_cols


def _read_rows(path: Path, cols: list[str], code_cols: list[str],
               report: LoadReport) -> tuple[pd.DataFrame, pd.Series]:
    """The columns used and the numeric ids; each admission is its own patient without subject_id."""
    use = ["_id", "text"] + (["subject_id"] if "subject_id" in cols else []) + code_cols
    df = feather.read_table(path, columns=use, memory_map=True).to_pandas()
    if len(df) == 0:
        raise DataError(f"{path}: empty table (no rows)")
    ids = pd.to_numeric(df["_id"], errors="coerce")
    if ids.isna().any():
        raise DataError(f"{path}: column '_id' should be integer admission ids, found {df['_id'][ids.isna()].iloc[0]!r}")
    if not (pd.api.types.is_string_dtype(df["text"]) or df["text"].dtype == object):
        raise DataError(f"{path}: column 'text' should be text, is {df['text'].dtype}")
    if "subject_id" not in df:
        report.warn(f"{path}: no subject_id column; each admission is treated as its own patient for splitting")
        df["subject_id"] = ids
    report.warn(
        f"{path}: the reference pipeline sorted codes alphabetically; the principal diagnosis is unknown"
    )
    return df, ids


def _code_lists(df: pd.DataFrame, code_cols: list[str], version: int) -> tuple[pd.Series, pd.Series]:
    """Canonical diagnosis and procedure lists per row (``target`` split by the label's kind)."""
    if "target" in code_cols:
        labels = df["target"].map(_as_list)
        dx = labels.map(lambda ls: [canonical(x) for x in ls if label_kind(x, version) == "dx"])
        px = labels.map(lambda ls: [canonical(x) for x in ls if label_kind(x, version) == "px"])
        return dx, px

    def column(name: str) -> pd.Series:
        if name not in df:
            return pd.Series([[]] * len(df))
        return df[name].map(lambda ls: [canonical(x) for x in _as_list(ls)])

    return column(f"icd{version}_diag"), column(f"icd{version}_proc")


def _excluded(out: pd.DataFrame, version: int, report: LoadReport) -> np.ndarray:
    """Rows without a note, without codes, with an unparseable code or without a patient id,
    each counted in ``report`` under its first reason."""
    pat_dx, pat_px = re.compile(CODE_PATTERNS[("dx", version)]), re.compile(CODE_PATTERNS[("px", version)])
    bad = np.array([any(not pat_dx.match(c) for c in d) or any(not pat_px.match(c) for c in p)
                    for d, p in zip(out["diagnoses"], out["procedures"])], dtype=bool)
    no_codes = np.array([not d and not p for d, p in zip(out["diagnoses"], out["procedures"])], dtype=bool)
    text = out["text"].astype("string")
    no_note = (text.isna() | (text.str.strip().str.len() == 0)).to_numpy(dtype=bool)
    no_subject = out["subject_id"].isna().to_numpy()
    report.exclude("no_note", int(no_note.sum()), out["episode_id"][no_note].head().tolist())
    report.exclude("no_codes", int((no_codes & ~no_note).sum()), out["episode_id"][no_codes & ~no_note].head().tolist())
    report.exclude("unparseable_codes", int((bad & ~no_note & ~no_codes).sum()), out["episode_id"][bad].head().tolist())
    report.exclude("no_subject_id", int((no_subject & ~bad & ~no_note & ~no_codes).sum()))
    return bad | no_codes | no_note | no_subject
