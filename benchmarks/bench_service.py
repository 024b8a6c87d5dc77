"""Benchmark of the HTTP routing service against `mlflow models serve` on the same router.

Fits a router on a synthetic cohort, serves it with uvicorn (one worker, loopback) and with
`mlflow models serve` (one worker, the router logged as the MLflow pyfunc), and prints:
  - POST /v1/route latency p50/p99 with ~35 scored codes (sequential clients: httpx, and a lean
    bare-socket keep-alive connection for ``--lean-seconds``, each request's own time), vs the library's
    own route_one time in-process (the service's overhead is the difference), split into the HTTP
    floor (the same lean client against ``http_floor.py``, a bare ASGI app under the same uvicorn)
    and the app's own work, with the app's mean time from its own duration histogram;
  - POST /v1/route/batch with 1,000 episodes, against route_many in-process: the two alternate
    in rounds and the ratio is the median of the rounds' ratios (this machine's speed drifts
    between minutes); mlflow's batch alike, in rounds of its own, so the two servers' batches,
    measured minutes apart, are compared through their ratios to route_many;
  - where the app's time goes, phase by phase (the body's validation, the policy-state read, the
    router, the JSON encoding, the committed write), for single requests and for batches, from
    the service's Server-Timing header in a run of its own with ``TRIAGE_SERVER_TIMING=true``;
  - throughput of each server, sequential and with 4 concurrent clients, and the ratio;
  - peak RSS of this process and of the servers (resource.getrusage).

With ``--workers 1,2`` it also measures throughput of ``uvicorn --workers N`` on the chosen
store (``--db pg``: PostgreSQL on 127.0.0.1:5432, database ``test``; ``--db sqlite``) driven by
``--clients`` concurrent clients (each its own API key), and prints the ratio of each worker count
to one worker. The clients are ``wrk`` (a C load generator: one thread and one keep-alive
connection per client, a Lua script for the bodies and the key header) when it is installed
(``apt-get install wrk``; a benchmark tool, not a dependency), else Python client processes
(``http.client``), which take a good share of the cores they measure: the output says which.
With ``wrk`` the single-worker run (and mlflow's) also gets a sequential latency measured by
``wrk`` (one connection), the server's time without a Python client's own ~0.3 ms, and the rate
with 4 connections from the same C client (the 4-client ratio without Python client threads
taking the cores they measure). Say the core count and
load average with the figures.

Usage: .venv/bin/python benchmarks/bench_service.py [--requests 2000] [--skip-mlflow] [--sqlite-dir /dev/shm]
                                                    [--workers 1,2 --db pg --clients 4]
                                                    [--seconds 15] [--lean-seconds 31] [--no-wrk]
                                                    [--only-batch]
Targets (issue 27): overhead (HTTP p50 - library p50) <= 0.5 ms, p99 <= 3 ms, batch(1000) <= 1.3x
route_many, >= 10x mlflow's throughput; 2 workers >= 1.6x one on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
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
#: rounds of the batch measurement; each round runs the library's route_many, then the service's
#: two batches, so every ratio is of a pair measured on the same machine state
BATCH_ROUNDS = 7
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def client_key(i: int) -> str:
    return f"bench-client-{i:02d}-key-0123"


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


def start_service(work: Path, port: int, env: dict[str, str], workers: int = 1) -> subprocess.Popen:
    """``uvicorn service.main:create_app`` on ``port`` (the service as deployed: the same flags for
    every measurement), in its own session so :func:`stop` ends its workers too."""
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "service.main:create_app", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning",
         "--no-access-log"],
        env=env, cwd=work, start_new_session=True,
    )


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


def lean_sequential(port: int, path: str, bodies: list[bytes], headers: dict[str, str],
                    seconds: float) -> dict:
    """One keep-alive connection on a bare socket (HTTP/1.1 written and read by hand: a few
    microseconds of client per request, where http.client takes ~0.3 ms and httpx ~1 ms), one
    request at a time for ``seconds``: each request's own latency, send to last byte. Unlike
    wrk's figures, no coordinated-omission correction: a sequential client's p99."""
    head = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Content-Type": "application/json"}.items())
    requests = [f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}Content-Length: {len(b)}\r\n\r\n"
                .encode() + b for b in bodies]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stream = sock.makefile("rb")
    lat: list[float] = []
    timings: list[str] = []  # Server-Timing values, when the service sends them
    end = time.perf_counter() + seconds
    i = 0
    try:
        while time.perf_counter() < end:
            t = time.perf_counter()
            sock.sendall(requests[i % len(requests)])
            status = stream.readline()
            length = 0
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"server-timing":
                    timings.append(value.strip().decode("ascii"))
            stream.read(length)
            lat.append(time.perf_counter() - t)
            assert status.split()[1] == b"200", status
            i += 1
    finally:
        stream.close()
        sock.close()
    return {"lat": lat, "rate": len(lat) / sum(lat), "timings": timings}


def server_seconds(base: str, path: str = "/v1/route") -> tuple[float, int]:
    """(sum of seconds, count) of POST ``path`` in the service's own request-duration histogram
    (GET /metrics: measured by its outermost middleware, from the request's start to the end of
    its answer; uvicorn's parsing and the loopback are outside it)."""
    from prometheus_client.parser import text_string_to_metric_families

    found = {"sum": 0.0, "count": 0.0}
    for family in text_string_to_metric_families(httpx.get(f"{base}/metrics", timeout=10).text):
        if family.name == "triage_http_request_duration_seconds":
            for sample in family.samples:
                kind = sample.name.rsplit("_", 1)[1]
                if kind in found and sample.labels == {"method": "POST", "path": path}:
                    found[kind] = sample.value
    return found["sum"], int(found["count"])


def phases(bundle: Path, work: Path, episodes: list[dict], library_batch, seconds: float) -> dict:
    """Where the app's time goes, phase by phase (the Server-Timing header, service.api.timing),
    in a service run of its own with ``TRIAGE_SERVER_TIMING=true`` (the measured runs keep it off):
    the lean client's single requests for ``seconds``, then BATCH_ROUNDS batches of 1,000 (the
    body encoded before), each paired with a route_many in-process."""
    from service.api.timing import read_header

    port = free_port()
    db = work / f"decisions-phases-{port}.db"
    env = child_env(TRIAGE_MODEL_URI=str(bundle), TRIAGE_DATABASE_URL=f"sqlite:///{db}",
                    TRIAGE_API_KEYS=f"router:{API_KEY}", TRIAGE_INITIAL_POLICY_STATE="live",
                    TRIAGE_SERVER_TIMING="true")
    proc = start_service(work, port, env)
    headers = {"X-API-Key": API_KEY}
    try:
        wait_for(f"http://127.0.0.1:{port}/readyz", 600, proc)
        wait_warm(f"http://127.0.0.1:{port}/readyz", 600)
        bodies = [json.dumps(e).encode() for e in episodes]
        lean_sequential(port, "/v1/route", bodies[:50], headers, 2.0)  # warm
        single = lean_sequential(port, "/v1/route", bodies, headers, seconds)
        raw = json.dumps({"episodes": [dict(episodes[i % len(episodes)], episode_id=i)
                                       for i in range(1000)]}).encode()
        batch, lib, client = [], [], []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as c:
            for _ in range(BATCH_ROUNDS):
                lib.append(library_batch())
                t = time.perf_counter()
                r = c.post("/v1/route/batch", content=raw, timeout=120,
                           headers={"content-type": "application/json"})
                client.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
                batch.append(read_header(r.headers["server-timing"]))
    finally:
        stop(proc)
    return {"single": [read_header(v) for v in single["timings"]], "single_lat": single["lat"],
            "batch": batch, "batch_lib": lib, "batch_client": client}


def report_phases(split: dict, lib_p50: float) -> None:
    """Medians of each phase (ms), beside the library's in-process time."""
    def medians(runs: list[dict[str, float]]) -> dict[str, float]:
        return {name: statistics.median(r[name] for r in runs) for name in runs[0]}

    def line(found: dict[str, float]) -> str:
        return ", ".join(f"{name} {ms:.3f}" for name, ms in found.items())

    single, batch = medians(split["single"]), medians(split["batch"])
    print(f"where the app's time goes (Server-Timing medians, ms; a separate run with "
          f"TRIAGE_SERVER_TIMING=true; {len(split['single'])} single requests, "
          f"{len(split['batch'])} batches):")
    print(f"  single                 {line(single)}")
    print(f"                         library in-process p50 {lib_p50 * 1e3:.3f}; lean client p50 "
          f"{pct(split['single_lat'], 50) * 1e3:.3f}")
    print(f"  batch of 1,000         {line(batch)}")
    lib = statistics.median(split["batch_lib"]) * 1e3
    own = batch["total"] - batch["route"]
    print(f"                         route_many in-process {lib:.1f}; client "
          f"{statistics.median(split['batch_client']) * 1e3:.1f}; the app's total minus its route "
          f"{own:.1f} ({own / lib:.2f}x route_many)")


def http_floor(work: Path, bodies: list[bytes], answer_bytes: int, seconds: float) -> dict:
    """The lean client against ``benchmarks/http_floor.py`` under the same uvicorn flags: the
    HTTP part of a request's time (uvicorn, loopback, client) with no app work."""
    port = free_port()
    env = child_env(FLOOR_ANSWER_BYTES=str(answer_bytes))
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "http_floor:app", "--host", "127.0.0.1", "--port",
         str(port), "--workers", "1", "--log-level", "warning", "--no-access-log"],
        env=env, cwd=ROOT / "benchmarks", start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/", 600, proc)  # it answers 200 to anything
        lean_sequential(port, "/v1/route", bodies, {"X-API-Key": API_KEY}, 1.0)  # warm
        return lean_sequential(port, "/v1/route", bodies, {"X-API-Key": API_KEY}, seconds)
    finally:
        stop(proc)


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


def bench_service(bundle: Path, work: Path, episodes: list[dict], n: int,
                  wrk: str | None = None, seconds: float = 15.0, only_batch: bool = False,
                  sqlite_dir: Path | None = None, library_batch=None,
                  lean_seconds: float = 31.0) -> dict:
    port = free_port()
    db = (sqlite_dir or work) / f"decisions-{os.getpid()}-{port}.db"
    env = child_env(
        TRIAGE_MODEL_URI=str(bundle),
        TRIAGE_DATABASE_URL=f"sqlite:///{db}",
        TRIAGE_API_KEYS=",".join(f"router:{k}" for k in [API_KEY] + [client_key(i) for i in range(1, 4)]),
        # the policy's decisions served (a live deployment), each read of the state included
        TRIAGE_INITIAL_POLICY_STATE="live",
    )
    proc = start_service(work, port, env)
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
            lat = ([] if only_batch
                   else timed_sequential(send, [episodes[i % len(episodes)] for i in range(n)]))
            batch = [dict(episodes[i % len(episodes)], episode_id=i) for i in range(1000)]
            # each batch is also sent without the client's own JSON encoding of the body (~11 ms
            # of Python json.dumps in this process): the service's time as a client that has the
            # bytes ready (any non-Python client, a proxy) sees it; the two alternate, so neither
            # gets the store's warmer later writes
            raw = json.dumps({"episodes": batch}).encode()
            batch_times, raw_times, lib_times = [], [], []
            for _ in range(BATCH_ROUNDS):
                if library_batch is not None:  # the library's run in the same round: a pair
                    lib_times.append(library_batch())
                t = time.perf_counter()
                r = c.post("/v1/route/batch", json={"episodes": batch}, timeout=120)
                batch_times.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
                t = time.perf_counter()
                r = c.post("/v1/route/batch", content=raw, timeout=120,
                           headers={"content-type": "application/json"})
                raw_times.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
        if only_batch:
            return {"startup_s": startup, "lat": lat, "batch": batch_times, "batch_raw": raw_times,
                    "batch_lib": lib_times}

        def csend(client, body):
            assert client.post("/v1/route", json=body).status_code == 200

        rate4 = concurrent_rate(
            lambda: httpx.Client(base_url=base, headers=headers), csend,
            [episodes[i % len(episodes)] for i in range(n)],
        )
        out = {"startup_s": startup, "lat": lat, "batch": batch_times, "batch_raw": raw_times,
               "batch_lib": lib_times, "rate4": rate4}
        bodies = [json.dumps(e).encode() for e in episodes]
        if lean_seconds > 0:
            before = server_seconds(base)
            out["lean"] = lean_sequential(port, "/v1/route", bodies, headers, lean_seconds)
            after = server_seconds(base)
            out["lean_server_s"] = (after[0] - before[0]) / max(after[1] - before[1], 1)
            out["answer_bytes"] = len(httpx.post(f"{base}/v1/route", content=bodies[0], headers={
                **headers, "content-type": "application/json"}).content)
            out["bodies"] = bodies
        if wrk is not None:
            out["wrk1"] = wrk_run(wrk, port, "/v1/route", bodies, [API_KEY], 1, seconds, work)
            # 4 connections from one C client: the concurrent rate without Python clients' own
            # CPU on the 2 cores (each connection its own key: the per-key limit is per caller)
            keys = [API_KEY] + [client_key(i) for i in range(1, 4)]
            out["wrk4"] = wrk_run(wrk, port, "/v1/route", bodies, keys, 4, seconds, work)
        return out
    finally:
        stop(proc)
        for suffix in ("", "-wal", "-shm"):  # /dev/shm is memory: leave nothing behind
            Path(f"{db}{suffix}").unlink(missing_ok=True)


def mlflow_record(ep: dict) -> dict:
    md = ep.get("metadata") or {}
    return {"episode_id": int(ep["episode_id"]), "code_scores": json.dumps(ep["code_scores"]),
            **{k: (float(v) if k in ("age", "los_days") else v) for k, v in md.items()}}


def bench_mlflow(bundle: Path, work: Path, episodes: list[dict], n: int, wrk: str | None = None,
                 seconds: float = 15.0, library_batch=None) -> dict:
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
            batch_times, lib_times = [], []
            for _ in range(BATCH_ROUNDS):
                if library_batch is not None:  # paired with route_many, as the service's rounds
                    lib_times.append(library_batch())
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
        out = {"startup_s": startup, "lat": lat, "batch": batch_times, "batch_lib": lib_times,
               "rate4": rate4}
        if wrk is not None:  # the same C client as the service's wrk1: no Python client in either
            bodies = [json.dumps({"dataframe_records": [r]}).encode() for r in records]
            out["wrk1"] = wrk_run(wrk, port, "/invocations", bodies, ["unused"], 1, seconds, work)
            out["wrk4"] = wrk_run(wrk, port, "/invocations", bodies, ["unused"] * 4, 4, seconds, work)
        return out
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
    print(f"  batch of 1,000         {statistics.median(r['batch']) * 1e3:.0f} ms (median of "
          f"{len(r['batch'])})")


def report_batch(svc: dict) -> None:
    """The batch of 1,000 against route_many, as ratios of pairs measured in the same round (the
    machine's speed drifts between minutes; within a round it is the same for both)."""
    lib, sent, raw = svc["batch_lib"], svc["batch"], svc["batch_raw"]
    print(f"  route_many(1,000)      {statistics.median(lib) * 1e3:.0f} ms in-process (median of "
          f"{len(lib)} rounds)")
    print(f"  batch / route_many     {statistics.median(s / l for s, l in zip(sent, lib)):.2f}x "
          f"(median of the rounds' ratios; {statistics.median(sent) * 1e3:.0f} ms; target <= 1.3x)")
    print(f"  body encoded before    {statistics.median(r / l for r, l in zip(raw, lib)):.2f}x "
          f"route_many ({statistics.median(raw) * 1e3:.0f} ms; without the client's json.dumps)")


WRK_SCRIPT = """
local bodies = {%(bodies)s}
local keys = {%(keys)s}
local count = 0
function setup(thread)
  count = count + 1
  thread:set("id", count)
end
function init(args)
  key = keys[((id - 1) %% #keys) + 1]
  i = id
end
function request()
  i = i + 1
  return wrk.format("POST", "%(path)s",
    {["X-API-Key"] = key, ["Content-Type"] = "application/json"}, bodies[(i %% #bodies) + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %%d, "duration_us": %%d, "status_errors": %%d, "socket_errors": %%d, ' ..
    '"p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "p999_us": %%d, "max_us": %%d, "mean_us": %%f}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
"""


def wrk_path(allowed: bool) -> str | None:
    return shutil.which("wrk") if allowed else None


def wrk_run(wrk: str, port: int, path: str, bodies: list[bytes], keys: list[str],
            clients: int, seconds: float, work: Path) -> dict:
    """``wrk`` with one thread and one keep-alive connection per client, client i sending with
    key i: requests per second (2xx only), latency p50/p99 and the failures."""
    def lua(text: str) -> str:
        assert "]==]" not in text
        return f"[==[{text}]==]"

    script = work / f"wrk-{os.getpid()}-{port}.lua"
    script.write_text(WRK_SCRIPT % {"bodies": ", ".join(lua(b.decode()) for b in bodies),
                                    "keys": ", ".join(lua(k) for k in keys), "path": path})
    out = subprocess.run(
        [wrk, "-t", str(clients), "-c", str(clients), "-d", f"{seconds:g}s", "--timeout", "30s",
         "-s", str(script), f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    r = json.loads(line[4:])
    ok = r["requests"] - r["status_errors"]
    return {"ok": ok, "sent": r["requests"], "rate": ok / (r["duration_us"] / 1e6),
            "p50_ms": r["p50_us"] / 1e3, "p90_ms": r["p90_us"] / 1e3, "p99_ms": r["p99_us"] / 1e3,
            "p999_ms": r["p999_us"] / 1e3, "max_ms": r["max_us"] / 1e3, "mean_ms": r["mean_us"] / 1e3,
            "failed": r["status_errors"] + r["socket_errors"]}


def cpu_snapshot(server_group: int) -> dict:
    """CPU seconds so far: the server's process group (uvicorn and its workers), PostgreSQL's
    processes, this process's children (wrk), and the whole machine's busy and total time."""
    tick = os.sysconf("SC_CLK_TCK")
    server = postgres = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        used = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        if int(fields[2]) == server_group:  # pgrp
            server += used
        elif name.startswith("postgres"):
            postgres += used
    cpu = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = cpu[3] + cpu[4]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"server": server, "postgres": postgres, "clients": children.ru_utime + children.ru_stime,
            "busy": (sum(cpu) - idle) / tick, "total": sum(cpu) / tick}


def cpu_use(before: dict, after: dict, requests: int) -> dict:
    """CPU milliseconds per request of the server, PostgreSQL and the clients; how busy the
    machine was (share of all cores), and the share the rest of the machine took."""
    d = {k: after[k] - before[k] for k in before}
    per = 1000.0 / max(requests, 1)
    return {"server_ms": d["server"] * per, "postgres_ms": d["postgres"] * per,
            "clients_ms": d["clients"] * per, "busy": d["busy"] / max(d["total"], 1e-9),
            "others": (d["busy"] - d["server"] - d["postgres"] - d["clients"]) / max(d["total"], 1e-9)}


def _client_process(port: int, key: str, bodies: list[bytes], start_at: float, out) -> None:
    """One client: keep-alive http.client (cheaper per request than httpx, so the figure is the
    server's), all requests sequential; puts (ok, first_send, last_receive) on ``out``."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    while time.time() < start_at:
        time.sleep(0.001)
    ok, t0 = 0, time.time()
    for body in bodies:
        conn.request("POST", "/v1/route", body=body, headers=headers)
        r = conn.getresponse()
        r.read()
        ok += r.status == 200
    out.put((ok, t0, time.time()))
    conn.close()


def workers_throughput(bundle: Path, work: Path, episodes: list[dict], n: int, workers: int,
                       db: str, clients: int, wrk: str | None = None, seconds: float = 15.0) -> dict:
    """Requests per second of ``uvicorn --workers`` under ``clients`` concurrent clients: ``wrk``
    for ``seconds`` when given, else ``n`` requests from Python client processes."""
    import multiprocessing as mp

    port = free_port()
    prefix = f"bw{os.getpid()}_{workers}_"
    url = PG_URL if db == "pg" else f"sqlite:///{work / f'workers{workers}.db'}"
    keys = [client_key(i) for i in range(clients)]
    env = child_env(
        TRIAGE_MODEL_URI=str(bundle), TRIAGE_DATABASE_URL=url, TRIAGE_TABLE_PREFIX=prefix,
        TRIAGE_API_KEYS=",".join(f"router:{k}" for k in keys), TRIAGE_INITIAL_POLICY_STATE="live",
    )
    proc = start_service(work, port, env, workers)
    try:
        wait_for(f"http://127.0.0.1:{port}/readyz", 600, proc)
        # every worker warm: readiness is per worker, so ask until enough answers said warm
        deadline = time.monotonic() + 600
        warm = 0
        while warm < 20 * workers and time.monotonic() < deadline:
            with httpx.Client() as c:  # a new connection each time: the kernel spreads them
                warm += bool(c.get(f"http://127.0.0.1:{port}/readyz").json().get("warm", True))
            time.sleep(0.05)
        bodies = [json.dumps(episodes[i % len(episodes)]).encode() for i in range(n)]
        for i in range(4 * workers):  # warm each worker's first requests
            with httpx.Client(headers={"X-API-Key": keys[0]}) as c:
                c.post(f"http://127.0.0.1:{port}/v1/route", json=episodes[i % len(episodes)])
        if wrk is not None:
            before = cpu_snapshot(proc.pid)
            result = wrk_run(wrk, port, "/v1/route", bodies[:300], keys, clients, seconds, work)
            return {"workers": workers, **result, **cpu_use(before, cpu_snapshot(proc.pid),
                                                            result["sent"])}
        out = mp.get_context("fork").Queue()
        start_at = time.time() + 1.0
        procs = [mp.get_context("fork").Process(
            target=_client_process, args=(port, keys[i], bodies[i::clients], start_at, out))
            for i in range(clients)]
        for p in procs:
            p.start()
        results = [out.get(timeout=1800) for _ in procs]
        for p in procs:
            p.join()
        ok = sum(r[0] for r in results)
        elapsed = max(r[2] for r in results) - min(r[1] for r in results)
        return {"workers": workers, "ok": ok, "sent": n, "rate": ok / elapsed}
    finally:
        stop(proc)
        if db == "pg":
            import sqlalchemy as sa

            engine = sa.create_engine(PG_URL)
            with engine.begin() as conn:
                names = conn.execute(sa.text(
                    "SELECT tablename FROM pg_tables WHERE tablename LIKE :p"),
                    {"p": prefix + "%"}).scalars().all()
                for name in names:
                    conn.execute(sa.text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
            engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)  # enough for a stable 4-client rate
    ap.add_argument("--cohort", type=int, default=900)
    ap.add_argument("--skip-mlflow", action="store_true")
    ap.add_argument("--code-systems", action=argparse.BooleanOptionalAction, default=True,
                    help="router features with Elixhauser/DRG columns (the realistic bundle)")
    ap.add_argument("--workers", default="",
                    help="Also measure throughput of uvicorn --workers N for each N (e.g. 1,2).")
    ap.add_argument("--db", choices=("sqlite", "pg"), default="pg",
                    help="Store of the --workers measurement.")
    ap.add_argument("--clients", type=int, default=4, help="Client processes of --workers.")
    ap.add_argument("--lean-seconds", type=float, default=31.0,
                    help="How long the lean sequential client runs (default: one drift refresh "
                         "period and a second, so the tail includes the service's periodic work).")
    ap.add_argument("--seconds", type=float, default=15.0,
                    help="How long each wrk measurement runs.")
    ap.add_argument("--wrk", action=argparse.BooleanOptionalAction, default=True,
                    help="Use wrk as the load generator when installed (--no-wrk: Python clients).")
    ap.add_argument("--sqlite-dir", type=Path, default=None,
                    help="Directory of the single-worker run's SQLite store (default: the temporary work "
                         "directory on disk; /dev/shm separates the service's own tail from the disk's).")
    ap.add_argument("--skip-single", action="store_true",
                    help="Only the --workers measurement (no latency, batch or mlflow runs).")
    ap.add_argument("--only-batch", action="store_true",
                    help="Only route_many(1,000) and the service's batch of 1,000 (no latency, "
                         "throughput, wrk, --workers or mlflow runs).")
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
    lib = in_process(router, episodes, 50 if args.only_batch else args.requests)
    batch_calls = [dict(episodes[i % 300], episode_id=i) for i in range(1000)]

    def library_batch() -> float:
        calls = [dict(c) for c in batch_calls]
        t = time.perf_counter()
        router.route_many(calls)
        return time.perf_counter() - t

    library_batch()  # warm
    print("library in-process (Router.route_one):")
    if not args.only_batch:
        print(f"  p50/p99                {pct(lib, 50) * 1e3:.2f} / {pct(lib, 99) * 1e3:.2f} ms")
    if args.only_batch:
        svc = bench_service(bundle, work, episodes, args.requests, only_batch=True,
                            library_batch=library_batch)
        print("service (uvicorn, 1 worker):")
        report_batch(svc)
        report_phases(phases(bundle, work, episodes, library_batch, 5.0), pct(lib, 50))
        print(f"load average during run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        return

    wrk = wrk_path(args.wrk)
    if args.workers:
        rates = [workers_throughput(bundle, work, episodes, args.requests, int(w), args.db,
                                    args.clients, wrk, args.seconds)
                 for w in args.workers.split(",")]
        base = rates[0]["rate"]
        how = (f"wrk ({wrk}), {args.clients} connections, {args.seconds:g} s each run" if wrk
               else f"{args.clients} Python client processes (wrk not found), "
                    f"{args.requests} requests each run")
        print(f"uvicorn --workers on {args.db}, {how} ({os.cpu_count()} cores):")
        for r in rates:
            lat = (f"; p50/p99 {r['p50_ms']:.2f} / {r['p99_ms']:.2f} ms" if "p50_ms" in r else "")
            print(f"  {r['workers']} worker(s)            {r['rate']:.0f} req/s "
                  f"({r['ok']}/{r['sent']} ok; {r['rate'] / base:.2f}x {rates[0]['workers']} worker"
                  f"{lat})")
            if "server_ms" in r:
                print(f"    CPU per request: server {r['server_ms']:.2f} ms, postgres "
                      f"{r['postgres_ms']:.2f} ms, wrk {r['clients_ms']:.2f} ms; machine busy "
                      f"{r['busy']:.0%}, other processes {r['others']:.0%} of all cores")
        print(f"  load average now       {os.getloadavg()[0]:.1f}")
        if args.skip_single:
            return
    svc = bench_service(bundle, work, episodes, args.requests, wrk, args.seconds,
                        sqlite_dir=args.sqlite_dir, library_batch=library_batch,
                        lean_seconds=args.lean_seconds)
    print(f"service store: SQLite in {args.sqlite_dir or work}")
    report("service (uvicorn, 1 worker)", svc)
    print(f"  httpx overhead p50     {(pct(svc['lat'], 50) - pct(lib, 50)) * 1e3:.2f} ms "
          "(httpx p50 - library p50: the service's work and httpx's own)")
    if "lean" in svc:
        lean = svc["lean"]["lat"]
        print(f"  lean client            p50/p99 {pct(lean, 50) * 1e3:.2f} / {pct(lean, 99) * 1e3:.2f} ms, "
              f"p99.9 {pct(lean, 99.9) * 1e3:.2f}, max {max(lean) * 1e3:.1f} ms; "
              f"{svc['lean']['rate']:.0f} req/s over {len(lean)} requests, {args.lean_seconds:g} s "
              "(a bare socket, one keep-alive connection, each request's own time)")
        print(f"  service overhead p50   {(pct(lean, 50) - pct(lib, 50)) * 1e3:.2f} ms "
              "(lean client p50 - library p50: validation, auth, JSON, SQLite commit)")
        floor = http_floor(work, svc["bodies"], svc["answer_bytes"],
                           min(args.lean_seconds, 10.0))["lat"]
        server = svc["lean_server_s"]
        print(f"  HTTP floor             p50/p99 {pct(floor, 50) * 1e3:.2f} / {pct(floor, 99) * 1e3:.2f} ms "
              f"(the lean client against a bare ASGI app answering {svc['answer_bytes']:,} fixed "
              "bytes under the same uvicorn: uvicorn, loopback and client, no app work)")
        print(f"  in the app, mean       {server * 1e3:.2f} ms a request (the service's own duration "
              f"histogram over the lean run; lean client mean {statistics.mean(lean) * 1e3:.2f} ms)")
        print(f"  overhead, split        {(pct(lean, 50) - pct(lib, 50)) * 1e3:.2f} ms = HTTP floor "
              f"{pct(floor, 50) * 1e3:.2f} + the app's own work and the rest "
              f"{(pct(lean, 50) - pct(lib, 50) - pct(floor, 50)) * 1e3:.2f} ms (p50s)")
    if "wrk1" in svc:
        w1 = svc["wrk1"]
        print(f"  wrk, 1 connection      p50/p99 {w1['p50_ms']:.2f} / {w1['p99_ms']:.2f} ms, "
              f"{w1['rate']:.0f} req/s ({w1['failed']} failed); overhead p50 "
              f"{w1['p50_ms'] - pct(lib, 50) * 1e3:.2f} ms (no Python client)")
        print(f"  wrk tail               p90 {w1['p90_ms']:.2f}, p99.9 {w1['p999_ms']:.2f}, "
              f"max {w1['max_ms']:.1f} ms (wrk corrects for coordinated omission: each stall "
              "also counts the requests an open-loop client would have sent meanwhile)")
    if "wrk4" in svc:
        w4 = svc["wrk4"]
        print(f"  wrk, 4 connections     {w4['rate']:.0f} req/s, p50/p99 {w4['p50_ms']:.2f} / "
              f"{w4['p99_ms']:.2f} ms ({w4['failed']} failed)")
    report_batch(svc)
    report_phases(phases(bundle, work, episodes, library_batch, min(args.lean_seconds, 10.0)),
                  pct(lib, 50))
    if not args.skip_mlflow:
        ml = bench_mlflow(bundle, work, episodes, args.requests, wrk, args.seconds,
                          library_batch=library_batch)
        report("mlflow models serve (1 worker)", ml)
        if "wrk1" in ml:
            w1 = ml["wrk1"]
            print(f"  wrk, 1 connection      p50/p99 {w1['p50_ms']:.2f} / {w1['p99_ms']:.2f} ms, "
                  f"{w1['rate']:.0f} req/s ({w1['failed']} failed)")
        if "wrk4" in ml:
            w4 = ml["wrk4"]
            print(f"  wrk, 4 connections     {w4['rate']:.0f} req/s, p50/p99 {w4['p50_ms']:.2f} / "
                  f"{w4['p99_ms']:.2f} ms ({w4['failed']} failed)")
        print("ratio service / mlflow:")
        print(f"  sequential throughput  {statistics.mean(ml['lat']) / statistics.mean(svc['lat']):.1f}x "
              "(httpx client, ~1 ms of its own per request on each side)")
        if "wrk1" in ml and "wrk1" in svc:
            print(f"  sequential, wrk        {svc['wrk1']['rate'] / ml['wrk1']['rate']:.1f}x "
                  "(the same C client, 1 connection, on each side)")
        print(f"  4-client throughput    {svc['rate4'] / ml['rate4']:.1f}x (httpx threads)")
        if "wrk4" in ml and "wrk4" in svc:
            print(f"  4 connections, wrk     {svc['wrk4']['rate'] / ml['wrk4']['rate']:.1f}x "
                  f"({svc['wrk4']['rate']:.0f} vs {ml['wrk4']['rate']:.0f} req/s, one worker each)")
        # the two servers run minutes apart on a machine whose speed drifts: each side's batch is
        # compared with route_many in-process in its own paired rounds, and those ratios compared
        svc_ratio = statistics.median(s / l for s, l in zip(svc["batch"], svc["batch_lib"]))
        ml_ratio = statistics.median(m / l for m, l in zip(ml["batch"], ml["batch_lib"]))
        print(f"  batch of 1,000         the service takes {svc_ratio / ml_ratio:.2f}x mlflow's time "
              f"(each side's median ratio to route_many in its own paired rounds: {svc_ratio:.2f}x "
              f"vs {ml_ratio:.2f}x; medians {statistics.median(svc['batch']) * 1e3:.0f} vs "
              f"{statistics.median(ml['batch']) * 1e3:.0f} ms)")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: this process {own:.0f} MB, largest server {kids:.0f} MB")
    print(f"load average during run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
