"""The decision store: every decision, outcome and policy change, through SQLAlchemy Core.

SQLite (WAL) by default, PostgreSQL by URL. Each write is one transaction committed before the
caller answers, so an acknowledged decision survives a crash of the service. The hot path is a
single INSERT per decision (one executemany per batch) on Core tables, no ORM objects.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import pydantic_core
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool


class OutcomeExists(Exception):
    """An outcome was already recorded for this decision."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(t: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes (the store writes UTC): make them say so."""
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


# uuid.UUID(version=4)'s bits: the version nibble (4) atop byte 6, the variant bits (10) atop byte 8
_UUID4_BYTE6 = bytes((b & 0x0F) | 0x40 for b in range(256))
_UUID4_BYTE8 = bytes((b & 0x3F) | 0x80 for b in range(256))


def new_decision_id() -> str:
    """``uuid.uuid4().hex``'s value and spelling (16 bytes of os.urandom, the version and variant
    bits set as uuid.UUID sets them) without building a UUID object (~1/3 of the time)."""
    raw = bytearray(os.urandom(16))
    raw[6] = _UUID4_BYTE6[raw[6]]
    raw[8] = _UUID4_BYTE8[raw[8]]
    return raw.hex()


def new_decision_ids(n: int) -> list[str]:
    """``n`` ids as :func:`new_decision_id` makes them (``uuid4().hex``: 16 bytes of os.urandom,
    the version and variant bits set as uuid.UUID sets them, lower-case hex), from one random
    read: a batch's 1,000 uuid4() calls took ~2 ms, this ~0.15 ms."""
    raw = bytearray(os.urandom(16 * n))
    raw[6::16] = raw[6::16].translate(_UUID4_BYTE6)
    raw[8::16] = raw[8::16].translate(_UUID4_BYTE8)
    text = raw.hex()
    return [text[i:i + 32] for i in range(0, 32 * n, 32)]


#: Indexes of the decisions table an earlier version created and no read uses: every read with
#: a care setting or a route also fixes the version (served by ``decisions_versions`` or
#: ``decisions_policy_setting``), and the dashboard's windows range on ``created_at`` alone
#: (PostgreSQL's plans on 1,000,000 decisions, ``benchmarks/bench_dashboard.py``: no page
#: slower without them). :meth:`DecisionStore.create_all` drops them from an existing store.
OBSOLETE_DECISION_INDEXES = ("decisions_setting_created", "decisions_route_created")


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
        # the operation loop (shadow / live / fallback, audit and holdout draws) and the
        # dashboard's aggregates read these; nullable, so rows written before them stay valid
        sa.Column("care_setting", sa.String(16), nullable=True),
        sa.Column("policy_route", sa.String(16), nullable=True),
        sa.Column("mode", sa.String(16), nullable=True),
        sa.Column("audit", sa.Boolean, nullable=True),
        sa.Column("holdout", sa.Boolean, nullable=True),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("priority", sa.Float, nullable=True),
        sa.Column("discharge_date", sa.Date, nullable=True),
        # set in the transaction that records the decision's outcome: "not yet coded" is then
        # a partial-index read, not an anti-join of every decision with every outcome
        sa.Column("coded_at", sa.DateTime(timezone=True), nullable=True),
        # every index is kept up by every decision's INSERT (a page written to the WAL per index,
        # per commit): only those a read uses (OBSOLETE_DECISION_INDEXES: the ones no read used)
        sa.Index(f"ix_{prefix}decisions_versions", "model_version", "policy_version"),
        sa.Index(f"ix_{prefix}decisions_created", "created_at"),
        sa.Index(f"ix_{prefix}decisions_policy_setting", "policy_version", "care_setting"),
        sa.Index(f"ix_{prefix}decisions_waiting", "route", "queue", "priority", "discharge_date",
                 "created_at",
                 postgresql_where=sa.text("coded_at IS NULL AND route <> 'automate'"),
                 sqlite_where=sa.text("coded_at IS NULL AND route <> 'automate'")),
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
    # the operation loop: the current state of each (model, policy version, care setting), the
    # append-only history of what changed and why, and the sequential watch's small state
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
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("policy_version", sa.String(128), nullable=False),
        sa.Column("care_setting", sa.String(16), nullable=True),
        sa.Column("old_state", sa.String(16), nullable=True),
        sa.Column("new_state", sa.String(16), nullable=True),
        sa.Column("actor_role", sa.String(16), nullable=True),
        sa.Column("key_fingerprint", sa.String(16), nullable=True),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Index(f"ix_{prefix}policy_events_created", "created_at"),
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
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    return md, {"decisions": decisions, "outcomes": outcomes, "policies": policies, "audit": audit,
                "assist": assist, "policy_states": policy_states, "policy_events": policy_events,
                "watch_state": watch_state}


class EncodedJSON:
    """A JSON column's value already encoded by :func:`json_bytes`, written as is (:func:`to_json`
    passes its text through): the batch route encodes each decision for its answer anyway, and
    stores the same bytes instead of encoding the decision a second time."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def json_bytes(value: Any) -> bytes:
    """``pydantic_core.to_json`` (Rust, ~10x the standard library's speed, the largest cost of
    writing a batch of decisions), with the standard library's text for non-finite numbers and
    numpy scalars as their Python values."""
    return pydantic_core.to_json(value, inf_nan_mode="constants", fallback=_json_fallback)


def to_json(value: Any) -> str:
    """The JSON columns' encoder (:func:`json_bytes`; an :class:`EncodedJSON` is written as is)."""
    if type(value) is EncodedJSON:
        return value.text
    return json_bytes(value).decode()


def _json_fallback(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


#: SQLite: WAL pages a commit may leave before that commit itself checkpoints them into the
#: database file (SQLite's default is 1,000). The service checkpoints in the background
#: (:meth:`DecisionStore.checkpoint`, every ``CHECKPOINT_SECONDS``), so a request never pays for
#: it; this larger bound only caps the WAL's size when nothing else checkpoints (a CLI process).
WAL_AUTOCHECKPOINT_PAGES = 10_000
CHECKPOINT_SECONDS = 0.25

#: SQLite: a decision write of at least ``LARGE_WRITE_ROWS`` rows (a batch) runs with a page cache
#: of ``LARGE_WRITE_CACHE_KIB``, put back after it: its table and index pages outgrow SQLite's
#: default cache (2,000 KiB), which then evicts pages the same write reads again (measured on
#: the batch route's handler, 1,000 episodes, alternating rounds on one store: ~6-7 ms less
#: CPU time on a new table, ~8 ms at 200,000 decisions). Only for the write (one at a time per
#: database), so the connections keep the default's memory.
LARGE_WRITE_ROWS = 100
LARGE_WRITE_CACHE_KIB = 16_384


#: A pooled connection idle longer than this is pinged before use (see :func:`_ping_when_idle`).
PING_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it sat idle over ``PING_IDLE_SECONDS``.

    ``pool_pre_ping`` pings at every checkout: two extra round trips a decision (the state read
    and the write each check one out), ~10% of a worker's CPU under load (py-spy). A connection
    used within the last second is as good as the last statement it ran; one the server dropped
    since (a restart) fails its statement as a disconnect, which the service answers 503 and
    after which SQLAlchemy discards every connection opened before it, so the next requests get
    new ones. An idle one that fails its ping is replaced before use (SQLAlchemy's custom
    pessimistic check: raising ``DisconnectionError`` on checkout)."""
    @sa.event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_from"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_from = record.info.get("idle_from")
        if idle_from is None or time.monotonic() - idle_from <= PING_IDLE_SECONDS:
            return  # just opened, or used a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # any failure means not usable
            raise sa.exc.DisconnectionError() from exc
        if alive is False:
            raise sa.exc.DisconnectionError()


def make_engine(url: str, *, sqlite_synchronous: str = "NORMAL") -> Engine:
    """Engine with SQLite set to WAL (readers never block the writer) and a busy timeout.

    Durability on SQLite: in WAL mode every commit is in the WAL file (the operating system's
    page cache) before the caller hears of it, so a killed process (kill -9) loses nothing
    acknowledged whatever ``sqlite_synchronous`` says; NORMAL fsyncs the WAL only at checkpoints
    (a power loss or kernel crash may lose the last commits), FULL at every commit."""
    # hide_parameters: SQL parameters (decision JSON, note text) never appear in a log line or
    # in an exception's message, whatever logging an operator turns on
    if not url.startswith("sqlite"):
        engine = sa.create_engine(
            url, pool_size=8, max_overflow=8, hide_parameters=True, json_serializer=to_json,
        )
        _ping_when_idle(engine)
        return engine
    memory = url in ("sqlite://", "sqlite:///:memory:")
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=StaticPool if memory else None,
        hide_parameters=True,
        json_serializer=to_json,
    )

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


class _Write:
    __slots__ = ("done", "error", "rows")

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.done = False
        self.error: BaseException | None = None


class GroupCommit:
    """Concurrent writers share one transaction (leader/follower group commit).

    A writer queues its rows, then takes the leader lock; if a leader's commit already carried its
    rows it returns at once, else it commits everything queued. So every caller returns only
    after a commit that holds its rows (an acknowledged decision is durable), and under load many
    requests pay for one commit. A failing batch is retried one write at a time, so one bad write
    never fails another caller's rows.
    """

    def __init__(self, engine: Engine, statement: Any, *, direct: bool = False) -> None:
        self.engine = engine
        self.statement = statement
        # ``direct`` (SQLite): the INSERT straight on the driver (see DirectInsert); PostgreSQL's
        # commit is a WAL flush that dwarfs SQLAlchemy's own work (measured: no gain): Core's
        self._direct = DirectInsert(engine, statement) if direct else None
        self._pending: list[_Write] = []
        self._queue = threading.Lock()
        self._leader = threading.Lock()
        self.commits = 0  # how many transactions carried the writes (a benchmark reads it)

    def write(self, rows: list[dict[str, Any]]) -> None:
        error = self.write_each([rows])[0]
        if error is not None:
            raise error

    def write_each(self, writes: list[list[dict[str, Any]]]) -> list[BaseException | None]:
        """Several callers' writes at once (:class:`LoopCommit`): each one's error (None: its
        rows are committed), as :meth:`write` would raise it for that caller alone."""
        if self._leader.acquire(blocking=False):  # no commit under way: lead at once
            try:
                with self._queue:
                    waiting, self._pending = self._pending, []
                if not waiting:  # nobody queued behind an earlier commit: no record to share
                    return self._commit_writes(writes)
                mine = [_Write(rows) for rows in writes]
                self._commit(waiting + mine)
                return [w.error for w in mine]
            finally:
                self._leader.release()
        mine = [_Write(rows) for rows in writes]
        with self._queue:
            self._pending.extend(mine)
        with self._leader:
            if not all(w.done for w in mine):
                with self._queue:
                    batch, self._pending = self._pending, []
                self._commit(batch)
        return [w.error for w in mine]

    @contextmanager
    def held(self) -> Iterator[None]:
        """No write commits while inside (the writers wait on the leader lock, then go on)."""
        with self._leader:
            yield

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        """One committed transaction holding ``rows``."""
        if self._direct is not None:
            self._direct(rows)
            return
        with self.engine.begin() as conn:
            conn.execute(self.statement, rows)

    def _commit(self, batch: list[_Write]) -> None:
        for w, error in zip(batch, self._commit_writes([w.rows for w in batch]), strict=True):
            w.error = error
            w.done = True

    def _commit_writes(self, writes: list[list[dict[str, Any]]]) -> list[BaseException | None]:
        """Commit the writes in one transaction; if it fails, each in its own, so one bad write
        never fails another's rows. Each write's error (None: committed)."""
        try:
            self._insert(writes[0] if len(writes) == 1 else [r for rows in writes for r in rows])
            self.commits += 1
            return [None] * len(writes)
        except Exception as exc:  # noqa: BLE001 - each caller gets its own write's outcome
            if len(writes) == 1:
                return [exc]
        errors: list[BaseException | None] = []
        for rows in writes:
            try:
                self._insert(rows)
                self.commits += 1
                errors.append(None)
            except Exception as own:  # noqa: BLE001
                errors.append(own)
        return errors


class LoopCommit:
    """Decision writes of the requests served on the event loop, committed together.

    A request served on the event loop (:func:`service.api.hotpath.runs_inline`) used to commit
    its row itself, so concurrent requests never shared a commit there: the loop runs one
    handler at a time. Here the first handler to write is the leader: it queues its rows and
    yields once to the loop, in which pass every request whose bytes arrived with it routes and
    queues its rows too (as followers, awaiting a future); then the leader commits them all in
    one :meth:`GroupCommit.write_each` and hands each follower its own write's outcome. Each
    handler resumes only after the commit holding its rows, with its own write's error, as before.
    Measured with wrk against the inline commit, alternated: +3% and +12% requests a second with
    4 connections, -3.5% with one. The leader commits in its own task rather than from a callback
    the loop runs for it: a lone request then waits one pass of the loop, not two, and needs no
    future (~11-16 us less a request in-process, alternated A/B)."""

    def __init__(self, writes: GroupCommit) -> None:
        self._writes = writes
        # the followers' writes while a leader is yielding; None when no leader is
        self._queued: list[tuple[list[dict[str, Any]], asyncio.Future[None]]] | None = None
        self.flushes = 0  # how many commits carried the queued writes (tests read it)

    async def write(self, rows: list[dict[str, Any]]) -> None:
        """Returns once ``rows`` are committed; raises the write's own error."""
        queued = self._queued
        if queued is not None:  # a leader is yielding: it commits these rows with its own
            done = asyncio.get_running_loop().create_future()
            queued.append((rows, done))
            await done
            return
        self._queued = queued = []
        try:
            await asyncio.sleep(0)  # one pass of the loop: the requests beside this one queue
        finally:
            # even when this request was cancelled in its pass: its followers are committed
            self._queued = None
            error = self._flush(rows, queued)
        if error is not None:
            raise error

    def _flush(self, rows: list[dict[str, Any]],
               queued: list[tuple[list[dict[str, Any]], asyncio.Future[None]]]) -> BaseException | None:
        """Commit the leader's ``rows`` and the followers' in one transaction; each follower's
        future gets its own outcome; returns the leader's error (None: committed)."""
        fatal = None
        try:
            errors = self._writes.write_each([rows, *(r for r, _ in queued)])
        except BaseException as exc:  # noqa: BLE001 - write_each reports per write; never strand a caller
            errors = [exc] * (len(queued) + 1)
            fatal = None if isinstance(exc, Exception) else exc
        self.flushes += 1
        for (_, done), error in zip(queued, errors[1:], strict=True):
            if done.cancelled():
                continue
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)
        if fatal is not None:  # an interrupt or exit goes on after every follower has its answer
            raise fatal
        return errors[0]


#: Tries of one drift refresh when other refreshes keep storing first (each try reads on from theirs).
DRIFT_REFRESH_ATTEMPTS = 5


class DriverConnections:
    """File SQLite: the driver connections :class:`DirectInsert`, :class:`DirectSelect` and
    :class:`DriftRead` run on, kept open between calls outside the engine's pool.

    A pool checkout and checkin (the connection record, its weak reference, the queue's locks,
    the rollback on return) cost more Python than a decision's INSERT itself (measured: ~40-50
    us of a request's ~0.45 ms of service work in-process). Each connection is the engine's own
    (opened through the pool, so its ``connect`` event set WAL and the pragmas, then detached
    from it: it does not count against the pool's size); one is taken per call and put back
    after, so concurrent callers never share one and the set grows only to the concurrency
    reached. An in-memory database (one shared connection) keeps the pool."""

    _of: ClassVar[weakref.WeakKeyDictionary[Engine, DriverConnections]] = weakref.WeakKeyDictionary()
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, engine: Engine) -> None:
        # weakly: the registry's value must not keep its key (the engine) alive
        self._engine = weakref.ref(engine)
        self._idle: list[Any] = []
        self._opened: list[Any] = []
        #: connections in use when :meth:`close` ran: closed as their callers give them back
        self._retired: set[Any] = set()
        self._mutex = threading.Lock()

    @classmethod
    def of(cls, engine: Engine) -> DriverConnections | None:
        """The engine's set (None where the pool must serve: not SQLite, or in memory)."""
        if engine.dialect.name != "sqlite" or isinstance(engine.pool, StaticPool):
            return None
        found = cls._of.get(engine)
        if found is None:
            with cls._lock:
                found = cls._of.setdefault(engine, cls(engine))
        return found

    def take(self) -> Any:
        with self._mutex:  # never one that close() is closing
            if self._idle:
                return self._idle.pop()
        engine = self._engine()
        if engine is None:  # pragma: no cover - a caller holds the engine
            raise RuntimeError("the engine of these connections is gone")
        fairy = engine.raw_connection()
        raw = fairy.driver_connection
        fairy.detach()
        with self._mutex:
            self._opened.append(raw)
        return raw

    def give_back(self, raw: Any) -> None:
        with self._mutex:
            if raw not in self._retired:
                self._idle.append(raw)
                return
            self._retired.discard(raw)
            self._opened.remove(raw)
        raw.close()  # the store was disposed while this one was in use

    def discard(self, raw: Any) -> None:
        with self._mutex:
            if raw in self._opened:
                self._opened.remove(raw)
            self._retired.discard(raw)
        with suppress(Exception):  # closing a broken connection is best effort
            raw.close()

    def close(self) -> None:
        """Close every idle connection now and each one in use as its caller gives it back (the
        store's dispose): closing a SQLite connection while another thread runs a statement on
        it crashes the process (a drift read still running at shutdown did, in a test run).
        A later call opens new ones."""
        with self._mutex:
            idle, self._idle = self._idle, []
            closing = set(idle)
            self._opened = [raw for raw in self._opened if raw not in closing]  # in use
            self._retired.update(self._opened)
        for raw in idle:
            with suppress(Exception):  # best effort at shutdown
                raw.close()

    @classmethod
    def close_for(cls, engine: Engine) -> None:
        found = cls._of.get(engine)
        if found is not None:
            found.close()


class _DriverCursor:
    """(driver connection, cursor) for :class:`DirectInsert` and :class:`DirectSelect`: from the
    engine's :class:`DriverConnections` (else its pool), put back after use; on an error rolled
    back, and a driver error raised as SQLAlchemy's exception for it (IntegrityError,
    OperationalError, ...), as Core raises it, parameters hidden. A class, not a
    ``@contextmanager`` generator: it runs twice a request (~1.5 us less each, measured)."""

    __slots__ = ("_cursor", "_engine", "_kept", "_raw", "_sql")

    def __init__(self, engine: Engine, sql: str) -> None:
        self._engine, self._sql = engine, sql

    def __enter__(self) -> tuple[Any, Any]:
        kept = self._kept = DriverConnections.of(self._engine)
        raw = self._raw = kept.take() if kept is not None else self._engine.raw_connection()
        try:
            self._cursor = raw.cursor()
        except BaseException as exc:
            self._fail(exc)
            raise
        return raw, self._cursor

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        try:
            self._cursor.close()
        except BaseException as closing:
            if exc is None:  # as a failure inside the block
                self._fail(closing)
                raise
        if exc is None:
            self._put_back(True)
        else:
            self._fail(exc)  # a driver's error comes out as SQLAlchemy's; any other goes on as is

    def _fail(self, exc: BaseException) -> None:
        """Roll back and put the connection back (discarded when even that failed); a driver
        error is raised as SQLAlchemy's exception for it."""
        self._put_back(_rolled_back(self._raw))
        dialect = self._engine.dialect
        if isinstance(exc, dialect.loaded_dbapi.Error):
            raise sa.exc.DBAPIError.instance(self._sql, None, exc, dialect.loaded_dbapi.Error,
                                             hide_parameters=True, dialect=dialect) from exc

    def _put_back(self, healthy: bool) -> None:
        kept, raw = self._kept, self._raw
        if kept is None:
            raw.close()
        elif healthy:
            kept.give_back(raw)
        else:
            kept.discard(raw)


def _rolled_back(raw: Any) -> bool:
    """Roll ``raw`` back; False when even that failed (the connection is then not reused)."""
    try:
        raw.rollback()
        return True
    except Exception:  # noqa: BLE001 - the caller raises the original error
        return False


class DirectInsert:
    """An INSERT compiled once and run on the driver's own cursor, in one committed transaction.

    The values are converted by SQLAlchemy's own bind processors for each column (the same JSON
    encoder, date and time text as Core writes, so Core reads the rows back alike), and a driver
    error comes out as SQLAlchemy's exception for it (``OperationalError`` for a locked or full
    database: the service's 503). What it skips is Core's per-call work: the compiled-cache
    lookup, parameter processing through the execution context, the result object (measured on
    SQLite: ~0.2 ms of a decision's ~0.55 ms write under load, ``benchmarks/bench_store_write.py``).
    """

    def __init__(self, engine: Engine, statement: Any) -> None:
        self.engine = engine
        dialect = engine.dialect
        table = statement.table
        compiled = statement.values({c.name: sa.bindparam(c.name) for c in table.columns}).compile(
            dialect=dialect)
        assert compiled.positional, "DirectInsert expects a positional paramstyle (SQLite)"
        self.sql = str(compiled)
        self.names = list(compiled.positiontup)
        types = {c.name: c.type for c in table.columns}
        self.processors = [types[n].dialect_impl(dialect).bind_processor(dialect) for n in self.names]
        self._columns = list(zip(self.names, self.processors))

    def params(self, row: dict[str, Any]) -> tuple[Any, ...]:
        """One row's parameter tuple, as :meth:`params_many` converts it, without its lists per
        column (a lone request's row: ~4.7 us against ~13 us, measured)."""
        out = []
        for name, process in self._columns:
            value = row.get(name)
            if process is not None and value is not None:
                value = process(value)
            out.append(value)
        return tuple(out)

    def params_many(self, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """The driver's parameter tuples, converted a column at a time; a value that is the same
        object as the row before's is converted once (a batch's rows share their ``created_at``
        and their booleans: the conversions other than JSON of 1,000 decisions took 3.1 ms a row
        at a time, 1.1 ms so, measured)."""
        columns = []
        for name, process in zip(self.names, self.processors):
            values = [r.get(name) for r in rows]
            if process is not None:
                last, done = None, None
                for i, value in enumerate(values):
                    if value is None:
                        continue
                    if value is not last:
                        last, done = value, process(value)
                    values[i] = done
            columns.append(values)
        return list(zip(*columns))

    def __call__(self, rows: list[dict[str, Any]]) -> None:
        args = [self.params(rows[0])] if len(rows) == 1 else self.params_many(rows)
        with _DriverCursor(self.engine, self.sql) as (raw, cursor):
            if len(args) < LARGE_WRITE_ROWS:
                cursor.executemany(self.sql, args)
                raw.commit()
                return
            (previous,) = cursor.execute("PRAGMA cache_size").fetchone()
            cursor.execute(f"PRAGMA cache_size=-{LARGE_WRITE_CACHE_KIB}")
            try:
                cursor.executemany(self.sql, args)
                raw.commit()
            finally:
                # a failure here must not hide the write's own outcome (committed, or its error):
                # at worst this connection keeps the larger cache
                with suppress(self.engine.dialect.loaded_dbapi.Error):
                    cursor.execute(f"PRAGMA cache_size={int(previous)}")


class DirectSelect:
    """A SELECT compiled once and run on the driver's own cursor (SQLite), as :class:`DirectInsert`
    runs the decision INSERT: for the per-request read of the policy states, where Core's
    per-call work (connection and result objects, compiled-cache lookup) cost more than SQLite's
    indexed read itself. Only for statements whose parameters and columns need no conversion
    (checked here); a driver error comes out as SQLAlchemy's exception for it, as Core raises it.
    Like Core's read outside a transaction, it sees the latest committed rows."""

    def __init__(self, engine: Engine, statement: Any) -> None:
        self.engine = engine
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        assert compiled.positional, "DirectSelect expects a positional paramstyle (SQLite)"
        binds = [compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect)
                 for n in compiled.positiontup]
        results = [c.type.dialect_impl(dialect).result_processor(dialect, None)
                   for c in statement.selected_columns]
        if any(f is not None for f in binds + results):
            raise ValueError("DirectSelect: a parameter or column needs conversion; use Core")
        self.sql = str(compiled)
        self.names = list(compiled.positiontup)
        # parameters with a value of their own (a literal; SQLite's OFFSET 0 after a LIMIT)
        self.fixed = {n: compiled.binds[n].effective_value for n in self.names
                      if not compiled.binds[n].required}

    def __call__(self, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        if self.fixed:
            params = {**self.fixed, **params}
        args = tuple(params[n] for n in self.names)
        with _DriverCursor(self.engine, self.sql) as (_, cursor):
            cursor.execute(self.sql, args)
            return cursor.fetchall()


def _unindexed(column: sa.Column, dialect: Any) -> Any:
    """SQLite's ``+column``: its value, in a term the planner serves with no index."""
    name = dialect.identifier_preparer.format_column(column, use_table=True)
    return sa.literal_column(f"+{name}", type_=column.type)


class DriftRead:
    """SQLite: the drift refresh's read of a version's decisions after a watermark, on the
    driver's own cursor (:class:`DirectSelect`), with Core's read's columns, filter, order and
    limit.

    Core's read spent most of its time in Python, holding the interpreter the event loop serves
    requests with: per row it parsed ``created_at`` into a datetime and decoded the unknown codes'
    JSON. Here ``created_at`` comes back as the text SQLite stores and only the last row's is
    parsed, by SQLAlchemy's own processor, so the watermark is the one Core's read gives; the
    unknown codes come back NULL when they are ``[]`` or absent (nearly every decision; SQL's
    NULLIF on the same JSON text Core decodes) and are decoded otherwise, so each row's
    ``bool(r[3])`` is Core's."""

    def __init__(self, store: DecisionStore) -> None:
        d, dialect = store.decisions, store.engine.dialect
        codes = sa.func.json_quote(sa.func.json_extract(  # what Core's decision["unknown_codes"] reads
            d.c.decision, sa.literal_column("'$.\"unknown_codes\"'")))
        none = sa.func.nullif(sa.func.nullif(codes, sa.literal_column("'[]'")),
                              sa.literal_column("'null'"))
        select = (sa.select(d.c.p_correct, d.c.care_setting, d.c.policy_route, none,
                            sa.type_coerce(d.c.created_at, sa.String), d.c.decision_id)
                  .order_by(d.c.created_at, d.c.decision_id)
                  .limit(sa.bindparam("limit", type_=sa.Integer)))
        after = sa.tuple_(d.c.created_at, d.c.decision_id) > sa.tuple_(
            sa.bindparam("at", type_=sa.String), sa.bindparam("id", type_=sa.String))
        mv, pv = d.c.model_version, d.c.policy_version
        self._first = DirectSelect(store.engine, select.where(
            mv == sa.bindparam("mv"), pv == sa.bindparam("pv")))
        # after a watermark, the created_at index from the watermark on (the version's terms kept
        # out of the plan): the version's index would visit every decision it ever routed to
        # keep the new ones (200,000 before: 433 -> 180 ms), a cost growing with its age
        mv, pv = (_unindexed(c, dialect) for c in (mv, pv))
        self._after = DirectSelect(store.engine, select.where(
            mv == sa.bindparam("mv"), pv == sa.bindparam("pv"), after))
        # the text SQLite stores a time as, and back: SQLAlchemy's own conversions, as Core's
        self._time_text = sa.DateTime().dialect_impl(dialect).bind_processor(dialect)
        self._text_time = d.c.created_at.type.dialect_impl(dialect).result_processor(dialect, None)
        self._decode = dialect._json_deserializer or json.loads

    def __call__(self, model_version: str, policy_version: str, mark: list[str] | None,
                 limit: int) -> list[tuple[Any, ...]]:
        """Up to ``limit`` rows (p_correct, care_setting, policy_route, the unknown codes or None,
        created_at as stored, decision_id) after ``mark``, in (created_at, decision_id) order."""
        params = {"mv": model_version, "pv": policy_version, "limit": limit}
        if mark:
            params.update(at=self._time_text(datetime.fromisoformat(mark[0])), id=mark[1])
            rows = self._after(params)
        else:
            rows = self._first(params)
        if any(r[3] is not None for r in rows):
            decode = self._decode
            rows = [r if r[3] is None else (*r[:3], decode(r[3]), *r[4:]) for r in rows]
        return rows

    def watermark(self, row: tuple[Any, ...]) -> list[str]:
        """The row's [created_at, decision_id] as Core's read gives it (ISO time, no zone)."""
        return [self._text_time(row[4]).isoformat(), row[5]]


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
        self.prefix = table_prefix
        self.metadata, t = _tables(table_prefix)
        self.decisions, self.outcomes = t["decisions"], t["outcomes"]
        self.policies, self.audit = t["policies"], t["audit"]
        self.assist_records = t["assist"]
        self.policy_states, self.policy_events = t["policy_states"], t["policy_events"]
        self.watch_state = t["watch_state"]
        self.operation = OperationStore(self)
        self._insert_assist = self.assist_records.insert()
        self._insert_decision = self.decisions.insert()
        self._insert_outcome = self.outcomes.insert()
        self._decision_writes = GroupCommit(self.engine, self._insert_decision,
                                            direct=self.is_local)
        self._loop_writes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopCommit] = (
            weakref.WeakKeyDictionary())  # made on each loop's first write

    @property
    def is_local(self) -> bool:
        """SQLite: a commit is a local file write (WAL), not a network round trip."""
        return self.engine.dialect.name == "sqlite"

    def create_all(self) -> None:
        """Create missing tables, and add the columns a newer version added to an existing
        decisions table (all nullable: old rows stay valid), so an upgrade needs no manual step."""
        for attempt in range(5):  # several workers start at once: one creates, the others see it
            try:
                self.metadata.create_all(self.engine)
                break
            except (IntegrityError, sa.exc.ProgrammingError, sa.exc.OperationalError):
                # PostgreSQL's duplicate-type/relation errors, SQLite's "table ... already
                # exists" (an OperationalError): another worker created it between check and
                # create; a real failure fails every attempt and is raised
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
        inspector = sa.inspect(self.engine)
        have = {c["name"] for c in inspector.get_columns(self.decisions.name)}
        missing = [c for c in self.decisions.columns if c.name not in have]
        if missing:
            with self.engine.begin() as conn:
                for col in missing:
                    kind = col.type.compile(dialect=self.engine.dialect)
                    conn.execute(sa.text(
                        f'ALTER TABLE {self.decisions.name} ADD COLUMN "{col.name}" {kind}'))
            if any(col.name == "coded_at" for col in missing):  # decisions coded before it
                d, o = self.decisions, self.outcomes
                with self.engine.begin() as conn:
                    conn.execute(d.update().values(coded_at=sa.select(o.c.created_at).where(
                        o.c.decision_id == d.c.decision_id).scalar_subquery()))
            for index in self.decisions.indexes:  # the indexes on the added columns
                index.create(self.engine, checkfirst=True)
        obsolete = {f"ix_{self.prefix}{name}" for name in OBSOLETE_DECISION_INDEXES}
        stale = [i["name"] for i in inspector.get_indexes(self.decisions.name) if i["name"] in obsolete]
        if stale:  # an upgraded store stops paying for them on every write
            with self.engine.begin() as conn:
                for name in stale:
                    conn.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))

    def drop_all(self) -> None:
        self.metadata.drop_all(self.engine)

    def insert_if_absent(self, table: sa.Table) -> Any:
        """An INSERT that does nothing (and returns no row) when the primary key is there."""
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif self.is_local:
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover - the store supports SQLite and PostgreSQL
            return table.insert()
        return insert(table).on_conflict_do_nothing()

    def checkpoint(self) -> None:
        """SQLite: copy committed WAL pages into the database file and start the WAL over.

        Left to SQLite, the commit that crosses the WAL's page bound checkpoints inside its
        request, fsyncs included; and a checkpoint that never waits (PASSIVE) cannot empty the
        WAL while writes go on, so under steady load it reaches that bound anyway (measured: a
        20-30 ms request once a second at ~700 requests/s). So, every ``CHECKPOINT_SECONDS``:
        two PASSIVE rounds, which wait for nobody (the bulk of the pages, the database file's
        fsync; the second copies what was committed during the first), then RESTART with the
        decision writers held off on their group-commit lock: it copies the few pages committed
        since, and the next write starts the WAL from its beginning (measured: writers held ~1-3
        ms, the WAL ~2,000 pages at most). A reader still on an older snapshot (a long dashboard
        query) makes RESTART give up at once (``busy_timeout`` 0 for that statement) instead of
        holding the writers: the next round tries again."""
        if not self.is_local or self.url in ("sqlite://", "sqlite:///:memory:"):
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            conn.exec_driver_sql("PRAGMA busy_timeout=0")
            try:
                with self._decision_writes.held():
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)").fetchall()
            finally:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={int(timeout)}")

    def dispose(self) -> None:
        DriverConnections.close_for(self.engine)
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
        """Insert decision rows (keys: the decisions columns); returns once a transaction holding
        them has committed. Concurrent callers share one commit (group commit)."""
        if rows:
            self._decision_writes.write(rows)

    async def record_decisions_on_loop(self, rows: list[dict[str, Any]]) -> None:
        """:meth:`record_decisions` for a handler running on the event loop: returns once a
        transaction holding the rows has committed, shared with the other requests on the loop
        (:class:`LoopCommit`)."""
        if rows:
            loop = asyncio.get_running_loop()
            writes = self._loop_writes.get(loop)  # one per loop: its futures are that loop's
            if writes is None:
                writes = self._loop_writes.setdefault(loop, LoopCommit(self._decision_writes))
            await writes.write(rows)

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
                self.insert_outcome(conn, decision_id, final_codes, correct, now)
        except IntegrityError as exc:
            raise OutcomeExists(decision_id) from exc
        return now

    def insert_outcome(self, conn: Any, decision_id: str, final_codes: list[str], correct: bool,
                       now: datetime) -> None:
        """The outcome row, and its decision marked coded, in the caller's transaction."""
        conn.execute(self._insert_outcome, {"decision_id": decision_id,
                                            "final_codes": final_codes, "correct": correct,
                                            "created_at": now})
        d = self.decisions
        conn.execute(d.update().where(d.c.decision_id == decision_id).values(coded_at=now))

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
    ) -> int | None:
        """Persist a new policy version (when given) and its audit row in one transaction;
        returns the stored policy's id (None when only the audit row was written)."""
        now = utcnow()
        policy_id = None
        with self.engine.begin() as conn:
            if policy is not None and new_policy_version is not None:
                policy_id = conn.execute(
                    self.policies.insert(),
                    {
                        "model_version": model_version,
                        "policy_version": new_policy_version,
                        "params": params,
                        "policy": policy,
                        "created_at": now,
                    },
                ).inserted_primary_key[0]
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
        return None if policy_id is None else int(policy_id)

    def latest_policy_params(self, model_version: str) -> dict[str, Any] | None:
        """Parameters of the last policy set through the service for this model, if any."""
        saved = self.latest_policy(model_version)
        return dict(saved["params"]) if saved else None

    def latest_policy_id(self, model_version: str) -> int | None:
        """The id of :meth:`latest_policy`'s row (None when there is none): each worker's
        once-a-second check of whether another worker stored a policy."""
        p = self.policies
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(p.c.id))
                                .where(p.c.model_version == model_version)).scalar()

    def latest_policy(self, model_version: str) -> dict[str, Any] | None:
        """The last stored policy version of this model: id, policy_version, params, policy."""
        p = self.policies
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(p.c.id, p.c.policy_version, p.c.params, p.c.policy)
                .where(p.c.model_version == model_version)
                .order_by(p.c.id.desc())
                .limit(1)
            ).mappings().first()
        return dict(row) if row else None

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


@dataclass(frozen=True)
class WatchStep:
    """The watch after one audited outcome, as the library computed it (stored as is)."""

    status: str
    n: int
    errors: int
    e_value: float | None
    lower: float | None
    upper: float | None
    alpha: float
    delta: float
    state: dict[str, Any]
    details: dict[str, Any]


class OperationStore:
    """Policy states, their history and the watch's state: the operation loop's tables.

    Every change of state is one transaction with its event row, and a watch update shares the
    transaction of the outcome that caused it, so every worker and replica reading the store sees
    a fallback from its next request on, and no outcome is counted twice or lost.
    """

    def __init__(self, store: DecisionStore) -> None:
        self.store = store
        self.engine = store.engine
        self.states, self.events = store.policy_states, store.policy_events
        self.watch = store.watch_state
        s = self.states
        self._select_states = sa.select(s.c.care_setting, s.c.state).where(
            s.c.model_version == sa.bindparam("mv"), s.c.policy_version == sa.bindparam("pv"))
        # PostgreSQL: the per-request read runs outside a transaction (one statement is its own
        # snapshot), sparing the BEGIN and ROLLBACK round trips (0.55 -> 0.42 ms measured);
        # SQLite has no round trips to spare (and an in-memory store shares one connection)
        self._reads = (self.engine if store.is_local
                       else self.engine.execution_options(isolation_level="AUTOCOMMIT"))
        # SQLite: the read straight on the driver (~60 us of Core's work a request, measured)
        self._direct_states = DirectSelect(self.engine, self._select_states) if store.is_local else None
        # SQLite: the drift refresh's read with little Python work a row (see DriftRead)
        self._drift_read = DriftRead(store) if store.is_local else None

    # states --------------------------------------------------------------------------------
    def current_states(self, model_version: str, policy_version: str) -> dict[str, str]:
        """care setting -> state of this version (the per-request read: one indexed query, the
        latest committed states, so a fallback holds from the next request on)."""
        params = {"mv": model_version, "pv": policy_version}
        if self._direct_states is not None:
            return dict(self._direct_states(params))
        with self._reads.connect() as conn:
            rows = conn.execute(self._select_states, params)
            return {setting: state for setting, state in rows}

    def ensure_states(self, model_version: str, policy_version: str, settings: list[str],
                      initial: str, *, details: dict[str, Any] | None = None) -> dict[str, str]:
        """Give every setting of a newly deployed version its initial state (once; a version
        seen before keeps the states it has). Returns the current states."""
        have = self.current_states(model_version, policy_version)
        for setting in settings:
            if setting in have:
                continue
            try:
                self._set(model_version, policy_version, setting, None, initial, kind="deployed",
                          actor_role="system", key_fingerprint=None, reason="deployed",
                          details=details or {})
            except IntegrityError:  # another worker deployed it first: its state stands
                pass
        return self.current_states(model_version, policy_version)

    def set_state(self, model_version: str, policy_version: str, care_setting: str, new: str, *,
                  kind: str, actor_role: str, key_fingerprint: str | None, reason: str,
                  details: dict[str, Any] | None = None,
                  check: Any = None) -> tuple[str | None, str]:
        """Move one setting to ``new`` with its event; ``check(old, new)`` may refuse (raise).
        Returns (old, new)."""
        with self.engine.begin() as conn:
            self._write_lock(conn)
            old = self._locked_state(conn, model_version, policy_version, care_setting)
            if check is not None and old is not None:
                check(old, new)
            if old != new:
                self._write_state(conn, model_version, policy_version, care_setting, old, new,
                                  kind=kind, actor_role=actor_role,
                                  key_fingerprint=key_fingerprint, reason=reason,
                                  details=details or {})
        return old, new

    def _set(self, model_version, policy_version, care_setting, old, new, **event) -> None:
        with self.engine.begin() as conn:
            self._write_state(conn, model_version, policy_version, care_setting, old, new, **event)

    def _write_lock(self, conn) -> None:
        """Take SQLite's write lock before reading what a transaction will update: a read-then-
        write transaction in WAL mode can otherwise fail when another connection commits between
        (PostgreSQL locks the rows read ``FOR UPDATE`` instead)."""
        if self.store.is_local:
            conn.execute(sa.text(f"UPDATE {self.states.name} SET state = state WHERE 1 = 0"))

    def _locked_state(self, conn, model_version, policy_version, care_setting) -> str | None:
        s = self.states
        stmt = sa.select(s.c.state).where(
            s.c.model_version == model_version, s.c.policy_version == policy_version,
            s.c.care_setting == care_setting).with_for_update()
        return conn.execute(stmt).scalar_one_or_none()

    def _write_state(self, conn, model_version, policy_version, care_setting, old, new, *, kind,
                     actor_role, key_fingerprint, reason, details) -> int:
        now = utcnow()
        event_id = self._event(conn, kind=kind, model_version=model_version,
                               policy_version=policy_version, care_setting=care_setting,
                               old_state=old, new_state=new, actor_role=actor_role,
                               key_fingerprint=key_fingerprint, reason=reason, details=details,
                               now=now)
        values = {"state": new, "since": now, "event_id": event_id}
        if old is None:
            conn.execute(self.states.insert(), {"model_version": model_version,
                                                "policy_version": policy_version,
                                                "care_setting": care_setting, **values})
        else:
            s = self.states
            conn.execute(s.update().where(
                s.c.model_version == model_version, s.c.policy_version == policy_version,
                s.c.care_setting == care_setting).values(**values))
        return event_id

    # events --------------------------------------------------------------------------------
    def _event(self, conn, *, kind, model_version, policy_version, care_setting=None,
               old_state=None, new_state=None, actor_role="system", key_fingerprint=None,
               reason=None, details=None, now=None) -> int:
        result = conn.execute(self.events.insert(), {
            "created_at": now or utcnow(), "kind": kind, "model_version": model_version,
            "policy_version": policy_version, "care_setting": care_setting,
            "old_state": old_state, "new_state": new_state, "actor_role": actor_role,
            "key_fingerprint": key_fingerprint, "reason": reason, "details": details or {},
        })
        return int(result.inserted_primary_key[0])

    def record_event(self, **event: Any) -> int:
        with self.engine.begin() as conn:
            return self._event(conn, **event)

    def recent_events(self, model_version: str | None = None, policy_version: str | None = None,
                      limit: int = 100) -> list[dict[str, Any]]:
        e = self.events
        stmt = sa.select(e).order_by(e.c.id.desc()).limit(limit)
        if model_version is not None:
            stmt = stmt.where(e.c.model_version == model_version)
        if policy_version is not None:
            stmt = stmt.where(e.c.policy_version == policy_version)
        with self.engine.connect() as conn:
            return [{**r, "created_at": as_utc(r["created_at"])}
                    for r in conn.execute(stmt).mappings()]

    # the watch -----------------------------------------------------------------------------
    def record_outcome(self, decision_id: str, final_codes: list[str], correct: bool, *,
                       watch_key: tuple[str, str, str] | None = None,
                       step: Any = None) -> tuple[datetime, WatchStep | None, bool]:
        """Insert an outcome; when ``watch_key`` = (model, policy version, care setting) is given
        (an audited automated decision), advance that watch by ``step(previous_state, error)`` in
        the same transaction and, when it newly says violated, put the setting in fallback there
        too. Returns (recorded_at, the watch step or None, whether the setting fell back now)."""
        for _attempt in range(5):
            try:
                return self._record_outcome(decision_id, final_codes, correct, watch_key, step)
            except _WatchRace:
                continue  # two first outcomes of one watch raced to create its row: redo
        raise RuntimeError("could not record the outcome's watch update after 5 attempts")

    def _record_outcome(self, decision_id, final_codes, correct, watch_key, step):
        now = utcnow()
        with self.engine.begin() as conn:
            try:
                self.store.insert_outcome(conn, decision_id, final_codes, correct, now)
            except IntegrityError as exc:
                raise OutcomeExists(decision_id) from exc
            if watch_key is None or step is None:
                return now, None, False
            mv, pv, setting = watch_key
            w = self.watch
            key = (w.c.model_version == mv) & (w.c.policy_version == pv) & (
                w.c.care_setting == setting) & (w.c.kind == "risk")
            previous = conn.execute(sa.select(w.c.state, w.c.status).where(key)
                                    .with_for_update()).first()
            state = previous[0] if previous else None
            errors, mark, pending = self._audited_in_order(conn, mv, pv, setting,
                                                           (state or {}).get("watermark"))
            if not errors and previous is not None:
                return now, None, False  # an earlier audit is still out: wait for it
            result: WatchStep = step(state, errors)
            result.state["watermark"] = mark or (state or {}).get("watermark")
            result.state["pending"] = pending
            values = {"status": result.status, "n": result.n, "errors": result.errors,
                      "e_value": result.e_value, "lower": result.lower, "upper": result.upper,
                      "alpha": result.alpha, "delta": result.delta, "state": result.state,
                      "updated_at": now}
            if previous is None:
                try:  # on a race the whole transaction (outcome included) rolls back and retries
                    conn.execute(w.insert(), {"model_version": mv, "policy_version": pv,
                                              "care_setting": setting, "kind": "risk", **values})
                except IntegrityError:
                    raise _WatchRace() from None
            else:
                conn.execute(w.update().where(key).values(**values))
            fell_back = False
            newly_violated = result.status == "violated" and (
                previous is None or previous[1] != "violated")
            if newly_violated:
                self._event(conn, kind="watch_violated", model_version=mv, policy_version=pv,
                            care_setting=setting, reason="watch_violated",
                            details=result.details, now=now)
                old = self._locked_state(conn, mv, pv, setting)
                if old != "fallback":
                    self._write_state(conn, mv, pv, setting, old, "fallback", kind="fallback",
                                      actor_role="system", key_fingerprint=None,
                                      reason="watch_violated", details=result.details)
                    fell_back = True
        return now, result, fell_back

    def _audited_in_order(self, conn, mv: str, pv: str, setting: str,
                          mark: list[str] | None) -> tuple[list[bool], list[str] | None, int]:
        """The audited automated decisions after ``mark``, in the order they were DECIDED (not
        the order their audits came back, which may depend on the outcome: an error can take
        longer to audit), up to the first whose audit is still out. Returns (errors of that
        prefix, the new mark, audits still out after it)."""
        d, o = self.store.decisions, self.store.outcomes
        where = [d.c.policy_version == pv, d.c.care_setting == setting, d.c.model_version == mv,
                 d.c.audit == sa.true(), d.c.route == "automate"]
        if mark:
            where.append(sa.tuple_(d.c.created_at, d.c.decision_id)
                         > sa.tuple_(sa.literal(datetime.fromisoformat(mark[0])),
                                     sa.literal(mark[1])))
        rows = conn.execute(
            sa.select(d.c.created_at, d.c.decision_id, o.c.correct)
            .select_from(d.outerjoin(o, o.c.decision_id == d.c.decision_id))
            .where(*where).order_by(d.c.created_at, d.c.decision_id)).all()
        errors: list[bool] = []
        last = None
        for created_at, decision_id, ok in rows:
            if ok is None:
                break
            errors.append(not ok)
            last = [created_at.isoformat(), decision_id]
        return errors, last, len(rows) - len(errors)

    def pending_audits(self, model_version: str, policy_version: str
                       ) -> dict[str, tuple[int, datetime | None]]:
        """care setting -> (audited automated decisions still without an outcome, the oldest's
        time): the watch waits for the oldest, so a lost audit shows here."""
        d, o = self.store.decisions, self.store.outcomes
        stmt = (sa.select(d.c.care_setting, sa.func.count(), sa.func.min(d.c.created_at))
                .select_from(d.outerjoin(o, o.c.decision_id == d.c.decision_id))
                .where(d.c.model_version == model_version, d.c.policy_version == policy_version,
                       d.c.audit == sa.true(), d.c.route == "automate", o.c.decision_id.is_(None))
                .group_by(d.c.care_setting))
        with self.engine.connect() as conn:
            return {s: (int(n), as_utc(t)) for s, n, t in conn.execute(stmt)}

    def watch_rows(self, model_version: str, policy_version: str) -> list[dict[str, Any]]:
        w = self.watch
        stmt = sa.select(w).where(w.c.model_version == model_version,
                                  w.c.policy_version == policy_version)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def advance_drift(self, model_version: str, policy_version: str, step: Any, *,
                      batch: int = 50_000) -> tuple[dict[str, Any] | None, bool]:
        """Feed the decisions of this version routed since the drift watch last read (in the order
        they were stored) to ``step(previous_state, rows) -> (values, newly_warning)``; a row is
        (p_correct, care_setting, policy_route, the decision's unknown codes, created_at,
        decision_id), where of the unknown codes only their truth is given alike by every read
        (SQLite's :class:`DriftRead` gives None for ``[]``) and created_at is the read's own. Returns
        (the stored values, whether it newly warned), or (None, False) when there was nothing new
        or another refresh stored first.

        Optimistic, so no lock is held while the rows are read and stepped (on SQLite that lock
        would hold up every worker's decision writes: ~1 s stalls measured at 12,000 decisions):
        the values are stored only if, under the lock, the watch still has the watermark they
        were computed from; else another refresh counted those rows first, and this one reads on
        from where that one stopped (so no decision is counted twice, and every decision committed
        before this call with a later ``created_at`` than the watermark is counted).

        Not exact: ``created_at`` is stamped before the decision's commit, so a decision stamped
        earlier that commits after a refresh has read a later-stamped one (another worker's, or
        the next group commit's) falls behind the watermark and is never counted. The drift test
        then watches a subsequence of the stream that leaves out a few decisions for reasons
        unrelated to their values; a watermark in commit order (SQLite's rowid; no counterpart
        on PostgreSQL) would close it."""
        for _ in range(DRIFT_REFRESH_ATTEMPTS):
            values, newly, raced = self._advance_drift_once(model_version, policy_version, step, batch)
            if not raced:
                return values, newly
        return None, False

    def _drift_rows(self, conn: Any, model_version: str, policy_version: str,
                    mark: list[str] | None, batch: int) -> list[Any]:
        """Core's read of the decisions after ``mark`` (PostgreSQL's; SQLite's is :class:`DriftRead`)."""
        d = self.store.decisions
        where = [d.c.model_version == model_version, d.c.policy_version == policy_version]
        if mark:
            where.append(sa.tuple_(d.c.created_at, d.c.decision_id)
                         > sa.tuple_(sa.literal(datetime.fromisoformat(mark[0])),
                                     sa.literal(mark[1])))
        # the decision's unknown codes, not its whole JSON (12,000 decisions: 0.98 -> 0.23 s)
        return conn.execute(
            sa.select(d.c.p_correct, d.c.care_setting, d.c.policy_route,
                      d.c.decision["unknown_codes"], d.c.created_at, d.c.decision_id)
            .where(*where).order_by(d.c.created_at, d.c.decision_id).limit(batch)).all()

    def _advance_drift_once(self, model_version: str, policy_version: str, step: Any, batch: int
                            ) -> tuple[dict[str, Any] | None, bool, bool]:
        """One optimistic refresh: (values, newly warning, whether another refresh stored first)."""
        w = self.watch
        key = (w.c.model_version == model_version) & (w.c.policy_version == policy_version) & (
            w.c.care_setting == "all") & (w.c.kind == "drift")
        with self.engine.connect() as conn:
            previous = conn.execute(sa.select(w.c.state).where(key)).first()
            state = previous[0] if previous else None
            mark = (state or {}).get("watermark")
            if self._drift_read is None:
                rows = self._drift_rows(conn, model_version, policy_version, mark, batch)
        if self._drift_read is not None:  # SQLite (a read outside a transaction, as Core's)
            rows = self._drift_read(model_version, policy_version, mark, batch)
        if not rows and previous is not None:
            return None, False, False
        values, newly = step(state, rows)
        if rows:
            values["state"]["watermark"] = (
                [rows[-1][4].isoformat(), rows[-1][5]] if self._drift_read is None
                else self._drift_read.watermark(rows[-1]))
        elif mark:
            values["state"]["watermark"] = mark
        values["updated_at"] = utcnow()
        with self.engine.begin() as conn:
            self._write_lock(conn)
            if previous is None:
                # insert-if-absent: two workers' first refreshes both found no row; the second
                # (on PostgreSQL after waiting for the first one's commit) inserts nothing
                created = conn.execute(self.store.insert_if_absent(w).returning(w.c.kind), {
                    "model_version": model_version, "policy_version": policy_version,
                    "care_setting": "all", "kind": "drift", **values}).first()
                if created is None:
                    return None, False, True
            else:
                now = conn.execute(sa.select(w.c.state).where(key).with_for_update()).scalar_one()
                if (now or {}).get("watermark") != mark:
                    return None, False, True  # another refresh stored these rows first
                conn.execute(w.update().where(key).values(**values))
            if newly:
                self._event(conn, kind="drift_warning", model_version=model_version,
                            policy_version=policy_version, reason="drift_warning",
                            details={"warning": values["status"], "n": values["n"]})
        return values, newly, False

    # re-certification ----------------------------------------------------------------------
    def labelled_stream(self, model_version: str, *, since: datetime | None = None
                        ) -> dict[str, Any]:
        """The episodes re-certification may learn from, by a rule fixed before their outcomes
        were seen: decided in shadow or fallback mode (people code every one of them) or drawn
        for holdout — never audits, which sample only the automated. Returns arrays p, correct,
        care_setting, plus how many such decisions still lack an outcome."""
        d, o = self.store.decisions, self.store.outcomes
        chosen = sa.or_(d.c.mode.in_(("shadow", "fallback")), d.c.holdout == sa.true())
        where = [d.c.model_version == model_version, chosen]
        if since is not None:
            where.append(d.c.created_at >= since)
        stmt = (sa.select(d.c.p_correct, o.c.correct, d.c.care_setting, d.c.policy_version)
                .select_from(d.join(o, o.c.decision_id == d.c.decision_id))
                .where(*where).order_by(d.c.created_at, d.c.decision_id))
        missing = (sa.select(sa.func.count()).select_from(
            d.outerjoin(o, o.c.decision_id == d.c.decision_id))
            .where(*where, o.c.decision_id.is_(None)))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            n_missing = int(conn.execute(missing).scalar_one())
        return {
            "p": [float(r[0]) for r in rows],
            "correct": [bool(r[1]) for r in rows],
            "care_setting": [r[2] for r in rows],
            "policy_versions": sorted({r[3] for r in rows}),
            "without_outcome": n_missing,
        }


class _WatchRace(Exception):
    """Two transactions created the same watch row; the loser retries."""
