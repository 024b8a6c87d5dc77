"""POST /v1/outcomes judges a decision under the router's own target (the error its policy
guarantees), here MS-DRG, on a bundle with code systems: the DRG path over HTTP."""

from __future__ import annotations

import pytest
from router_bundle import build_router, sample_episodes

from triage.codes.drg import group_episode
from triage.codes.labels import label_kind

EXTRA_SECONDARIES = ("M54.5", "Z87.891", "E78.5", "K21.9", "F32.9")


@pytest.fixture(scope="module")
def drg_router():
    """A bundle fitted for target="drg" with its code-system features; the Chow policy so that
    the confident episodes are automated."""
    router = build_router(n=400, seed=0, code_systems=True, target="drg", model_version="drg-test")
    return router.with_policy(kind="chow")


def _drg(labels: list[str], metadata: dict) -> str:
    dx = [c for c in labels if label_kind(c, 10) == "dx"]
    px = [c for c in labels if label_kind(c, 10) == "px"]
    return group_episode(dx, px, metadata.get("gender"), is_alive=not metadata.get("died")).drg


@pytest.mark.slow
def test_outcomes_and_monitoring_follow_the_drg_target(app_factory, sqlite_url, keys, drg_router):
    client = app_factory(sqlite_url, router=drg_router)
    episodes = {e["episode_id"]: e for e in sample_episodes(40, seed=3)}
    r = client.post("/v1/route/batch", json={"episodes": list(episodes.values())}, headers=keys["router"])
    assert r.status_code == 200, r.text
    automated = [d for d in r.json()["decisions"] if d["route"] == "automate" and d["drg"] not in (None, "000")]
    assert len(automated) >= 2
    same, other = automated[:2]

    # a final list with one more secondary code that leaves the DRG as it is: wrong as a code
    # set, right as a DRG
    md = episodes[same["episode_id"]]["metadata"]
    predicted = [c["code"] for c in same["codes"]]
    final = next(predicted + [x] for x in EXTRA_SECONDARIES
                 if x not in predicted and _drg(predicted + [x], md) == same["drg"])
    r = client.post("/v1/outcomes", json={"decision_id": same["decision_id"], "final_codes": final},
                    headers=keys["router"])
    assert r.status_code == 201, r.text
    assert r.json()["correct"] is True

    # a final list whose principal groups elsewhere: an error under the DRG target
    md = episodes[other["episode_id"]]["metadata"]
    wrong = ["J18.9"] + [c["code"] for c in other["codes"] if c["code"] != other["principal"]]
    assert _drg(wrong, md) != other["drg"]
    r = client.post("/v1/outcomes", json={"decision_id": other["decision_id"], "final_codes": wrong},
                    headers=keys["router"])
    assert r.status_code == 201, r.text
    assert r.json()["correct"] is False

    monitoring = client.get("/v1/monitoring", headers=keys["router"]).json()
    group = next(g for g in monitoring["groups"] if g["model_version"] == "drg-test")
    assert group["automated_with_outcome"] == 2 and group["automated_errors"] == 1
