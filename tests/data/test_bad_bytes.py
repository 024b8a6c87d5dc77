"""Bad bytes and repeated rows in the source files (issue 14): one-line errors that name the file,
the row or line and the fix, never the note text; duplicate notes counted and kept once."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from triage.data import DataError, load_episodes, load_episodes_with_report

SECRET = "SECRETNOTEWORDS"


def _notes_path(root):
    return root / "note" / "discharge.csv.gz"


def _rewrite(path, transform) -> None:
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(transform(data)))


def test_duplicate_note_rows_are_kept_once_and_counted(tmp_path, mimic):
    tables = mimic.mimic4_tables()
    notes = tables["note/discharge"]
    tables["note/discharge"] = pd.concat([notes, notes.iloc[[0, 0]]], ignore_index=True)
    root = mimic.write_mimic4(tmp_path / "m4", tables)
    with pytest.warns(UserWarning, match="2 duplicate notes"):
        df, report = load_episodes_with_report(root)
    text = df.set_index("episode_id").loc[101, "text"]
    assert text == notes.iloc[0]["text"]  # not concatenated with itself
    assert report.filtered["duplicate_notes"] == 2
    # an addendum that differs is still joined after its report
    assert "ADDENDUM" in df.set_index("episode_id").loc[105, "text"]


def test_bad_utf8_in_a_note_names_line_and_fix(tmp_path, mimic):
    tables = mimic.mimic4_tables()
    tables["note/discharge"].loc[3, "text"] = f"Heart failure {SECRET} XBADX"
    root = mimic.write_mimic4(tmp_path / "m4", tables)
    _rewrite(_notes_path(root), lambda b: b.replace(b"XBADX", b"\xff\xfe"))
    with pytest.raises(DataError) as err:
        load_episodes(root)
    msg = str(err.value)
    assert "discharge.csv.gz" in msg and "column 'text'" in msg and "line 5" in msg
    assert "not UTF-8" in msg and "iconv" in msg and "\n" not in msg
    assert SECRET not in msg and "should be text" not in msg


def test_bad_utf8_in_the_header(tmp_path, mimic):
    root = mimic.write_mimic4(tmp_path / "m4")
    _rewrite(_notes_path(root), lambda b: b.replace(b"note_type", b"note\xe9type", 1))
    with pytest.raises(DataError, match=r"discharge\.csv\.gz: row 1 \(the header\): byte \d+ is not UTF-8"):
        load_episodes(root)


def test_ragged_row_names_row_and_fix_not_the_note(tmp_path, mimic):
    tables = mimic.mimic4_tables()
    tables["note/discharge"].loc[2, "text"] = f"Newborn {SECRET}"
    root = mimic.write_mimic4(tmp_path / "m4", tables)

    def cut(data: bytes) -> bytes:  # row 4 of the file loses its last three fields
        lines = data.split(b"\n")
        lines[3] = b",".join(lines[3].split(b",")[:5])
        return b"\n".join(lines)

    _rewrite(_notes_path(root), cut)
    with pytest.raises(DataError) as err:
        load_episodes(root)
    msg = str(err.value)
    assert "row 4 (line 4) has 5 fields where the header has 8" in msg
    assert "quote" in msg and SECRET not in msg and "2-DS-1" not in msg
