"""Schemathesis against the app's own OpenAPI schema: whatever arrives, never a 500."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error


@pytest.mark.slow
def test_no_server_errors_on_generated_requests(app_factory, sqlite_url, keys):
    client = app_factory(sqlite_url)  # started: tables created, router installed
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    # admin key: every operation is reachable, so the fuzz reaches the handlers, not just auth
    cases = st.one_of(
        schema.as_strategy(GenerationMode.POSITIVE, headers=keys["admin"]),
        schema.as_strategy(GenerationMode.NEGATIVE, headers=keys["admin"]),
    )
    seen: set[tuple[str, str]] = set()

    @given(case=cases)
    @settings(
        max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
    )
    def run(case):
        seen.add((case.operation.method.upper(), case.operation.path))
        case.call_and_validate(checks=[not_a_server_error])

    run()
    assert ("POST", "/v1/route") in seen and ("PUT", "/v1/policy") in seen
