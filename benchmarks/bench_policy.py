"""Benchmark: policy selection, evaluation, curves and subset bounds on 122,279 episodes.

Random calibrated (p, correct) and random subset columns stand in for the pipeline's output, so
this measures the policy/bounds cost alone. Prints wall time per step and peak RSS.
Run: .venv/bin/python benchmarks/bench_policy.py [--episodes N] [--seed S]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from triage.bounds import discover_subsets, subset_bounds
from triage.policy import (
    CostModel,
    cost_coverage_curve,
    evaluate_policy,
    make_policy,
    risk_coverage_curve,
)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--episodes", type=int, default=122_279)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--alpha", type=float, default=0.1)
    ap.add_argument("--delta", type=float, default=0.1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    n = args.episodes
    p = rng.beta(6, 2, n)
    correct = rng.random(n) < p
    split = rng.choice(["find", "cal", "test"], n, p=[0.3, 0.35, 0.35])
    cal, test = split == "cal", split == "test"
    costs = CostModel(manual_cost=20, assist_cost=6, error_cost=90, assist_error_cost=10,
                      capacity=0.6 * n, period_episodes=n)
    timings: dict[str, float] = {}
    total = time.perf_counter()
    print(f"episodes={n:,} calibration={cal.sum():,} test={test.sum():,} alpha={args.alpha} delta={args.delta}")
    for kind, method, fwer in [("chow", "ltt", "fixed_sequence"), ("guaranteed", "sgr", "holm"),
                               ("guaranteed", "ltt", "fixed_sequence"), ("guaranteed", "ltt", "holm"),
                               ("human_parity", "ltt", "fixed_sequence"), ("capacity", "ltt", "fixed_sequence"),
                               ("three_way", "sgr", "holm"), ("three_way", "ltt", "fixed_sequence")]:
        t0 = time.perf_counter()
        pol = make_policy(kind, costs, alpha=args.alpha, delta=args.delta, method=method, fwer=fwer).fit(
            p[cal], correct[cal]).policy_
        ev = evaluate_policy(pol, p[test], correct[test])
        dt = time.perf_counter() - t0
        timings[f"{kind}/{method}/{fwer}"] = dt
        print(f"{kind:>12}/{method}/{fwer:<14} {dt * 1000:8.1f} ms  t_auto={pol.t_automate:.4f} "
              f"t_assist={pol.t_assist if pol.t_assist is None else round(pol.t_assist, 4)} feasible={pol.feasible} "
              f"auto={ev['automation_rate']:.3f} assist={ev['assist_rate']:.3f} "
              f"err={ev['automated_error_rate']:.4f} [{ev['automated_error_lower']:.4f},{ev['automated_error_upper']:.4f}] "
              f"cost={ev['cost_per_episode']:.2f} vs all-human {ev['cost_per_episode_all_human']:.2f}")
    t0 = time.perf_counter()
    rc = risk_coverage_curve(p[test], correct[test])
    cc = cost_coverage_curve(p[test], correct[test], costs)
    timings["curves"] = time.perf_counter() - t0
    print(f"curves: {len(rc):,} + {len(cc):,} rows in {timings['curves'] * 1000:.1f} ms")
    subsets = pd.DataFrame({
        "gold_categories_band": rng.choice(["1", "2", "3", "4-5", ">=6"], n, p=[0.01, 0.03, 0.06, 0.2, 0.7]),
        "principal_chapter": rng.choice([f"ch{i:02d}" for i in range(1, 22)], n),
        "mdc": rng.choice([f"{i:02d}" for i in range(26)], n),
        "admission_type": rng.choice(["EW EMER.", "URGENT", "ELECTIVE", "OBSERVATION"], n),
        "los_band": rng.choice(["0-1d", "1-3d", "3-7d", "7-14d", ">=14d"], n),
        "note_length_band": rng.choice(["0-500w", "500-1000w", "1000-1500w", "1500-2000w", ">=2000w"], n),
        "care_type": rng.choice(["day_case", "inpatient"], n),
        "n_predicted_codes_band": rng.choice(["1", "2", "3", "4-5", "6-10", ">10"], n),
    })
    t0 = time.perf_counter()
    bounds = subset_bounds(subsets, p, correct, cal, test, costs=costs, alpha=args.alpha, delta=args.delta)
    timings["subset_bounds"] = time.perf_counter() - t0
    print(f"subset_bounds: {len(bounds)} subsets in {timings['subset_bounds']:.2f} s; "
          f"feasible {int(bounds['feasible'].sum())}; all-row realistic automation "
          f"{bounds.iloc[0]['realistic_automation_rate']:.3f} vs oracle {bounds.iloc[0]['oracle_automation_rate']:.3f}")
    features = pd.DataFrame({"p": p, "x1": rng.random(n), "x2": rng.normal(size=n)})
    t0 = time.perf_counter()
    rules = discover_subsets(features, correct, split == "find", cal, alpha=args.alpha, delta=args.delta)
    timings["discover_subsets"] = time.perf_counter() - t0
    union = rules[rules["rule"] == "confirmed union"].iloc[0]
    print(f"discover_subsets: {len(rules) - 1} leaves in {timings['discover_subsets']:.2f} s; "
          f"confirmed union share {union['share_confirm']:.3f}, error {union['error_confirm']:.4f}")
    # one episode through a chosen policy (the per-episode routing budget is 1 ms end to end)
    pol = make_policy("three_way", costs, alpha=args.alpha, delta=args.delta).fit(p[cal], correct[cal]).policy_
    one = np.array([0.93])
    reps = 20_000
    t0 = time.perf_counter()
    for _ in range(reps):
        pol.route(one)
    per = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    pol.route(p)
    batch = time.perf_counter() - t0
    total = time.perf_counter() - total
    print(f"route: one episode {per * 1e6:.1f} us; {n:,} episodes {batch * 1000:.1f} ms")
    print(f"TOTAL {total:.2f} s; peak RSS {_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
