"""The work waiting for coders, as coding managers measure it: DNFC days and the time to clear.

*DNFC days* (discharged, not final coded) is the count of discharged episodes without final codes
divided by the average number of discharges per day: how many days of work sit in the queue. It is
the coding share of DNFB days (discharged, not final billed), which health systems run at about 5-7
days with automated workflows, 2-4 of them in coding.

The *projected time to clear* assumes no new arrivals and every rostered coding minute spent on
the waiting work, at the allocator's expected minutes per episode: the whole backlog needs
``minutes / capacity`` days; each queue alone needs its minutes over the daily minutes of the
coders eligible for it (a lower bound for that queue: those coders may be busy elsewhere).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from triage.allocation.allocator import Allocator
from triage.allocation.roster import Roster

HUMAN_ROUTES = ("assist", "manual")


def dnfc_days(not_final_coded: int, discharges: int, over_days: float) -> float | None:
    """Episodes not final coded over the average discharges per day (None without discharges)."""
    if not_final_coded < 0 or discharges < 0:
        raise ValueError("counts must be >= 0")
    if over_days <= 0:
        raise ValueError(f"over_days must be > 0, got {over_days}")
    if discharges == 0:
        return None
    return not_final_coded / (discharges / over_days)


def expected_minutes(allocator: Allocator, route: str) -> float:
    """Expected coding minutes of one episode of ``route`` at the configured default features
    (the store keeps no note length or code counts)."""
    d = allocator.config.defaults
    return allocator.effort_model.minutes(route, d["note_words"], d["n_codes"], d["n_categories"])


@dataclass(frozen=True)
class QueueProjection:
    queue: str
    episodes: int
    minutes: float
    capacity_minutes: float   # per day, of the coders eligible for this queue
    days_to_clear: float      # inf when no eligible coder


@dataclass(frozen=True)
class ClearProjection:
    minutes: float
    capacity_minutes: float   # per day, whole roster (productive minutes)
    coders: int
    days_to_clear: float      # inf when the roster has no minutes
    queues: tuple[QueueProjection, ...]


def project_clear(
    waiting: Mapping[tuple[str, str], int], roster: Roster, allocator: Allocator
) -> ClearProjection:
    """Days to clear ``waiting`` ((queue, route) -> episodes) with ``roster``'s daily minutes."""
    per_route = {r: expected_minutes(allocator, r) for r in HUMAN_ROUTES}
    eligible = allocator.eligibility(roster)
    index = {q: i for i, q in enumerate(allocator.mapper.queues)}
    by_queue: dict[str, list[float]] = {}
    for (queue, route), n in waiting.items():
        if route not in per_route:
            raise ValueError(f"waiting: route {route!r} is not a human route {HUMAN_ROUTES}")
        acc = by_queue.setdefault(queue, [0, 0.0])
        acc[0] += n
        acc[1] += n * per_route[route]
    queues = []
    for queue, (n, minutes) in sorted(by_queue.items()):
        row = index.get(queue, index.get(allocator.config.default_queue))
        cap = float(roster.capacity[eligible[row]].sum()) if row is not None else 0.0
        queues.append(QueueProjection(queue, int(n), minutes, cap, _days(minutes, cap)))
    total = sum(q.minutes for q in queues)
    capacity = float(roster.capacity.sum())
    return ClearProjection(total, capacity, len(roster), _days(total, capacity), tuple(queues))


def _days(minutes: float, capacity: float) -> float:
    if minutes <= 0:
        return 0.0
    return minutes / capacity if capacity > 0 else math.inf
