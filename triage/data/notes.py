"""Discharge-summary texts: one text per admission, the report first and its addenda after it."""

from __future__ import annotations

import pandas as pd

ADDENDUM_SEPARATOR = "\n\n"


def merge_addenda(notes: pd.DataFrame) -> pd.DataFrame:
    """One row per ``episode_id``: texts joined in ``rank`` order (report 0, addenda 1), then ``order``.

    ``notes`` has columns episode_id, subject_id, text, rank, order. Only admissions with more
    than one note are touched, so the (large) single-note texts are never copied into Python.
    """
    notes = notes.sort_values(["episode_id", "rank", "order"], kind="stable", na_position="last")
    dup = notes["episode_id"].duplicated(keep=False).to_numpy()
    single = notes.loc[~dup, ["episode_id", "subject_id", "text"]]
    if not dup.any():
        return single.reset_index(drop=True)
    multi = notes.loc[dup]
    multi = multi[multi["text"].notna()]
    merged = multi.groupby("episode_id", sort=False).agg(
        subject_id=("subject_id", "first"), text=("text", ADDENDUM_SEPARATOR.join)
    ).reset_index()
    merged["text"] = merged["text"].astype(single["text"].dtype)
    return pd.concat([single, merged], ignore_index=True)
