"""Hostile batch inputs: other column types, encodings, separators, ragged and shifted rows.

Every case runs ``triage batch`` (pandas engine) and must end in exit 0 (bad rows set aside in
the errors dataset, each naming file, row and column) or exit 2 (one ``error:`` line naming the
file and the column), never a traceback; no output, message or errors dataset ever contains the
note text (``SECRET``) or a value of a text field; routed + rejected rows = input rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from triage.batch.io import COMPLETE

SECRET = "SECRET-note-7f3a"
CS = json.dumps({"I50.9": 0.93, "I10": 0.81, "N18.30": 0.2})
NOTE = f"patient {SECRET} with, commas; and \"quotes\""


def _csv(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def _q(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def _parquet(path: Path, table: pa.Table) -> Path:
    pq.write_table(table, path)
    return path


def _cases(tmp: Path) -> dict[str, tuple[Path, int, int]]:
    """name -> (input, input rows, expected exit code)."""
    c = {}
    header = "episode_id,code_scores,text,age\n"
    good = f"1,{_q(CS)},{_q(NOTE)},70\n"
    c["ragged_row"] = (_csv(tmp / "ragged.csv", header + good + f"2,{_q(CS)},patient {SECRET} x, y,70\n"), 2, 0)
    c["short_row"] = (_csv(tmp / "short.csv", header + good + "3\n"), 2, 0)
    c["multiline_note"] = (_csv(tmp / "multi.csv", header + f"1,{_q(CS)},\"line one\n{SECRET}\nthree\",70\n"
                                + f"2,{_q(CS)},x,71\n"), 2, 0)
    c["bad_utf8_in_age"] = (_csv(tmp / "utf8age.csv", (header + good).encode() + f"2,{_q(CS)},x,".encode()
                                 + b"7\xff0\n"), 2, 0)
    c["bad_utf8_in_text"] = (_csv(tmp / "utf8text.csv", (header + good).encode() + f"2,{_q(CS)},".encode()
                                  + SECRET.encode() + b"\xfe\xff,70\n"), 2, 0)
    c["bad_utf8_in_id"] = (_csv(tmp / "utf8id.csv", (header + good).encode() + b"\xff2," + _q(CS).encode()
                                + b",x,70\n"), 2, 0)
    c["latin1_file"] = (_csv(tmp / "latin1.csv", (header + f"1,{_q(CS)},caf\u00e9 {SECRET},70\n").encode("latin-1")),
                        1, 0)
    c["utf8_bom"] = (_csv(tmp / "bom.csv", b"\xef\xbb\xbf" + (header + good).encode()), 1, 0)
    c["utf16_file"] = (_csv(tmp / "utf16.csv", (header + good).encode("utf-16")), 1, 2)
    c["semicolon_separator"] = (_csv(tmp / "semi.csv", header.replace(",", ";") + f"1;{_q(CS)};{_q(NOTE)};70\n"),
                                1, 2)
    c["tab_in_csv"] = (_csv(tmp / "tabs.csv", header.replace(",", "\t") + f"1\t{_q(CS)}\t{_q(NOTE)}\t70\n"), 1, 2)
    c["shifted_text_into_age"] = (_csv(tmp / "shift.csv", header + good + f"2,{_q(CS)},70,{_q(NOTE)}\n"), 2, 0)
    c["huge_age_and_1e3"] = (_csv(tmp / "age.csv", header + f"1,{_q(CS)},,500\n2,{_q(CS)},,1e3\n3,{_q(CS)},,nan\n"),
                             3, 0)
    c["long_code"] = (_csv(tmp / "code.csv", header + f"1,{_q(json.dumps({'I' + 'X' * 5000: 0.9}))},,70\n"), 1, 0)
    c["float_id_1e30"] = (_parquet(tmp / "fid.parquet", pa.table({"episode_id": [1.0, 1e30, 2.5],
                                                                  "code_scores": [CS] * 3})), 3, 0)
    c["huge_int_id"] = (_parquet(tmp / "bigid.parquet", pa.table({"episode_id": pa.array([1, 2**60], pa.int64()),
                                                                  "code_scores": [CS] * 2})), 2, 0)
    c["list_id_column"] = (_parquet(tmp / "listid.parquet", pa.table({"episode_id": [[1], [2]],
                                                                      "code_scores": [CS] * 2})), 2, 2)
    c["struct_code_scores"] = (_parquet(tmp / "struct.parquet", pa.table({
        "episode_id": [1, 2], "code_scores": [{"a": 1}, {"a": 2}], "text": [NOTE, NOTE]})), 2, 0)
    c["list_age"] = (_parquet(tmp / "listage.parquet", pa.table({"episode_id": [1, 2], "code_scores": [CS] * 2,
                                                                 "age": [[SECRET], ["x"]]})), 2, 0)
    mixed = tmp / "mixed"
    mixed.mkdir()
    _parquet(mixed / "a.parquet", pa.table({"episode_id": pa.array([1, 2], pa.int32()), "code_scores": [CS] * 2}))
    _parquet(mixed / "b.parquet", pa.table({"episode_id": pa.array([3, 4], pa.int64()), "code_scores": [CS] * 2}))
    _parquet(mixed / "c.parquet", pa.table({"episode_id": ["x5", "1"], "code_scores": [CS] * 2}))
    c["mixed_id_types"] = (mixed, 6, 0)
    c["dictionary_ids"] = (_parquet(tmp / "dict.parquet", pa.table({
        "episode_id": pa.array(["a1", "a2"]).dictionary_encode(), "code_scores": [CS] * 2})), 2, 0)
    c["binary_text"] = (_parquet(tmp / "bintext.parquet", pa.table({
        "episode_id": [1, 2], "code_scores": [CS] * 2, "gender": pa.array([b"F", SECRET.encode() + b"\xff"])})), 2, 0)
    c["no_episode_id"] = (_csv(tmp / "noid.csv", f"id,code_scores\n1,{_q(CS)}\n"), 1, 2)
    c["not_a_table"] = (_csv(tmp / "garbage.parquet", SECRET.encode() * 10), 1, 2)
    c["empty_csv"] = (_csv(tmp / "empty.csv", ""), 0, 2)
    c["header_only"] = (_csv(tmp / "header.csv", header), 0, 0)
    return c


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return _cases(tmp_path_factory.mktemp("hostile"))




def _names() -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return sorted(_cases(Path(d)))


@pytest.mark.parametrize("name", _names())
def test_hostile_input(name, cases, light_bundle, tmp_path):
    from triage.cli import app

    src, n_rows, code = cases[name]
    out, err = tmp_path / "out", tmp_path / "err"
    r = CliRunner().invoke(app, ["batch", str(src), "--out", str(out), "--errors", str(err),
                                 "--model", str(light_bundle)])
    text = r.output + (r.stderr if r.stderr_bytes is not None else "")
    assert r.exit_code == code, (name, text, repr(r.exception))
    assert "Traceback" not in text and SECRET not in text
    if code == 2:
        assert text.strip().splitlines()[-1].startswith("error: ") and str(src.name) in text
        assert not out.exists() and not err.exists()
        return
    assert (out / COMPLETE).is_file() and (err / COMPLETE).is_file()
    routed, rejected = pq.read_table(out), pq.read_table(err)
    assert routed.num_rows + rejected.num_rows == n_rows, name
    errors = rejected.to_pylist()
    assert SECRET not in json.dumps(errors) and SECRET not in json.dumps(routed.to_pylist(), default=str)
    for e in errors:  # each names the file, the row and the column
        assert e["source"] and e["row"] is not None and e["row"] >= 0 and e["column"], (name, e)
