"""The decision store: every decision, outcome and policy change, through SQLAlchemy Core.

SQLite (WAL) by default, PostgreSQL by URL. Each write is one transaction committed before the
caller answers, so an acknowledged decision survives a crash of the service. The hot path is a
single INSERT per decision (one executemany per batch) on Core tables, no ORM objects.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool


class OutcomeExists(Exception):
    """An outcome was already recorded for this decision."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_decision_id() -> str:
    return uuid.uuid4().hex


def _tables(prefix: str) -> tuple[sa.MetaData, dict[str, sa.Table]]:
    md = sa.MetaData()
    decisions = sa.Table(
        f"{prefix}decisions",
        md,
        sa.Column("decision_id", sa.String(32), primary_key=True),
        sa.Column("episode_id", sa.String(128), nullable=False, index=True),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("p_correct", sa.Float, nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("policy_version", sa.String(128), nullable=False),
        sa.Column("decision", sa.JSON, nullable=False),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("care_setting", sa.String(16), nullable=True),
        sa.Column("policy_route", sa.String(16), nullable=True),
        sa.Column("mode", sa.String(16), nullable=True),
        sa.Column("audit", sa.Boolean, nullable=True),
        sa.Column("holdout", sa.Boolean, nullable=True),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("priority", sa.Float, nullable=True),
        sa.Column("discharge_date", sa.Date, nullable=True),
        sa.Index(f"ix_{prefix}decisions_versions", "model_version", "policy_version"),
        sa.Index(f"ix_{prefix}decisions_created", "created_at"),
        sa.Index(f"ix_{prefix}decisions_setting_created", "care_setting", "created_at"),
        sa.Index(f"ix_{prefix}decisions_policy_setting", "policy_version", "care_setting"),
        sa.Index(f"ix_{prefix}decisions_route_created", "route", "created_at"),
    )
    outcomes = sa.Table(
        f"{prefix}outcomes",
        md,
        sa.Column(
            "decision_id",
            sa.String(32),
            sa.ForeignKey(decisions.c.decision_id),
            primary_key=True,
        ),
        sa.Column("final_codes", sa.JSON, nullable=False),
        sa.Column("correct", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index(f"ix_{prefix}outcomes_created", "created_at"),
    )
    policies = sa.Table(
        f"{prefix}policies",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("policy_version", sa.String(128), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("policy", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    audit = sa.Table(
        f"{prefix}policy_audit",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_fingerprint", sa.String(16), nullable=True),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("old_policy_version", sa.String(128), nullable=True),
        sa.Column("new_policy_version", sa.String(128), nullable=True),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    # suggestion lists (POST /v1/suggest) and code audits (POST /v1/audit), stored as decisions are
    assist = sa.Table(
        f"{prefix}assist",
        md,
        sa.Column("record_id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("episode_id", sa.String(128), nullable=False, index=True),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    policy_states = sa.Table(
        f"{prefix}policy_states",
        md,
        sa.Column("model_version", sa.String(128), primary_key=True),
        sa.Column("policy_version", sa.String(128), primary_key=True),
        sa.Column("care_setting", sa.String(16), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.Integer, nullable=True),
    )
    policy_events = sa.Table(
        f"{prefix}policy_events",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("policy_version", sa.String(128), nullable=False),
        sa.Column("care_setting", sa.String(16), nullable=True),
        sa.Column("old_state", sa.String(16), nullable=True),
        sa.Column("new_state", sa.String(16), nullable=True),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("key_fingerprint", sa.String(16), nullable=True),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("details", sa.JSON, nullable=True),
        sa.Index(f"ix_{prefix}policy_events_versions", "model_version", "policy_version"),
    )
    watch_state = sa.Table(
        f"{prefix}watch_state",
        md,
        sa.Column("model_version", sa.String(128), primary_key=True),
        sa.Column("policy_version", sa.String(128), primary_key=True),
        sa.Column("care_setting", sa.String(16), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("e_value", sa.Float, nullable=True),
        sa.Column("lower", sa.Float, nullable=True),
        sa.Column("upper", sa.Float, nullable=True),
        sa.Column("alpha", sa.Float, nullable=True),
        sa.Column("delta", sa.Float, nullable=True),
        sa.Column("state", sa.JSON, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    return md, {"decisions": decisions, "outcomes": outcomes, "policies": policies, "audit": audit,
                "assist": assist, "policy_states": policy_states, "policy_events": policy_events,
                "watch_state": watch_state}


def make_engine(url: str, *, sqlite_synchronous: str = "NORMAL") -> Engine:
    """Engine with SQLite set to WAL (readers never block the writer) and a busy timeout."""
    # hide_parameters: SQL parameters (decision JSON, note text) never appear in a log line or
    # in an exception's message, whatever logging an operator turns on
    if not url.startswith("sqlite"):
        return sa.create_engine(
            url, pool_pre_ping=True, pool_size=8, max_overflow=8, hide_parameters=True
        )
    memory = url in ("sqlite://", "sqlite:///:memory:")
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=StaticPool if memory else None,
        hide_parameters=True,
    )

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


@dataclass(frozen=True)
class GroupStats:
    """Routed counts and outcomes of one (model_version, policy_version, route) cell."""

    model_version: str
    policy_version: str
    route: str
    routed: int
    with_outcome: int
    errors: int


class DecisionStore:
    """Reads and writes decisions, outcomes and policy versions."""

    def __init__(
        self, url: str, *, table_prefix: str = "triage_", sqlite_synchronous: str = "NORMAL"
    ) -> None:
        self.url = url
        self.engine = make_engine(url, sqlite_synchronous=sqlite_synchronous)
        self.metadata, t = _tables(table_prefix)
        self.decisions, self.outcomes = t["decisions"], t["outcomes"]
        self.policies, self.audit = t["policies"], t["audit"]
        self.assist_records = t["assist"]
        self.policy_states, self.policy_events = t["policy_states"], t["policy_events"]
        self.watch_state = t["watch_state"]
        self._insert_assist = self.assist_records.insert()
        self._insert_decision = self.decisions.insert()
        self._insert_outcome = self.outcomes.insert()

    @property
    def is_local(self) -> bool:
        """SQLite: a commit is a local file write (WAL), not a network round trip."""
        return self.engine.dialect.name == "sqlite"

    def create_all(self) -> None:
        self.metadata.create_all(self.engine)

    def drop_all(self) -> None:
        self.metadata.drop_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means not reachable
            return False

    # decisions -------------------------------------------------------------------------------
    def record_decisions(self, rows: list[dict[str, Any]]) -> None:
        """Insert decision rows (keys: the decisions columns) in one committed transaction."""
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(self._insert_decision, rows)

    def get_decision(self, decision_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(self.decisions).where(self.decisions.c.decision_id == decision_id)
            ).mappings().first()
        return dict(row) if row else None

    def get_decisions(self, decision_ids: list[str]) -> dict[str, dict[str, Any]]:
        """decision_id -> row for those that exist (one query)."""
        d = self.decisions
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(d).where(d.c.decision_id.in_(decision_ids))).mappings()
            return {r["decision_id"]: dict(r) for r in rows}

    def latest_decision_for_episode(self, episode_id: str) -> dict[str, Any] | None:
        d = self.decisions
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(d)
                .where(d.c.episode_id == episode_id)
                .order_by(d.c.created_at.desc())
                .limit(1)
            ).mappings().first()
        return dict(row) if row else None

    # suggestions and audits ----------------------------------------------------------------------
    def record_assist(self, rows: list[dict[str, Any]]) -> None:
        """Insert suggestion/audit rows (keys: the assist columns) in one committed transaction."""
        if rows:
            with self.engine.begin() as conn:
                conn.execute(self._insert_assist, rows)

    def get_assist(self, record_id: str) -> dict[str, Any] | None:
        a = self.assist_records
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(a).where(a.c.record_id == record_id)).mappings().first()
        return dict(row) if row else None

    # outcomes --------------------------------------------------------------------------------
    def record_outcome(
        self, decision_id: str, final_codes: list[str], correct: bool
    ) -> datetime:
        """Insert the human outcome of a decision; raises OutcomeExists on a second one."""
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    self._insert_outcome,
                    {
                        "decision_id": decision_id,
                        "final_codes": final_codes,
                        "correct": correct,
                        "created_at": now,
                    },
                )
        except IntegrityError as exc:
            raise OutcomeExists(decision_id) from exc
        return now

    def group_stats(self) -> list[GroupStats]:
        """Counts per model version, policy version and route, with outcome errors."""
        d, o = self.decisions, self.outcomes
        stmt = (
            sa.select(
                d.c.model_version,
                d.c.policy_version,
                d.c.route,
                sa.func.count(),
                sa.func.count(o.c.decision_id),
                sa.func.coalesce(
                    sa.func.sum(sa.case((o.c.correct == sa.false(), 1), else_=0)), 0
                ),
            )
            .select_from(d.outerjoin(o, o.c.decision_id == d.c.decision_id))
            .group_by(d.c.model_version, d.c.policy_version, d.c.route)
            .order_by(d.c.model_version, d.c.policy_version, d.c.route)
        )
        with self.engine.connect() as conn:
            return [
                GroupStats(mv, pv, r, int(n), int(no), int(err))
                for mv, pv, r, n, no, err in conn.execute(stmt)
            ]

    # policies --------------------------------------------------------------------------------
    def record_policy_change(
        self,
        *,
        action: str,
        role: str,
        key_fingerprint: str | None,
        model_version: str,
        old_policy_version: str | None,
        new_policy_version: str | None,
        params: dict[str, Any],
        policy: dict[str, Any] | None,
    ) -> None:
        """Persist a new policy version (when given) and its audit row in one transaction."""
        now = utcnow()
        with self.engine.begin() as conn:
            if policy is not None and new_policy_version is not None:
                conn.execute(
                    self.policies.insert(),
                    {
                        "model_version": model_version,
                        "policy_version": new_policy_version,
                        "params": params,
                        "policy": policy,
                        "created_at": now,
                    },
                )
            conn.execute(
                self.audit.insert(),
                {
                    "action": action,
                    "role": role,
                    "key_fingerprint": key_fingerprint,
                    "model_version": model_version,
                    "old_policy_version": old_policy_version,
                    "new_policy_version": new_policy_version,
                    "params": params,
                    "created_at": now,
                },
            )

    def latest_policy_params(self, model_version: str) -> dict[str, Any] | None:
        """Parameters of the last policy set through the service for this model, if any."""
        p = self.policies
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(p.c.params)
                .where(p.c.model_version == model_version)
                .order_by(p.c.id.desc())
                .limit(1)
            ).first()
        return dict(row[0]) if row else None

    def audit_rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [
                dict(r)
                for r in conn.execute(sa.select(self.audit).order_by(self.audit.c.id)).mappings()
            ]

    def count(self, table: str) -> int:
        tbl: sa.Table = getattr(self, table)
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(tbl)).scalar_one())

    # policy states (the dashboard's admin actions) ---------------------------------------------
    def set_policy_state(
        self, *, model_version: str, policy_version: str, care_setting: str, new_state: str,
        kind: str, actor_role: str, reason: str | None = None, key_fingerprint: str | None = None,
    ) -> int:
        """Append a policy_events row and set the policy_states row it decides, in one transaction;
        returns the event id."""
        s, e = self.policy_states, self.policy_events
        now = utcnow()
        key = (s.c.model_version == model_version, s.c.policy_version == policy_version,
               s.c.care_setting == care_setting)
        with self.engine.begin() as conn:
            old = conn.execute(sa.select(s.c.state).where(*key)).scalar_one_or_none()
            event_id = conn.execute(e.insert().values(
                created_at=now, kind=kind, model_version=model_version, policy_version=policy_version,
                care_setting=care_setting, old_state=old, new_state=new_state, actor_role=actor_role,
                key_fingerprint=key_fingerprint, reason=reason, details={},
            )).inserted_primary_key[0]
            values = {"state": new_state, "since": now, "event_id": event_id}
            if old is None:
                conn.execute(s.insert().values(model_version=model_version, policy_version=policy_version,
                                               care_setting=care_setting, **values))
            else:
                conn.execute(s.update().where(*key).values(**values))
        return int(event_id)
