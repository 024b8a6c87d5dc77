"""After the watch's alarm, no worker automates in that setting: two uvicorn workers on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from conftest import API_KEYS, POSTGRES_URL, ROUTER_KEY, postgres_available
from live import free_port
from router_bundle import sample_episodes

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
READY_LIMIT_S = 900  # a slow, loaded machine: wait as long as it needs, within reason


def _wait_ready(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_LIMIT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"service not ready after {READY_LIMIT_S} s")


def _wait_workers(log: Path, proc: subprocess.Popen, n: int) -> None:
    """/readyz answers once one worker is up: wait until each has finished its start-up."""
    deadline = time.monotonic() + READY_LIMIT_S
    while log.read_text(errors="replace").count("Application startup complete") < n:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{n} workers did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.25)


def test_fallback_holds_in_every_worker(bundle_dir, base_router, tmp_path):
    if not postgres_available():
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is unreachable")
    prefix = f"w{uuid.uuid4().hex[:8]}_"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "service.log"
    env = {**os.environ, "TRIAGE_MODEL_URI": str(bundle_dir), "TRIAGE_DATABASE_URL": POSTGRES_URL,
           "TRIAGE_API_KEYS": API_KEYS, "TRIAGE_TABLE_PREFIX": prefix,
           "TRIAGE_INITIAL_POLICY_STATE": "live", "TRIAGE_AUDIT_PROBABILITY": "1.0",
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "service.main:create_app", "--host",
         "127.0.0.1", "--port", str(port), "--workers", "2", "--log-level", "info"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True)
    engine = sa.create_engine(POSTGRES_URL)
    try:
        _wait_ready(url, proc, log)
        _wait_workers(log, proc, 2)
        router = {"X-API-Key": ROUTER_KEY}
        automated = [ep for ep in sample_episodes(600, seed=41)
                     if base_router.route_one(**ep).route == "automate"]
        setting = base_router.route_one(**automated[0]).care_setting
        automated = [ep for ep in automated if base_router.route_one(**ep).care_setting == setting]
        assert len(automated) >= 40
        fell_back = False
        with httpx.Client(base_url=url, headers=router, timeout=30) as http:
            for ep in automated:
                d = http.post("/v1/route", json=ep).json()
                if d["route"] != "automate":
                    break
                have = {c["code"] for c in d["codes"]}
                wrong = [c for c in ("A41.9", "J96.01", "I21.4", "N39.0") if c not in have][:2]
                out = http.post("/v1/outcomes", json={"decision_id": d["decision_id"],
                                                      "final_codes": wrong}).json()
                if out["watch"]["fell_back"]:
                    fell_back = True
                    break
        assert fell_back, "an all-wrong audited stream never raised the alarm"
        with engine.connect() as conn:
            alarm_at = conn.execute(sa.text(
                f"SELECT min(created_at) FROM {prefix}policy_events WHERE kind = 'fallback'")
            ).scalar_one()

        def send(ep: dict) -> str:  # a new connection per request: the kernel spreads them
            r = httpx.post(f"{url}/v1/route", json=ep, headers={**router, "Connection": "close"},
                           timeout=30)
            assert r.status_code == 200, r.text
            return r.json()["route"]

        with ThreadPoolExecutor(4) as pool:
            routes = list(pool.map(send, (automated * 5)[:200]))
        assert "automate" not in routes
        with engine.connect() as conn:
            after = conn.execute(sa.text(
                f"SELECT route, count(*) FROM {prefix}decisions WHERE care_setting = :s "
                "AND created_at > :t GROUP BY route"), {"s": setting, "t": alarm_at}).all()
        counts = dict(after)
        assert counts.get("automate", 0) == 0 and sum(counts.values()) == 200
        # both workers' first drift refresh found no watch row: one created it, quietly
        assert "policy sync failed" not in log.read_text(errors="replace")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        with engine.begin() as conn:
            for table in ("decisions", "outcomes", "policies", "policy_audit", "assist",
                          "policy_states", "policy_events", "watch_state"):
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {prefix}{table} CASCADE"))
        engine.dispose()


