"""``triage batch`` at scale: pandas engine vs Spark ``local[2]``, Parquet in and out (issue 16).

Targets: 1,000,000 score-only episodes (30-40 scored codes each); Spark on 2 cores >= 1.6x the
single-process pandas throughput; neither holds all rows in memory (peak RSS of the driver and
of the Spark Python workers is printed, sampled every 0.2 s over the process tree). Then the
Spark method comparison (mlflow.pyfunc.spark_udf vs mapInPandas vs mapInArrow, same router and
input), and the with-notes run: 122,279 MIMIC-like inpatient episodes of the synthetic cohort
(``triage synth --workload inpatient``, full-length discharge summaries, read by the same loader
as real MIMIC-IV) routed by the bundle ``triage run`` exports, whose coder reads every note.

Each engine runs in a child process (``python -m triage.cli batch ...`` equivalent via
``triage.batch``), so its memory is measured alone.

    .venv/bin/python benchmarks/bench_batch.py [--episodes 1000000] [--method-episodes 100000]
        [--text-episodes 122279] [--text-bundle DIR] [--work DIR] [--skip-text] [--skip-methods]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "service"))  # the synthetic router builder

ROW_GROUP = 25_000


# ------------------------------------------------------------------ inputs
def code_pool(n: int = 600, seed: int = 0) -> list[str]:
    """Real ICD-10-CM leaves (dotted labels) and a few PCS codes, so DRG grouping does real work."""
    import simple_icd_10_cm as cm
    from router_bundle import DX, PX

    rng = np.random.default_rng(seed)
    leaves = [c for c in cm.get_all_codes() if cm.is_leaf(c)]
    picked = rng.choice(len(leaves), size=n, replace=False)
    labels = [leaves[i] if "." in leaves[i] else leaves[i] + "." for i in picked]
    return sorted(set(labels + DX + PX))


def write_score_input(path: Path, n: int, seed: int = 0) -> None:
    """``n`` episodes, 30-40 scored codes each (JSON), with metadata; written in row groups."""
    pool = np.asarray(code_pool(), dtype=object)
    rng = np.random.default_rng(seed)
    writer = None
    for start in range(0, n, ROW_GROUP):
        m = min(ROW_GROUP, n - start)
        k = rng.integers(30, 41, size=m)
        scores = []
        for i in range(m):
            idx = rng.choice(len(pool), size=k[i], replace=False)
            s = rng.beta(1.0, 8.0, size=k[i])
            s[: rng.integers(1, 5)] = rng.beta(6.0, 1.3, size=1)
            scores.append("{" + ", ".join(f'"{pool[j]}": {v:.4f}' for j, v in zip(idx, s)) + "}")
        table = pa.table({
            "episode_id": np.arange(start + 1, start + m + 1, dtype=np.int64),
            "code_scores": scores,
            "age": rng.integers(18, 95, size=m).astype(float),
            "gender": rng.choice(["F", "M"], size=m),
            "admission_type": rng.choice(["EW EMER.", "ELECTIVE", "URGENT"], size=m),
            "los_days": rng.gamma(2.0, 2.0, size=m).round(1),
            "died": rng.random(m) < 0.03,
        })
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=ROW_GROUP)
    writer.close()


def write_text_input(path: Path, n: int, work: Path, seed: int = 0) -> None:
    """``n`` MIMIC-like inpatient episodes of the synthetic cohort: notes and routing metadata."""
    from triage.data.loader import load_episodes
    from triage.decisions.episodes import INPUT_COLUMNS

    cohort = work / f"cohort-inpatient-{n}"
    if not (cohort / "note").is_dir():
        subprocess.run([str(Path(sys.executable).with_name("triage")), "synth", "--out", str(cohort),
                        "--episodes", str(n), "--workload", "inpatient", "--seed", str(seed)], check=True,
                       stdout=subprocess.DEVNULL)
    episodes = load_episodes(cohort)
    table = pa.Table.from_pandas(episodes[[c for c in INPUT_COLUMNS if c in episodes.columns]],
                                 preserve_index=False)
    words = episodes["text"].str.split().str.len()
    print(f"wrote {n:,} episodes, median {words.median():,.0f} words per note", flush=True)
    pq.write_table(table, path, row_group_size=2_000)


def text_bundle(work: Path) -> Path:
    """The router bundle of ``triage run`` on the embedded default (its coder reads notes)."""
    bundle = work / "run" / "router"
    if not (bundle / "manifest.json").is_file():
        subprocess.run([str(Path(sys.executable).with_name("triage")), "run", "--out", str(work / "run")],
                       check=True, stdout=subprocess.DEVNULL)
    return bundle


# ------------------------------------------------------------------ measuring
class TreeMemory:
    """Peak RSS of a process and of its descendants, by role, and the CPU seconds they used.

    Sampled every 0.2 s; a process that vanishes between two calls (Spark forks short-lived
    Python workers) is skipped for that sample only. CPU seconds: the last user+sys seen of
    every process, summed (a machine shared with other jobs gives each engine fewer cores than
    it asks for, so CPU seconds per episode compare the engines' work independently of that).
    """

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak = {"driver": 0, "jvm": 0, "python_workers_each": 0, "python_workers_sum": 0, "tree": 0}
        self.cpu: dict[int, float] = {}
        self.role: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        rss, kinds = {}, {}
        for proc in procs:
            try:
                with proc.oneshot():
                    kind = " ".join(proc.cmdline()[:4])
                    mem = proc.memory_info().rss
                    t = proc.cpu_times()
            except psutil.Error:
                continue
            rss[proc.pid], kinds[proc.pid] = mem, kind
            self.cpu[proc.pid] = t.user + t.system
            self.role[proc.pid] = ("jvm" if "java" in kind else "workers" if "pyspark" in kind and "daemon" in kind
                                   else "driver" if proc.pid == self.root.pid else "other")
        workers = [r for pid, r in rss.items() if "pyspark" in kinds[pid] and "daemon" in kinds[pid]]
        jvm = [r for pid, r in rss.items() if "java" in kinds[pid]]
        p = self.peak
        p["driver"] = max(p["driver"], rss.get(self.root.pid, 0))
        p["jvm"] = max(p["jvm"], sum(jvm))
        p["python_workers_each"] = max(p["python_workers_each"], max(workers, default=0))
        p["python_workers_sum"] = max(p["python_workers_sum"], sum(workers))
        p["tree"] = max(p["tree"], sum(rss.values()))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(0.2)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        out = {k: round(v / 2**30, 2) for k, v in self.peak.items()}
        out["cpu_s"] = round(sum(self.cpu.values()), 1)
        for role in ("driver", "jvm", "workers"):
            out[f"cpu_s_{role}"] = round(sum(c for pid, c in self.cpu.items() if self.role.get(pid) == role), 1)
        return out


def run_child(code: str) -> tuple[dict, dict, float]:
    """Run ``code`` (prints the summary JSON last) in a child Python; summary, peak GB, wall s."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    mem = TreeMemory(proc.pid)
    out, _ = proc.communicate()
    peak = mem.stop()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"child failed ({proc.returncode}):\n{out[-3000:]}")
    return json.loads(out.strip().splitlines()[-1]), peak, wall


def pandas_job(inp: Path, bundle: Path, out: Path) -> str:
    return (f"import json; from triage.batch.pandas_engine import run_pandas\n"
            f"s = run_pandas({str(inp)!r}, {str(bundle)!r}, {str(out)!r}, {str(out) + '-errors'!r}, overwrite=True)\n"
            f"print(json.dumps(s))")


def spark_job(inp: Path, bundle: Path, out: Path, method: str = "arrow") -> str:
    return (f"import json; from triage.batch.spark_engine import run_spark, spark_session\n"
            f"spark = spark_session('local[2]', conf={{'spark.ui.enabled': 'false', 'spark.driver.memory': '2g'}})\n"
            f"s = run_spark({str(inp)!r}, {str(bundle)!r}, {str(out)!r}, {str(out) + '-errors'!r}, spark=spark,"
            f" overwrite=True, method={method!r})\n"
            f"print(json.dumps(s))")


def report(name: str, summary: dict, peak: dict, wall: float) -> tuple[float, float]:
    rate = summary["rows_read"] / wall
    per_cpu = summary["rows_read"] / peak["cpu_s"] if peak.get("cpu_s") else float("nan")
    print(f"{name:<34} {summary['rows_read']:>9,} rows  {wall:8.1f} s wall  {rate:9,.0f} episodes/s  "
          f"engine-reported {summary['seconds']:.1f} s  {per_cpu:,.0f} episodes per CPU-second  "
          f"peak GB {peak}", flush=True)
    return rate, per_cpu


def same_decisions(a: Path, b: Path) -> tuple[int, float, bool]:
    x = pq.read_table(a, columns=["episode_id", "route", "p_correct"]).to_pandas().sort_values("episode_id")
    y = pq.read_table(b, columns=["episode_id", "route", "p_correct"]).to_pandas().sort_values("episode_id")
    same_ids = x.episode_id.to_numpy().tolist() == y.episode_id.to_numpy().tolist()
    return len(x), float(np.abs(x.p_correct.to_numpy() - y.p_correct.to_numpy()).max()), \
        same_ids and bool((x.route.to_numpy() == y.route.to_numpy()).all())


def compare_engines(inp: Path, bundle: Path, out: Path) -> tuple[float, float]:
    """Route ``inp`` with each engine (outputs ``<out>-pandas``, ``<out>-spark``), print both and
    whether their decisions agree; Spark's throughput over pandas', measured and per CPU-second x 2."""
    s, peak, wall = run_child(pandas_job(inp, bundle, Path(f"{out}-pandas")))
    r_pd, c_pd = report("pandas engine (1 process)", s, peak, wall)
    s, peak, wall = run_child(spark_job(inp, bundle, Path(f"{out}-spark")))
    r_sp, c_sp = report(f"spark local[2] mapInArrow ({s['partitions']} parts)", s, peak, wall)
    n, diff, same = same_decisions(Path(f"{out}-pandas"), Path(f"{out}-spark"))
    print(f"{n:,} decisions, identical routes: {same}, max |dp| {diff:.2e}", flush=True)
    return r_sp / r_pd, 2 * c_sp / c_pd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--episodes", type=int, default=1_000_000)
    ap.add_argument("--method-episodes", type=int, default=100_000)
    ap.add_argument("--text-episodes", type=int, default=122_279)
    ap.add_argument("--text-bundle", type=Path, default=None,
                    help="a router bundle with a coder (default: train one with `triage run`)")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--skip-text", action="store_true")
    ap.add_argument("--skip-methods", action="store_true")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-batch-"))
    work.mkdir(parents=True, exist_ok=True)

    from router_bundle import build_bundle

    bundle = work / "bundle"
    if not (bundle / "manifest.json").is_file():
        build_bundle(bundle, n=900, seed=0, code_systems=True)
    inp = work / f"scores-{args.episodes}.parquet"
    if not inp.is_file():
        t = time.perf_counter()
        write_score_input(inp, args.episodes)
        print(f"wrote {inp} ({inp.stat().st_size / 2**20:.0f} MB) in {time.perf_counter() - t:.0f} s", flush=True)

    print(f"\n== {args.episodes:,} score-only episodes, Parquet in/out ==", flush=True)
    ratio, cpu_ratio = compare_engines(inp, bundle, work / "out")
    print(f"spark / pandas throughput: {ratio:.2f}x measured  [target >= 1.6x]; on 2 idle cores "
          f"(Spark's CPU work spread over both, pandas on one): {cpu_ratio:.2f}x", flush=True)
    in_gb = inp.stat().st_size / 2**30
    print(f"input {in_gb:.2f} GB on disk; all rows in memory as Python objects would be several GB", flush=True)

    if not args.skip_methods:
        m = args.method_episodes
        small = work / f"scores-{m}.parquet"
        if not small.is_file():
            write_score_input(small, m, seed=1)
        print(f"\n== Spark methods, {m:,} episodes, local[2], same bundle ==", flush=True)
        for method in ("arrow", "pandas", "udf"):
            s, peak, wall = run_child(spark_job(small, bundle, work / f"out-m-{method}", method))
            report(f"spark {method}", s, peak, wall)
        n, diff, same = same_decisions(work / "out-m-arrow", work / "out-m-udf")
        print(f"spark_udf vs mapInArrow: {n:,} decisions, identical routes: {same}, max |dp| {diff:.2e}")

    if not args.skip_text:
        tb = args.text_bundle or text_bundle(work)
        tin = work / f"text-{args.text_episodes}.parquet"
        if not tin.is_file():
            write_text_input(tin, args.text_episodes, work)
        print(f"\n== {args.text_episodes:,} inpatient episodes with full-length notes (the coder runs) ==",
              flush=True)
        ratio, _ = compare_engines(tin, tb, work / "out-text")
        print(f"spark / pandas throughput: {ratio:.2f}x", flush=True)
    print(f"outputs in {work}")


if __name__ == "__main__":
    main()
