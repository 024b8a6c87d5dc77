"""Benchmark: the anytime-valid watch (triage.operation.watch) by simulation.

Prints (alpha = 0.10, delta_watch = 0.05):
* the false-alarm rate over streams of 20,000 audited outcomes at a true error of alpha - 0.01 and
  at alpha (the boundary of the null), with an exact 95% Clopper-Pearson interval, for the watch
  and for the negative control (a fixed-sample one-sided Clopper-Pearson test re-read after every
  50 outcomes) on the same streams;
* the delay (audited outcomes after a 5% -> 20% jump until the alarm) per jump time tau, and the
  automated episodes that pass after the jump before the fallback at a 5% audit rate (each
  automated episode is audited with probability 0.05, so the d-th audited one comes after
  d + NegBin(d, 0.05) automated ones);
* the cost of one update and one reading, and the size of the stored state.

Run: PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_watch.py [--streams 500] [--jump-streams 300]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import numpy as np

from triage.operation.drift import DriftReference, StreamDrift
from triage.operation.watch import RiskWatch, first_crossing
from triage.policy import clopper_pearson_interval


def _sim():
    path = Path(__file__).parents[1] / "tests" / "operation" / "test_watch_simulation.py"
    spec = importlib.util.spec_from_file_location("_watch_sim", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rate(k: int, n: int) -> str:
    lo, hi = clopper_pearson_interval(k, n, 0.95)
    return f"{k / n:.4f} [{float(lo):.4f}, {float(hi):.4f}] ({k}/{n})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=500)
    ap.add_argument("--jump-streams", type=int, default=300)
    ap.add_argument("--audit-rate", type=float, default=0.05)
    args = ap.parse_args()
    sim = _sim()
    alpha, delta = sim.ALPHA, sim.DELTA
    print(f"alpha={alpha} delta_watch={delta} streams={args.streams} x {sim.LENGTH} audited outcomes")
    print("false alarms (rate [exact 95% CI] (alarms/streams))")
    for rate in (alpha - 0.01, alpha):
        x = sim.null_streams(rate, seed=int(rate * 1000), streams=args.streams)
        t = time.perf_counter()
        watch = int((first_crossing(x, alpha, delta) >= 0).sum())
        secs = time.perf_counter() - t
        peek = int(sim.peeking_alarms(x).sum())
        print(f"  true error {rate:.2f}: watch {_rate(watch, args.streams)}  [first_crossing {secs:.1f} s]")
        print(f"  true error {rate:.2f}: peeking every {sim.PEEK_EVERY} {_rate(peek, args.streams)}")
    print(f"detection of a {sim.JUMP_FROM:.0%} -> {sim.JUMP_TO:.0%} jump after tau audited outcomes "
          f"({args.jump_streams} streams each)")
    print("  tau   alarm-before-jump  delay q10 / q50 / q90 (audited)  automated episodes after the jump "
          f"before fallback at {args.audit_rate:.0%} audit: q10 / q50 / q90")
    rng = np.random.default_rng(0)
    for i, tau in enumerate((0, 200, 230, 1000, 1030, 5000)):
        x = sim.jump_streams(tau, seed=100 + i, streams=args.jump_streams)
        first = first_crossing(x, alpha, delta)
        early = (first >= 0) & (first <= tau)
        d = (first - tau)[(first > tau)]
        missed = int((first < 0).sum())
        auto = d + rng.negative_binomial(d, args.audit_rate)
        q = np.quantile(d, [0.1, 0.5, 0.9])
        qa = np.quantile(auto, [0.1, 0.5, 0.9])
        print(f"  {tau:5d} {early.mean():8.3f}         {q[0]:5.0f} / {q[1]:5.0f} / {q[2]:5.0f}"
              f"{'' if not missed else f' ({missed} not caught)'}"
              f"              {qa[0]:6.0f} / {qa[1]:6.0f} / {qa[2]:6.0f}")
    x = (np.random.default_rng(1).random(20_000) < 0.09).astype(int)
    w = RiskWatch(alpha, delta)
    t = time.perf_counter()
    for v in x:
        w.update((v,))
    per = (time.perf_counter() - t) / x.size * 1e6
    t = time.perf_counter()
    RiskWatch(alpha, delta).update(x)
    batch = (time.perf_counter() - t) / x.size * 1e6
    print(f"RiskWatch.update: {batch:.2f} us per audited outcome in one batch of {x.size}")
    t = time.perf_counter()
    for _ in range(200):
        w.reading()
    read = (time.perf_counter() - t) / 200 * 1e6
    state = json.dumps(w.to_state())
    print(f"RiskWatch.update: {per:.1f} us per audited outcome fed one at a time (error rate 9%)")
    print(f"RiskWatch.reading: {read:.0f} us;  state: {len(state.encode())} bytes of JSON "
          f"(n={w.n}, {len(w.to_state()['start_errors'])} restarts kept)")
    _drift_cost()


def _drift_cost() -> None:
    """StreamDrift on three settings (two automating): cost per routed episode, state size."""
    rng = np.random.default_rng(2)
    settings = rng.choice(["inpatient", "observation", "day_case"], 25_000, p=[0.6, 0.25, 0.15])
    p = rng.beta(5, 2, settings.size)
    thresholds = {"inpatient": 0.9, "observation": 0.85, "day_case": None}
    auto = p >= np.array([thresholds[s] or np.inf for s in settings])
    unknown = rng.random(settings.size) < 0.02
    ref = DriftReference.from_calibration(p[:5000], settings[:5000], thresholds, unknown_share=0.02)
    drift = StreamDrift(ref, 0.01)
    t = time.perf_counter()
    drift.update(p[5000:], settings[5000:], auto[5000:], unknown[5000:])
    batch = (time.perf_counter() - t) / 20_000 * 1e6
    t = time.perf_counter()
    for i in range(200):
        drift.update(p[i:i + 1], settings[i:i + 1], auto[i:i + 1], unknown[i:i + 1])
    one = (time.perf_counter() - t) / 200 * 1e6
    size = len(json.dumps(drift.to_state()).encode())
    print(f"StreamDrift ({len(drift.statistics)} statistics, delta per one-sided test "
          f"{drift.delta_per_test:.2e}): {batch:.0f} us per routed episode in a batch of 20,000, "
          f"{one:.0f} us fed one at a time; state {size} bytes; warning on a null stream: "
          f"{drift.reading()['warning']}")


if __name__ == "__main__":
    main()
