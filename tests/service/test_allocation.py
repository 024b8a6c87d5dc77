"""POST /v1/allocate: routed decisions -> coder assignments through triage.allocation."""

from __future__ import annotations

from router_bundle import sample_episodes

ROSTER = [
    {"coder_id": "ann", "specialties": ["cardiology", "general"], "level": "senior", "hours": 7.5},
    {"coder_id": "bob", "specialties": ["general"], "level": "junior", "hours": 0.5},
]


def _route(client, keys, n=30):
    eps = sample_episodes(n, seed=11)
    for i, ep in enumerate(eps):
        ep["metadata"]["discharge_date"] = f"2026-11-{1 + i % 20:02d}"
    r = client.post("/v1/route/batch", json={"episodes": eps}, headers=keys["router"])
    assert r.status_code == 200
    return r.json()["decisions"]


def test_every_decision_lands_somewhere(client, keys):
    decisions = _route(client, keys)
    ids = [d["decision_id"] for d in decisions]
    r = client.post(
        "/v1/allocate", json={"roster": ROSTER, "decision_ids": ids, "as_of": "2026-11-27"},
        headers=keys["router"],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    placed = [x["decision_id"] for t in ("assignments", "backlog", "automated") for x in body[t]]
    assert sorted(placed) == sorted(ids)
    automated = {d["decision_id"] for d in decisions if d["route"] == "automate"}
    assert {x["decision_id"] for x in body["automated"]} == automated
    by_id = {d["decision_id"]: d for d in decisions}
    for a in body["assignments"]:
        assert a["coder_id"] in ("ann", "bob")
        assert a["episode_id"] == str(by_id[a["decision_id"]]["episode_id"])
    minutes = {c["coder_id"]: c for c in body["coders"]}
    for coder in minutes.values():
        assert coder["assigned_minutes"] <= coder["capacity_minutes"] + 1e-6
    assert body["summary"]["n_episodes"] == len(ids)


def test_bad_roster_is_422_and_unknown_ids_404(sqlite_client, keys):
    ids = [d["decision_id"] for d in _route(sqlite_client, keys, n=3)]
    bad = [dict(ROSTER[0], specialties=["astrology"])]
    r = sqlite_client.post(
        "/v1/allocate", json={"roster": bad, "decision_ids": ids}, headers=keys["router"]
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "roster"], r.text
    assert "astrology" in r.json()["detail"][0]["msg"]
    r = sqlite_client.post(
        "/v1/allocate", json={"roster": ROSTER, "decision_ids": [*ids, "a" * 32]},
        headers=keys["router"],
    )
    assert r.status_code == 404  # a reference to nothing stored
    assert "decision_ids[3] " + "a" * 32 in r.json()["detail"]
    r = sqlite_client.post(
        "/v1/allocate", json={"roster": ROSTER, "decision_ids": [ids[0], ids[0]]},
        headers=keys["router"],
    )
    assert r.status_code == 422 and r.json()["detail"][0]["msg"] == "repeated decision"
