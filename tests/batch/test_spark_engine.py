"""``triage batch --engine spark`` on a real local[2] Spark: same rows as the pandas engine."""

from __future__ import annotations

import sys

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from batch_data import SECRET_NOTE, episode_frame, with_bad_rows, write_parquet

from triage.batch.pandas_engine import run_pandas
from triage.batch.spark_engine import (
    plan_partitions,
    route_arrow_batches,
    run_spark,
    worker_filesystem,
    worker_loads,
    write_partition_rejects,
)
from triage.decisions.errors import BatchInputError, Rejected, rejected_table

pytestmark = pytest.mark.slow


def _read(path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas().sort_values("episode_id", kind="stable").reset_index(drop=True)


def test_partitions_are_sized_from_the_input():
    assert plan_partitions(1_000_000, 2, 50_000) == 20
    assert plan_partitions(1_000, 2, 50_000) == 4  # at least two per core
    assert plan_partitions(12_000, 4, 5_000) == 8


def test_spark_gives_the_pandas_rows_and_rejects(spark, tmp_path, light_bundle, light_router):
    frame = with_bad_rows(episode_frame(600, seed=4))
    d = tmp_path / "in"
    d.mkdir()
    write_parquet(frame.iloc[:300], d / "a.parquet", row_group_size=100)
    write_parquet(frame.iloc[300:], d / "b.parquet", row_group_size=100)
    run_pandas(d, light_bundle, tmp_path / "pd", tmp_path / "pd-err", router=light_router)
    s = run_spark(str(d), light_bundle, str(tmp_path / "sp"), str(tmp_path / "sp-err"), spark=spark,
                  rows_per_partition=100)
    a, b = _read(tmp_path / "pd"), _read(tmp_path / "sp")
    assert s["rows_read"] == 600 and s["routed"] == len(b) == len(a) == 595 and s["rejected"] == 5
    assert s["partitions"] >= 6  # sized from the input (600 rows / 100), not Spark's file splits
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=0, atol=1e-12)
    err = pq.read_table(tmp_path / "sp-err").to_pandas()
    assert sorted(err.column) == sorted(pq.read_table(tmp_path / "pd-err").to_pandas().column)
    assert err.partition.notna().all() and err.source.str.endswith("a.parquet").all()
    assert SECRET_NOTE not in err.to_json()


def test_csv_input_and_string_ids(spark, tmp_path, light_bundle, light_router):
    frame = episode_frame(200, seed=5)
    frame["episode_id"] = "ep-" + frame["episode_id"].astype(str)
    frame.to_csv(tmp_path / "in.csv", index=False)
    run_pandas(tmp_path / "in.csv", light_bundle, tmp_path / "pd", tmp_path / "pd-err", router=light_router)
    s = run_spark(str(tmp_path / "in.csv"), light_bundle, str(tmp_path / "sp"), str(tmp_path / "sp-err"), spark=spark)
    a, b = _read(tmp_path / "pd"), _read(tmp_path / "sp")
    assert s["routed"] == 200 and b.episode_id.tolist() == a.episode_id.tolist()
    assert b.route.tolist() == a.route.tolist() and (a.p_correct - b.p_correct).abs().max() <= 1e-12


def test_bad_input_is_named(spark, tmp_path, light_bundle):
    write_parquet(episode_frame(10).drop(columns=["episode_id"]), tmp_path / "noid.parquet")
    with pytest.raises(BatchInputError, match=r"noid.parquet: missing the column 'episode_id'"):
        run_spark(str(tmp_path / "noid.parquet"), light_bundle, str(tmp_path / "o"), str(tmp_path / "e"), spark=spark)
    with pytest.raises(BatchInputError, match=r"missing.parquet"):
        run_spark(str(tmp_path / "missing.parquet"), light_bundle, str(tmp_path / "o"), str(tmp_path / "e"),
                  spark=spark)


def test_coder_runs_on_executors_once_per_worker(spark, tmp_path):
    from coder_bundle import build_coder_bundle, note_episodes

    from triage.batch.model import load_batch_router

    cb = build_coder_bundle(tmp_path / "coder-bundle")
    notes = note_episodes(120, seed=7)[["episode_id", "text", "age", "gender", "died"]]
    inp = write_parquet(notes, tmp_path / "notes.parquet", row_group_size=30)
    s = run_spark(str(inp), cb, str(tmp_path / "sp"), str(tmp_path / "sp-err"), spark=spark,
                  rows_per_partition=30)
    assert s["routed"] == 120 and s["partitions"] >= 4
    local = load_batch_router(cb)
    expected = local.route_many([{"episode_id": int(r.episode_id), "text": r.text,
                                  "metadata": {"age": r.age, "gender": r.gender, "died": bool(r.died)}}
                                 for r in notes.itertuples()])
    b = _read(tmp_path / "sp")
    assert b.route.tolist() == [d.route for d in expected]
    assert (b.p_correct - [d.p_correct for d in expected]).abs().max() <= 1e-9
    # each Python worker that routed loaded the bundle once, however many partitions it ran
    probe = spark.range(0, 8, 1, 8).mapInArrow(worker_loads, "pid bigint, loads bigint").collect()
    assert max(r["loads"] for r in probe) == 1 and len({r["pid"] for r in probe}) <= 2 < s["partitions"], probe


def test_spark_submit_entry_point(spark, tmp_path, light_bundle, capsys):
    import json

    from triage.batch import spark_job

    inp = write_parquet(episode_frame(80, seed=9), tmp_path / "in.parquet")
    code = spark_job.main([str(inp), "--out", str(tmp_path / "out"), "--model", str(light_bundle)])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["routed"] == 80 == len(_read(tmp_path / "out"))
    assert spark_job.main([str(tmp_path / "none.parquet"), "--out", str(tmp_path / "o2"),
                           "--model", str(light_bundle)]) == 2


def test_a_partitions_rejects_are_one_file_however_often_it_is_written(tmp_path):
    rows = rejected_table([Rejected("in.parquet", 3, i, str(i), "code_scores", "not JSON") for i in range(4)])
    for _ in range(3):  # a retried or speculative attempt writes the same partition again
        write_partition_rejects(str(tmp_path), 3, rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part-00003.parquet"]
    assert pq.read_table(tmp_path).num_rows == 4


def test_worker_filesystem_resolves_what_hadoop_qualifies(tmp_path):
    from pyarrow import fs

    for uri in (f"file:{tmp_path}", f"file://{tmp_path}", str(tmp_path)):
        got, path = worker_filesystem(uri)
        assert isinstance(got, fs.LocalFileSystem) and path == str(tmp_path), uri
    assert worker_filesystem("dbfs:/triage/errors")[1] == "/dbfs/triage/errors"


def _flaky_routing(bundle_ref: str, rejects_dir: str):
    """Routes a partition fully (its rejects written), then fails its first attempt."""
    import pyarrow as pa

    def fn(batches):
        from pyspark import TaskContext

        ctx = TaskContext.get()
        out = list(route_arrow_batches(batches, bundle_ref, pa.int64(), ctx.partitionId(), rejects_dir))
        if ctx.attemptNumber() == 0:
            raise RuntimeError("executor lost (simulated)")
        yield from out

    return fn


def test_a_retried_task_neither_loses_nor_duplicates_rejects(spark, tmp_path, light_bundle):
    import cloudpickle

    from triage.batch.spark_engine import _ddl, _distribute, read_input
    from triage.decisions.rows import output_schema

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    frame = with_bad_rows(episode_frame(200, seed=6))
    frame = frame[frame.episode_id != frame.loc[5, "episode_id"]]  # duplicates are the driver's job
    inp = write_parquet(frame, tmp_path / "in.parquet")
    rejects = tmp_path / "rejects"
    rejects.mkdir()
    df = read_input(spark, str(inp))[0].repartition(3)  # as the engine reads (nanosecond times too)
    ref = _distribute(spark, light_bundle)
    out = df.mapInArrow(_flaky_routing(ref, str(rejects)), _ddl(output_schema(pa.int64()))).collect()
    err = pq.read_table(rejects).to_pandas()
    assert len(out) + len(err) == len(frame) and len(err) == 3  # each bad row once, after 3 retries
    assert sorted(err.column) == ["code_scores", "code_scores", "text"]


def test_a_failed_job_leaves_no_rejected_rows_behind(spark, tmp_path, light_bundle):
    inp = write_parquet(with_bad_rows(episode_frame(60, seed=8)), tmp_path / "in.parquet")
    (tmp_path / "blocked").write_text("a file where the output's parent folder should be")
    with pytest.raises(Exception):  # noqa: B017 - Spark's own error: the output cannot be written
        run_spark(str(inp), light_bundle, str(tmp_path / "blocked" / "out"), str(tmp_path / "err"), spark=spark)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocked", "in.parquet"]
