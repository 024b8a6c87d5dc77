"""Prometheus metrics, one CollectorRegistry per app (several apps may live in one process)."""

from __future__ import annotations

from collections import Counter as _Counter
from time import perf_counter
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "triage_http_requests_total",
            "HTTP requests by method, route template and status code.",
            ("method", "path", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "triage_http_request_duration_seconds",
            "Time from request start to the end of the response, by route template.",
            ("method", "path"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.routes = Counter(
            "triage_routes_total",
            "Routed episodes by route and model/policy version.",
            ("route", "model_version", "policy_version"),
            registry=self.registry,
        )
        self.outcomes = Counter(
            "triage_outcomes_total",
            "Recorded human outcomes by route and realised correctness.",
            ("route", "correct"),
            registry=self.registry,
        )
        self.reloads = Counter(
            "triage_model_reloads_total", "Successful model reloads.", registry=self.registry
        )
        self.fallbacks = Counter(
            "triage_fallbacks_total",
            "Care settings this worker put in fallback because the watch found the error among "
            "automated above alpha (the alarm).",
            ("care_setting",),
            registry=self.registry,
        )

        # label values -> the metric's child: labels() validates and locks on every call, which
        # cost more than the increment itself on the per-request path (the label sets are bounded:
        # route templates, statuses, versions)
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._route_children: dict[tuple[str, str, str], Any] = {}

    def request_done(self, method: str, path: str, status: int, seconds: float) -> None:
        """Count and time one HTTP request."""
        key = (method, path, status)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (
                self.requests.labels(method, path, str(status)), self.latency.labels(method, path))
        children[0].inc()
        children[1].observe(seconds)

    def routed(self, route: str, model_version: str, policy_version: str, n: int = 1) -> None:
        """Count ``n`` routed episodes."""
        key = (route, model_version, policy_version)
        child = self._route_children.get(key)
        if child is None:
            child = self._route_children[key] = self.routes.labels(*key)
        child.inc(n)

    def routed_decisions(self, decisions: list[dict[str, Any]]) -> None:
        """Count routed decisions, one increment per route and version (a batch's 1,000 one at a
        time took ~1 ms, each increment taking the metric's lock)."""
        if len(decisions) == 1:
            d = decisions[0]
            self.routed(d["route"], d["model_version"], d["policy_version"])
            return
        counts = _Counter((d["route"], d["model_version"], d["policy_version"]) for d in decisions)
        for key, n in counts.items():
            self.routed(*key, n=n)

    def watch_from(self, read: Any) -> None:
        """Export the store's policy states and watch readings at scrape time, so every worker
        reports the same state (``read()`` -> (states rows, watch rows) of the version in force)."""
        self.registry.register(_StoreCollector(read))


class _StoreCollector:
    """Gauges read from the store when Prometheus scrapes (state shared by all workers)."""

    def __init__(self, read: Any) -> None:
        self.read = read

    def describe(self) -> list:
        return []

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        state = GaugeMetricFamily(
            "triage_policy_state", "1 for the state each care setting is in (shadow, live, "
            "fallback), for the policy version in force.", labels=["care_setting", "state"])
        watch = GaugeMetricFamily(
            "triage_watch_violated", "1 when the watch found the error among automated above "
            "alpha in this care setting (the version in force).", labels=["care_setting"])
        audited = GaugeMetricFamily(
            "triage_watch_audited", "Audited outcomes the watch has read, by care setting.",
            labels=["care_setting"])
        upper = GaugeMetricFamily(
            "triage_watch_error_upper", "Anytime-valid upper bound on the error among automated.",
            labels=["care_setting"])
        try:
            states, rows = self.read()
        except Exception:  # noqa: BLE001 - a scrape never fails on a store hiccup
            states, rows = {}, []
        for setting, st in states.items():
            for name in ("shadow", "live", "fallback"):
                state.add_metric([setting, name], 1.0 if st == name else 0.0)
        for row in rows:
            if row["kind"] != "risk":
                continue
            watch.add_metric([row["care_setting"]], 1.0 if row["status"] == "violated" else 0.0)
            audited.add_metric([row["care_setting"]], float(row["n"]))
            if row["upper"] is not None:
                upper.add_metric([row["care_setting"]], float(row["upper"]))
        yield from (state, watch, audited, upper)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (bounded label set)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.request_done(method, path, status, perf_counter() - start)
