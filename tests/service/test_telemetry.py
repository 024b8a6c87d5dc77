"""FastAPI's native OpenTelemetry: off unless TRIAGE_OPENTELEMETRY asks for it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A process of its own: OpenTelemetry's global tracer provider can be set only once per process.
SCRIPT = textwrap.dedent("""
    import json, sys
    from fastapi.testclient import TestClient
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from service.core.config import Settings
    from service.main import create_app

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    def unloadable(uri):
        raise RuntimeError("no model in this test")

    spans = {}
    for on in (False, True):
        exporter.clear()
        settings = Settings(database_url="sqlite://", api_keys="router:telemetry-key-0123456789",
                            opentelemetry=on)
        with TestClient(create_app(settings, router_loader=unloadable)) as client:
            assert client.get("/healthz").status_code == 200
        spans[str(on)] = [s.name for s in exporter.get_finished_spans()]
    print(json.dumps(spans))
""")


def test_request_spans_only_when_opentelemetry_is_on():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    spans = json.loads(done.stdout.strip().splitlines()[-1])
    assert spans["False"] == []
    assert any("/healthz" in name for name in spans["True"]), spans
