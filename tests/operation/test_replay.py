"""The operation loop end to end: a (smaller) replayed year through a real running service.

One replay per module (a real uvicorn server on a loopback port, a SQLite store, a router bundle
fitted on the hospital's pre-shift history): shadow start, go-live by re-certification on the
shadow outcomes, audits, a shift of the day-case coder, the watch's alarm and fallback, and
re-certification from the post-alarm labelled outcomes. The hospital here is day-case heavy
(60% day cases) so the whole loop fits in a few thousand episodes.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from triage.operation.replay import PROFILES as PROFILE_DEFAULTS
from triage.operation.replay import (
    ReplayPlan,
    Shift,
    coder_fidelity,
    fit_replay_router,
    run_replay,
    simulate_hospital,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
from live import ThreadServer

pytestmark = pytest.mark.slow

ALPHA = 0.10
EPISODES, SHIFT_AT = 9_000, 3_000
MIX = {"inpatient": 0.3, "observation": 0.1, "day_case": 0.6}
ROUTER_KEY, ADMIN_KEY = "replay-router-key", "replay-admin-key"
#: Clearer day cases than the anchored profile: re-certification on a few thousand post-shift labels
#: certified in some replays of the anchored hospital and not in others (the audit draw moves the
#: alarm, hence the labelled set); this hospital keeps a clean top after the shift, so the small
#: replay re-certifies reliably. The full replay (``triage replay``) uses the anchored profile.
PROFILES = {"day_case": dataclasses.replace(PROFILE_DEFAULTS["day_case"], clarity_mean=3.5,
                                            clarity_sd=2.0)}


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    from service.core.config import Settings
    from service.main import create_app

    tmp = tmp_path_factory.mktemp("replay")
    history = simulate_hospital(8_000, seed=11, mix=MIX, profiles=PROFILES)
    router = fit_replay_router(history, alpha=ALPHA, seed=0, model_version="replay-test")
    stream = simulate_hospital(EPISODES, seed=12, mix=MIX, shift=Shift(at=SHIFT_AT),
                               first_id=10_000_000, profiles=PROFILES)
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'store.db'}", api_keys=f"router:{ROUTER_KEY},admin:{ADMIN_KEY}",
        model_uri="test-model", table_prefix=f"r{uuid.uuid4().hex[:8]}_",
        initial_policy_state="shadow", audit_probability=0.5, holdout_probability=0.05,
        sampling_seed=3)
    app = create_app(settings, router=router)
    plan = ReplayPlan(shadow_episodes=800, batch_size=250, recertify_every=500, patience=3_000)
    with ThreadServer(app) as server:
        result = run_replay(stream, server.url, router_key=ROUTER_KEY, admin_key=ADMIN_KEY,
                            plan=plan)
        store = app.state.store
    from triage.cli.replay import write_replay

    paths = write_replay(result, tmp / "out", alpha=ALPHA, fidelity=coder_fidelity(stream))
    for e in result.events:  # shown when a test fails
        print(e["episode"], e["kind"], {k: v for k, v in e.items() if k in (
            "care_setting", "certified", "labelled", "audited", "errors", "states")})
    return result, stream, store, paths


def _first(result, kind):
    return next((e for e in result.events if e["kind"] == kind), None)


def test_shadow_automates_nothing_then_go_live_automates(replayed):
    result, _, _, _ = replayed
    t = result.timeline
    go_live = _first(result, "go_live")
    assert go_live is not None and go_live["episode"] == 1_000  # first batch end past 800
    shadow = t.iloc[:go_live["episode"]]
    assert (shadow["mode"] == "shadow").all() and not shadow["automated"].any()
    assert (shadow["policy_route"] == "automate").any()  # the policy would have automated some
    live = t.iloc[go_live["episode"]:SHIFT_AT]
    assert live["automated"].mean() > 0.15
    assert "day_case" in go_live["states"] and go_live["states"]["day_case"] == "live"


def test_pre_shift_day_case_error_is_below_alpha(replayed):
    """The bundle is valid on its own distribution: realised error among automated day cases
    before the shift (simulation truth) is below alpha, and the watch stays quiet."""
    result, _, _, _ = replayed
    t = result.timeline.iloc[:SHIFT_AT]
    auto = t[t["automated"] & (t["care_setting"] == "day_case")]
    assert len(auto) > 200
    assert (~auto["correct"]).mean() < ALPHA
    assert all(e["episode"] > SHIFT_AT for e in result.events if e["kind"] == "alarm")


def test_the_watch_raises_the_alarm_after_the_shift_and_the_setting_falls_back(replayed):
    result, _, store, _ = replayed
    t = result.timeline
    alarm = _first(result, "alarm")
    assert alarm is not None, "the shift never raised the alarm"
    assert alarm["care_setting"] == "day_case" and alarm["episode"] > SHIFT_AT
    post = t.iloc[SHIFT_AT:alarm["episode"]]
    auto = post[post["automated"] & (post["care_setting"] == "day_case")]
    assert (~auto["correct"]).mean() > ALPHA  # the shift did raise the error among automated
    recert = _first(result, "recertified")
    end = recert["episode"] if recert else len(t)
    fallen = t.iloc[alarm["episode"]:end]
    day = fallen[fallen["care_setting"] == "day_case"]
    assert len(day) > 0 and (day["mode"] == "fallback").all()
    assert not day["automated"].any()
    # the store agrees: not one automated day case of the fallen-back version after the alarm
    import sqlalchemy as sa

    d = store.decisions
    version = alarm["policy_version"]
    with store.engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(d).where(
            d.c.policy_version == version, d.c.care_setting == "day_case",
            d.c.mode == "fallback", d.c.route == "automate")).scalar_one()
        fell = conn.execute(sa.select(sa.func.count()).select_from(d).where(
            d.c.policy_version == version, d.c.care_setting == "day_case",
            d.c.mode == "fallback")).scalar_one()
    assert fell == len(day) and n == 0


def test_recertification_brings_automation_back_under_a_new_version(replayed):
    result, _, _, _ = replayed
    t = result.timeline
    alarm, recert = _first(result, "alarm"), _first(result, "recertified")
    assert recert is not None, f"no re-certification: {[e for e in result.events][-3:]}"
    assert recert["episode"] > alarm["episode"]
    assert recert["policy_version"] != alarm["policy_version"]
    assert recert["states"]["day_case"] == "live"
    after = t.iloc[recert["episode"]:]
    assert (after["policy_version"] == recert["policy_version"]).all()
    day = after[after["care_setting"] == "day_case"]
    assert day["automated"].any()
    summary = result.summary
    assert summary["recertification"]["labelled"] == recert["labelled"] > 0
    assert summary["alarm"]["automated_in_fallen_setting_after_alarm"] == 0


def test_every_posted_outcome_matched_the_simulations_truth(replayed):
    """The driver checks each outcome's ``correct`` against the simulation (it raises otherwise);
    here: audited and labelled decisions were posted, ordinary live human-coded ones were not."""
    result, _, _, _ = replayed
    t = result.timeline
    assert t.loc[t["audit"], "outcome_posted"].all()
    assert t.loc[t["mode"].isin(["shadow", "fallback"]), "outcome_posted"].all()
    ordinary = t[(t["mode"] == "live") & ~t["audit"] & ~t["holdout"]]
    assert not ordinary["outcome_posted"].any()
    assert result.summary["outcomes_posted"] == int(t["outcome_posted"].sum())


def test_files_and_figure_are_written(replayed):
    _, stream, _, paths = replayed
    for name in ("timeline", "timeline_csv", "summary", "figure", "fidelity"):
        assert paths[name].is_file() and paths[name].stat().st_size > 0, name
    assert paths["figure"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import pandas as pd

    timeline = pd.read_parquet(paths["timeline"])
    assert len(timeline) == len(stream) == EPISODES
    summary = json.loads(paths["summary"].read_text())
    assert {"phases", "events", "alarm", "recertification"} <= set(summary)


def test_the_simulated_shift_raises_the_day_case_error_and_leaves_the_rest():
    """The simulation itself (no service): coder v2 is wrong more often on day cases at the same
    score distribution; a stream without shift has no v2 episode."""
    stream = simulate_hospital(6_000, seed=5, shift=Shift(at=3_000))
    fid = coder_fidelity(stream).set_index(["care_setting", "coder_version"])
    assert fid.loc[("day_case", "v2"), "principal"] < fid.loc[("day_case", "v1"), "principal"] - 0.1
    assert ("inpatient", "v2") not in fid.index
    top1 = stream.scores.matrix.max(axis=1).toarray().ravel()
    day = stream.settings == "day_case"
    v1, v2 = top1[day & ~stream.shifted], top1[day & stream.shifted]
    assert abs(np.median(v1) - np.median(v2)) < 0.01  # the scores stay as confident
    assert not simulate_hospital(500, seed=5).shifted.any()
    again = simulate_hospital(6_000, seed=5, shift=Shift(at=3_000))
    assert again.requests == stream.requests and (again.correct == stream.correct).all()
