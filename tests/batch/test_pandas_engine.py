"""``triage batch --engine pandas``: chunked Parquet/CSV in, Parquet dataset out, bad rows set aside."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from batch_data import SECRET_NOTE, episode_frame, with_bad_rows, write_parquet
from typer.testing import CliRunner

from triage.batch.pandas_engine import run_pandas
from triage.decisions.batch import route_batch
from triage.decisions.errors import BatchInputError


def _read(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def test_routes_every_good_row_and_rejects_the_bad_ones(tmp_path, bundle, router):
    frame = with_bad_rows(episode_frame(400))
    inp = write_parquet(frame, tmp_path / "in.parquet")
    s = run_pandas(inp, bundle, tmp_path / "out", tmp_path / "err", chunk_rows=150, router=router)
    out, err = _read(tmp_path / "out"), _read(tmp_path / "err")
    assert s["rows_read"] == 400 and s["routed"] == len(out) == 395 and s["rejected"] == len(err) == 5
    assert s["rejected_by_column"] == {"code_scores": 2, "episode_id": 2, "text": 1}
    assert sum(s["routes"].values()) == 395
    assert set(err.row) == {3, 5, 6, 8, 9} and set(err.source) == {str(inp)}
    assert SECRET_NOTE not in err.to_json()
    # each decision is the router's own for that episode (metadata included)
    good = frame.drop(index=[3, 5, 6, 8, 9]).reset_index(drop=True)
    expected = router.route_many([
        {"episode_id": int(r.episode_id), "code_scores": json.loads(r.code_scores),
         "metadata": {"age": r.age, "gender": r.gender, "admission_type": r.admission_type,
                      "los_days": r.los_days, "died": bool(r.died),
                      "discharge_date": r.discharge_date.date().isoformat()}}
        for r in good.itertuples()])
    assert out.episode_id.tolist() == [d.episode_id for d in expected]
    assert out.route.tolist() == [d.route for d in expected]
    assert (out.p_correct - [d.p_correct for d in expected]).abs().max() <= 1e-12
    assert [None if pd.isna(x) else x for x in out.drg] == [d.drg for d in expected]
    assert json.loads(out.codes[0]) == expected[0].codes


def test_input_is_streamed_in_chunks(tmp_path, bundle, router, monkeypatch):
    seen = []
    real = route_batch

    def spy(r, batch, **kw):
        seen.append(batch.num_rows)
        return real(r, batch, **kw)

    monkeypatch.setattr("triage.batch.pandas_engine.route_batch", spy)
    inp = write_parquet(episode_frame(500), tmp_path / "in.parquet", row_group_size=500)
    run_pandas(inp, bundle, tmp_path / "out", tmp_path / "err", chunk_rows=120, router=router)
    assert max(seen) <= 120 and sum(seen) == 500


def test_csv_and_parquet_directory_give_the_same_rows(tmp_path, bundle, router):
    frame = episode_frame(300)
    write_parquet(frame, tmp_path / "in.parquet")
    frame.to_csv(tmp_path / "in.csv", index=False)
    d = tmp_path / "dataset"
    d.mkdir()
    write_parquet(frame.iloc[:120], d / "part-0.parquet")
    write_parquet(frame.iloc[120:], d / "part-1.parquet")
    (d / "_SUCCESS").write_text("")
    outs = {}
    for name in ("in.parquet", "in.csv", "dataset"):
        run_pandas(tmp_path / name, bundle, tmp_path / f"out-{name}", tmp_path / f"err-{name}", router=router)
        outs[name] = _read(tmp_path / f"out-{name}")
    base = outs["in.parquet"]
    for other in ("in.csv", "dataset"):
        assert outs[other].episode_id.tolist() == base.episode_id.tolist()  # int ids, also from CSV
        assert outs[other].route.tolist() == base.route.tolist()
        assert (outs[other].p_correct - base.p_correct).abs().max() <= 1e-12


def test_input_errors_name_file_and_column(tmp_path, bundle, router):
    frame = episode_frame(20)
    write_parquet(frame.drop(columns=["episode_id"]), tmp_path / "noid.parquet")
    with pytest.raises(BatchInputError, match=r"noid.parquet: missing the column 'episode_id'"):
        run_pandas(tmp_path / "noid.parquet", bundle, tmp_path / "o1", tmp_path / "e1", router=router)
    write_parquet(frame.drop(columns=["code_scores"]), tmp_path / "noscores.parquet")
    with pytest.raises(BatchInputError, match=r"noscores.parquet: needs a 'code_scores' column"):
        run_pandas(tmp_path / "noscores.parquet", bundle, tmp_path / "o2", tmp_path / "e2", router=router)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(BatchInputError, match=r"broken.parquet: cannot read as PARQUET"):
        run_pandas(tmp_path / "broken.parquet", bundle, tmp_path / "o3", tmp_path / "e3", router=router)
    with pytest.raises(BatchInputError, match="input not found"):
        run_pandas(tmp_path / "missing.parquet", bundle, tmp_path / "o4", tmp_path / "e4", router=router)
    assert not (tmp_path / "o3").exists()  # nothing half-written


def test_existing_output_needs_overwrite(tmp_path, bundle, router):
    inp = write_parquet(episode_frame(30), tmp_path / "in.parquet")
    run_pandas(inp, bundle, tmp_path / "out", tmp_path / "err", router=router)
    with pytest.raises(BatchInputError, match="pass --overwrite"):
        run_pandas(inp, bundle, tmp_path / "out", tmp_path / "err", router=router)
    s = run_pandas(inp, bundle, tmp_path / "out", tmp_path / "err", router=router, overwrite=True)
    assert s["routed"] == 30 and len(_read(tmp_path / "out")) == 30


def test_cli_summary_and_bad_input_exit(tmp_path, bundle):
    from triage.cli import app

    inp = write_parquet(with_bad_rows(episode_frame(60)), tmp_path / "in.parquet")
    runner = CliRunner()
    r = runner.invoke(app, ["batch", str(inp), "--out", str(tmp_path / "out"), "--model", str(bundle)])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["routed"] == 55 and summary["rejected"] == 5
    assert json.loads((tmp_path / "out" / "_summary.json").read_text())["routed"] == 55
    assert len(_read(tmp_path / "out-errors")) == 5
    r = runner.invoke(app, ["batch", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o2"),
                            "--model", str(bundle)])
    assert r.exit_code == 2 and "input not found" in r.output
    r = runner.invoke(app, ["batch", str(inp), "--out", str(tmp_path / "o3"), "--model", str(tmp_path)])
    assert r.exit_code == 2 and "not a router bundle" in r.output
