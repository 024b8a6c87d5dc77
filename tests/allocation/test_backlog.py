"""DNFC days and the projected time to clear (triage.allocation.backlog)."""

from __future__ import annotations

import math

import pytest

from triage.allocation import Allocator, make_roster
from triage.allocation.backlog import dnfc_days, expected_minutes, project_clear


def test_dnfc_days_is_waiting_over_daily_discharges():
    assert dnfc_days(600, 3000, 30) == pytest.approx(6.0)  # 100 discharges a day, 600 waiting
    assert dnfc_days(0, 10, 1) == 0.0
    assert dnfc_days(5, 0, 30) is None
    with pytest.raises(ValueError):
        dnfc_days(1, 1, 0)


def test_time_to_clear_matches_a_hand_count():
    alloc = Allocator()
    roster = make_roster([
        {"coder_id": "a", "specialties": "cardiology;general", "level": "senior", "hours": 8},
        {"coder_id": "b", "specialties": "general", "level": "junior", "hours": 4},
    ], alloc.config)
    waiting = {("cardiology", "manual"): 30, ("general", "assist"): 50, ("renal", "manual"): 2}
    proj = project_clear(waiting, roster, alloc)
    m_manual, m_assist = expected_minutes(alloc, "manual"), expected_minutes(alloc, "assist")
    assert m_assist < m_manual
    minutes = 32 * m_manual + 50 * m_assist
    capacity = 12 * 60 * alloc.config.productive_fraction
    assert proj.minutes == pytest.approx(minutes)
    assert proj.capacity_minutes == pytest.approx(capacity)
    assert proj.days_to_clear == pytest.approx(minutes / capacity)
    by = {q.queue: q for q in proj.queues}
    assert by["cardiology"].capacity_minutes == pytest.approx(8 * 60 * alloc.config.productive_fraction)
    assert by["general"].capacity_minutes == pytest.approx(capacity)  # specialists take general
    assert math.isinf(by["renal"].days_to_clear)  # nobody on the roster may code renal
    with pytest.raises(ValueError, match="human route"):
        project_clear({("general", "automate"): 1}, roster, alloc)
