"""The main job at MIMIC-IV ICD-10 size: `triage run` on 122,279 synthetic episodes.

Target (issue 6): <= 45 min and <= 20 GB peak RSS on 2 cores. Runs the real CLI in a child
process (so its peak RSS is measured alone, with the coder's hashing workers), against a
fresh MLflow SQLite store in a temporary folder, and prints the wall time, the per-step
timings from run_summary.json and the headline figures.

    .venv/bin/python benchmarks/bench_run.py [--episodes 122279] [--workload inpatient]
        [--data DIR]   # an existing cohort instead of generating one into the cache dir
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--episodes", type=int, default=122_279)
    ap.add_argument("--workload", default="inpatient",
                    help="synthetic care-setting mix (triage run --workload): inpatient = MIMIC-IV size and shape")
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--work", type=Path, default=None, help="output folder (default: a temporary one)")
    args = ap.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-run-"))
    work.mkdir(parents=True, exist_ok=True)
    # cwd=work: the exported bundle (models/router/) lands there too
    cmd = [str(Path(sys.executable).parent / "triage"), "run", "--out", str(work / "run"),
           "--tracking-uri", f"sqlite:///{work / 'mlflow.db'}", "--experiment", "bench-run"]
    if args.data:
        cmd += ["--data", str(args.data)]
    else:
        cmd += ["--synthetic-episodes", str(args.episodes), "--workload", args.workload]
    print("$", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env={**os.environ, "COLUMNS": "110"}, check=False)
    wall = time.perf_counter() - t0
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    if proc.returncode != 0:
        sys.exit(f"triage run failed with exit code {proc.returncode}")

    summary = json.loads((work / "run" / "run_summary.json").read_text())
    print(f"\ntriage run: {wall:,.0f} s wall ({wall / 60:.1f} min)  [target <= 45 min]")
    print(f"peak RSS of the largest child process: {peak_gb:.2f} GB  [target <= 20 GB]")
    print("steps (s):", ", ".join(f"{k} {v:,.0f}" for k, v in summary.get("timings_seconds", {}).items()))
    keys = ["n_episodes", "f1_micro", "exact_match_full", "jaccard_full", "auroc_correct", "ece",
            "automation_rate", "automated_error_guarantee", "automated_error_rate", "test_error_interval_lower",
            "test_error_interval_upper", "oracle_automation_at_alpha", "oracle_automation_rate",
            "certified_saving_per_episode", "saving_from_assist_per_episode", "cost_per_episode_all_human"]
    print("summary:", ", ".join(f"{k}={summary[k]}" for k in keys if k in summary))
    print("headline:", summary.get("headline"))
    import pandas as pd

    auto = pd.read_parquet(work / "run" / "tables" / "automation_by_target.parquet")
    cols = ["target", "method", "alpha", "setting", "guaranteed_automation", "oracle_at_alpha", "ratio_to_oracle",
            "n_automated", "test_error", "test_error_lower", "test_error_upper"]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_rows", 500):
        print(auto[auto["setting"] == "all"][cols].round(4).to_string(index=False))
    print(f"outputs in {work}")


if __name__ == "__main__":
    main()
