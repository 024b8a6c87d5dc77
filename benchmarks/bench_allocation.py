"""Allocation benchmark: assignment of 5,000 episodes to 50 coders, 90-day backlog simulation at
500 episodes/day, the per-episode queue/priority hot path, and peak RSS. Prints its figures."""

from __future__ import annotations

import os
import resource
import time

import numpy as np
import pandas as pd

from triage.allocation import (
    Allocator,
    SimulatedRouting,
    example_roster,
    simulate_backlog,
    synthetic_arrivals,
)

LABELS = ["I50.9", "C34.90", "O80.", "J18.9", "M17.11", "N17.9", "G40.909", "K35.80", "E11.9", "R07.9",
          "S72.001A", "A41.9"]


def day_of_episodes(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "episode_id": [f"e{i}" for i in range(n)],
        "route": rng.choice(["automate", "assist", "manual"], n, p=[0.3, 0.5, 0.2]),
        "p_correct": rng.uniform(size=n), "principal": rng.choice(LABELS, n),
        "drg_weight": rng.lognormal(0.2, 0.5, n), "n_codes": rng.poisson(11, n),
        "n_categories": rng.poisson(7, n), "note_words": rng.lognormal(np.log(1500), 0.5, n),
        "days_since_discharge": rng.integers(0, 40, n),
    })


def main() -> None:
    alloc = Allocator()
    roster = example_roster(50, hours=7.5, seed=0)
    eps = day_of_episodes(5000)
    t0, c0 = time.perf_counter(), time.process_time()
    res = alloc.allocate(eps, roster)
    t_assign, c_assign = time.perf_counter() - t0, time.process_time() - c0
    s = res.summary
    print(f"assign 5,000 episodes x 50 coders: {t_assign:.2f} s wall, {c_assign:.2f} s CPU (solver {s['solve_seconds']:.2f} s, "
          f"{s['solver']}, {s['n_pairs']:,} eligible pairs); assigned {s['n_assigned']}, backlog "
          f"{s['n_backlog']}, automated {s['n_automated']}; optimality gap <= {s['optimality_gap']:.3%}")

    ep = eps.iloc[0].to_dict()
    alloc.queue_and_priority(ep)
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        alloc.queue_and_priority(ep)
    print(f"queue_and_priority: {(time.perf_counter() - t0) / n * 1e6:.1f} us per episode")

    arrivals = synthetic_arrivals(90, 500, alloc, seed=0)
    for policy in (SimulatedRouting.all_human(), SimulatedRouting.from_rate(0.3)):
        t0, c0 = time.perf_counter(), time.process_time()
        sim = simulate_backlog(roster, 90, 500, policy, allocator=alloc, arrivals=arrivals, seed=0)
        t_sim, c_sim = time.perf_counter() - t0, time.process_time() - c0
        m = sim.summary
        print(f"simulate 90 days x 500/day [{policy.name}]: {t_sim:.2f} s wall, {c_sim:.2f} s CPU; {m['arrivals']:,} arrivals, "
              f"final backlog {m['final_backlog']:,}, mean wait {m['mean_wait_days']:.2f} d, "
              f"cost {m['cost']:,.0f}")

    print(f"load average during run: {os.getloadavg()[0]:.1f} (wall times inflate when the 2 cores are shared)")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
