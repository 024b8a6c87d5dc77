"""Turn long code tables + one note per admission into the episode table, counting every exclusion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from triage.data.errors import DataError, LoadReport
from triage.data.notes import gather
from triage.data.schema import EPISODE_COLUMNS
from triage.data.settings import care_settings

# Shapes of canonical codes, per (kind, version): anything else is "unparseable".
CODE_PATTERNS = {
    ("dx", 10): r"^[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}$",
    ("px", 10): r"^[0-9A-HJ-NP-Z]{7}$",
    ("dx", 9): r"^(?:\d{3}\d{0,2}|V\d{2}\d{0,2}|E\d{3}\d?)$",
    ("px", 9): r"^\d{2}\d{0,2}$",
}


def canonical_codes(codes: pd.Series) -> pd.Series:
    """Vectorised :func:`triage.codes.labels.canonical` (nulls stay null)."""
    return codes.astype("str").str.strip().str.replace(".", "", regex=False).str.upper()


def bad_code_mask(codes: pd.Series, versions: pd.Series, kind: str) -> np.ndarray:
    """True where a canonical code does not fit its code system (or is missing)."""
    bad = codes.isna().to_numpy().copy()
    v = versions.to_numpy()
    for version in (9, 10):
        sel = (v == version) & ~bad
        if sel.any():
            ok = codes[sel].str.match(CODE_PATTERNS[(kind, version)]).to_numpy(dtype=bool)
            idx = np.flatnonzero(sel)
            bad[idx[~ok]] = True
    bad |= ~np.isin(v, (9, 10))
    return bad


def ordered_lists(ids: np.ndarray, codes: list[str]) -> dict[int, list[str]]:
    """Per-episode code lists from rows already sorted by (episode, seq_num); duplicates dropped, order kept."""
    if len(ids) == 0:
        return {}
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    return {int(ids[a]): list(dict.fromkeys(codes[a:b])) for a, b in zip(starts, ends)}


def sort_codes(df: pd.DataFrame) -> pd.DataFrame:
    """Stable sort by episode then seq_num (missing seq_num last, file order kept among ties)."""
    return df.sort_values(["episode_id", "seq_num"], kind="stable", na_position="last")


def _keep_version(dx: pd.DataFrame, px: pd.DataFrame, version: int) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Drop the rows of the other ICD version from episodes that also have rows of ``version``.

    Episodes coded only in the other version keep their rows (they are filtered whole, by episode,
    in :func:`build_episodes`); rows whose version is neither 9 nor 10 are kept so that they are
    reported as unparseable. Returns the two tables and the number of dropped code rows.
    """
    other = 19 - version
    ids_with = set()
    for frame in (dx, px):
        if len(frame):
            ids_with.update(frame.loc[frame["icd_version"].to_numpy() == version, "episode_id"].astype("int64").tolist())
    if not ids_with:
        return dx, px, 0
    keep_ids = np.fromiter(ids_with, dtype=np.int64, count=len(ids_with))
    out, n_dropped = [], 0
    for frame in (dx, px):
        if len(frame) == 0:
            out.append(frame)
            continue
        drop = (frame["icd_version"].to_numpy() == other) & np.isin(frame["episode_id"].to_numpy("int64"), keep_ids)
        n_dropped += int(drop.sum())
        out.append(frame[~drop] if drop.any() else frame)
    return out[0], out[1], n_dropped


def build_episodes(
    notes: pd.DataFrame,
    texts: pa.ChunkedArray,
    dx: pd.DataFrame,
    px: pd.DataFrame,
    meta: pd.DataFrame | None,
    report: LoadReport,
    icd_version: int | None = None,
    strict: bool = False,
) -> pd.DataFrame:
    """Episode table from ``notes`` (episode_id, subject_id, text_pos, has_text; one row per episode,
    ``text_pos`` indexing ``texts``, see :func:`triage.data.notes.merge_addenda`), long code
    tables ``dx``/``px`` (episode_id, seq_num, code, icd_version; code already canonical) and
    optional ``meta`` indexed by episode_id (admittime, dischtime, admission_type, died, age, gender).
    """
    if icd_version not in (None, 9, 10):
        raise DataError(f"icd_version must be 9, 10 or None, got {icd_version!r}")
    # 0. a requested version keeps only its own codes (as the reference pipeline does): an episode
    #    with ICD-10 diagnoses and ICD-9 procedures keeps its diagnoses; the dropped codes of
    #    episodes that still have codes are counted, episodes left with none are filtered below.
    if icd_version is not None:
        dx, px, n_dropped = _keep_version(dx, px, icd_version)
        if n_dropped:
            report.filtered[f"icd{19 - icd_version}_codes_in_icd{icd_version}_episodes"] = n_dropped
    # 1. unparseable codes poison their episode: a gold set missing a code would be wrong.
    bad_ids: set[int] = set()
    examples: list[str] = []
    for frame, kind in ((dx, "dx"), (px, "px")):
        if len(frame):
            bad = bad_code_mask(frame["code"], frame["icd_version"], kind)
            if bad.any():
                bad_ids.update(frame.loc[bad, "episode_id"].astype("int64").tolist())
                sample = frame.loc[bad].head(5)
                examples += [f"{kind} {c!r} (v{v}) in episode {e}" for c, v, e in
                             zip(sample["code"], sample["icd_version"], sample["episode_id"])]
    # 2. version per episode; admissions coded in both versions cannot be one gold set.
    versions = pd.concat([dx[["episode_id", "icd_version"]], px[["episode_id", "icd_version"]]])
    vgroups = versions.groupby("episode_id")["icd_version"].agg(["min", "max"])
    mixed = set(vgroups.index[vgroups["min"] != vgroups["max"]].astype("int64"))
    ep_version = vgroups["min"]
    # 3. ordered lists
    dx_sorted, px_sorted = sort_codes(dx), sort_codes(px)
    dx_lists = ordered_lists(dx_sorted["episode_id"].to_numpy("int64"), dx_sorted["code"].tolist())
    px_lists = ordered_lists(px_sorted["episode_id"].to_numpy("int64"), px_sorted["code"].tolist())
    del dx_sorted, px_sorted
    coded = set(dx_lists) | set(px_lists)
    # 4. the episode universe and its exclusions
    has_text = notes["has_text"].to_numpy(dtype=bool)
    note_ids = set(notes["episode_id"].to_numpy("int64")[has_text].tolist())
    empty_note_ids = set(notes["episode_id"].to_numpy("int64")[~has_text].tolist()) - note_ids
    if icd_version is not None:
        other = {e for e in coded if ep_version.get(e) != icd_version and e not in mixed}
        n_other = len(other & note_ids)
        if n_other:
            report.filtered[f"icd_version_{19 - icd_version}"] = n_other
        coded -= other
        note_ids -= other
        empty_note_ids -= other
    report.exclude("no_note", len(coded - note_ids), sorted(coded - note_ids)[:5])
    uncoded = note_ids - coded - (set(vgroups.index) if icd_version is not None else set())
    report.exclude("no_codes", len(uncoded), sorted(uncoded)[:5])
    keep = coded & note_ids
    bad_in = keep & bad_ids
    report.exclude("unparseable_codes", len(bad_in), examples)
    mixed_in = keep & mixed - bad_in
    report.exclude("mixed_icd_versions", len(mixed_in), sorted(mixed_in)[:5])
    keep -= bad_ids | mixed
    if strict and report.excluded:
        raise DataError(f"strict mode: {report.summary()}")
    # 5. assemble in note-file order (admissions with addenda last), so the texts are gathered
    #    with ascending positions: zero-copy slices or one copy of the kept texts only
    note_ids_all = notes["episode_id"].to_numpy("int64")
    kept_rows = np.flatnonzero(np.isin(note_ids_all, np.fromiter(keep, dtype=np.int64, count=len(keep))))
    text_pos = notes["text_pos"].to_numpy("int64")[kept_rows]
    order = np.argsort(text_pos, kind="stable")
    kept_rows, text_pos = kept_rows[order], text_pos[order]
    ids = note_ids_all[kept_rows]
    out = pd.DataFrame({"episode_id": ids})
    out["subject_id"] = notes["subject_id"].to_numpy()[kept_rows]
    out["text"] = pd.Series(pd.arrays.ArrowStringArray(gather(texts, text_pos)))
    del texts
    out["diagnoses"] = [dx_lists.get(i, []) for i in ids.tolist()]
    out["procedures"] = [px_lists.get(i, []) for i in ids.tolist()]
    out["icd_version"] = ep_version.reindex(ids).to_numpy()
    meta = meta if meta is not None else pd.DataFrame(index=pd.Index([], dtype="int64"))
    for col in ("admittime", "dischtime", "admission_type", "died", "age", "gender"):
        out[col] = meta[col].reindex(ids).to_numpy() if col in meta.columns else None
    out["split"] = None
    report.n_loaded = len(out)
    return conform(out)


def conform(df: pd.DataFrame) -> pd.DataFrame:
    """Cast to the schema's dtypes and order, computing ``los_days`` and ``care_setting`` (always
    from ``admission_type``, see :mod:`triage.data.settings`, so a cached table cannot disagree)."""
    for col in ("admittime", "dischtime"):
        df[col] = pd.to_datetime(df[col], errors="coerce").astype("datetime64[ns]")
    los = (df["dischtime"] - df["admittime"]).dt.total_seconds() / 86400.0
    df["los_days"] = los.where(los >= 0)
    df["care_setting"] = care_settings(df["admission_type"]).to_numpy()
    for col, dtype in EPISODE_COLUMNS.items():
        if col in ("diagnoses", "procedures", "los_days", "admittime", "dischtime"):
            continue
        if dtype == "string":
            df[col] = df[col].astype("string")
        elif dtype == "boolean":
            df[col] = pd.array(df[col].to_numpy(), dtype="boolean") if df[col].notna().any() else pd.array([pd.NA] * len(df), dtype="boolean")
        else:
            df[col] = df[col].astype(dtype)
    return df[list(EPISODE_COLUMNS)].reset_index(drop=True)
