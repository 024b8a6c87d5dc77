"""Batch outputs are committed whole: a killed run leaves nothing that reads as a result, and the
next run removes what it left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from batch_data import episode_frame, write_parquet

from triage.batch.io import COMPLETE, PARTIAL, RUNNING, DatasetWriter, clean_stale, read_output
from triage.decisions.errors import BatchInputError

ROOT = Path(__file__).resolve().parents[2]


def test_a_writer_commits_with_the_marker_and_aborts_to_nothing(tmp_path):
    schema = pa.schema([("x", pa.int64())])
    w = DatasetWriter(tmp_path / "out", schema)
    w.write(pa.table({"x": [1, 2]}, schema=schema))
    assert not (tmp_path / "out").exists() and (w.staging / RUNNING).is_file()
    w.commit()
    assert (tmp_path / "out" / COMPLETE).is_file() and not (tmp_path / "out" / RUNNING).exists()
    assert read_output(tmp_path / "out").num_rows == 2
    w2 = DatasetWriter(tmp_path / "other", schema)
    w2.write(pa.table({"x": [1]}, schema=schema))
    w2.abort()
    assert not any(p.name.startswith("other") for p in tmp_path.iterdir())


def test_read_output_refuses_a_folder_without_the_marker(tmp_path):
    (tmp_path / "out").mkdir()
    pq.write_table(pa.table({"x": [1]}), tmp_path / "out" / "part-0.parquet")
    with pytest.raises(BatchInputError, match="not a complete batch output"):
        read_output(tmp_path / "out")


def test_clean_stale_removes_dead_writers_only(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import json
    import socket

    def staging(name: str, pid: int | None) -> Path:
        p = tmp_path / f"out{PARTIAL}{name}"
        p.mkdir()
        if pid is not None:
            (p / RUNNING).write_text(json.dumps({"host": socket.gethostname(), "pid": pid}))
        return p

    alive, gone, unmarked = staging("alive", os.getpid()), staging("gone", dead.pid), staging("none", None)
    other_host = tmp_path / f"out{PARTIAL}remote"
    other_host.mkdir()
    (other_host / RUNNING).write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    unrelated = tmp_path / "outlier"
    unrelated.mkdir()
    removed = clean_stale(tmp_path / "out")
    assert set(removed) == {gone, unmarked}
    assert alive.exists() and other_host.exists() and unrelated.exists()


@pytest.mark.slow
def test_kill_9_leaves_no_result_and_the_next_run_cleans_up(tmp_path, light_bundle):
    inp = write_parquet(episode_frame(30_000, seed=4), tmp_path / "in.parquet", row_group_size=2000)
    out = tmp_path / "routed"
    cmd = [str(Path(sys.executable).parent / "triage"), "batch", str(inp), "--out", str(out),
           "--model", str(light_bundle), "--chunk-rows", "1000"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 900  # start-up on a slow, loaded machine; fails at once if it died
    while not list(tmp_path.glob(f"routed{PARTIAL}*/part-*.parquet")):  # killed mid-write
        assert time.monotonic() < deadline and p.poll() is None, "the run never started writing"
        time.sleep(0.1)
    time.sleep(1.0)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert not out.exists() and not (tmp_path / "routed-errors").exists()
    assert list(tmp_path.glob(f"routed{PARTIAL}*"))  # the killed run's staging folder
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "left by an interrupted run" in r.stderr
    assert not list(tmp_path.glob(f"routed*{PARTIAL}*"))
    assert read_output(out).num_rows + read_output(tmp_path / "routed-errors").num_rows == 30_000
