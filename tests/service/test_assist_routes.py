"""POST /v1/suggest and /v1/audit: auth, validation, certified thresholds from the bundle, storage."""

from __future__ import annotations

import dataclasses

import pytest
from router_bundle import synthetic_cohort

from triage.assist import PrecisionThreshold, calibrate_assistant
from triage.router import Router


@pytest.fixture(scope="module")
def assist_info():
    scores, _, gold = synthetic_cohort(1500, seed=7)
    info = calibrate_assistant(scores, gold, target=0.95, delta=0.1).to_dict()
    # this cohort's scores cannot certify audit flags; the route is tested with a set threshold
    info["audit"]["missing"] = PrecisionThreshold(0.9, 0.95, 0.1, "episode", 3, True, 1500, 100, 0.97).to_dict()
    return info


@pytest.fixture
def assist_client(app_factory, sqlite_url, make_router, assist_info):
    r = make_router(cls=Router)
    r = dataclasses.replace(r, info={**r.info, "assist": assist_info})
    return app_factory(sqlite_url, router=r)


def _episode(**extra):
    return {"episode_id": "ep-1", "code_scores": {"I50.9": 0.99, "I10": 0.97, "N18.3": 0.3, "J18.9": 0.04},
            "metadata": {"gender": "M", "age": 70}, **extra}


def test_calibration_certifies_prefill_on_informative_scores(assist_info):
    assert assist_info["prefill"]["feasible"] and assist_info["prefill"]["threshold"] < 0.99


def test_suggest_groups_prefills_and_stores(assist_client, keys, assist_info):
    r = assist_client.post("/v1/suggest", json=_episode(k=3), headers=keys["router"])
    assert r.status_code == 200, r.text
    body = r.json()
    t = assist_info["prefill"]["threshold"]
    codes = [c for g in body["groups"] for c in g["codes"]]
    assert [c["code"] for c in codes][:1] == ["I50.9"] and len(codes) == 3
    assert body["prefilled"] == [c["code"] for c in codes if c["score"] >= t]
    assert set(body["offered"]) == {c["code"] for c in codes} - set(body["prefilled"])
    assert body["calibrated"] is True and body["guarantee"]["prefill"]["target"] == 0.95
    assert all(g["group"].startswith("ICD-10-CM chapter") for g in body["groups"])
    row = assist_client.app.state.store.get_assist(body["record_id"])
    assert row["kind"] == "suggest" and row["episode_id"] == "ep-1" and row["record"]["prefilled"] == body["prefilled"]


def test_audit_flags_a_missing_code_with_its_drg_change(assist_client, keys, assist_info):
    # the human coded pneumonia alone; the model is sure of acute respiratory failure (an MCC)
    body = {"episode_id": 9, "coded_codes": ["J18.9"],
            "code_scores": {"J18.9": 0.99, "J96.01": 0.999}, "metadata": {"gender": "F"}}
    r = assist_client.post("/v1/audit", json=body, headers=keys["router"])
    assert r.status_code == 200, r.text
    out = r.json()
    assert [f["type"] for f in out["flags"]] == ["missing"]  # unsupported/principal certify nothing here
    flag = next(f for f in out["flags"] if f["type"] == "missing")
    assert flag["code"] == "J96.01" and flag["drg_changes"] is True and flag["drg_before"] != flag["drg_after"]
    assert out["drg"] == flag["drg_before"]
    assert assist_client.app.state.store.get_assist(out["record_id"])["kind"] == "audit"
    # below the certified threshold: no flag
    body["code_scores"]["J96.01"] = 0.85
    assert assist_client.post("/v1/audit", json=body, headers=keys["router"]).json()["flags"] == []


def test_auth_and_validation(assist_client, keys):
    assert assist_client.post("/v1/suggest", json=_episode()).status_code == 401
    assert assist_client.post("/v1/audit", json={**_episode(), "coded_codes": ["I10"]},
                              headers=keys["unknown"]).status_code == 401
    r = assist_client.post("/v1/suggest", json={**_episode(), "k": 0}, headers=keys["router"])
    assert r.status_code == 422
    r = assist_client.post("/v1/suggest", json=_episode(code_scores={"I50.9": 1.5}), headers=keys["router"])
    assert r.status_code == 422
    # an unknown coded code is valid by the schema: left out and listed, as route and suggest do
    r = assist_client.post("/v1/audit", json={**_episode(), "coded_codes": ["I10", "NOT A CODE", "Q99.9X"]},
                           headers=keys["router"])
    assert r.status_code == 200, r.text
    assert r.json()["unknown_codes"] == ["NOT A CODE", "Q99.9X"]
    r = assist_client.post("/v1/audit", json={**_episode(), "coded_codes": ["I10", "\n"]}, headers=keys["router"])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:3] == ["body", "coded_codes", 1]
    r = assist_client.post("/v1/audit", json={**_episode(), "coded_codes": []}, headers=keys["router"])
    assert r.status_code == 422


def test_bundle_without_calibration_suggests_nothing_prefilled_and_refuses_audit(sqlite_client, keys):
    r = sqlite_client.post("/v1/suggest", json=_episode(), headers=keys["router"])
    assert r.status_code == 200 and r.json()["calibrated"] is False and r.json()["prefilled"] == []
    r = sqlite_client.post("/v1/audit", json={**_episode(), "coded_codes": ["I10"]}, headers=keys["router"])
    assert r.status_code == 409
