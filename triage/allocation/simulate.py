"""Backlog simulation: N days of arrivals, a fixed roster, and a routing policy.

Each simulated day: the day's episodes arrive (a seeded Poisson number of them), the routing policy
sends each to ``automate`` (done at once, charged the audit minutes) or to a human route, and the
allocator optimally assigns the human backlog to the roster's minutes. Unserved episodes wait and
grow more urgent. The same seed gives the same arrivals under every policy (common random
numbers), so differences between policies are the policies', not the dice's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from triage.allocation.allocator import Allocator
from triage.allocation.config import ROUTES
from triage.allocation.roster import Roster, make_roster, pool_roster
from triage.config_files import ConfigError, read_config_file

#: A routing-policy file is invalid (the message names the file and the field): the one
#: settings-file error, :class:`triage.config_files.ConfigError`, under its simulation name.
PolicyFileError = ConfigError


@dataclass(frozen=True)
class SimulatedRouting:
    """How a simulation routes arriving episodes.

    Either by shares (each episode automated with probability ``automate``, assisted with
    ``assist``, otherwise manual — drawn once per episode, shared across policies) or, when
    ``automate_threshold`` is set, by the episode's ``p_correct`` like a deployed router:
    automate if p >= automate_threshold, assist if p >= assist_threshold, else manual.
    """

    name: str
    automate: float = 0.0
    assist: float = 0.0
    automate_threshold: float | None = None
    assist_threshold: float = 0.0

    def __post_init__(self) -> None:
        if not (0 <= self.automate <= 1 and 0 <= self.assist <= 1 and self.automate + self.assist <= 1 + 1e-12):
            raise ValueError(f"policy {self.name!r}: shares automate={self.automate}, assist={self.assist} "
                             "must be in [0, 1] and sum to at most 1")
        if self.automate_threshold is not None and not (self.assist_threshold <= self.automate_threshold):
            raise ValueError(f"policy {self.name!r}: need assist_threshold <= automate_threshold")

    @classmethod
    def all_human(cls) -> SimulatedRouting:
        return cls("all-human")

    @classmethod
    def from_rate(cls, automation_rate: float, assist: float | None = None) -> SimulatedRouting:
        """Automate ``automation_rate`` of arrivals; the rest is assisted unless ``assist`` says otherwise."""
        a = 1.0 - automation_rate if assist is None else assist
        return cls(f"routed (automate {automation_rate:.0%})", automate=automation_rate, assist=a)

    @classmethod
    def from_file(cls, path: str | Path) -> SimulatedRouting:
        """YAML/JSON with either ``automate_threshold`` [+ ``assist_threshold``] or ``shares``
        (``{automate: r, assist: s}``); optional ``name``. A saved triage Policy with thresholds works too."""
        path = Path(path)
        data = read_config_file(path, what="policy")
        name = str(data.get("name", path.stem))
        try:
            if "t_automate" in data:  # a saved triage.policy.Policy (JSON from the policy area)
                return cls._from_saved_policy(data, name, path)
            if "automate_threshold" in data:
                return cls(name, automate_threshold=float(data["automate_threshold"]),
                           assist_threshold=float(data.get("assist_threshold", 0.0)))
            if "shares" in data and isinstance(data["shares"], Mapping):
                shares = data["shares"]
                unknown = set(shares) - set(ROUTES)
                if unknown:
                    raise PolicyFileError(f"{path}: field 'shares' has unknown route(s) {sorted(unknown)}")
                return cls(name, automate=float(shares.get("automate", 0.0)), assist=float(shares.get("assist", 0.0)))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, PolicyFileError):
                raise
            raise PolicyFileError(f"{path}: {exc}") from None
        raise PolicyFileError(f"{path}: needs 'automate_threshold' (and optional 'assist_threshold') "
                              "or 'shares: {automate: r, assist: s}'")

    @classmethod
    def _from_saved_policy(cls, data: Mapping, name: str, path: Path) -> SimulatedRouting:
        from triage.policy.policies import Policy

        policy = Policy.from_dict(dict(data))  # validates (schema, version hash), naming the bad field
        if policy.rule != "threshold":
            raise PolicyFileError(f"{path}: policy rule {policy.rule!r} needs per-episode DRG weight gaps; "
                                  "the simulation supports threshold policies")
        # Thresholds may be +/-inf ("never"/"always" automate); routing compares p >= threshold.
        t_assist = policy.t_automate if policy.t_assist is None else policy.t_assist
        return cls(f"{name} ({policy.kind} {policy.version})", automate_threshold=float(policy.t_automate),
                   assist_threshold=float(t_assist))

    def route(self, p_correct: np.ndarray, u: np.ndarray) -> np.ndarray:
        if self.automate_threshold is not None:
            return np.where(p_correct >= self.automate_threshold, "automate",
                            np.where(p_correct >= self.assist_threshold, "assist", "manual"))
        return np.where(u < self.automate, "automate", np.where(u < self.automate + self.assist, "assist", "manual"))


@dataclass
class SimulationResult:
    policy: str
    daily: pd.DataFrame       # one row per day
    episodes: pd.DataFrame    # one row per arrived episode: arrival, route, completion, coder
    summary: dict[str, Any]


def synthetic_arrivals(days: int, arrivals_per_day: float, allocator: Allocator, seed: int) -> pd.DataFrame:
    """Episodes arriving over ``days`` days (seeded), with the features the allocator needs."""
    sim = allocator.config.simulation
    rng = np.random.default_rng(seed)
    counts = rng.poisson(arrivals_per_day, size=days)
    n = int(counts.sum())
    chapters = np.array([int(k) for k in sim["chapter_weights"]])
    weights = np.array([float(v) for v in sim["chapter_weights"].values()])
    n_codes = np.maximum(rng.poisson(sim["n_codes_mean"], n), 1)
    a, b = sim["p_correct_beta"]
    return pd.DataFrame({
        "episode_id": [f"sim-{i:07d}" for i in range(n)],
        "arrival_day": np.repeat(np.arange(days), counts),
        "lag": rng.integers(0, int(sim["discharge_lag_days_max"]) + 1, n),
        "chapter": rng.choice(chapters, size=n, p=weights / weights.sum()),
        "drg_weight": rng.lognormal(np.log(sim["drg_weight_median"]), sim["drg_weight_sigma"], n),
        "n_codes": n_codes,
        "n_categories": np.maximum(np.round(n_codes * rng.uniform(0.5, 0.9, n)), 1),
        "note_words": rng.lognormal(np.log(sim["note_words_median"]), sim["note_words_sigma"], n),
        "p_correct": rng.beta(a, b, n),
        "u": rng.uniform(size=n),
    })


def simulate_backlog(
    roster: pd.DataFrame | list | Roster,
    days: int,
    arrivals_per_day: float,
    policy: SimulatedRouting | None = None,
    *,
    allocator: Allocator | None = None,
    arrivals: pd.DataFrame | None = None,
    seed: int = 0,
    candidate_factor: float = 1.5,
    pool_coders: bool = True,
) -> SimulationResult:
    """Simulate ``days`` days and report backlog size, waiting time and cost per day.

    ``arrivals`` (from :func:`synthetic_arrivals`) may be passed to share one arrival stream
    between policies; otherwise it is generated from ``seed``. ``policy`` None means all-human.
    ``candidate_factor`` bounds each day's optimisation to the highest-priority episodes worth that
    many times the eligible minutes (the rest could not be served that day anyway).
    ``pool_coders`` merges interchangeable coders (same specialties and level) into pools, see
    :func:`pool_roster`; ``coder_id`` in the episode table is then the pool's.
    """
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if arrivals_per_day < 0:
        raise ValueError(f"arrivals_per_day must be >= 0, got {arrivals_per_day}")
    alloc = allocator if allocator is not None else Allocator()
    policy = policy if policy is not None else SimulatedRouting.all_human()
    r = make_roster(roster, alloc.config)
    if pool_coders:
        r = pool_roster(r)
    arr = arrivals if arrivals is not None else synthetic_arrivals(days, arrivals_per_day, alloc, seed)
    n = len(arr)
    cfg = alloc.config
    route = policy.route(arr["p_correct"].to_numpy(), arr["u"].to_numpy())
    neg = np.full(n, -1)
    queue = alloc.mapper.queue_codes(neg, neg, arr["chapter"].to_numpy())
    complexity = alloc.scorer.complexity(arr["n_codes"].to_numpy(float), arr["n_categories"].to_numpy(float),
                                         arr["drg_weight"].to_numpy())
    level = alloc.scorer.required_level(complexity)
    minutes = alloc.effort_model.predict(route, arr["note_words"].to_numpy(), arr["n_codes"].to_numpy(),
                                         arr["n_categories"].to_numpy())
    arrival = arr["arrival_day"].to_numpy()
    lag = arr["lag"].to_numpy()
    weight, p = arr["drg_weight"].to_numpy(), arr["p_correct"].to_numpy()
    human = route != "automate"
    completed = np.full(n, -1, dtype=np.int64)
    coder_of = np.full(n, -1, dtype=np.int64)
    hourly = cfg.cost_per_hour / 60.0
    deadline = cfg.priority["billing_deadline_days"]
    rows = []
    for day in range(days):
        arrived_today = arrival == day
        waiting = np.flatnonzero(human & (arrival <= day) & (completed < 0))
        backlog_start = len(waiting)
        age = day - arrival[waiting] + lag[waiting]
        prio = alloc.scorer.score(weight[waiting], age, complexity[waiting], p[waiting])
        if len(waiting):
            coder, _, _ = alloc.assign_arrays(queue[waiting], level[waiting], minutes[waiting], prio, r,
                                                candidate_factor=candidate_factor)
            done = coder >= 0
            if (completed[waiting[done]] >= 0).any():
                raise RuntimeError(f"day {day}: an episode was assigned twice")
            completed[waiting[done]] = day
            coder_of[waiting[done]] = coder[done]
            served = waiting[done]
        else:
            served = np.zeros(0, dtype=np.int64)
        used = float(minutes[served].sum())
        audit = float(minutes[arrived_today & ~human].sum())
        still = np.flatnonzero(human & (arrival <= day) & (completed < 0))
        arrived_total = int((arrival <= day).sum())
        accounted = int((~human & (arrival <= day)).sum()) + int((completed >= 0).sum()) + len(still)
        if accounted != arrived_total:
            raise RuntimeError(f"day {day}: {arrived_total} episodes arrived but {accounted} accounted for")
        wait = day - arrival[served]
        rows.append({
            "day": day, "arrivals": int(arrived_today.sum()),
            "automated": int((arrived_today & ~human).sum()),
            "assist": int((arrived_today & (route == "assist")).sum()),
            "manual": int((arrived_today & (route == "manual")).sum()),
            "backlog_start": backlog_start, "coded": len(served), "backlog_end": len(still),
            "mean_wait_days": float(wait.mean()) if len(wait) else float("nan"),
            "max_wait_days": int(wait.max()) if len(wait) else 0,
            "overdue_in_backlog": int(((day - arrival[still] + lag[still]) > deadline).sum()),
            "coding_minutes": used, "audit_minutes": audit,
            "utilisation": used / float(r.capacity.sum()) if r.capacity.sum() > 0 else 0.0,
            "cost": (used + audit) * hourly,
        })
    daily = pd.DataFrame(rows)
    ids = np.asarray(r.coder_ids, dtype=object)
    status = np.where(~human, "automated", np.where(completed >= 0, "coded", "backlog"))
    episodes = pd.DataFrame({
        "episode_id": arr["episode_id"].to_numpy(), "arrival_day": arrival, "route": route,
        "status": status, "completed_day": completed,
        "coder_id": np.where(coder_of >= 0, ids[np.maximum(coder_of, 0)], None),
        "wait_days": np.where(completed >= 0, completed - arrival, -1), "minutes": minutes,
    })
    coded = completed >= 0
    wait_all = (completed - arrival)[coded]
    summary = {
        "policy": policy.name, "days": days, "arrivals": n, "automated": int((~human).sum()),
        "coded": int(coded.sum()), "final_backlog": int(daily["backlog_end"].iloc[-1]),
        "mean_backlog": float(daily["backlog_end"].mean()),
        "mean_wait_days": float(wait_all.mean()) if coded.any() else float("nan"),
        "p90_wait_days": float(np.percentile(wait_all, 90)) if coded.any() else float("nan"),
        "coding_minutes": float(daily["coding_minutes"].sum()),
        "audit_minutes": float(daily["audit_minutes"].sum()),
        "cost": float(daily["cost"].sum()),
        "cost_per_episode": float(daily["cost"].sum()) / max(n, 1),
        "overdue_in_final_backlog": int(daily["overdue_in_backlog"].iloc[-1]),
    }
    return SimulationResult(policy.name, daily, episodes, summary)


def compare_policies(
    roster: pd.DataFrame | list | Roster,
    days: int,
    arrivals_per_day: float,
    policies: Mapping[str, SimulatedRouting] | list[SimulatedRouting],
    *,
    allocator: Allocator | None = None,
    seed: int = 0,
    candidate_factor: float = 1.5,
    pool_coders: bool = True,
) -> tuple[pd.DataFrame, dict[str, SimulationResult]]:
    """Run each policy on the same arrivals; one summary row per policy plus the full results."""
    alloc = allocator if allocator is not None else Allocator()
    arrivals = synthetic_arrivals(days, arrivals_per_day, alloc, seed)
    items = policies.items() if isinstance(policies, Mapping) else [(p.name, p) for p in policies]
    results = {}
    for name, pol in items:
        results[name] = simulate_backlog(roster, days, arrivals_per_day, pol, allocator=alloc,
                                         arrivals=arrivals, seed=seed, candidate_factor=candidate_factor,
                                         pool_coders=pool_coders)
    table = pd.DataFrame([{**res.summary, "policy": name} for name, res in results.items()]).set_index("policy")
    return table, results
