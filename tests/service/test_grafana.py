"""The Grafana dashboard in deploy/grafana: it parses, and every metric its PromQL names is one the
service exports (a renamed metric would leave a panel silently empty)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "coding-triage.json"


def exported_names() -> set[str]:
    from service.prometheus import ServiceMetrics

    m = ServiceMetrics()
    m.requests.labels("GET", "/x", "200").inc()
    m.latency.labels("GET", "/x").observe(0.01)
    m.routes.labels("automate", "m", "p").inc()
    m.outcomes.labels("automate", "true").inc()
    m.reloads.inc()
    m.fallbacks.labels("inpatient").inc()
    m.watch_from(lambda: ({"inpatient": "live"}, [{"kind": "risk", "care_setting": "inpatient",
                                                   "status": "ok", "n": 3, "upper": 0.2}]))
    return {s.name for metric in m.registry.collect() for s in metric.samples}


def metric_names(expr: str) -> set[str]:
    expr = re.sub(r'"[^"]*"', "", expr)        # label values
    expr = re.sub(r"\[[^\]]*\]", "", expr)     # ranges
    return {w for w in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr) if w.startswith("triage_")}


def test_dashboard_json_uses_only_exported_metrics():
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 8
    used = set().union(*(metric_names(e) for e in exprs))
    exported = exported_names()
    assert used and used <= exported, sorted(used - exported)
    # the headline panels of the dashboard's Today page
    titles = " ".join(p["title"] for p in dash["panels"]).lower()
    for headline in ("episodes routed", "automation rate", "realised error", "outcomes", "policy state",
                     "watch"):
        assert headline in titles
    assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"])


def test_metric_name_check_can_fail():
    assert metric_names('sum(rate(triage_routes_totl{route="automate"}[5m]))') - exported_names()


def test_provisioning_files_parse():
    for path in (ROOT / "deploy" / "grafana" / "provisioning").rglob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        assert data["apiVersion"] == 1, path
