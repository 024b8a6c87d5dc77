"""The allocator: routed episodes + roster -> queue, effort, priority, assignment, backlog."""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from triage.allocation.config import AllocationConfig, load_config
from triage.allocation.effort import EffortModel
from triage.allocation.episodes import EpisodeInputError, _code_number, prepare_episodes
from triage.allocation.priority import PriorityScorer
from triage.allocation.queues import QueueMapper
from triage.allocation.roster import Roster, make_roster
from triage.allocation.solver import AssignmentSolution, solve_assignment
from triage.codes.chapters import chapter_of_label, normalise_chapter

# Why an episode stays in the backlog.
NO_SPECIALTY = "no_specialty"            # nobody on the roster codes this queue
NO_LEVEL = "no_experienced_coder"        # coders of the queue exist, none senior enough
TOO_LONG = "exceeds_coder_capacity"      # needs more minutes than any eligible coder has today
CAPACITY = "capacity_exhausted"          # eligible coders' minutes went to higher-priority episodes


@dataclass
class AllocationResult:
    """Outcome of one day's allocation. Every input episode is in exactly one of the three tables."""

    assignments: pd.DataFrame   # episode_id, coder_id, queue, route, priority, minutes
    backlog: pd.DataFrame       # episode_id, queue, route, priority, minutes, reason, detail
    automated: pd.DataFrame     # episode_id, queue, priority, minutes (audit)
    coders: pd.DataFrame        # coder_id, capacity_minutes, assigned_minutes, n_episodes, utilisation
    solution: AssignmentSolution
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def records(df: pd.DataFrame) -> list[dict]:
            return [{k: _py(v) for k, v in row.items()} for row in df.to_dict(orient="records")]

        return {"summary": {k: _py(v) for k, v in self.summary.items()},
                "assignments": records(self.assignments), "backlog": records(self.backlog),
                "automated": records(self.automated), "coders": records(self.coders)}


def _py(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


class Allocator:
    """Queues, effort, priority and the assignment of a day's routed episodes to a roster.

    Parameters
    ----------
    config : AllocationConfig, optional
        Defaults to the shipped ``default_allocation.yaml``.
    effort_model : EffortModel, optional
        A fitted effort model; defaults to the configured coefficients.
    """

    def __init__(self, config: AllocationConfig | None = None, effort_model: EffortModel | None = None):
        self.config = config if config is not None else load_config()
        self.effort_model = effort_model if effort_model is not None else EffortModel(self.config)
        self.mapper = QueueMapper(self.config)
        self.scorer = PriorityScorer(self.config)

    # -- per-episode hot path (the service's route responses) ------------------------------------
    def with_time_limit(self, seconds: float) -> Allocator:
        """This allocator with its solver held to at most ``seconds`` (itself when it already is):
        a shallow copy, only the solver settings differ."""
        solver = dict(self.config.solver)
        if float(solver.get("time_limit_s", math.inf)) <= seconds:
            return self
        limited = copy.copy(self)
        limited.config = dataclasses.replace(self.config, solver={**solver, "time_limit_s": seconds})
        return limited

    def queue_and_priority(self, episode: Mapping[str, Any], as_of: date | None = None) -> tuple[str, float]:
        """Queue and priority of one routed episode given as a dict (same contract as the table)."""
        d = self.config.defaults
        try:
            drg = _opt_int(episode.get("drg"))
            mdc = _opt_int(episode.get("mdc"))
        except ValueError as exc:
            raise EpisodeInputError(f"episode: drg/mdc {exc.args[0]!r} is not a number") from None
        chapter = None
        if (raw := episode.get("chapter")) is not None and not _isnan(raw):
            chapter = normalise_chapter(raw)
            if chapter is None:
                raise EpisodeInputError(f"episode: field 'chapter' has {raw!r}")
        elif drg is None or drg not in self.mapper._drg:
            principal = episode.get("principal")
            if principal:
                chapter = chapter_of_label(str(principal), episode.get("icd_version"))
        queue = self.mapper.queue(drg, mdc, chapter)
        weight = _num(episode, "drg_weight", d)
        complexity = self.scorer.complexity(_num(episode, "n_codes", d), _num(episode, "n_categories", d), weight)
        p = _num(episode, "p_correct", d)
        if p > 1:
            raise EpisodeInputError(f"episode: field 'p_correct' has {p!r}; expected a probability in [0, 1]")
        days = episode.get("days_since_discharge")
        if days is None and episode.get("discharge_date") is not None:
            days = _days_from(episode["discharge_date"], as_of)
        days = d["days_since_discharge"] if days is None else float(days)
        return queue, self.scorer.score_one(weight, days, complexity, p)

    # -- table path ---------------------------------------------------------------------------
    def score(self, episodes: pd.DataFrame | Iterable[Mapping[str, Any]], as_of: Any = None,
              source: str = "episodes") -> pd.DataFrame:
        """Validated episodes with queue, complexity, required level, minutes and priority added."""
        t = prepare_episodes(episodes, self.config, as_of=as_of, source=source)
        codes = self.mapper.queue_codes(t["drg"].to_numpy(), t["mdc"].to_numpy(), t["chapter"].to_numpy())
        t["queue"] = np.asarray(self.mapper.queues, dtype=object)[codes]
        t["queue_code"] = codes
        t["complexity"] = self.scorer.complexity(t["n_codes"].to_numpy(), t["n_categories"].to_numpy(),
                                                 t["drg_weight"].to_numpy())
        t["required_level"] = self.scorer.required_level(t["complexity"].to_numpy())
        t["minutes"] = self.effort_model.predict(t["route"].to_numpy(), t["note_words"].to_numpy(),
                                                 t["n_codes"].to_numpy(), t["n_categories"].to_numpy(),
                                                 n_prefilled=t["n_prefilled"].to_numpy())
        t["priority"] = self.scorer.score(t["drg_weight"].to_numpy(), t["days_since_discharge"].to_numpy(),
                                          t["complexity"].to_numpy(), t["p_correct"].to_numpy())
        return t

    def eligibility(self, roster: Roster) -> np.ndarray:
        """Boolean matrix queue x coder: may the coder take the queue (before the experience gate)."""
        general = self.config.default_queue
        out = np.zeros((len(self.mapper.queues), len(roster)), dtype=bool)
        for q, name in enumerate(self.mapper.queues):
            for c, specs in enumerate(roster.specialties):
                out[q, c] = name in specs or (name == general and self.config.specialists_take_general)
        return out

    def assign_arrays(
        self,
        queue_code: np.ndarray,
        required_level: np.ndarray,
        minutes: np.ndarray,
        priority: np.ndarray,
        roster: Roster,
        candidate_factor: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray, AssignmentSolution]:
        """Optimal coder index per episode (-1 = backlog) and the backlog reason code per episode.

        ``candidate_factor`` (simulation only) first keeps, per (queue, level) group, the
        highest-priority episodes whose minutes add up to that many times the group's eligible
        capacity; the rest cannot all be served today and are left out of the optimisation.
        """
        n = len(queue_code)
        queue_ok = self.eligibility(roster)
        cap = roster.capacity
        pair_e, pair_c = [], []
        reason = np.full(n, "", dtype=object)
        groups = queue_code.astype(np.int64) * 1000 + required_level.astype(np.int64)
        for g in np.unique(groups):
            members = np.flatnonzero(groups == g)
            q, lvl = int(g // 1000), int(g % 1000)
            spec_ok = queue_ok[q]
            coders = np.flatnonzero(spec_ok & (roster.levels >= lvl))
            if not spec_ok.any():
                reason[members] = NO_SPECIALTY
                continue
            if len(coders) == 0:
                reason[members] = NO_LEVEL
                continue
            fits = minutes[members] <= cap[coders].max() + 1e-9
            reason[members[~fits]] = TOO_LONG
            members = members[fits]
            if candidate_factor is not None and len(members):
                order = members[np.argsort(-priority[members], kind="stable")]
                limit = candidate_factor * cap[coders].sum()
                keep = np.cumsum(minutes[order]) - minutes[order] <= limit
                reason[order[~keep]] = CAPACITY
                members = np.sort(order[keep])
            if len(members):
                pair_e.append(np.repeat(members, len(coders)))
                pair_c.append(np.tile(coders, len(members)))
        pe = np.concatenate(pair_e) if pair_e else np.zeros(0, np.int64)
        pc = np.concatenate(pair_c) if pair_c else np.zeros(0, np.int64)
        s = self.config.solver
        sol = solve_assignment(priority, minutes, cap, pe, pc, exact_max_pairs=int(s["exact_max_pairs"]),
                               time_limit=s["time_limit_s"], mip_rel_gap=s["mip_rel_gap"])
        reason[(sol.coder < 0) & (reason == "")] = CAPACITY
        reason[sol.coder >= 0] = ""
        return sol.coder, reason, sol

    def allocate(self, episodes: pd.DataFrame | Iterable[Mapping[str, Any]],
                 roster: pd.DataFrame | Iterable[Mapping[str, Any]] | Roster,
                 as_of: Any = None, source: str = "episodes", roster_source: str = "roster") -> AllocationResult:
        """Assign a day's routed episodes to the roster; the rest stay in the backlog with a reason."""
        t = self.score(episodes, as_of=as_of, source=source)
        r = make_roster(roster, self.config, source=roster_source)
        human = (t["route"] != "automate").to_numpy()
        h = t[human].reset_index(drop=True)
        coder, reason, sol = self.assign_arrays(
            h["queue_code"].to_numpy(), h["required_level"].to_numpy(), h["minutes"].to_numpy(),
            h["priority"].to_numpy(), r)
        ids = np.asarray(r.coder_ids, dtype=object)
        done = coder >= 0
        cols = ["episode_id", "queue", "route", "priority", "minutes"]
        assignments = h.loc[done, cols].assign(coder_id=ids[coder[done]])
        assignments = assignments[["episode_id", "coder_id", *cols[1:]]].sort_values(
            ["coder_id", "priority"], ascending=[True, False]).reset_index(drop=True)
        backlog = h.loc[~done, cols].assign(reason=reason[~done])
        backlog["detail"] = [self._detail(rc, q, lvl, m, r) for rc, q, lvl, m in zip(
            backlog["reason"], h.loc[~done, "queue"], h.loc[~done, "required_level"], backlog["minutes"])]
        backlog = backlog.sort_values("priority", ascending=False).reset_index(drop=True)
        automated = t.loc[~human, ["episode_id", "queue", "priority", "minutes"]].reset_index(drop=True)
        used = np.bincount(coder[done], weights=h["minutes"].to_numpy()[done], minlength=len(r))
        count = np.bincount(coder[done], minlength=len(r))
        coders = pd.DataFrame({"coder_id": list(r.coder_ids), "capacity_minutes": r.capacity,
                               "assigned_minutes": used, "n_episodes": count,
                               "utilisation": np.divide(used, r.capacity, out=np.zeros(len(r)),
                                                        where=r.capacity > 0)})
        hourly = self.config.cost_per_hour / 60.0
        summary = {
            "n_episodes": len(t), "n_assigned": int(done.sum()), "n_backlog": int((~done).sum()),
            "n_automated": int((~human).sum()), "priority_served": sol.objective,
            "priority_bound": sol.upper_bound, "optimality_gap": sol.gap, "solver": sol.method,
            "solver_status": sol.status, "solve_seconds": sol.seconds, "n_pairs": sol.n_pairs,
            "assigned_minutes": float(used.sum()), "audit_minutes": float(automated["minutes"].sum()),
            "coding_cost": float((used.sum() + automated["minutes"].sum()) * hourly),
            "backlog_reasons": {k: int(v) for k, v in backlog["reason"].value_counts().items()},
        }
        return AllocationResult(assignments, backlog, automated, coders, sol, summary)

    def _detail(self, reason: str, queue: str, level: int, minutes: float, roster: Roster) -> str:
        if reason == NO_SPECIALTY:
            return f"no coder on the roster takes the {queue!r} queue"
        if reason == NO_LEVEL:
            return (f"complexity needs a {self.config.level_name(int(level))!r} coder or above; "
                    f"none on the roster takes the {queue!r} queue")
        if reason == TOO_LONG:
            return f"needs {minutes:.0f} min, more than any eligible coder has today"
        return "eligible coders' minutes went to higher-priority episodes"


def _opt_int(v: Any) -> int | None:
    if v is None or _isnan(v):
        return None
    if isinstance(v, int):
        return v
    return _code_number(v)


def _num(episode: Mapping[str, Any], key: str, defaults: Mapping[str, float]) -> float:
    v = episode.get(key)
    if v is None:
        return defaults[key]
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise EpisodeInputError(f"episode: field {key!r} has {v!r}; expected a number") from None
    if math.isnan(x):
        return defaults[key]
    if x < 0:
        raise EpisodeInputError(f"episode: field {key!r} has {v!r}; expected a non-negative number")
    return x


def _days_from(discharge: Any, as_of: date | None) -> float:
    ref = as_of or date.today()
    if isinstance(ref, datetime):
        ref = ref.date()
    if isinstance(discharge, datetime):
        d = discharge.date()
    elif isinstance(discharge, date):
        d = discharge
    else:
        try:
            d = date.fromisoformat(str(discharge)[:10])
        except ValueError:
            raise EpisodeInputError(f"episode: field 'discharge_date' has {discharge!r}; expected YYYY-MM-DD") from None
    return float(max((ref - d).days, 0))


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)
