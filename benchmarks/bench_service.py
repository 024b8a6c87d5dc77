"""Benchmark of the HTTP routing service against `mlflow models serve` on the same router.

Fits a router on a synthetic cohort, serves it with uvicorn (one worker, loopback) and with
`mlflow models serve` (one worker, the router logged as the MLflow pyfunc), and prints:
  - POST /v1/route latency p50/p99 with ~35 scored codes (sequential client), vs the library's
    own route_one time in-process (the service's overhead is the difference);
  - POST /v1/route/batch with 1,000 episodes;
  - throughput of each server, sequential and with 4 concurrent clients, and the ratio;
  - peak RSS of this process and of the servers (resource.getrusage).

Usage: .venv/bin/python benchmarks/bench_service.py [--requests 2000] [--skip-mlflow]
Targets: p50 <= 2 ms, p99 <= 5 ms, batch(1000) <= 250 ms, throughput >= 5x mlflow's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "service"))  # the synthetic router builder

API_KEY = "bench-router-key-0123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url} not ready after {timeout:.0f} s")


def wait_warm(url: str, timeout: float) -> None:
    """The service answers ready once its bundle is loaded; its code tables then warm up in the
    background: measure the warm service, not the first request's table loading."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(url, timeout=5).json()
        if body.get("warm", True):
            return
        time.sleep(0.25)
    raise TimeoutError(f"{url} not warm after {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    """End the server and its children (mlflow runs uvicorn as a child): its own session."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except ProcessLookupError:
        pass


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def timed_sequential(send, bodies: list) -> list[float]:
    out = []
    for body in bodies:
        t = time.perf_counter()
        send(body)
        out.append(time.perf_counter() - t)
    return out


def concurrent_rate(make_client, send, bodies: list, threads: int = 4) -> float:
    chunks = [bodies[i::threads] for i in range(threads)]

    def run(chunk):
        with make_client() as c:
            for b in chunk:
                send(c, b)

    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, chunks))
    return len(bodies) / (time.perf_counter() - t)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # mlflow execs `uvicorn` by name: the venv's bin must be on PATH
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), **extra)
    return env


def bench_service(bundle: Path, work: Path, episodes: list[dict], n: int) -> dict:
    port = free_port()
    env = child_env(
        TRIAGE_MODEL_URI=str(bundle),
        TRIAGE_DATABASE_URL=f"sqlite:///{work / 'decisions.db'}",
        TRIAGE_API_KEYS=f"router:{API_KEY}",
        # the policy's decisions served (a live deployment), each read of the state included
        TRIAGE_INITIAL_POLICY_STATE="live",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "service.main:create_app", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "warning",
         "--no-access-log"],
        env=env, cwd=work, start_new_session=True,
    )
    try:
        t0 = time.perf_counter()
        wait_for(f"http://127.0.0.1:{port}/readyz", 600, proc)
        startup = time.perf_counter() - t0
        wait_warm(f"http://127.0.0.1:{port}/readyz", 600)  # code tables load after ready
        base = f"http://127.0.0.1:{port}"
        headers = {"X-API-Key": API_KEY}
        with httpx.Client(base_url=base, headers=headers) as c:
            def send(body):
                r = c.post("/v1/route", json=body)
                assert r.status_code == 200, r.text

            timed_sequential(send, episodes[:50])  # warm the connection and caches
            lat = timed_sequential(send, [episodes[i % len(episodes)] for i in range(n)])
            batch = [dict(episodes[i % len(episodes)], episode_id=i) for i in range(1000)]
            batch_times = []
            for _ in range(5):
                t = time.perf_counter()
                r = c.post("/v1/route/batch", json={"episodes": batch}, timeout=120)
                batch_times.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text

        def csend(client, body):
            assert client.post("/v1/route", json=body).status_code == 200

        rate4 = concurrent_rate(
            lambda: httpx.Client(base_url=base, headers=headers), csend,
            [episodes[i % len(episodes)] for i in range(n)],
        )
        return {"startup_s": startup, "lat": lat, "batch": batch_times, "rate4": rate4}
    finally:
        stop(proc)


def mlflow_record(ep: dict) -> dict:
    md = ep.get("metadata") or {}
    return {"episode_id": int(ep["episode_id"]), "code_scores": json.dumps(ep["code_scores"]),
            **{k: (float(v) if k in ("age", "los_days") else v) for k, v in md.items()}}


def bench_mlflow(bundle: Path, work: Path, episodes: list[dict], n: int) -> dict:
    import mlflow

    from triage.tracking.registry import log_router_model

    uri = f"sqlite:///{work / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("bench-service")
    with mlflow.start_run():
        info = log_router_model(bundle, registered_model="bench-router")
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", info.model_uri, "-h", "127.0.0.1", "-p", str(port),
         "-w", "1", "--env-manager", "local"],
        env=child_env(MLFLOW_TRACKING_URI=uri), cwd=work,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        t0 = time.perf_counter()
        wait_for(f"http://127.0.0.1:{port}/ping", 600, proc)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=600) as c:
            def send(record):
                r = c.post("/invocations", json={"dataframe_records": [record]})
                assert r.status_code == 200, r.text[:500]

            records = [mlflow_record(e) for e in episodes]
            timed_sequential(send, records[:50])  # first call loads the code tables
            startup = time.perf_counter() - t0
            lat = timed_sequential(send, [records[i % len(records)] for i in range(n)])
            batch = [dict(records[i % len(records)], episode_id=i) for i in range(1000)]
            batch_times = []
            for _ in range(3):
                t = time.perf_counter()
                r = c.post("/invocations", json={"dataframe_records": batch})
                batch_times.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text[:500]

        def csend(client, record):
            assert client.post("/invocations", json={"dataframe_records": [record]}).status_code == 200

        rate4 = concurrent_rate(
            lambda: httpx.Client(base_url=base, timeout=600), csend,
            [records[i % len(records)] for i in range(n)],
        )
        return {"startup_s": startup, "lat": lat, "batch": batch_times, "rate4": rate4}
    finally:
        stop(proc)


def in_process(router, episodes: list[dict], n: int) -> list[float]:
    for ep in episodes[:50]:
        router.route_one(**ep)
    out = []
    for i in range(n):
        ep = episodes[i % len(episodes)]
        t = time.perf_counter()
        router.route_one(**ep)
        out.append(time.perf_counter() - t)
    return out


def report(name: str, r: dict) -> None:
    lat = r["lat"]
    print(f"{name}:")
    print(f"  ready after            {r['startup_s']:.1f} s")
    print(f"  single route p50/p99   {pct(lat, 50) * 1e3:.2f} / {pct(lat, 99) * 1e3:.2f} ms "
          f"(mean {statistics.mean(lat) * 1e3:.2f} ms)")
    print(f"  sequential throughput  {1 / statistics.mean(lat):.0f} req/s")
    print(f"  4-client throughput    {r['rate4']:.0f} req/s")
    print(f"  batch of 1,000         {statistics.median(r['batch']) * 1e3:.0f} ms (median)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)  # enough for a stable 4-client rate
    ap.add_argument("--cohort", type=int, default=900)
    ap.add_argument("--skip-mlflow", action="store_true")
    ap.add_argument("--code-systems", action=argparse.BooleanOptionalAction, default=True,
                    help="router features with Elixhauser/DRG columns (the realistic bundle)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from router_bundle import build_bundle, sample_episodes

    from service.loading import load_router

    work = Path(tempfile.mkdtemp(prefix="bench-service-"))
    t = time.perf_counter()
    bundle = build_bundle(work / "router", n=args.cohort, seed=0, code_systems=args.code_systems)
    print(f"router bundle fitted in {time.perf_counter() - t:.1f} s -> {bundle}")
    episodes = sample_episodes(300, seed=1)
    print(f"episodes: {statistics.mean(len(e['code_scores']) for e in episodes):.1f} scored codes each")

    router = load_router(str(bundle))
    lib = in_process(router, episodes, args.requests)
    t = time.perf_counter()
    router.route_many([dict(episodes[i % 300], episode_id=i) for i in range(1000)])
    lib_batch = time.perf_counter() - t
    print("library in-process (Router.route_one):")
    print(f"  p50/p99                {pct(lib, 50) * 1e3:.2f} / {pct(lib, 99) * 1e3:.2f} ms")
    print(f"  route_many(1,000)      {lib_batch * 1e3:.0f} ms")

    svc = bench_service(bundle, work, episodes, args.requests)
    report("service (uvicorn, 1 worker)", svc)
    print(f"  service overhead p50   {(pct(svc['lat'], 50) - pct(lib, 50)) * 1e3:.2f} ms "
          "(HTTP p50 - library p50: validation, auth, JSON, SQLite commit)")
    if not args.skip_mlflow:
        ml = bench_mlflow(bundle, work, episodes, args.requests)
        report("mlflow models serve (1 worker)", ml)
        print("ratio service / mlflow:")
        print(f"  sequential throughput  {statistics.mean(ml['lat']) / statistics.mean(svc['lat']):.1f}x")
        print(f"  4-client throughput    {svc['rate4'] / ml['rate4']:.1f}x")
        print(f"  batch of 1,000 time    {statistics.median(ml['batch']) / statistics.median(svc['batch']):.1f}x faster")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: this process {own:.0f} MB, largest server {kids:.0f} MB")
    print(f"load average during run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
