"""Service settings, read from the environment (prefix ``TRIAGE_``) by pydantic-settings."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from triage.data.settings import CARE_SETTINGS

CareSetting = Literal[CARE_SETTINGS]  # type: ignore[valid-type]

REGISTRY_MODEL_URI = "models:/coding-triage-router@champion"
LOCAL_MODEL_PATH = "models/router"


class Settings(BaseSettings):
    """Everything an operator may change without editing code."""

    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore", protected_namespaces=())

    model_uri: str | None = Field(
        default=None,
        description="Router bundle directory or MLflow model URI. Default: the registry champion "
        "when an MLflow tracking server is configured, else models/router.",
    )
    database_url: str = Field(
        default="sqlite:///triage-service.db",
        description="SQLAlchemy URL of the decision store (SQLite in WAL mode, or PostgreSQL).",
    )
    table_prefix: str = Field(
        default="triage_",
        pattern=r"^[a-z_][a-z0-9_]*$",
        description="Prefix of the store's table names (lets several deployments share a database).",
    )
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL"] = Field(
        default="NORMAL",
        description="SQLite synchronous pragma. In WAL mode NORMAL survives a process crash; "
        "FULL also survives power loss at a few extra ms per commit.",
    )
    api_keys: str = Field(
        default="",
        description="Comma-separated role:key pairs (roles: router, admin); a key may be given "
        "pre-hashed as role:sha256:<hex>.",
    )
    batch_limit: int = Field(default=1000, ge=1, description="Most episodes in one batch call.")
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Larger request bodies get 413."
    )
    allocate_max_decisions: int = Field(
        default=5000, ge=1, le=20_000, description="Most decision_ids in one POST /v1/allocate (422 past it)."
    )
    allocate_max_coders: int = Field(
        default=500, ge=1, le=1000, description="Most coders on one allocate roster (422 past it)."
    )
    allocate_max_cells: int = Field(
        default=500_000, ge=1,
        description="Most decisions x coders in one allocate call: bounds the solver's memory and "
        "time (413 past it; split the day into several calls).",
    )
    allocate_time_limit_s: float = Field(
        default=10.0, gt=0, le=300,
        description="Solver time limit of one allocate call; past it the best assignment found "
        "so far is returned (its gap is reported).",
    )
    store_text: bool = Field(
        default=False, description="Also store episode note text with the decision."
    )
    monitoring_confidence: float = Field(
        default=0.95, gt=0.0, lt=1.0, description="Level of the exact (Clopper-Pearson) interval."
    )

    # the operation loop (triage.operation): states, audit sampling, the watch ---------------
    initial_policy_state: Literal["shadow", "live"] = Field(
        default="shadow",
        description="State of every care setting of a newly deployed policy version: shadow "
        "(decide and store, automate nothing; people keep coding) until an admin moves it to "
        "live (POST /v1/admin/policy-state).",
    )
    audit_probability: float = Field(
        default=0.05, ge=0.0, le=1.0,
        description="Probability that a live automated decision is drawn for a blind audit "
        "(response audit: true); the watch reads the audited outcomes.",
    )
    audit_minimum: dict[CareSetting, float] = Field(
        default_factory=dict,
        description='Per care setting, a higher audit probability (JSON, e.g. {"observation": 0.1}).',
    )
    holdout_probability: float = Field(
        default=0.0, ge=0.0, le=1.0,
        description="Share of all live episodes held out for human coding: an unbiased labelled "
        "stream for re-certification.",
    )
    sampling_seed: int = Field(
        default=0, description="Seed of the audit and holdout draws (with the decision id).")
    watch_delta: float = Field(
        default=0.05, gt=0.0, lt=1.0,
        description="False-alarm probability of the watch over an unbounded horizon, split "
        "across the care settings the policy automates.",
    )
    drift_delta: float = Field(
        default=0.01, gt=0.0, lt=1.0,
        description="False-warning probability of the label-free drift test.")
    drift_fallback: bool = Field(
        default=False,
        description="Fall back (automate nothing) on a drift warning, not only warn.")

    drift_refresh_seconds: float = Field(
        default=30.0, gt=0.0, le=86_400.0,
        description="How often the label-free drift test reads the newly stored decisions.")
    policy_sync_seconds: float = Field(
        default=1.0, gt=0.0, le=3600.0,
        description="How often each worker checks the store for a policy another worker set.")
    max_concurrent_per_key: int = Field(
        default=1, ge=1, le=1024,
        description="Requests of one API key that run at once; more wait their turn (a key sending "
        "maximal requests cannot take the whole process from other callers).",
    )
    max_queued_per_key: int = Field(
        default=64, ge=0, le=100_000,
        description="Requests of one API key that may wait for a turn; past it 429 with Retry-After.",
    )
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's own OpenTelemetry spans, metrics and log records for every request, "
        "sent to the OpenTelemetry providers the process has configured (e.g. under "
        "opentelemetry-instrument). Off by default: the service exports its own Prometheus metrics "
        "at /metrics, and with this on FastAPI looks up the global providers on every request.",
    )
    server_timing: bool = Field(
        default=False,
        description="A Server-Timing header on every routing answer: the milliseconds its body's "
        "validation, the policy-state read, the router, the JSON encoding and the committed write "
        "took inside the service (service.api.timing). Off by default: durations are a timing side "
        "channel.",
    )
    model_root: str = Field(
        default="models",
        description="Folder an admin's POST /v1/admin/reload may load bundles from (besides the "
        "registry's models:/ URIs); any other path or scheme is refused with 403.",
    )

    dashboard_users: str = Field(
        default="",
        description="Dashboard sign-ins, comma-separated role:user:hash (roles: viewer, admin; "
        "hash from `python -m service.dashboard.passwords`). Empty: /dashboard is off.",
    )
    dashboard_secret: str = Field(
        default="",
        description="Secret that signs dashboard sessions (>= 32 characters). Empty: one is "
        "generated per process (sessions end at a restart and are not shared between workers).",
    )
    dashboard_session_minutes: int = Field(
        default=480, ge=1, le=7 * 24 * 60, description="Lifetime of a dashboard session."
    )
    dashboard_secure_cookie: bool = Field(
        default=True,
        description="Send the session cookie over HTTPS only (turn off only for plain-HTTP tests).",
    )
    dashboard_roster: str | None = Field(
        default=None,
        description="Roster CSV (coder_id, specialties, level, hours) for the dashboard's coder "
        "capacity and projected time to clear.",
    )

    def resolved_model_uri(self) -> str:
        """The model to load: explicit setting, else registry champion if tracking is set up."""
        if self.model_uri:
            return self.model_uri
        if os.environ.get("MLFLOW_TRACKING_URI"):
            return REGISTRY_MODEL_URI
        return LOCAL_MODEL_PATH
