"""Decision parity: the same episode routed in-process and over HTTP gives the same answer
(the API spells codes the standard way, I10 not the internal label I10.)."""

from __future__ import annotations

import json

from router_bundle import sample_episodes

from service.api.spelling import public_decision


OPERATION_FIELDS = ("policy_route", "mode", "audit", "holdout")


def _jsonable(d: dict) -> dict:
    out = json.loads(json.dumps(public_decision(d)))
    for name in OPERATION_FIELDS:  # the library alone serves the policy's route as is
        out.pop(name, None)
    return out


def _served_as_decided(got: dict) -> dict:
    """A live setting with no holdout serves the policy's route: the rest must equal the library's."""
    assert got.pop("mode") == "live" and got.pop("holdout") is False
    assert got.pop("policy_route") == got["route"]
    assert got.pop("audit") in ((True, False) if got["route"] == "automate" else (False,))
    return got


def test_route_matches_library(client, keys, base_router):
    episodes = sample_episodes(30, seed=7)
    for ep in episodes:
        expected = _jsonable(base_router.route_one(**ep).to_dict())
        r = client.post("/v1/route", json=ep, headers=keys["router"])
        assert r.status_code == 200, r.text
        got = _served_as_decided(r.json())
        assert got.pop("decision_id")
        assert got == expected
    routes = {_jsonable(base_router.route_one(**ep).to_dict())["route"] for ep in episodes}
    assert len(routes) >= 2  # the sample exercises more than one route
    codes = {c["code"] for ep in episodes for c in _jsonable(base_router.route_one(**ep).to_dict())["codes"]}
    assert "I10" in codes and not any(c.endswith(".") for c in codes)


def test_batch_matches_library(sqlite_client, keys, base_router):
    episodes = sample_episodes(40, seed=8)
    # any code spelling: the router normalises, so respelt input must give the same decisions
    respelt = [
        dict(ep, code_scores={c.replace(".", "").lower(): s for c, s in ep["code_scores"].items()})
        for ep in episodes
    ]
    r = sqlite_client.post("/v1/route/batch", json={"episodes": respelt}, headers=keys["router"])
    assert r.status_code == 200, r.text
    for ep, got in zip(episodes, r.json()["decisions"]):
        got = _served_as_decided(dict(got))
        got.pop("decision_id")
        assert got == _jsonable(base_router.route_one(**ep).to_dict())


def test_policy_change_matches_library(sqlite_client, keys, base_router):
    params = {"kind": "three_way", "alpha": 0.25, "delta": 0.2}
    r = sqlite_client.put("/v1/policy", json=params, headers=keys["admin"])
    assert r.status_code == 200, r.text
    local = base_router.with_policy(**params)
    assert r.json()["policy_version"] == local.policy.version
    ep = sample_episodes(1, seed=9)[0]
    got = _served_as_decided(sqlite_client.post("/v1/route", json=ep, headers=keys["router"]).json())
    got.pop("decision_id")
    assert got == _jsonable(local.route_one(**ep).to_dict())
