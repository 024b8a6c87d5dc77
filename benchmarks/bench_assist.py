"""Benchmark of POST /v1/suggest and POST /v1/audit (seed paper section 4) with ~35 scored codes.

Fits the synthetic router of the service benchmark, adds an assist calibration
(``triage.assist.calibrate_assistant`` on 1,500 synthetic calibration episodes; the missing-code
flag threshold is then set to 0.5 so that most audits raise flags and pay for their MS-DRG
groupings, the realistic cost), serves it with uvicorn (one worker, loopback, SQLite store) and
prints p50/p99 of each endpoint (sequential client) beside the in-process library time.

Usage: .venv/bin/python benchmarks/bench_assist.py [--requests 1000]
Targets: p50 <= 5 ms, p99 <= 15 ms for both endpoints.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "service"))
from bench_service import child_env, free_port, pct, stop, timed_sequential, wait_for

API_KEY = "bench-router-key-0123"


def audit_body(ep: dict, i: int) -> dict:
    """A human coding of the episode: its best codes with one likely code left out."""
    ranked = sorted(ep["code_scores"], key=lambda c: -ep["code_scores"][c])
    coded = ranked[:4]
    coded.pop(1)
    return {"episode_id": i, "coded_codes": coded, "code_scores": ep["code_scores"],
            "metadata": {"gender": ep["metadata"]["gender"], "age": ep["metadata"]["age"]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--cohort", type=int, default=900)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from router_bundle import build_router, sample_episodes, synthetic_cohort

    from service.loading import load_router
    from triage.assist import Assistant, PrecisionThreshold, calibrate_assistant

    work = Path(tempfile.mkdtemp(prefix="bench-assist-"))
    t = time.perf_counter()
    router = build_router(n=args.cohort, seed=0, code_systems=True)
    scores, _, gold = synthetic_cohort(1500, seed=7)
    info = calibrate_assistant(scores, gold).to_dict()
    info["audit"]["missing"] = PrecisionThreshold(0.5, 0.95, 0.1, "episode", 3, True, 1500, 0, None).to_dict()
    bundle = dataclasses.replace(router, info={**router.info, "assist": info}).save(work / "router")
    print(f"router bundle with assist calibration in {time.perf_counter() - t:.1f} s -> {bundle}")
    print(f"pre-fill: {info['prefill']['threshold']} (target {info['prefill']['target']}, "
          f"feasible {info['prefill']['feasible']})")
    episodes = sample_episodes(300, seed=1)
    print(f"episodes: {statistics.mean(len(e['code_scores']) for e in episodes):.1f} scored codes each")

    lib_router = load_router(str(bundle))
    assistant = Assistant.from_dict(info)
    auditor = assistant.auditor()
    lib_s, lib_a = [], []
    for i in range(args.requests):
        ep = episodes[i % len(episodes)]
        t = time.perf_counter()
        got = lib_router._scores_for(ep["code_scores"], None)
        scores_i = got[0] if isinstance(got, tuple) else got
        assistant.suggest(scores_i, k=15)
        lib_s.append(time.perf_counter() - t)
        body = audit_body(ep, i)
        t = time.perf_counter()
        auditor.audit(body["coded_codes"], scores_i, "F")
        lib_a.append(time.perf_counter() - t)

    port = free_port()
    env = child_env(TRIAGE_MODEL_URI=str(bundle), TRIAGE_DATABASE_URL=f"sqlite:///{work / 'decisions.db'}",
                    TRIAGE_API_KEYS=f"router:{API_KEY}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "service.main:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log"],
        env=env, cwd=work, start_new_session=True,
    )
    flagged = 0
    try:
        wait_for(f"http://127.0.0.1:{port}/readyz", 600, proc)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": API_KEY}) as c:
            def suggest(body):
                r = c.post("/v1/suggest", json=body)
                assert r.status_code == 200, r.text

            def audit(body):
                nonlocal flagged
                r = c.post("/v1/audit", json=body)
                assert r.status_code == 200, r.text
                flagged += bool(r.json()["flags"])

            timed_sequential(suggest, episodes[:50])
            timed_sequential(audit, [audit_body(e, i) for i, e in enumerate(episodes[:50])])
            flagged = 0
            lat_s = timed_sequential(suggest, [dict(episodes[i % 300], k=15) for i in range(args.requests)])
            lat_a = timed_sequential(audit, [audit_body(episodes[i % 300], i) for i in range(args.requests)])
    finally:
        stop(proc)
    for name, lib, lat in (("POST /v1/suggest", lib_s, lat_s), ("POST /v1/audit", lib_a, lat_a)):
        print(f"{name}: p50/p99 {pct(lat, 50) * 1e3:.2f} / {pct(lat, 99) * 1e3:.2f} ms over {len(lat)} requests "
              f"(library in-process {pct(lib, 50) * 1e3:.2f} / {pct(lib, 99) * 1e3:.2f} ms)")
    print(f"audits with at least one flag: {100 * flagged / args.requests:.0f}%")
    print(f"load average during run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
