"""Router judgements the service delegates: outcome correctness under the router's own target,
and the allocator's input built from a stored decision."""

from __future__ import annotations

import numpy as np
import pytest

from triage.router import Router


def _router(target: str, **info) -> Router:
    """Only the target, ICD version and info take part in these judgements."""
    return Router(decision_rule=None, features=None, confidence=None, policy=None,
                  p_calibration=np.array([]), correct_calibration=np.array([]), target=target, info=info)


@pytest.mark.parametrize(("target", "final", "expected"), [
    ("exact", ["I50.9", "I10."], True),          # same set, other order
    ("exact", ["I50.9", "I10.", "N18.30"], False),
    ("exact3", ["I50.1", "I10."], True),         # same 3-character categories
    ("exact3", ["I50.1"], False),
    ("sequence", ["I10.", "I50.9"], False),      # the principal differs
    ("principal", ["I50.9", "E11.9"], True),
    ("jaccard", ["I50.9", "I10.", "E11.9"], False),  # 2/3 < default 0.8
])
def test_outcome_correct_follows_the_target(target, final, expected):
    assert _router(target).outcome_correct(final, ["I50.9", "I10."]) is expected


def test_jaccard_threshold_comes_from_the_bundle_info():
    final = ["I50.9", "I10.", "E11.9"]
    assert _router("jaccard", jaccard_tau=0.6).outcome_correct(final, ["I50.9", "I10."]) is True


def test_drg_target_groups_with_the_routing_metadata():
    router = _router("drg")
    md = {"age": 70, "gender": "F", "died": False}
    # an extra secondary without CC/MCC status: same MS-DRG, different code set
    assert router.outcome_correct(["I48.91", "M54.5"], ["I48.91"], md) is True
    assert router.outcome_correct(["J18.9"], ["I48.91"], md) is False


def test_allocation_episode_from_a_stored_decision():
    decision = {
        "episode_id": 7, "route": "manual", "p_correct": 0.2, "principal": None, "codes": [],
        "suggestions": [{"code": "I50.9", "score": 0.4}, {"code": "I10.", "score": 0.3}],
        "drg": None, "mdc": "PRE", "drg_weight": None, "discharge_date": "2026-01-02",
    }
    out = _router("exact").allocation_episode(decision)
    assert out["principal"] == "I50.9"  # nothing predicted: the strongest suggestion picks the queue
    assert out["mdc"] is None and out["n_codes"] == 0 and out["discharge_date"] == "2026-01-02"
    decision.update(route="automate", principal="I50.9", mdc="05",
                    codes=[{"code": "I50.9"}, {"code": "I50.1"}, {"code": "I10."}])
    del decision["discharge_date"]
    out = _router("exact").allocation_episode(decision)
    assert (out["n_codes"], out["n_categories"], out["mdc"], out["icd_version"]) == (3, 2, "05", 10)
    assert "discharge_date" not in out



def test_an_episode_with_unknown_codes_is_never_automated():
    """A code the model cannot check was left out, so its list may be incomplete: people see it."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("_bundle", Path(__file__).parent / "service" / "router_bundle.py")
    bundle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bundle)
    router = bundle.build_router(n=600, seed=0, code_systems=False)
    automated = next(e for e in bundle.sample_episodes(200, seed=3)
                     if router.route_one(e["code_scores"], e["metadata"]).route == "automate")
    with_unknown = {**automated["code_scores"], "QQQ.99": 0.9}
    decision = router.route_one(with_unknown, automated["metadata"])
    assert decision.unknown_codes == ["QQQ.99"] and decision.route in ("assist", "manual")
    assert router.route_one(automated["code_scores"], automated["metadata"]).route == "automate"
