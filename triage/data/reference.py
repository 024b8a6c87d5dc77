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
    path = Path(path)
    report = LoadReport(source=str(path), format="reference")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        cols = feather.read_table(path, memory_map=True).schema.names
    except Exception as exc:
        raise DataError(f"{path}: not a readable feather file ({type(exc).__name__}: {exc})") from None
    for col in ("_id", "text"):
        if col not in cols:
            raise DataError(f"{path}: missing column {col!r} (has {', '.join(cols)})")
    versions = [v for v in (10, 9) if f"icd{v}_diag" in cols or f"icd{v}_proc" in cols]
    if len(versions) > 1:
        raise DataError(f"{path}: both ICD-9 and ICD-10 code columns present; cannot tell the version")
    version = versions[0] if versions else icd_version
    if version is None:
        raise DataError(f"{path}: no icd9_*/icd10_* columns; pass icd_version to read column 'target'")
    if icd_version is not None and icd_version != version:
        raise DataError(f"{path}: file holds ICD-{version} codes but icd_version={icd_version} was asked")
    code_cols = [c for c in (f"icd{version}_diag", f"icd{version}_proc") if c in cols] or ["target"]
    if code_cols == ["target"] and "target" not in cols:
        raise DataError(f"{path}: missing code columns (icd{version}_diag / icd{version}_proc / target)")
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
    if "target" in code_cols:
        labels = df["target"].map(_as_list)
        dx = labels.map(lambda ls: [canonical(x) for x in ls if label_kind(x, version) == "dx"])
        px = labels.map(lambda ls: [canonical(x) for x in ls if label_kind(x, version) == "px"])
    else:
        dx = df[f"icd{version}_diag"].map(lambda ls: [canonical(x) for x in _as_list(ls)]) if f"icd{version}_diag" in df else pd.Series([[]] * len(df))
        px = df[f"icd{version}_proc"].map(lambda ls: [canonical(x) for x in _as_list(ls)]) if f"icd{version}_proc" in df else pd.Series([[]] * len(df))
    out = pd.DataFrame({
        "episode_id": ids.astype("int64").to_numpy(),
        "subject_id": pd.to_numeric(df["subject_id"], errors="coerce").to_numpy(),
        "text": df["text"].to_numpy(),
        "diagnoses": dx.to_numpy(), "procedures": px.to_numpy(),
    })
    import re

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
    if out["episode_id"].duplicated().any():
        raise DataError(f"{path}: column '_id' repeats id {int(out['episode_id'][out['episode_id'].duplicated()].iloc[0])}")
    if strict and report.excluded:
        raise DataError(f"strict mode: {report.summary()}")
    out = out[~(bad | no_codes | no_note | no_subject)].sort_values("episode_id", kind="stable")
    out["icd_version"] = version
    for col in ("admittime", "dischtime", "admission_type", "died", "age", "gender", "split"):
        out[col] = None
    report.n_loaded = len(out)
    return conform(out), report
