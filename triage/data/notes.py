"""Discharge-summary texts: one text per admission, the report first and its addenda after it.

Duplicate rows (the same admission with the same text, e.g. a note exported twice) are kept once:
the reference pipeline's rule (Edin et al. 2023 drop duplicates on admission and text). They are
counted in ``frame.attrs["duplicate_notes"]`` so loaders can report them; notes of one admission
that differ are all kept, joined report first, then addenda.

Note texts are the bulk of the data (~1.1 GB for MIMIC-IV ICD-10), so they stay in Arrow and
are copied once, at the very end, when the kept episodes' texts are gathered. Only admissions
with more than one note have their texts joined in Python.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

ADDENDUM_SEPARATOR = "\n\n"
MAX_SLICES = 1000  # beyond this many runs, copying the kept texts beats a fragmented column


def gather(texts: pa.ChunkedArray, positions: np.ndarray) -> pa.ChunkedArray:
    """``texts[positions]`` for ascending positions, without concatenating the chunks.

    ``ChunkedArray.take`` first combines every chunk into one array (a full copy of all notes);
    here runs of consecutive positions become zero-copy slices, or, when there are too many
    runs, each chunk is filtered on its own so only the kept texts are copied.
    """
    positions = np.asarray(positions, dtype=np.int64)
    if len(positions) == 0:
        return pa.chunked_array([], type=texts.type)
    if (np.diff(positions) < 0).any():
        raise ValueError("gather needs ascending positions")
    starts = np.r_[0, np.flatnonzero(np.diff(positions) != 1) + 1]
    if len(starts) <= MAX_SLICES:
        ends = np.r_[starts[1:], len(positions)]
        chunks = [c for a, b in zip(starts.tolist(), ends.tolist())
                  for c in texts.slice(int(positions[a]), b - a).chunks]
        return pa.chunked_array(chunks, type=texts.type)
    offsets = np.r_[0, np.cumsum([len(c) for c in texts.chunks])]
    bounds = np.searchsorted(positions, offsets)
    chunks = [chunk.take(pa.array(positions[bounds[i]:bounds[i + 1]] - offsets[i]))
              for i, chunk in enumerate(texts.chunks) if bounds[i + 1] > bounds[i]]
    return pa.chunked_array(chunks, type=texts.type)


def merge_addenda(notes: pd.DataFrame, texts: pa.ChunkedArray) -> tuple[pd.DataFrame, pa.ChunkedArray]:
    """One row per ``episode_id``: texts joined in ``rank`` order (report 0, addenda 1), then ``order``.

    ``notes`` has columns episode_id, subject_id, rank, order, row-aligned with ``texts``.
    Returns a frame (episode_id, subject_id, text_pos, has_text) and the texts that ``text_pos``
    indexes: the original chunks plus one chunk of merged texts (no copy of the originals).
    """
    ids = notes["episode_id"].to_numpy("int64")
    has_text = pc.fill_null(pc.match_substring_regex(texts, r"\S"), False).to_numpy(zero_copy_only=False)
    dup = pd.Index(ids).duplicated(keep=False)
    single = ~dup
    out = pd.DataFrame({
        "episode_id": ids[single],
        "subject_id": notes["subject_id"].to_numpy()[single],
        "text_pos": np.flatnonzero(single),
        "has_text": has_text[single],
    })
    out.attrs["duplicate_notes"] = 0
    if not dup.any():
        return out, texts
    pos = np.flatnonzero(dup & has_text)  # empty addenda add nothing
    multi = notes.iloc[pos][["episode_id", "subject_id", "rank", "order"]].assign(
        text=gather(texts, pos).to_pylist()
    )
    multi = multi.sort_values(["episode_id", "rank", "order"], kind="stable", na_position="last")
    n_before = len(multi)
    multi = multi.drop_duplicates(["episode_id", "text"], keep="first")  # the reference's rule
    n_duplicates = n_before - len(multi)
    merged = multi.groupby("episode_id", sort=False).agg(
        subject_id=("subject_id", "first"), text=("text", ADDENDUM_SEPARATOR.join)
    ).reset_index()
    # admissions whose every note is empty keep one (empty) row, so they count as "no note"
    empty_ids = np.setdiff1d(np.unique(ids[dup]), merged["episode_id"].to_numpy("int64"))
    dup_pos = np.flatnonzero(dup)
    first_pos = pd.Series(dup_pos).groupby(ids[dup_pos]).first()
    first_empty = first_pos.reindex(empty_ids).to_numpy("int64")
    base = len(texts)
    extra = pd.DataFrame({
        "episode_id": np.r_[merged["episode_id"].to_numpy("int64"), empty_ids],
        "subject_id": np.r_[merged["subject_id"].to_numpy(), notes["subject_id"].to_numpy()[first_empty]],
        "text_pos": np.r_[base + np.arange(len(merged)), first_empty],
        "has_text": np.r_[np.ones(len(merged), bool), np.zeros(len(empty_ids), bool)],
    })
    combined = pa.chunked_array(list(texts.chunks) + [pa.array(merged["text"].tolist(), pa.large_string())])
    frame = pd.concat([out, extra], ignore_index=True)
    frame.attrs["duplicate_notes"] = int(n_duplicates)
    return frame, combined


def merge_notes(notes: pd.DataFrame, texts: pa.ChunkedArray, report, path) -> tuple[pd.DataFrame, pa.ChunkedArray]:
    """:func:`merge_addenda`, with duplicate notes (same admission, same text) counted in ``report``
    (a :class:`~triage.data.errors.LoadReport`) and warned about, as every note loader does."""
    merged, texts = merge_addenda(notes, texts)
    n = merged.attrs.get("duplicate_notes")
    if n:
        report.filtered["duplicate_notes"] = n
        report.warn(f"{path}: {n} duplicate notes (same admission, same text) kept once, as the reference "
                    "pipeline does")
    return merged, texts
