"""Benchmark: risk-control methods by simulation — violation rate and automation / oracle.

For each scenario (the populations of tests/policy/test_guarantee_simulation.py: calibrated 25%
tractable, a 3% low base rate, a non-monotone top, a flat null) and calibration size n, draws
calibration sets, lets each method choose its threshold, and judges it on the population's true
error. Prints, per method: violation rate (must stay <= delta up to sampling error), mean
automation and its ratio to the oracle at alpha. Run: .venv/bin/python benchmarks/bench_guarantee.py
[--draws 300]
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np


def _scenarios():
    path = Path(__file__).parents[1] / "tests" / "policy" / "test_guarantee_simulation.py"
    spec = importlib.util.spec_from_file_location("_sim", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--alpha", type=float, default=0.1)
    ap.add_argument("--delta", type=float, default=0.1)
    args = ap.parse_args()
    sim = _scenarios()
    sim.DRAWS, sim.DELTA = args.draws, args.delta
    methods = sim.METHODS  # fixed_sequence+reference: one start chosen on an independent labelled draw (default)
    print(f"alpha={args.alpha} delta={args.delta} draws={args.draws}")
    print(f"{'scenario':<14} {'n':>5} {'oracle':>7}  " + "  ".join(f"{m + '/' + f:>30}" for m, f in methods))
    for scenario in sim.SCENARIOS:
        oracle = sim.Population(scenario, args.alpha).oracle()
        for m in (500, 1000, 5000):
            cells = []
            t0 = time.perf_counter()
            for method, fwer in methods:
                shares, viol = sim._simulate(scenario, m, sim._chooser(method, fwer, args.alpha), args.alpha)
                ratio = np.mean(shares) / oracle if oracle else float("nan")
                cells.append(f"viol {np.mean(viol):5.1%} auto {np.mean(shares):5.1%} /oracle {ratio:4.2f}")
            print(f"{scenario:<14} {m:>5} {oracle:7.1%}  " + "  ".join(f"{c:>30}" for c in cells)
                  + f"   ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
