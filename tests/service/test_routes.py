"""Every endpoint through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
import re
from collections import Counter

import pytest
import sqlalchemy as sa
from scipy.stats import binomtest


def _documented(model, body: dict) -> None:
    """The answer is exactly the documented schema: every field valid, none missing or extra."""
    model.model_validate(body)
    assert set(body) == set(model.model_fields)


def test_route_one_persists_before_answering(client, keys, episode):
    from service.schemas import Decision

    r = client.post("/v1/route", json=episode, headers=keys["router"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    _documented(Decision, body)
    assert body["route"] in ("automate", "assist", "manual")
    assert body["episode_id"] == 123
    assert body["principal"] == next(c["code"] for c in body["codes"] if c["kind"] == "dx")
    assert body["principal"] == "I50.9"
    store = client.app.state.store
    row = store.get_decision(body["decision_id"])
    assert row is not None
    assert row["route"] == body["route"]
    assert row["p_correct"] == pytest.approx(body["p_correct"])
    assert row["model_version"] == body["model_version"]
    assert row["policy_version"] == body["policy_version"]
    # the store keeps the internal labels (I10.), the API answers the standard spelling (I10)
    from service.api.spelling import public_decision

    assert public_decision(row["decision"])["codes"] == body["codes"]
    assert any(c["code"] == "I10" for c in body["codes"])
    assert any(c["code"] == "I10." for c in row["decision"]["codes"])
    assert row["text"] is None
    assert row["created_at"] is not None


def test_route_batch(client, keys, episode):
    episodes = [dict(episode, episode_id=i) for i in range(25)]
    r = client.post("/v1/route/batch", json={"episodes": episodes}, headers=keys["router"])
    assert r.status_code == 200, r.text
    decisions = r.json()["decisions"]
    from service.schemas import BatchDecisions, Decision

    _documented(BatchDecisions, r.json())
    for d in decisions:
        _documented(Decision, d)
    assert [d["episode_id"] for d in decisions] == list(range(25))
    assert len({d["decision_id"] for d in decisions}) == 25
    assert client.app.state.store.count("decisions") == 25


def test_batch_limit_is_422(app_factory, sqlite_url, keys, episode):
    c = app_factory(sqlite_url, batch_limit=3)
    r = c.post("/v1/route/batch", json={"episodes": [episode] * 4}, headers=keys["router"])
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "episodes"]
    assert "limit is 3" in r.json()["detail"][0]["msg"]
    assert c.app.state.store.count("decisions") == 0


def test_batch_bad_episode_named_by_index_and_nothing_stored(sqlite_client, keys, episode):
    bad = dict(episode, episode_id=9, code_scores={"I50.9": 0.9, "i509": 0.5})
    r = sqlite_client.post(
        "/v1/route/batch", json={"episodes": [episode, bad]}, headers=keys["router"]
    )
    assert r.status_code == 422
    d = r.json()["detail"][0]
    assert d["loc"] == ["body", "episodes", 1, "code_scores", "i509"]
    assert d["input"] == "i509" and "duplicate" in d["msg"]
    assert sqlite_client.app.state.store.count("decisions") == 0


@pytest.mark.parametrize(
    "scores, unknown, codes",
    [
        ({"NOTACODE!": 0.5, "I50.9": 0.97}, ["NOTACODE!"], {"I50.9"}),
        ({"C2111ZZ": 0.95, "I50.9": 0.97}, ["C2111ZZ"], {"I50.9"}),  # PCS shape, in no table
        ({"I99.99": 0.95}, ["I99.99"], set()),  # CM shape, not a CM code
        ({"B2111ZZ": 0.95, "I10": 0.96}, [], {"B2111ZZ", "I10"}),  # PCS imaging stays a procedure
    ],
)
def test_unknown_codes_reported_back_not_invented(sqlite_client, keys, scores, unknown, codes):
    r = sqlite_client.post("/v1/route", json={"episode_id": 1, "code_scores": scores},
                           headers=keys["router"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unknown_codes"] == unknown
    got = {c["code"] for c in body["codes"]} | {s["code"] for s in body["suggestions"]}
    assert codes <= got
    assert not set(unknown) & got
    kinds = {c["code"]: c["kind"] for c in body["codes"]}
    if "B2111ZZ" in kinds:
        assert kinds["B2111ZZ"] == "px" and "B21.11ZZ" not in got


@pytest.mark.parametrize(
    "scores, loc_tail",
    [
        ({"I50.9": 1.5}, "I50.9"),
        ({"I50.9": -0.1}, "I50.9"),
        ({"I50.9": None}, "I50.9"),
        ({"I50.9": "high"}, "I50.9"),
    ],
)
def test_schema_rejects_bad_probabilities(sqlite_client, keys, scores, loc_tail):
    r = sqlite_client.post(
        "/v1/route", json={"episode_id": 1, "code_scores": scores}, headers=keys["router"]
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][:2] == ["body", "code_scores"]
    assert r.json()["detail"][0]["loc"][-1] == loc_tail


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_is_422_not_a_crash(sqlite_client, keys, literal):
    body = '{"episode_id": 1, "code_scores": {"I50.9": ' + literal + "}}"
    r = sqlite_client.post(
        "/v1/route",
        content=body,
        headers={**keys["router"], "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", "code_scores", "I50.9"]
    assert detail["input"] in ("nan", "inf", "-inf")


@pytest.mark.parametrize(
    "payload, loc, words",
    [
        ({"episode_id": 1, "code_scores": {"I50.9": 0.9, "i509": 0.8}},
         ["body", "code_scores", "i509"], "duplicate"),
        ({"episode_id": 1, "text": "chest pain, admitted"}, ["body", "text"], "no coder"),
    ],
)
def test_router_rejections_are_field_level_422(sqlite_client, keys, payload, loc, words):
    r = sqlite_client.post("/v1/route", json=payload, headers=keys["router"])
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"] == loc
    assert words in detail["msg"]


@pytest.mark.parametrize(
    "payload",
    [
        {"episode_id": 1},
        {"episode_id": 1, "code_scores": {}},
        {"episode_id": 1, "text": "   "},
        {"code_scores": {"I50.9": 0.9}},
        {"episode_id": "bad id with spaces", "code_scores": {"I50.9": 0.9}},
        {"episode_id": 1, "code_scores": {"I50.9": 0.9}, "metadata": {"age": -3}},
        {"episode_id": 1, "code_scores": {"I50.9": 0.9}, "unexpected": True},
        [],
    ],
)
def test_empty_or_malformed_episodes_are_422(sqlite_client, keys, payload):
    r = sqlite_client.post("/v1/route", json=payload, headers=keys["router"])
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][0] == "body"


def test_invalid_json_is_422(sqlite_client, keys):
    r = sqlite_client.post(
        "/v1/route", content=b"{not json", headers={**keys["router"], "Content-Type": "application/json"}
    )
    assert r.status_code == 422


def test_oversized_body_is_413(app_factory, sqlite_url, keys):
    c = app_factory(sqlite_url, max_body_bytes=2048)
    payload = {"episode_id": 1, "code_scores": {"I50.9": 0.9}, "text": "x" * 5000}
    r = c.post("/v1/route", json=payload, headers=keys["router"])
    assert r.status_code == 413


def test_note_text_stored_only_when_configured(app_factory, sqlite_url, keys, episode, caplog):
    secret = "patient SECRET-NOTE-CONTENT fell"
    for store_text in (False, True):
        c = app_factory(sqlite_url, store_text=store_text)
        r = c.post("/v1/route", json=dict(episode, text=secret), headers=keys["router"])
        assert r.status_code == 200
        row = c.app.state.store.get_decision(r.json()["decision_id"])
        assert row["text"] == (secret if store_text else None)
    assert "SECRET-NOTE-CONTENT" not in caplog.text


def test_stored_text_survives_nul_and_lone_surrogates_are_422(
    app_factory, database_url, keys, episode
):
    c = app_factory(database_url, store_text=True)
    headers = {**keys["router"], "Content-Type": "application/json"}
    body = json.dumps(dict(episode, text="pain\u0000 ok"), ensure_ascii=True)
    r = c.post("/v1/route", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert c.app.state.store.get_decision(r.json()["decision_id"])["text"] == "pain ok"
    body = json.dumps(dict(episode, text="pain \ud800 ok"), ensure_ascii=True)
    r = c.post("/v1/route", content=body, headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "text"]


def test_outcomes_and_monitoring_interval(client, keys, base_router):
    from router_bundle import sample_episodes

    automated = []
    for ep in sample_episodes(60, seed=3):
        r = client.post("/v1/route", json=ep, headers=keys["router"])
        assert r.status_code == 200
        if r.json()["route"] == "automate":
            automated.append(r.json())
        if len(automated) == 6:
            break
    assert len(automated) == 6
    # 3 exact matches (other spelling, other order), 2 errors, 1 without outcome
    def respell(codes):
        return [c.replace(".", "").lower() for c in reversed(codes)]

    codes = [[c["code"] for c in d["codes"]] for d in automated]
    finals = [respell(codes[0]), codes[1][::-1], respell(codes[2]), codes[3][:-1] or ["Z00.00"],
              [*codes[4], "R69."]]
    for d, final in zip(automated, finals):
        r = client.post(
            "/v1/outcomes", json={"decision_id": d["decision_id"], "final_codes": final},
            headers=keys["router"],
        )
        assert r.status_code == 201, r.text
        assert r.json()["automated"] is True
    again = client.post(
        "/v1/outcomes", json={"decision_id": automated[0]["decision_id"], "final_codes": ["I10"]},
        headers=keys["router"],
    )
    assert again.status_code == 409
    r = client.get("/v1/monitoring", headers=keys["router"])
    assert r.status_code == 200
    (g,) = r.json()["groups"]
    assert g["routed"]["automate"] == 6
    assert g["total"] == sum(g["routed"].values())
    assert g["automation_rate"] == pytest.approx(6 / g["total"])
    assert g["automated_with_outcome"] == 5 and g["automated_errors"] == 2
    assert g["realised_error"] == pytest.approx(0.4)
    ci = binomtest(2, 5).proportion_ci(confidence_level=0.95, method="exact")
    assert g["realised_error_interval"]["lower"] == pytest.approx(ci.low, abs=1e-12)
    assert g["realised_error_interval"]["upper"] == pytest.approx(ci.high, abs=1e-12)
    r90 = client.get("/v1/monitoring?confidence=0.9", headers=keys["router"]).json()
    ci90 = binomtest(2, 5).proportion_ci(confidence_level=0.9, method="exact")
    assert r90["groups"][0]["realised_error_interval"]["upper"] == pytest.approx(ci90.high)


def test_outcome_by_episode_id_and_errors(sqlite_client, keys, episode):
    r = sqlite_client.post("/v1/route", json=episode, headers=keys["router"])
    decision_id = r.json()["decision_id"]
    r = sqlite_client.post(
        "/v1/outcomes", json={"episode_id": 123, "final_codes": ["I50.9", "I10"]},
        headers=keys["router"],
    )
    assert r.status_code == 201 and r.json()["decision_id"] == decision_id
    assert r.json()["correct"] is True
    r = sqlite_client.post(
        "/v1/outcomes", json={"episode_id": 999, "final_codes": ["I10"]}, headers=keys["router"]
    )
    assert r.status_code == 404 and "999" in r.json()["detail"]
    r = sqlite_client.post(
        "/v1/outcomes", json={"decision_id": "0" * 32, "final_codes": ["I10"]},
        headers=keys["router"],
    )
    assert r.status_code == 404
    r2 = sqlite_client.post("/v1/route", json=dict(episode, episode_id=5), headers=keys["router"])
    r = sqlite_client.post(
        "/v1/outcomes",
        json={"decision_id": r2.json()["decision_id"], "final_codes": ["I10", "??", "C2111ZZ"]},
        headers=keys["router"],
    )
    assert r.status_code == 201, r.text  # recorded; unknown codes reported back, a disagreement
    assert r.json()["unknown_codes"] == ["??", "C2111ZZ"] and r.json()["correct"] is False
    r = sqlite_client.post(
        "/v1/outcomes", json={"final_codes": ["I10"]}, headers=keys["router"]
    )
    assert r.status_code == 422


def test_policy_get_put_versioned_and_audited(client, keys, episode):
    before = client.get("/v1/policy", headers=keys["router"])
    assert before.status_code == 200
    old_version = before.json()["policy_version"]
    r = client.put("/v1/policy", json={"kind": "three_way", "alpha": 0.5}, headers=keys["admin"])
    assert r.json()["policy"]["constraints"]["alpha"] == 0.5
    assert r.status_code == 200, r.text
    new_version = r.json()["policy_version"]
    assert new_version != old_version
    assert client.get("/v1/policy", headers=keys["router"]).json()["policy_version"] == new_version
    d = client.post("/v1/route", json=episode, headers=keys["router"]).json()
    assert d["policy_version"] == new_version
    audit = client.app.state.store.audit_rows()
    assert audit[-1]["action"] == "set_policy"
    assert audit[-1]["old_policy_version"] == old_version
    assert audit[-1]["new_policy_version"] == new_version
    # stored complete (not the partial update), so a reload re-creates exactly this policy
    params = audit[-1]["params"]
    assert params["kind"] == "three_way" and params["alpha"] == 0.5
    assert set(params) == {"kind", "alpha", "delta", "method", "fwer", "per_setting", "costs"}
    assert params["costs"] == r.json()["policy"]["costs"]
    assert audit[-1]["role"] == "admin" and len(audit[-1]["key_fingerprint"]) == 12
    assert client.app.state.store.latest_policy_params(d["model_version"]) == params
    bad = client.put("/v1/policy", json={"kind": "nonsense"}, headers=keys["admin"])
    assert bad.status_code == 422
    # capacity policy without capacity: the library refuses, the service says why
    bad = client.put("/v1/policy", json={"kind": "capacity"}, headers=keys["admin"])
    assert bad.status_code == 422 and "capacity" in bad.json()["detail"][0]["msg"]
    ok = client.put(
        "/v1/policy",
        json={"kind": "capacity", "costs": {"capacity": 300, "period_episodes": 1000}},
        headers=keys["admin"],
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["policy"]["kind"] == "capacity"
    assert client.put("/v1/policy", json={}, headers=keys["admin"]).status_code == 422
    assert client.put("/v1/policy", json={"alpha": 2}, headers=keys["admin"]).status_code == 422


def test_reload_swaps_model_and_reapplies_saved_policy(app_factory, sqlite_url, keys, make_router):
    c = app_factory(sqlite_url)
    c.put("/v1/policy", json={"alpha": 0.2}, headers=keys["admin"])
    c.app.state.router_loader = lambda uri: make_router()
    r = c.post("/v1/admin/reload", headers=keys["admin"])
    assert r.status_code == 200, r.text
    assert r.json()["model_uri"] == "test-model"
    # the policy an admin set for this model survives the reload
    policy = c.get("/v1/policy", headers=keys["router"]).json()["policy"]
    assert policy["constraints"]["alpha"] == 0.2
    # a change built on an earlier one (capacity first, then the kind that needs it) too
    capacity = {"costs": {"capacity": 300, "period_episodes": 1000}}
    assert c.put("/v1/policy", json=capacity, headers=keys["admin"]).status_code == 200
    set_kind = c.put("/v1/policy", json={"kind": "capacity"}, headers=keys["admin"])
    assert set_kind.status_code == 200, set_kind.text
    r = c.post("/v1/admin/reload", headers=keys["admin"])
    assert r.status_code == 200, r.text
    assert r.json()["policy_version"] == set_kind.json()["policy_version"]
    c.app.state.router_loader = lambda uri: make_router(model_version=f"other:{uri}")
    r = c.post("/v1/admin/reload", json={"model": "models/elsewhere"}, headers=keys["admin"])
    assert r.json()["model_version"].endswith("models/elsewhere")  # the resolved folder
    assert r.json()["previous_model_version"] == "synthetic-test"

    def broken(uri):
        raise FileNotFoundError(f"router bundle not found: {uri}")

    c.app.state.router_loader = broken
    r = c.post("/v1/admin/reload", json={"model": "models/missing/dir"}, headers=keys["admin"])
    assert r.status_code == 404 and "missing/dir" in r.json()["detail"]  # no such model

    def corrupt(uri):
        raise ValueError("bundle format 7, expected 1")

    c.app.state.router_loader = corrupt
    r = c.post("/v1/admin/reload", json={"model": "models/bad/bundle"}, headers=keys["admin"])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "model"]
    c.app.state.router_loader = broken
    assert c.post("/v1/admin/reload", headers=keys["admin"]).status_code == 503
    # a failed reload keeps the old model serving
    assert c.get("/v1/policy", headers=keys["router"]).json()["model_version"].endswith("models/elsewhere")


def test_health_ready_metrics(client, keys, episode):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["model_loaded"] and ready.json()["database"]
    client.post("/v1/route", json=episode, headers=keys["router"])
    client.post("/v1/route", json={"episode_id": 1}, headers=keys["router"])
    text = client.get("/metrics").text
    assert 'triage_http_requests_total{method="POST",path="/v1/route",status="200"} 1.0' in text
    assert 'triage_http_requests_total{method="POST",path="/v1/route",status="422"} 1.0' in text
    assert "triage_http_request_duration_seconds_bucket" in text
    assert 'triage_routes_total{model_version="synthetic-test",policy_version=' in text
    # the series' children are kept per label set (service.prometheus): later requests add to them
    route = client.post("/v1/route", json=episode, headers=keys["router"]).json()["route"]
    text = client.get("/metrics").text
    assert 'triage_http_requests_total{method="POST",path="/v1/route",status="200"} 2.0' in text
    assert 'triage_http_request_duration_seconds_count{method="POST",path="/v1/route"} 3.0' in text
    assert re.search(rf'triage_routes_total\{{model_version="synthetic-test",policy_version="[^"]+",'
                     rf'route="{route}"\}} 2.0', text)
    # a batch counts each of its episodes under its own route
    batch = [dict(episode, episode_id=i) for i in range(7)]
    routes = Counter(d["route"] for d in client.post(
        "/v1/route/batch", json={"episodes": batch}, headers=keys["router"]).json()["decisions"])
    text = client.get("/metrics").text
    for name, n in routes.items():
        before = 2 if name == route else 0
        assert re.search(rf'triage_routes_total\{{model_version="synthetic-test",policy_version="[^"]+",'
                         rf'route="{name}"\}} {before + n}.0', text), (name, n)


def test_readyz_not_ready_without_model_or_database(app_factory, sqlite_url, tmp_path):
    def broken(uri):
        raise FileNotFoundError(uri)

    c = app_factory(sqlite_url)
    c.app.state.router_holder.swap(None)
    r = c.get("/readyz")
    assert r.status_code == 503 and r.json()["model_loaded"] is False
    c.app.state.router_holder.swap(object())
    store = c.app.state.store
    good = store.engine
    store.engine = sa.create_engine(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    try:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["database"] is False
    finally:
        store.engine = good


def test_each_app_has_its_own_metrics_registry(app_factory, sqlite_url, keys, episode):
    a, b = app_factory(sqlite_url), app_factory(sqlite_url)
    a.post("/v1/route", json=episode, headers=keys["router"])
    assert 'path="/v1/route"' in a.get("/metrics").text
    assert 'path="/v1/route"' not in b.get("/metrics").text


def test_unhandled_error_is_generic_500(app_factory, sqlite_url, keys, episode, make_router):
    from fastapi.testclient import TestClient

    from triage.router import Router

    class Exploding(Router):
        def route_one(self, **kw):
            raise RuntimeError("secret internals /etc/passwd")

    c = app_factory(sqlite_url, router=make_router(cls=Exploding))
    raw = TestClient(c.app, raise_server_exceptions=False)
    r = raw.post("/v1/route", json=episode, headers=keys["router"])
    assert r.status_code == 500
    assert set(r.json()) == {"detail", "request_id"}
    assert r.headers["x-request-id"] == r.json()["request_id"]
    assert "secret" not in r.text and "Traceback" not in r.text


def test_openapi_has_examples(sqlite_client):
    schema = sqlite_client.get("/openapi.json").json()
    comps = schema["components"]["schemas"]
    for name in ("Episode", "Decision", "OutcomeIn", "PolicyUpdate", "RouteBatchRequest"):
        assert comps[name].get("examples"), name
    assert {"/v1/route", "/v1/route/batch", "/v1/outcomes", "/v1/monitoring", "/v1/policy",
            "/v1/admin/reload", "/v1/allocate", "/healthz", "/readyz", "/metrics"} <= set(schema["paths"])
    json.dumps(schema)
    assert not math.isnan(0.0)
