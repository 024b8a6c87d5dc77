"""Validate routed episodes and fill their optional columns (the allocator's input contract).

Required: episode_id, route ("automate" | "assist" | "manual"), p_correct, principal.
Optional: chapter, mdc, drg, drg_weight, n_codes, n_categories, note_words, icd_version,
n_prefilled (codes pre-filled by ``triage.assist``: they shorten an assisted episode; default 0),
and days_since_discharge or discharge_date. Missing optional values take the config defaults; the
chapter is derived from the principal label when absent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from triage.allocation.config import ROUTES, AllocationConfig
from triage.codes.chapters import chapter_of_label, normalise_chapter

REQUIRED = ("episode_id", "route", "p_correct", "principal")
NUMERIC_OPTIONAL = ("drg_weight", "n_codes", "n_categories", "note_words")


class EpisodeInputError(ValueError):
    """Bad episode input; the message names the source, the column and the offending value."""


def _where(ids: pd.Series, row: int) -> str:
    return f"row {row} (episode_id={ids.iloc[row]!r})"


_INT_RE = re.compile(r"(\d+)")


def _code_number(value: Any) -> int:
    """MDC / DRG as an int from 5, "05", "MDC 05", "DRG 291"; -1 when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return -1
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    m = _INT_RE.search(str(value))
    if not m or str(value).strip() == "":
        raise ValueError(value)
    return int(m.group(1))


def to_frame(episodes: pd.DataFrame | Iterable[Mapping[str, Any]], source: str = "episodes") -> pd.DataFrame:
    if isinstance(episodes, pd.DataFrame):
        return episodes
    rows = list(episodes)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise EpisodeInputError(f"{source}: item {i} is a {type(row).__name__}, expected a mapping")
    return pd.DataFrame(rows)


def prepare_episodes(
    episodes: pd.DataFrame | Iterable[Mapping[str, Any]],
    config: AllocationConfig,
    as_of: str | pd.Timestamp | None = None,
    source: str = "episodes",
) -> pd.DataFrame:
    """A clean copy with every contract column present and typed (input is not modified)."""
    df = to_frame(episodes, source)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise EpisodeInputError(f"{source}: missing required column(s) {missing}; has {list(df.columns)}")
    n = len(df)
    ids = df["episode_id"].reset_index(drop=True)
    if ids.isna().any():
        raise EpisodeInputError(f"{source}: column 'episode_id' is empty at row {int(ids.isna().to_numpy().argmax())}")
    dup = ids.duplicated()
    if dup.any():
        raise EpisodeInputError(f"{source}: column 'episode_id' repeats {ids[dup].iloc[0]!r}")
    out = pd.DataFrame({"episode_id": ids})

    route = df["route"].astype(str).str.strip().str.lower().reset_index(drop=True)
    bad = ~route.isin(ROUTES)
    if bad.any():
        i = int(bad.to_numpy().argmax())
        raise EpisodeInputError(f"{source}: column 'route' has {df['route'].iloc[i]!r} at {_where(ids, i)}; "
                                f"expected one of {list(ROUTES)}")
    out["route"] = route

    p = pd.to_numeric(df["p_correct"], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(p) | (p < 0) | (p > 1)
    if bad.any():
        i = int(bad.argmax())
        raise EpisodeInputError(f"{source}: column 'p_correct' has {df['p_correct'].iloc[i]!r} at "
                                f"{_where(ids, i)}; expected a probability in [0, 1]")
    out["p_correct"] = p

    principal = df["principal"].reset_index(drop=True)
    bad = principal.isna() | (principal.astype(str).str.strip() == "")
    if bad.any():
        i = int(bad.to_numpy().argmax())
        raise EpisodeInputError(f"{source}: column 'principal' is empty at {_where(ids, i)}")
    out["principal"] = principal.astype(str).str.strip()

    version = None
    if "icd_version" in df.columns:
        version = pd.to_numeric(df["icd_version"], errors="coerce").reset_index(drop=True)
    chapter = np.full(n, -1, dtype=np.int64)
    given = df["chapter"].reset_index(drop=True) if "chapter" in df.columns else None
    for i in range(n):
        if given is not None and not _is_missing(given.iloc[i]):
            ch = normalise_chapter(given.iloc[i])
            if ch is None:
                raise EpisodeInputError(f"{source}: column 'chapter' has {given.iloc[i]!r} at {_where(ids, i)}; "
                                        "expected 1-22, a roman numeral or a chapter name")
        else:
            v = None if version is None or pd.isna(version.iloc[i]) else int(version.iloc[i])
            ch = chapter_of_label(out["principal"].iloc[i], v)
        chapter[i] = -1 if ch is None else ch
    out["chapter"] = chapter

    for col in ("mdc", "drg"):
        values = np.full(n, -1, dtype=np.int64)
        if col in df.columns:
            raw = df[col].reset_index(drop=True)
            for i, v in enumerate(raw):
                try:
                    values[i] = _code_number(v)
                except ValueError:
                    raise EpisodeInputError(f"{source}: column {col!r} has {v!r} at {_where(ids, i)}; "
                                            "expected a number") from None
        out[col] = values

    d = config.defaults
    defaults = {**{col: d[col] for col in NUMERIC_OPTIONAL}, "n_prefilled": 0.0}
    for col, default in defaults.items():
        values = _non_negative(df, col, ids, source)
        out[col] = np.full(n, default, dtype=float) if values is None else np.where(np.isfinite(values), values,
                                                                                      default)
    out["days_since_discharge"] = _days_since_discharge(df, ids, as_of, d["days_since_discharge"], source)
    return out


def _non_negative(df: pd.DataFrame, column: str, ids: pd.Series, source: str) -> np.ndarray | None:
    """The column as floats (NaN where empty), None when absent; EpisodeInputError names the first
    value that is not a non-negative number."""
    if column not in df.columns:
        return None
    raw = df[column].reset_index(drop=True)
    values = pd.to_numeric(raw, errors="coerce").to_numpy(float)
    bad = (raw.notna().to_numpy() & ~np.isfinite(values)) | (values < 0)
    if bad.any():
        i = int(bad.argmax())
        raise EpisodeInputError(f"{source}: column {column!r} has {raw.iloc[i]!r} at {_where(ids, i)}; "
                                "expected a non-negative number")
    return values


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _days_since_discharge(df: pd.DataFrame, ids: pd.Series, as_of, default: float, source: str) -> np.ndarray:
    days = _non_negative(df, "days_since_discharge", ids, source)
    if days is None:
        days = np.full(len(df), np.nan)
    if "discharge_date" in df.columns:
        raw = df["discharge_date"].reset_index(drop=True)
        dates = pd.to_datetime(raw, errors="coerce", utc=True, format="mixed")
        bad = raw.notna().to_numpy() & dates.isna().to_numpy()
        if bad.any():
            i = int(bad.argmax())
            raise EpisodeInputError(f"{source}: column 'discharge_date' has {raw.iloc[i]!r} at "
                                    f"{_where(ids, i)}; expected a date")
        ref = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp.now(tz="UTC").normalize()
        ref = ref.tz_localize("UTC") if ref.tzinfo is None else ref.tz_convert("UTC")
        from_dates = ((ref - dates).dt.total_seconds() / 86400.0).to_numpy(float)
        fill = np.isnan(days) & np.isfinite(from_dates)
        days[fill] = np.maximum(from_dates[fill], 0.0)  # discharged "after" the as-of date: due now
    return np.where(np.isnan(days), default, days)
