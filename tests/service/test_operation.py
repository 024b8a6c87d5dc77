"""The operation loop over HTTP: shadow start, go-live, audit draws, the watch, fallback in every
worker, re-certification from the store's own outcomes, and its survival across restarts."""

from __future__ import annotations

import logging

import pytest
from router_bundle import sample_episodes

from triage.operation.sampling import audit_draw


def _automated_episodes(base_router, n: int, seed: int = 11) -> list[dict]:
    """Episodes the bundle's policy automates (the library's own decision)."""
    out = []
    for ep in sample_episodes(400, seed=seed):
        if base_router.route_one(**ep).route == "automate":
            out.append(ep)
        if len(out) == n:
            return out
    raise AssertionError(f"only {len(out)} automated episodes in the sample")


def _setting(base_router, ep) -> str:
    return base_router.route_one(**ep).care_setting


def _go_live(client, keys, setting="all"):
    r = client.post("/v1/admin/policy-state", headers=keys["admin"],
                    json={"care_setting": setting, "state": "live",
                          "reason": "shadow_evidence_reviewed"})
    assert r.status_code == 200, r.text
    return r.json()


def test_shadow_start_automates_nothing_and_stores_the_shadow_decision(
        app_factory, database_url, keys, base_router):
    client = app_factory(database_url, initial_policy_state="shadow")
    for ep in _automated_episodes(base_router, 5):
        d = client.post("/v1/route", json=ep, headers=keys["router"]).json()
        assert d["route"] == "assist" and d["policy_route"] == "automate"
        assert d["mode"] == "shadow" and d["audit"] is False and d["suggestions"]
        row = client.app.state.store.get_decision(d["decision_id"])
        assert row["mode"] == "shadow" and row["policy_route"] == "automate"
        assert row["route"] == "assist"


def test_go_live_is_an_admin_action_recorded_with_who_when_why(
        app_factory, sqlite_url, keys, base_router):
    client = app_factory(sqlite_url, initial_policy_state="shadow")
    denied = client.post("/v1/admin/policy-state", headers=keys["router"],
                         json={"care_setting": "all", "state": "live",
                               "reason": "shadow_evidence_reviewed"})
    assert denied.status_code == 403
    free_text = client.post("/v1/admin/policy-state", headers=keys["admin"],
                            json={"care_setting": "all", "state": "live", "reason": "because"})
    assert free_text.status_code == 422  # reasons are codes: no free text reaches the store
    body = _go_live(client, keys)
    assert set(body["changed"]) == {"inpatient", "observation", "day_case"}
    assert set(body["states"].values()) == {"live"}
    ep = _automated_episodes(base_router, 1)[0]
    assert client.post("/v1/route", json=ep, headers=keys["router"]).json()["route"] == "automate"
    watch = client.get("/v1/watch", headers=keys["router"]).json()
    changes = [e for e in watch["events"] if e["kind"] == "state_change"]
    assert len(changes) == 3
    assert all(e["actor_role"] == "admin" and e["reason"] == "shadow_evidence_reviewed"
               and e["old_state"] == "shadow" and e["new_state"] == "live" for e in changes)
    assert all(e["key_fingerprint"] for e in changes)
    assert "admin-key" not in str(watch)  # the key itself is never stored or shown


def test_audit_draws_are_reproducible_and_at_the_configured_rate(
        app_factory, sqlite_url, keys, base_router):
    client = app_factory(sqlite_url, audit_probability=0.5, sampling_seed=7)
    eps = _automated_episodes(base_router, 40)
    r = client.post("/v1/route/batch", json={"episodes": eps}, headers=keys["router"])
    decisions = r.json()["decisions"]
    for d in decisions:
        assert d["audit"] == audit_draw(7, d["decision_id"], 0.5)
    assert 5 <= sum(d["audit"] for d in decisions) <= 35  # 40 draws at 0.5
    # a minimum per setting raises that setting's probability
    setting = _setting(base_router, eps[0])
    client2 = app_factory(sqlite_url, audit_probability=0.0, audit_minimum={setting: 1.0})
    d = client2.post("/v1/route", json=eps[0], headers=keys["router"]).json()
    assert d["audit"] is True


def _wrong_codes(d: dict) -> list[str]:
    """Final codes that disagree with the decision (an error under any target)."""
    have = {c["code"] for c in d["codes"]}
    return [c for c in ("A41.9", "J96.01", "I21.4", "N39.0") if c not in have][:2]


def test_watch_violation_falls_back_in_every_worker(
        app_factory, database_url, keys, base_router, caplog):
    """Two apps on one store stand for two workers: the alarm one worker raises is in force in
    the other from its next request; automation comes back only with a new version."""
    worker_a = app_factory(database_url, audit_probability=1.0)
    worker_b = app_factory(database_url, audit_probability=1.0,
                           table_prefix=worker_a.app.state.settings.table_prefix)
    eps = _automated_episodes(base_router, 60)
    setting = _setting(base_router, eps[0])
    same = [ep for ep in eps if _setting(base_router, ep) == setting]
    caplog.set_level(logging.WARNING, logger="service")
    fell_back_at = None
    for i, ep in enumerate(same):
        d = worker_a.post("/v1/route", json=ep, headers=keys["router"]).json()
        assert d["route"] == "automate" and d["audit"] is True
        out = worker_a.post("/v1/outcomes", headers=keys["router"],
                            json={"decision_id": d["decision_id"], "final_codes": _wrong_codes(d)})
        assert out.status_code == 201, out.text
        assert out.json()["correct"] is False and out.json()["watch"]["n"] == i + 1
        if out.json()["watch"]["fell_back"]:
            fell_back_at = i + 1
            break
    assert fell_back_at is not None, "an all-wrong audited stream never raised the alarm"
    # the other worker automates nothing in that setting from its very next request
    for ep in same[:10]:
        d = worker_b.post("/v1/route", json=ep, headers=keys["router"]).json()
        assert d["route"] == "assist" and d["policy_route"] == "automate"
        assert d["mode"] == "fallback"
    watch = worker_b.get("/v1/watch", headers=keys["router"]).json()
    row = next(s for s in watch["settings"] if s["care_setting"] == setting)
    assert row["status"] == "violated" and row["policy_state"] == "fallback"
    assert row["audited"] == fell_back_at and row["errors"] == fell_back_at
    assert row["interval"]["lower"] > row["alpha"]
    kinds = [e["kind"] for e in watch["events"]]
    assert "watch_violated" in kinds and "fallback" in kinds
    # never by itself, and not by an admin either: fallback -> live is refused
    r = worker_b.post("/v1/admin/policy-state", headers=keys["admin"],
                      json={"care_setting": setting, "state": "live",
                            "reason": "shadow_evidence_reviewed"})
    assert r.status_code == 409 and "re-certif" in r.json()["detail"]
    # the alarm: a metric every worker exports from the store, and a log line without PHI
    metrics = worker_b.get("/metrics").text
    assert f'triage_watch_violated{{care_setting="{setting}"}} 1.0' in metrics
    assert f'triage_policy_state{{care_setting="{setting}",state="fallback"}} 1.0' in metrics
    alarm = [r.getMessage() for r in caplog.records if "watch violated" in r.getMessage()]
    assert alarm and all("I50" not in m and "episode" not in m for m in alarm)


def test_recertify_from_shadow_outcomes_and_keep_it_across_restart(
        app_factory, sqlite_url, keys, base_router):
    client = app_factory(sqlite_url, initial_policy_state="shadow")
    eps = sample_episodes(600, seed=21)
    r = client.post("/v1/route/batch", json={"episodes": eps[:600]}, headers=keys["router"])
    decisions = r.json()["decisions"]
    # people code every shadow episode; their codes are the routing-time truth of this cohort
    for d, ep in zip(decisions, eps):
        final = [c["code"] for c in d["codes"]] if d["p_correct"] > 0.5 else _wrong_codes(d)
        assert client.post("/v1/outcomes", headers=keys["router"],
                           json={"decision_id": d["decision_id"],
                                 "final_codes": final}).status_code == 201
    proposal = client.post("/v1/admin/recertify", headers=keys["admin"], json={}).json()
    assert proposal["labelled"] == 600 and proposal["applied"] is False
    assert proposal["without_outcome"] == 0
    # the bundle's policy has no per-setting thresholds: one "all" certificate
    assert set(proposal["certified"]) <= {"inpatient", "observation", "day_case", "all"}
    if not any(proposal["certified"].values()):
        pytest.fail(f"nothing re-certified on 600 labelled episodes: {proposal['reason']}")
    old_version = client.get("/v1/policy", headers=keys["router"]).json()["policy_version"]
    applied = client.post("/v1/admin/recertify", headers=keys["admin"],
                          json={"apply": True, "go_live": True}).json()
    assert applied["applied"] is True
    new_version = applied["proposed_policy_version"]
    assert new_version != old_version
    assert client.get("/v1/policy", headers=keys["router"]).json()["policy_version"] == new_version
    live = {s for s, ok in applied["certified"].items() if ok}
    if "all" in live:
        live = {"inpatient", "observation", "day_case"}
    assert {s for s, st in applied["states"].items() if st == "live"} == live
    # a restart on the same store re-creates the re-certified version and its states
    again = app_factory(sqlite_url, initial_policy_state="shadow",
                        table_prefix=client.app.state.settings.table_prefix)
    assert again.get("/v1/policy", headers=keys["router"]).json()["policy_version"] == new_version
    watch = again.get("/v1/watch", headers=keys["router"]).json()
    assert {s["care_setting"] for s in watch["settings"] if s["policy_state"] == "live"} == live


def _stream(client, keys, episodes, chunk=500):
    for i in range(0, len(episodes), chunk):
        r = client.post("/v1/route/batch", json={"episodes": episodes[i:i + chunk]},
                        headers=keys["router"])
        assert r.status_code == 200, r.text


def test_label_free_drift_warns_on_a_shifted_stream_only(app_factory, sqlite_url, keys):
    same = app_factory(sqlite_url)
    _stream(same, keys, sample_episodes(1500, seed=31))  # the calibration population
    drift = same.get("/v1/watch", headers=keys["router"]).json()["drift"]
    assert drift["routed"] == 1500 and drift["status"] == "ok" and not drift["warning"]
    # the same stream again: the watermark means nothing is counted twice
    assert same.get("/v1/watch", headers=keys["router"]).json()["drift"]["routed"] == 1500

    shifted = app_factory(sqlite_url, drift_fallback=True)
    eps = sample_episodes(1500, seed=32)
    for ep in eps:  # a new coder version, far less sure of itself
        ep["code_scores"] = {c: round(s * 0.4, 4) for c, s in ep["code_scores"].items()}
    _stream(shifted, keys, eps)
    watch = shifted.get("/v1/watch", headers=keys["router"]).json()
    assert watch["drift"]["status"] == "warning"
    assert watch["drift"]["statistics"]["confidence"]["warning"] is True
    assert "drift_warning" in [e["kind"] for e in watch["events"]]
    # configured to fall back on a warning: the live settings automate nothing now
    assert {s["policy_state"] for s in watch["settings"]} == {"fallback"}


def test_the_watch_reads_audits_in_decision_order(app_factory, sqlite_url, keys, base_router):
    """An error may take longer to audit than a correct chart: the watch must not read audits in
    the order they come back, so it waits for the oldest audit still out."""
    client = app_factory(sqlite_url, audit_probability=1.0)
    eps = _automated_episodes(base_router, 40)
    setting = _setting(base_router, eps[0])
    eps = [ep for ep in eps if _setting(base_router, ep) == setting][:3]
    a, b, c = (client.post("/v1/route", json=ep, headers=keys["router"]).json() for ep in eps)
    assert a["audit"] and b["audit"] and c["audit"]

    def outcome(d, right):
        final = [x["code"] for x in d["codes"]] if right else _wrong_codes(d)
        r = client.post("/v1/outcomes", headers=keys["router"],
                        json={"decision_id": d["decision_id"], "final_codes": final})
        assert r.status_code == 201, r.text
        return r.json()["watch"]

    assert outcome(c, right=False)["n"] == 0  # the first audit drawn is still out: nothing read
    row = next(s for s in client.get("/v1/watch", headers=keys["router"]).json()["settings"]
               if s["care_setting"] == setting)
    assert row["audited"] == 0 and row["audits_pending"] == 2
    assert outcome(a, right=True)["n"] == 1  # a, then b is still out
    w = outcome(b, right=True)
    assert w["n"] == 3 and w["errors"] == 1  # b and the waiting c
