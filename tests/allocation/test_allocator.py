import numpy as np
import pandas as pd
import pytest

from triage.allocation import Allocator, EpisodeInputError, RosterError, load_config
from triage.allocation.allocator import CAPACITY, NO_LEVEL, NO_SPECIALTY, TOO_LONG

ALLOC = Allocator(load_config())


def episodes(n=40, seed=0, **cols):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "episode_id": [f"e{i}" for i in range(n)],
        "route": rng.choice(["automate", "assist", "manual"], n),
        "p_correct": rng.uniform(size=n),
        "principal": rng.choice(["I50.9", "C34.90", "O80.", "K35.80", "J18.9"], n),
        "n_codes": rng.integers(2, 15, n), "n_categories": rng.integers(1, 8, n),
        "drg_weight": rng.uniform(0.5, 2, n),
    })
    return df.assign(**cols)


ROSTER = pd.DataFrame({"coder_id": ["a", "b", "c"], "specialties": ["cardiology;general", "oncology", "general"],
                       "level": ["senior", "intermediate", "junior"], "hours": [2, 2, 1.5]})


def test_every_episode_lands_in_exactly_one_table_and_respects_rules():
    eps = episodes(60)
    res = ALLOC.allocate(eps, ROSTER)
    ids = list(res.assignments.episode_id) + list(res.backlog.episode_id) + list(res.automated.episode_id)
    assert sorted(ids) == sorted(eps.episode_id)
    scored = ALLOC.score(eps).set_index("episode_id")
    specs = {"a": {"cardiology", "general"}, "b": {"oncology", "general"}, "c": {"general"}}
    levels = {"a": 3, "b": 2, "c": 1}
    for row in res.assignments.itertuples():
        assert row.queue in specs[row.coder_id]
        assert scored.loc[row.episode_id, "required_level"] <= levels[row.coder_id]
        assert scored.loc[row.episode_id, "route"] != "automate"
    used = res.assignments.groupby("coder_id").minutes.sum()
    cap = res.coders.set_index("coder_id").capacity_minutes
    assert (used <= cap[used.index] + 1e-6).all()
    assert set(res.backlog.reason) <= {CAPACITY, NO_SPECIALTY, NO_LEVEL, TOO_LONG}
    assert (res.backlog[res.backlog.queue == "obstetrics"].reason == NO_SPECIALTY).all()
    assert res.summary["priority_served"] == pytest.approx(res.assignments.priority.sum())


def test_infeasible_rosters_give_reasons():
    eps = episodes(10, route="manual", principal="O80.")
    res = ALLOC.allocate(eps, ROSTER)
    assert (res.backlog.reason == NO_SPECIALTY).all() and len(res.backlog) == 10
    assert "obstetrics" in res.backlog.detail.iloc[0]
    hard = episodes(3, route="manual", principal="I50.9", n_codes=40, n_categories=20)
    juniors = ROSTER.assign(level="junior")
    res = ALLOC.allocate(hard, juniors)
    assert (res.backlog.reason == NO_LEVEL).all()
    long = episodes(2, route="manual", principal="K35.80", note_words=200000)
    res = ALLOC.allocate(long, ROSTER)
    assert (res.backlog.reason == TOO_LONG).all()
    zero = ROSTER.assign(hours=0)
    res = ALLOC.allocate(episodes(5, route="assist", principal="K35.80"), zero)
    assert len(res.assignments) == 0 and len(res.backlog) == 5


def test_capacity_exhausted_and_higher_priority_served_first():
    eps = episodes(30, route="manual", principal="K35.80", n_codes=5, n_categories=3, note_words=1000,
                   drg_weight=1.0, p_correct=0.5)
    eps["days_since_discharge"] = np.arange(30)  # urgency is the only difference
    one = pd.DataFrame({"coder_id": ["x"], "specialties": ["general"], "level": ["senior"], "hours": [1.0]})
    res = ALLOC.allocate(eps, one)
    assert (res.backlog.reason == CAPACITY).all()
    assert res.assignments.priority.min() >= res.backlog.priority.max()  # equal minutes: top priorities win


@pytest.mark.parametrize("change,match", [
    (lambda d: d.drop(columns="p_correct"), "p_correct"),
    (lambda d: d.assign(route="auto"), "route"),
    (lambda d: d.assign(p_correct=1.5), "p_correct"),
    (lambda d: d.assign(n_codes="many"), "n_codes"),
    (lambda d: d.assign(chapter="XXX9"), "chapter"),
    (lambda d: d.assign(discharge_date="yesterday"), "discharge_date"),
    (lambda d: d.assign(episode_id="same"), "repeats"),
    (lambda d: d.assign(drg="abc"), "drg"),
])
def test_bad_episodes_are_named(change, match):
    with pytest.raises(EpisodeInputError, match=match):
        ALLOC.allocate(change(episodes(5)), ROSTER, source="eps.csv")


@pytest.mark.parametrize("change,match", [
    (lambda r: r.drop(columns="hours"), "hours"),
    (lambda r: r.assign(level="guru"), "level"),
    (lambda r: r.assign(specialties="cardiolgy"), "cardiolgy"),
    (lambda r: r.assign(hours=-1), "hours"),
    (lambda r: r.assign(coder_id="z"), "repeats"),
])
def test_bad_rosters_are_named(change, match):
    with pytest.raises(RosterError, match=match):
        ALLOC.allocate(episodes(5), change(ROSTER))


def test_discharge_date_and_chapter_inputs():
    eps = episodes(3, route="manual").assign(discharge_date=["2026-01-01", "2026-01-21", None],
                                             chapter=["IX", None, "neoplasms"])
    t = ALLOC.score(eps, as_of="2026-01-31")
    assert list(t.days_since_discharge) == [30.0, 10.0, 0.0]
    assert t.queue.iloc[0] == "cardiology" and t.queue.iloc[2] == "oncology"
    q, _ = ALLOC.queue_and_priority({"principal": "I50.9", "p_correct": 0.9, "discharge_date": "2026-01-01"})
    assert q == "cardiology"


def test_fitted_effort_model_changes_minutes():
    from triage.allocation import EffortModel
    timings = pd.DataFrame({"route": ["manual"] * 20, "note_words": np.linspace(500, 3000, 20), "n_codes": 5,
                            "n_categories": 3, "minutes": np.full(20, 90.0)})
    slow = Allocator(load_config(), EffortModel(load_config()).fit(timings))
    eps = episodes(5, route="manual")
    assert (slow.score(eps).minutes > ALLOC.score(eps).minutes).all()
