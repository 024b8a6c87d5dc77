"""kill -9 of a batch run at several points: what a reader finds, and what the next run cleans.

For each engine (pandas, Spark ``local[2]``) and each delay, starts ``triage batch`` on a
synthetic Parquet input in its own process group, kills the group with SIGKILL after the delay,
and reports what sits at ``--out`` (absent, or present with / without ``_SUCCESS``), what
``pyarrow.parquet.read_table(out)`` and ``triage.batch.io.read_output(out)`` return, and which
staging folders are left; then runs the same command to completion and reports what it removed
and the row count. Usage: .venv/bin/python benchmarks/bench_kill.py [--rows 60000] [--engines pandas,spark]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "service"))
sys.path.insert(0, str(ROOT / "tests" / "batch"))


def command(engine: str, inp: Path, out: Path, bundle: Path) -> list[str]:
    cmd = [str(Path(sys.executable).parent / "triage"), "batch", str(inp), "--out", str(out), "--model", str(bundle),
           "--engine", engine]
    return cmd + (["--chunk-rows", "2000"] if engine == "pandas" else ["--spark-master", "local[2]"])


def state(out: Path) -> str:
    import pyarrow.parquet as pq

    from triage.batch.io import read_output

    left = sorted(p.name for p in out.parent.iterdir() if p.name.startswith(out.name) and p != out)
    if not out.exists():
        what = "out absent"
    else:
        marker = (out / "_SUCCESS").exists()
        try:
            n = pq.read_table(out).num_rows
        except Exception as exc:  # noqa: BLE001
            n = type(exc).__name__
        try:
            read_output(out)
            guarded = "read_output ok"
        except Exception as exc:  # noqa: BLE001
            guarded = f"read_output refuses ({type(exc).__name__})"
        what = f"out present, _SUCCESS={marker}, read_table rows={n}, {guarded}"
    return f"{what}; left beside it: {left or 'nothing'}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=60_000)
    ap.add_argument("--engines", default="pandas,spark")
    ap.add_argument("--delays", default=None, help="seconds, comma-separated (default per engine)")
    args = ap.parse_args()
    from batch_data import episode_frame
    from router_bundle import build_bundle

    tmp = Path(tempfile.mkdtemp(prefix="bench-kill-"))
    bundle = build_bundle(tmp / "bundle", n=600, seed=0, code_systems=False)
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = episode_frame(args.rows, seed=5)
    inp = tmp / "in.parquet"  # microsecond timestamps: Spark reads no TIMESTAMP(NANOS)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), inp, row_group_size=5000,
                   coerce_timestamps="us", allow_truncated_timestamps=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for engine in args.engines.split(","):
        delays = [float(x) for x in args.delays.split(",")] if args.delays else (
            [3, 6, 10, 14] if engine == "pandas" else [8, 15, 25, 35])
        for delay in delays:
            out = tmp / f"{engine}-{delay:g}" / "routed"
            out.parent.mkdir()
            p = subprocess.Popen(command(engine, inp, out, bundle), env=env, cwd=tmp, start_new_session=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            finished = p.poll() is not None
            if not finished:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            time.sleep(1)
            print(f"{engine} kill -9 at {delay:g} s{' (had finished)' if finished else ''}: {state(out)}")
            t0 = time.perf_counter()
            r = subprocess.run(command(engine, inp, out, bundle), env=env, cwd=tmp, capture_output=True, text=True)
            removed = [line.split("removed ", 1)[1].split(",")[0] for line in r.stderr.splitlines()
                       if "removed " in line]
            print(f"   next run: exit {r.returncode} in {time.perf_counter() - t0:.0f} s; removed "
                  f"{[Path(x).name for x in removed] or 'nothing'}; then {state(out)}")


if __name__ == "__main__":
    main()
