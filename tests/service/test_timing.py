"""The Server-Timing header (service.api.timing): off by default; when on, every routing answer says
how long each phase took, in the order the phases ran, and each phase's time is its own."""

from __future__ import annotations

import asyncio
import time

import pytest

from service.api.timing import UNTIMED, PhaseTimer, read_header, timer_for
from service.store import DecisionStore
from triage.router import Router

SINGLE = ["parse", "policy", "route", "encode", "write", "total"]
THREADPOOL = ["parse", "wait", "policy", "route", "encode", "write", "total"]
BATCH = ["read", "wait", "parse", "policy", "route", "encode", "write", "total"]


def test_timer_header_gives_each_lap_then_total():
    timer = PhaseTimer()
    time.sleep(0.02)
    timer.lap("first")
    timer.lap("second")
    name, value = timer.header()
    phases = read_header(value.decode("ascii"))
    assert name == b"server-timing"
    assert list(phases) == ["first", "second", "total"]
    assert phases["first"] >= 20.0 > phases["second"] >= 0.0
    assert phases["total"] >= phases["first"] + phases["second"] - 0.002  # rounding to 1 us


@pytest.mark.parametrize("value", ["parse;dur=abc", "parse", ";dur=1", "parse;desc=x"])
def test_read_header_names_a_malformed_entry(value):
    with pytest.raises(ValueError, match="Server-Timing entry"):
        read_header(f"route;dur=1.5, {value}")


def _timings(response) -> dict[str, float]:
    assert response.status_code == 200, response.text
    return read_header(response.headers["server-timing"])


def _requests(client, keys, episode):
    """(expected phases, response) of an inline episode, one with a note (threadpool), a batch."""
    with_note = dict(episode, episode_id=9, text="Discharge summary: heart failure.")
    batch = {"episodes": [dict(episode, episode_id=i) for i in range(3)]}
    return [
        (SINGLE, client.post("/v1/route", json=episode, headers=keys["router"])),
        (THREADPOOL, client.post("/v1/route", json=with_note, headers=keys["router"])),
        (BATCH, client.post("/v1/route/batch", json=batch, headers=keys["router"])),
    ]


def test_answers_are_timed_phase_by_phase_when_on(app_factory, sqlite_url, keys, episode):
    client = app_factory(sqlite_url, server_timing=True)
    for expected, response in _requests(client, keys, episode):
        phases = _timings(response)
        assert list(phases) == expected
        assert all(ms >= 0.0 for ms in phases.values())
        parts = sum(ms for name, ms in phases.items() if name != "total")
        assert phases["total"] >= parts - 0.01  # each rounded to 1 us
        assert phases["total"] <= response.elapsed.total_seconds() * 1e3 + 0.01


def test_no_header_by_default(app_factory, sqlite_url, keys, episode):
    client = app_factory(sqlite_url)  # negative control: the same requests, the setting off
    for _expected, response in _requests(client, keys, episode):
        assert response.status_code == 200, response.text
        assert "server-timing" not in response.headers


def test_each_phase_is_charged_its_own_time(app_factory, sqlite_url, keys, episode, monkeypatch):
    """A slow router shows in ``route`` alone, a slow commit in ``write`` alone: the laps sit
    where the work is (a lap one step early or late would move the time to a neighbour)."""
    client = app_factory(sqlite_url, server_timing=True)
    route_one, route_many = Router.route_one, Router.route_many
    record_on_loop, record = DecisionStore.record_decisions_on_loop, DecisionStore.record_decisions

    def slow_route_one(self, *args, **kwargs):
        time.sleep(0.06)
        return route_one(self, *args, **kwargs)

    def slow_route_many(self, *args, **kwargs):
        time.sleep(0.06)
        return route_many(self, *args, **kwargs)

    async def slow_record_on_loop(self, rows):
        await asyncio.sleep(0.04)
        return await record_on_loop(self, rows)

    def slow_record(self, rows):
        time.sleep(0.04)
        return record(self, rows)

    monkeypatch.setattr(Router, "route_one", slow_route_one)
    monkeypatch.setattr(Router, "route_many", slow_route_many)
    monkeypatch.setattr(DecisionStore, "record_decisions_on_loop", slow_record_on_loop)
    monkeypatch.setattr(DecisionStore, "record_decisions", slow_record)
    for _expected, response in _requests(client, keys, episode):
        phases = _timings(response)
        assert phases["route"] >= 60.0
        assert phases["write"] >= 40.0
        others = {name: ms for name, ms in phases.items() if name not in ("route", "write", "total")}
        assert all(ms < 40.0 for ms in others.values()), others


def test_untimed_requests_share_one_timer_that_records_nothing():
    untimed = timer_for(False)
    untimed.lap("parse")
    assert untimed is UNTIMED and untimed.header() is None
    assert not hasattr(untimed, "phases")  # keeps no state: one object for every request
    timed = timer_for(True)
    assert timed is not timer_for(True) and timed.header()[0] == b"server-timing"
