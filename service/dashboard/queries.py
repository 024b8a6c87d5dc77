"""The dashboard's aggregates, computed in SQL (SQLAlchemy Core) on the decision store.

Each function returns a few dozen rows at most, whatever the store's size: counts and sums grouped
by care setting, route, queue, day or bin. The indexes they lean on are the store's
(created_at; care_setting, created_at; policy_version, care_setting; route, created_at; outcomes
created_at). Nothing here reads note text or request free text: episode ids are the only
identifiers that leave the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from service.store import DecisionStore

WINDOWS = {"day": 1, "week": 7, "month": 30}
UNKNOWN = "unknown"
#: Age of a waiting episode in days since discharge (or since routing when no discharge date).
AGE_BUCKETS = ((0, 1), (1, 2), (2, 3), (3, 5), (5, 7), (7, 14), (14, 30), (30, None))
#: Allocator priority bands (the priority of default_allocation.yaml is ~0.3-1 for routine work,
#: > 2 once an episode nears its billing deadline or carries a heavy DRG).
PRIORITY_BANDS = (("high", 2.0), ("medium", 1.0), ("low", None))
CALIBRATION_BINS = 10
ALARM_KINDS = ("watch_violated", "fallback", "drift_warning")
CLEARING_KINDS = ("recertified", "policy_change")


@contextmanager
def _reading(store: DecisionStore) -> Iterator[Any]:
    """A read transaction; on PostgreSQL set up for grouped scans: room to hash-aggregate in memory
    (the default 4 MB spills to disk), hash rather than sort aggregation (the planner cannot
    count the groups of a CASE or width_bucket key, guesses one per row and sorts 500,000 rows
    for a few hundred groups), and no JIT (its compile time exceeds these queries' run time)."""
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
            conn.exec_driver_sql("SET LOCAL enable_sort = off")
            conn.exec_driver_sql("SET LOCAL jit = off")
        yield conn


def window_start(window: str, now: datetime) -> datetime:
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {list(WINDOWS)}, got {window!r}")
    return now - timedelta(days=WINDOWS[window])


def _setting(col: Any) -> Any:
    return sa.func.coalesce(col, UNKNOWN)


def _day(store: DecisionStore, col: Any) -> Any:
    """The UTC calendar day of a timestamp, as 'YYYY-MM-DD' text, in either dialect."""
    if store.engine.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", col), "YYYY-MM-DD")
    return sa.func.date(col)


def _waiting_since(store: DecisionStore, d: sa.Table) -> tuple[Any, Any]:
    """(the moment an episode started waiting: discharge, else routing; that moment in seconds)."""
    if store.engine.dialect.name == "postgresql":
        since = sa.func.coalesce(sa.cast(d.c.discharge_date, sa.DateTime(timezone=True)), d.c.created_at)
        return since, sa.extract("epoch", since)
    since = sa.func.julianday(sa.func.coalesce(d.c.discharge_date, d.c.created_at))
    return since, (since - 2440587.5) * 86400.0


def _moment(store: DecisionStore, t: datetime) -> Any:
    """``t`` in the unit of ``_waiting_since``'s first value."""
    if store.engine.dialect.name == "postgresql":
        return t
    return t.timestamp() / 86400.0 + 2440587.5


# -- Today ------------------------------------------------------------------------------------
def volumes(store: DecisionStore, start: datetime, end: datetime) -> list[tuple[str, str, int]]:
    """(care_setting, served route, decisions) over [start, end)."""
    d = store.decisions
    setting = _setting(d.c.care_setting)
    stmt = (sa.select(setting, d.c.route, sa.func.count())
            .where(d.c.created_at >= start, d.c.created_at < end)
            .group_by(setting, d.c.route))
    with _reading(store) as conn:
        return [(s, r, int(n)) for s, r, n in conn.execute(stmt)]


def daily_volumes(store: DecisionStore, start: datetime, end: datetime) -> list[tuple[str, str, int]]:
    """(day, served route, decisions) over [start, end)."""
    d = store.decisions
    day = _day(store, d.c.created_at)
    stmt = (sa.select(day, d.c.route, sa.func.count())
            .where(d.c.created_at >= start, d.c.created_at < end)
            .group_by(day, d.c.route).order_by(day))
    with _reading(store) as conn:
        return [(str(dd), r, int(n)) for dd, r, n in conn.execute(stmt)]


def automated_outcomes(store: DecisionStore, model_version: str, policy_version: str,
                       start: datetime, end: datetime) -> dict[str, tuple[int, int]]:
    """care_setting -> (labelled, errors) among the episodes this policy version automated (the
    policy's own route, so shadow-mode and held-out episodes count), routed in [start, end)."""
    d, o = store.decisions, store.outcomes
    setting = _setting(d.c.care_setting)
    stmt = (
        sa.select(setting, sa.func.count(),
                  sa.func.coalesce(sa.func.sum(sa.case((o.c.correct == sa.false(), 1), else_=0)), 0))
        .select_from(o.join(d, d.c.decision_id == o.c.decision_id))
        .where(d.c.model_version == model_version, d.c.policy_version == policy_version,
               d.c.created_at >= start, d.c.created_at < end,
               sa.func.coalesce(d.c.policy_route, d.c.route) == "automate")
        .group_by(setting)
    )
    with _reading(store) as conn:
        return {s: (int(n), int(k)) for s, n, k in conn.execute(stmt)}


def policy_states(store: DecisionStore, model_version: str, policy_version: str) -> dict[str, dict]:
    s = store.policy_states
    stmt = sa.select(s).where(s.c.model_version == model_version, s.c.policy_version == policy_version)
    with _reading(store) as conn:
        return {r["care_setting"]: dict(r) for r in conn.execute(stmt).mappings()}


def watch_states(store: DecisionStore, model_version: str, policy_version: str) -> list[dict]:
    w = store.watch_state
    stmt = (sa.select(w).where(w.c.model_version == model_version, w.c.policy_version == policy_version)
            .order_by(w.c.care_setting, w.c.kind))
    with _reading(store) as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def open_alarms(store: DecisionStore) -> list[dict]:
    """Alarm events (watch violated, fallback, drift warning) with no later re-certification or
    policy change for the same model and care setting; newest first. A re-certification writes
    its event under the new policy version it creates, so any later one of the model clears."""
    e = store.policy_events
    later = e.alias("later")
    cleared = sa.exists().where(
        later.c.kind.in_(CLEARING_KINDS), later.c.id > e.c.id,
        later.c.model_version == e.c.model_version,
        sa.or_(later.c.care_setting.is_(None), later.c.care_setting == e.c.care_setting,
               e.c.care_setting.is_(None)),
    )
    stmt = (sa.select(e.c.id, e.c.created_at, e.c.kind, e.c.model_version, e.c.policy_version,
                      e.c.care_setting, e.c.reason, e.c.new_state)
            .where(e.c.kind.in_(ALARM_KINDS), ~cleared).order_by(e.c.id.desc()).limit(50))
    with _reading(store) as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


# -- Work waiting -----------------------------------------------------------------------------
def waiting(store: DecisionStore, now: datetime) -> list[dict]:
    """Episodes routed to people (assist, manual) with no outcome yet, grouped by queue, route,
    priority band and age bucket: n, summed and largest age in days. Each row's waiting start is
    computed once (in seconds) and bucketed against precomputed cut-offs; grouping keys are
    plain columns and small integers (cheap to hash)."""
    d = store.decisions
    _, seconds = _waiting_since(store, d)
    edges = [(now - timedelta(days=hi)).timestamp() for _, hi in reversed(AGE_BUCKETS) if hi is not None]
    bands = [lo for _, lo in reversed(PRIORITY_BANDS) if lo is not None]  # ascending
    if store.engine.dialect.name == "postgresql":  # one pass over the cut-offs per row
        floats = sa.ARRAY(sa.Float)
        bucket = len(edges) - sa.func.width_bucket(seconds, sa.cast(sa.literal(edges, floats), floats))
        band = sa.func.width_bucket(d.c.priority, sa.cast(sa.literal(bands, floats), floats))
    else:
        bucket = len(edges) - sa.case(*[(seconds >= e, i) for i, e in reversed(list(enumerate(edges, 1)))],
                                      else_=0)
        band = sa.case(*[(d.c.priority >= lo, i) for i, lo in reversed(list(enumerate(bands, 1)))], else_=0)
    # "not yet coded" = no outcome: the store marks a decision coded in its outcome's transaction,
    # so this reads the waiting rows through a partial index (same predicate), no anti-join
    stmt = (
        sa.select(d.c.queue, d.c.route, band, bucket, sa.func.count(), sa.func.sum(seconds),
                  sa.func.min(seconds))
        .where(d.c.coded_at.is_(None), d.c.route != "automate")
        .group_by(d.c.queue, d.c.route, band, bucket)
    )
    names = [name for name, _ in reversed(PRIORITY_BANDS)]  # band index 0 = lowest
    t = now.timestamp()
    out: dict[tuple, dict] = {}
    with _reading(store) as conn:
        for q_, r, b, k, n, s_, m in conn.execute(stmt):
            key = (q_ or UNKNOWN, r, names[int(b or 0)], int(k))
            cell = out.setdefault(key, {"queue": key[0], "route": r, "band": key[2], "bucket": key[3],
                                        "n": 0, "age_sum": 0.0, "age_max": 0.0})
            cell["n"] += int(n)
            cell["age_sum"] += (int(n) * t - float(s_)) / 86400.0
            cell["age_max"] = max(cell["age_max"], (t - float(m)) / 86400.0)
    return list(out.values())


def decisions_between(store: DecisionStore, start: datetime, end: datetime) -> int:
    d = store.decisions
    stmt = sa.select(sa.func.count()).where(d.c.created_at >= start, d.c.created_at < end)
    with _reading(store) as conn:
        return int(conn.execute(stmt).scalar_one())


def coded_between(store: DecisionStore, start: datetime, end: datetime) -> int:
    o = store.outcomes
    stmt = sa.select(sa.func.count()).where(o.c.created_at >= start, o.c.created_at < end)
    with _reading(store) as conn:
        return int(conn.execute(stmt).scalar_one())


# -- Policy -----------------------------------------------------------------------------------
def policy_versions(store: DecisionStore, model_version: str, limit: int = 20) -> list[dict]:
    p = store.policies
    stmt = (sa.select(p.c.id, p.c.policy_version, p.c.created_at, p.c.policy)
            .where(p.c.model_version == model_version).order_by(p.c.id.desc()).limit(limit))
    with _reading(store) as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def stored_policy(store: DecisionStore, model_version: str, policy_version: str) -> dict | None:
    p = store.policies
    stmt = (sa.select(p.c.policy).where(p.c.model_version == model_version,
                                        p.c.policy_version == policy_version)
            .order_by(p.c.id.desc()).limit(1))
    with _reading(store) as conn:
        row = conn.execute(stmt).first()
    return dict(row[0]) if row else None


def policy_events(store: DecisionStore, limit: int = 50) -> list[dict]:
    e = store.policy_events
    stmt = (sa.select(e.c.id, e.c.created_at, e.c.kind, e.c.model_version, e.c.policy_version,
                      e.c.care_setting, e.c.old_state, e.c.new_state, e.c.actor_role, e.c.reason)
            .order_by(e.c.created_at.desc(), e.c.id.desc()).limit(limit))
    with _reading(store) as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


# -- Quality ----------------------------------------------------------------------------------
def calibration_bins(store: DecisionStore, start: datetime, end: datetime) -> list[dict]:
    """Per care setting and confidence decile: decisions with an outcome recorded in the window,
    summed predicted probability and realised correct."""
    d, o = store.decisions, store.outcomes
    setting = _setting(d.c.care_setting)
    b = sa.cast(sa.func.floor(d.c.p_correct * CALIBRATION_BINS), sa.Integer)
    b = sa.case((b >= CALIBRATION_BINS, CALIBRATION_BINS - 1), else_=b)
    stmt = (
        sa.select(setting, b, sa.func.count(), sa.func.sum(d.c.p_correct),
                  sa.func.sum(sa.case((o.c.correct == sa.true(), 1), else_=0)))
        .select_from(o.join(d, d.c.decision_id == o.c.decision_id))
        .where(o.c.created_at >= start, o.c.created_at < end)
        .group_by(setting, b)
    )
    with _reading(store) as conn:
        return [{"setting": s, "bin": int(k), "n": int(n), "p_sum": float(p), "correct": int(c)}
                for s, k, n, p, c in conn.execute(stmt)]


def blind_audits(store: DecisionStore, start: datetime, end: datetime) -> list[dict]:
    """Per care setting: automated episodes drawn for a blind audit in the window, how many came
    back coded, and how many of those the automated coder had wrong."""
    d, o = store.decisions, store.outcomes
    setting = _setting(d.c.care_setting)
    stmt = (
        sa.select(setting, sa.func.count(), sa.func.count(o.c.decision_id),
                  sa.func.coalesce(sa.func.sum(sa.case((o.c.correct == sa.false(), 1), else_=0)), 0))
        .select_from(d.outerjoin(o, o.c.decision_id == d.c.decision_id))
        .where(d.c.created_at >= start, d.c.created_at < end, d.c.audit == sa.true())
        .group_by(setting)
    )
    with _reading(store) as conn:
        return [{"setting": s, "drawn": int(n), "returned": int(r), "errors": int(k)}
                for s, n, r, k in conn.execute(stmt)]


def audit_flags(store: DecisionStore, start: datetime, end: datetime) -> list[dict]:
    """Code-audit flags (POST /v1/audit) in the window by type: flags, DRG-changing flags, audited
    episodes. JSON is unpacked in the database (jsonb on PostgreSQL, json_each on SQLite)."""
    a = store.assist_records.name
    if store.engine.dialect.name == "postgresql":
        sql = f"""SELECT f->>'type', count(*), sum(CASE WHEN (f->>'drg_changes')::boolean THEN 1 ELSE 0 END),
                         count(DISTINCT a.record_id)
                  FROM {a} a CROSS JOIN LATERAL jsonb_array_elements((a.record::jsonb)->'flags') f
                  WHERE a.kind = 'audit' AND a.created_at >= :start AND a.created_at < :end
                  GROUP BY 1"""
    else:
        sql = f"""SELECT json_extract(f.value, '$.type'), count(*),
                         sum(CASE WHEN json_extract(f.value, '$.drg_changes') THEN 1 ELSE 0 END),
                         count(DISTINCT a.record_id)
                  FROM {a} a, json_each(a.record, '$.flags') f
                  WHERE a.kind = 'audit' AND a.created_at >= :start AND a.created_at < :end
                  GROUP BY 1"""
    with _reading(store) as conn:
        rows = conn.execute(sa.text(sql), _bounds(store, start, end)).all()
    return [{"type": t, "flags": int(n), "drg_changes": int(c or 0), "episodes": int(e)}
            for t, n, c, e in rows]


def assist_counts(store: DecisionStore, start: datetime, end: datetime) -> dict[str, int]:
    a = store.assist_records
    stmt = (sa.select(a.c.kind, sa.func.count())
            .where(a.c.created_at >= start, a.c.created_at < end).group_by(a.c.kind))
    with _reading(store) as conn:
        return {k: int(n) for k, n in conn.execute(stmt)}


def suggestion_acceptance(store: DecisionStore, start: datetime, end: datetime) -> dict[str, int]:
    """Suggestion lists in the window whose episode has a final outcome: pre-filled codes shown,
    and how many of them are in the final codes (matched as the standard spelling)."""
    a, d, o = store.assist_records.name, store.decisions.name, store.outcomes.name
    if store.engine.dialect.name == "postgresql":
        sql = f"""SELECT count(*),
                    coalesce(sum(jsonb_array_length((a.record::jsonb)->'prefilled')), 0),
                    coalesce(sum((SELECT count(*) FROM jsonb_array_elements_text((a.record::jsonb)->'prefilled') c
                                  WHERE o.final_codes::jsonb ? c)), 0)
                  FROM {a} a JOIN {d} d ON d.episode_id = a.episode_id
                  JOIN {o} o ON o.decision_id = d.decision_id
                  WHERE a.kind = 'suggest' AND a.created_at >= :start AND a.created_at < :end"""
    else:
        sql = f"""SELECT count(*),
                    coalesce(sum(json_array_length(a.record, '$.prefilled')), 0),
                    coalesce(sum((SELECT count(*) FROM json_each(a.record, '$.prefilled') c
                                  WHERE c.value IN (SELECT value FROM json_each(o.final_codes)))), 0)
                  FROM {a} a JOIN {d} d ON d.episode_id = a.episode_id
                  JOIN {o} o ON o.decision_id = d.decision_id
                  WHERE a.kind = 'suggest' AND a.created_at >= :start AND a.created_at < :end"""
    with _reading(store) as conn:
        lists, shown, kept = conn.execute(sa.text(sql), _bounds(store, start, end)).one()
    return {"lists": int(lists), "prefilled": int(shown), "kept": int(kept)}


def _bounds(store: DecisionStore, start: datetime, end: datetime) -> dict[str, Any]:
    if store.engine.dialect.name == "postgresql":
        return {"start": start, "end": end}
    # SQLite keeps DateTime as naive ISO text (SQLAlchemy's format): compare like with like
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    return {"start": start.astimezone(UTC).replace(tzinfo=None).strftime(fmt),
            "end": end.astimezone(UTC).replace(tzinfo=None).strftime(fmt)}
