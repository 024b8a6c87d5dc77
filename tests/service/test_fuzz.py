"""Schemathesis against the served app with every check (issue 14): no server error, every status
documented, every response conforms, schema-valid requests accepted, schema-violating ones
refused, auth not ignored, unsupported methods answered 405 with the right Allow header.

It runs the ``schemathesis`` command as CI would (``--checks all``) against a real uvicorn server,
bounded by ``--max-examples`` (about a minute on 2 cores), and prints the cases per route (from
the service's own request counter) so the figures can be quoted.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from live import ThreadServer

#: A documented limit the schema cannot express (the body size): the only extra allowed answer.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "413"]
"""
MAX_EXAMPLES = 10


def _cases_per_route(metrics: str) -> dict[str, Counter]:
    out: dict[str, Counter] = {}
    pattern = re.compile(
        r'^triage_http_requests_total\{method="(\w+)",path="([^"]+)",status="(\d+)"\} (\d+)', re.MULTILINE)
    for method, path, status, n in pattern.findall(metrics):
        if path in ("/openapi.json", "/metrics"):
            continue
        out.setdefault(f"{method} {path}", Counter())[status] += int(float(n))
    return out


@pytest.mark.slow
def test_schemathesis_checks_all(app_factory, database_url, keys, tmp_path):
    client = app_factory(database_url, max_body_bytes=256 * 1024, model_root="/")
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    report = tmp_path / "report.json"
    exe = Path(sys.executable).with_name("schemathesis")
    with ThreadServer(client.app) as server:
        proc = subprocess.run(
            [str(exe), "--config-file", str(config), "run", f"{server.url}/openapi.json",
             "--checks", "all", "-H", f"X-API-Key: {keys['admin']['X-API-Key']}",
             "--max-examples", str(MAX_EXAMPLES), "--generation-deterministic", "--workers", "1",
             "--suppress-health-check", "all", "--no-color", "--request-timeout", "30",
             "--report", "json", "--report-json-path", str(report)],
            capture_output=True, text=True, timeout=240, check=False,
        )
        metrics = httpx.get(f"{server.url}/metrics").text
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(report.read_text())
    per_route = _cases_per_route(metrics)
    print(f"\nschemathesis {result['schemathesis_version']}: {result['test_cases']['generated']} "
          f"cases, {result['test_cases']['unique_failures']} unique failures, "
          f"{result['running_time']:.0f} s")
    for route, statuses in sorted(per_route.items()):
        print(f"  {route}: {sum(statuses.values())} requests {dict(sorted(statuses.items()))}")
    assert result["operations"]["tested"] >= 10
    assert result["failures"] == [] and result["errors"] == [], proc.stdout[-6000:]
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert not any(s.startswith("5") for c in per_route.values() for s in c)
    assert {"POST /v1/route", "PUT /v1/policy", "POST /v1/allocate"} <= set(per_route)
