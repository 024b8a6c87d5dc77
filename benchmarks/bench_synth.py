"""Speed and memory of ``triage.synth.generate`` (issue 3 targets: 10,000 episodes <= 30 s;
122,279 inpatient episodes with full-length notes <= 5 min and <= 4 GB peak RSS, 2 cores).

Each size runs in its own process so peak RSS is per size. Output goes under /tmp. The default
workload is ``inpatient`` (the MIMIC-IV-shaped cohort the targets are about); ``--workload mixed``
times the default run's cohort (day-case and observation notes are shorter, so it is faster).

    .venv/bin/python benchmarks/bench_synth.py                 # 10,000 and 122,279
    .venv/bin/python benchmarks/bench_synth.py --episodes 10000 --workload mixed
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time


def run_one(n: int, seed: int, keep: bool, workload: str = "inpatient") -> None:
    from triage.synth import generate
    from triage.synth.vocab import icd10cm, icd10pcs

    t0 = time.perf_counter()
    icd10cm(), icd10pcs()  # vocabulary load (cached on disk after the first run)
    t_vocab = time.perf_counter() - t0
    out = tempfile.mkdtemp(prefix=f"bench_synth_{n}_", dir="/tmp")
    c0 = time.process_time()
    t1 = time.perf_counter()
    generate(out, n_episodes=n, seed=seed, workload=workload)
    wall = time.perf_counter() - t1
    cpu = time.process_time() - c0
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    load = os.getloadavg()[0]
    print(f"workload={workload}  episodes={n:>7,}  generate wall={wall:6.1f} s  cpu={cpu:6.1f} s  vocab load={t_vocab:4.1f} s  "
          f"peak RSS={rss_gb:4.2f} GB  output={size / 1e6:,.0f} MB  load avg={load:.1f}", flush=True)
    if keep:
        print(f"kept {out}")
    else:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, nargs="*", default=[10_000, 122_279])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the written folders under /tmp")
    ap.add_argument("--workload", default="inpatient", help="care-setting mix (triage synth --workload)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        run_one(args.episodes[0], args.seed, args.keep, args.workload)
        return
    for n in args.episodes:
        cmd = [sys.executable, __file__, "--child", "--episodes", str(n), "--seed", str(args.seed),
               "--workload", args.workload]
        if args.keep:
            cmd.append("--keep")
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
