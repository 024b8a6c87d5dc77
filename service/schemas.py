"""Request and response bodies of the routing API (documented in OpenAPI, with examples)."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)
from triage.policy import FWER_METHODS
from triage.policy import KINDS as POLICY_KINDS
from triage.policy import METHODS as RISK_METHODS
from triage.policy.costs import UNITS as COST_UNITS

from triage.data.settings import CARE_SETTINGS
from triage.decisions import validation as V

#: The batch limit of the app serving the current request (set by service.api.guard per request).
BATCH_LIMIT: ContextVar[int] = ContextVar("triage_batch_limit", default=1000)

Route = Literal["automate", "assist", "manual"]

# Strict numbers everywhere: JSON true, "0.9" or "5" are refused, not coerced (an int is a
# number, so 1 is a valid probability).
Probability = Annotated[float, Strict(), Field(ge=0.0, le=1.0, allow_inf_nan=False)]
# Printable ASCII only: the router judges the spelling, the edge keeps out control bytes.
CodeStr = Annotated[str, StringConstraints(min_length=1, max_length=V.CODE_MAX_CHARS, pattern=V.CODE_PATTERN)]
# An integer up to 2**53 - 1 (the largest every JSON reader holds exactly, so no schema check
# rounds past the limit; its decimal form fits the store's 128-character column), or an id string
# (larger numeric ids are sent as strings).
EPISODE_ID_BOUND = V.EPISODE_ID_BOUND


def _integral(value: Any) -> Any:
    """JSON Schema counts 7.0 as an integer; true, "7" and 7.5 stay refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def json_int(**bounds: int) -> Any:
    """A strict integer within ``bounds`` (Field ge/le) that also takes an integral float."""
    return Annotated[int, Strict(), Field(**bounds), BeforeValidator(_integral)]


EpisodeId = json_int(ge=-EPISODE_ID_BOUND, le=EPISODE_ID_BOUND) | Annotated[
    str, StringConstraints(min_length=1, max_length=V.EPISODE_ID_MAX_CHARS, pattern=V.EPISODE_ID_PATTERN)
]


def _iso_date_only(value: Any) -> Any:
    """A date must be written as ``YYYY-MM-DD``: a number (0 -> 1970-01-01) is refused."""
    if isinstance(value, date | str):
        return value
    raise ValueError("a date is written as a string YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date_only)]


def _iso_datetime_only(value: Any) -> Any:
    """A time must be written as an ISO 8601 string: a number (0 -> 1970) is refused."""
    if isinstance(value, datetime | str):
        return value
    raise ValueError("a date-time is written as an ISO 8601 string")


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_datetime_only)]
DecisionId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]

EXAMPLE_SCORES = {"I50.9": 0.93, "I10": 0.88, "N18.3": 0.41, "E11.9": 0.12}
EXAMPLE_METADATA = {
    "age": 71,
    "gender": "F",
    "admission_type": "EW EMER.",
    "los_days": 4.2,
    "discharge_date": "2026-11-20",
}


class Metadata(BaseModel):
    """What is known about the admission at routing time."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_METADATA]})

    # bounds, lengths and patterns: triage.decisions.validation, which the batch engines check too
    age: Annotated[float, Strict(), Field(ge=0, le=V.AGE_MAX, allow_inf_nan=False)] | None = None
    gender: Annotated[str, StringConstraints(max_length=V.GENDER_MAX_CHARS, pattern=V.PRINTABLE_PATTERN)] | None = None
    admission_type: (
        Annotated[str, StringConstraints(max_length=V.ADMISSION_TYPE_MAX_CHARS, pattern=V.PRINTABLE_PATTERN)] | None
    ) = None
    los_days: Annotated[float, Strict(), Field(ge=0, le=V.LOS_DAYS_MAX, allow_inf_nan=False)] | None = None
    died: StrictBool | None = None
    discharge_date: IsoDate | None = None
    # the settings the router knows (triage.data.settings.CARE_SETTINGS): anything else is refused
    # here, so the documented schema allows only what the router takes
    care_setting: Literal[CARE_SETTINGS] | None = Field(  # type: ignore[valid-type]
        default=None, description="Where the episode was treated; default: from admission_type.")


def _check_metadata_fields() -> None:
    """Metadata must carry exactly the routing-time fields every other path sends the router."""
    from triage.decisions.episodes import EPISODE_METADATA_FIELDS

    if set(Metadata.model_fields) != set(EPISODE_METADATA_FIELDS):
        raise RuntimeError(
            f"service Metadata fields {sorted(Metadata.model_fields)} differ from the router's "
            f"routing-time fields {sorted(EPISODE_METADATA_FIELDS)} (triage.router.ROUTING_METADATA_FIELDS)"
        )


_check_metadata_fields()


class EpisodeFields(BaseModel):
    """What every episode-shaped body (route, suggest, audit) carries, and its one rule: scores,
    or a note when the bundle has a coder."""

    model_config = ConfigDict(extra="forbid")

    episode_id: EpisodeId = Field(description="The platform's identifier of the episode.")
    code_scores: dict[CodeStr, Probability] | None = Field(
        default=None,
        max_length=V.MAX_CODES,
        description="Code -> probability from the automated coder; any accepted spelling "
        "(I50.9, I509, i50.9), resolved in ICD-10-CM / ICD-10-PCS (ICD-9 for ICD-9 models). A code "
        "in neither is left out of the decision and listed in its unknown_codes.",
    )
    text: Annotated[str, StringConstraints(max_length=V.TEXT_MAX_CHARS)] | None = Field(
        default=None, description="Discharge summary; used instead of scores when the bundle has a coder."
    )
    metadata: Metadata | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> EpisodeFields:
        if not self.code_scores and not (self.text and self.text.strip()):
            raise ValueError("episode has neither code_scores nor text")
        return self


class Episode(EpisodeFields):
    """One discharged episode: its coder's scores, or its note when the bundle has a coder."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"episode_id": 123, "code_scores": EXAMPLE_SCORES, "metadata": EXAMPLE_METADATA}
            ]
        },
    )


class BatchEpisodes(BaseModel):
    """RouteBatchRequest without its count-first check, for the batch route's fast path: a
    ``mode="before"`` validator makes pydantic hand the whole list to Python and validate it in
    Python mode (~1.7x the time of validating straight from the JSON bytes, measured on 1,000
    episodes). The route counts first its own way and falls back to RouteBatchRequest for every
    error, so answers are the documented model's (service.api.routes.routing.validate_batch)."""

    model_config = ConfigDict(extra="forbid")

    episodes: list[Episode] = Field(min_length=1)


class RouteBatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "episodes": [
                        {"episode_id": 1, "code_scores": EXAMPLE_SCORES},
                        {"episode_id": 2, "code_scores": {"J18.9": 0.97, "I10": 0.9}},
                    ]
                }
            ]
        },
    )

    episodes: list[Episode] = Field(min_length=1, description="At most the configured batch limit.")

    @field_validator("episodes", mode="before")
    @classmethod
    def _within_limit(cls, value: Any) -> Any:
        """Count before validating: a 10 MB batch past the limit is refused in microseconds, not
        after seconds spent validating every episode (the limit comes from the serving app)."""
        limit = BATCH_LIMIT.get()
        if isinstance(value, list) and len(value) > limit:
            raise ValueError(f"batch has {len(value)} episodes; the limit is {limit}")
        return value


class CodeOut(BaseModel):
    code: str
    description: str | None = None
    kind: str | None = None
    score: float | None = None


class Suggestion(BaseModel):
    code: str
    description: str | None = None
    score: float | None = None
    accepted: bool | None = Field(default=None, description="In the predicted list already.")


class Reason(BaseModel):
    feature: str
    contribution: float


class Thresholds(BaseModel):
    automate: float | None = None
    assist: float | None = None


class Decision(BaseModel):
    """Who codes the episode, with the codes, the confidence and the reasons."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "decision_id": "4f1c2b9a0d3e4c5f8a7b6c5d4e3f2a1b",
                    "episode_id": 123,
                    "route": "automate",
                    "p_correct": 0.97,
                    "thresholds": {"automate": 0.95, "assist": 0.6},
                    "codes": [
                        {"code": "I50.9", "description": "Heart failure, unspecified",
                         "kind": "dx", "score": 0.93},
                        {"code": "I10", "description": "Essential (primary) hypertension",
                         "kind": "dx", "score": 0.88},
                    ],
                    "principal": "I50.9",
                    "drg": "293",
                    "mdc": "05",
                    "drg_weight": 0.6502,
                    "suggestions": [],
                    "reasons": [{"feature": "top1_score", "contribution": 0.8}],
                    "queue": None,
                    "priority": None,
                    "model_version": "synthetic-3f2a9c1e",
                    "policy_version": "three_way-a0.05-d0.1-7c1d",
                    "unknown_codes": [],
                    "care_setting": "day_case",
                }
            ]
        }
    )

    decision_id: str
    episode_id: int | str
    route: Route
    p_correct: float
    thresholds: Thresholds
    codes: list[CodeOut]
    principal: str | None = None
    drg: str | None = None
    mdc: str | None = None
    drg_weight: float | None = None
    suggestions: list[Suggestion] = []
    reasons: list[Reason] = []
    queue: str | None = None
    priority: float | None = None
    model_version: str
    policy_version: str
    unknown_codes: list[str] = Field(
        default=[],
        description="Input codes found in no code system of the model (as sent): left out of "
        "the decision, never guessed.",
    )
    care_setting: Literal[CARE_SETTINGS] | None = Field(  # type: ignore[valid-type]
        default=None,
        description="The care setting the episode was routed under (its thresholds are that setting's): "
        "metadata.care_setting, else mapped from metadata.admission_type.",
    )
    policy_route: Route | None = Field(
        default=None,
        description="What the policy decided. It differs from `route` when the care setting is in "
        "shadow (the policy's decision is stored, nothing is automated: people keep coding) or in "
        "fallback (the watch found the error among automated above alpha), or when the episode was "
        "held out for human coding.",
    )
    mode: Literal["shadow", "live", "fallback"] | None = Field(
        default=None, description="The state of the policy version in this care setting.")
    audit: bool = Field(
        default=False,
        description="Drawn for a blind audit (live automated decisions, with the configured "
        "probability): send the auditor's codes to POST /v1/outcomes.",
    )
    holdout: bool = Field(
        default=False,
        description="Held out for human coding (an unbiased labelled sample for re-certification): "
        "send the final codes to POST /v1/outcomes.",
    )


class BatchDecisions(BaseModel):
    decisions: list[Decision]


class OutcomeIn(BaseModel):
    """The final code list human coders settled on for a routed episode."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"decision_id": "4f1c2b9a0d3e4c5f8a7b6c5d4e3f2a1b", "final_codes": ["I50.9", "I10"]},
                {"episode_id": 123, "final_codes": ["I509", "I10", "N183"]},
            ]
        },
    )

    decision_id: DecisionId | None = Field(default=None, description="The routed decision.")
    episode_id: EpisodeId | None = Field(
        default=None, description="Instead of decision_id: the episode's latest decision."
    )
    final_codes: list[CodeStr] = Field(
        min_length=1, max_length=2000,
        description="Any spelling (I50.9, I509); codes in no code system are reported back in "
        "unknown_codes and count as a disagreement.",
    )

    @model_validator(mode="after")
    def _one_reference(self) -> OutcomeIn:
        if (self.decision_id is None) == (self.episode_id is None):
            raise ValueError("give exactly one of decision_id or episode_id")
        return self


class OutcomeOut(BaseModel):
    decision_id: str
    episode_id: str
    route: Route
    automated: bool
    correct: bool = Field(
        description="Whether the decision's codes were right by the final codes, judged under the "
        "router's own target (the error its policy guarantees).")
    model_version: str
    policy_version: str
    recorded_at: datetime
    unknown_codes: list[str] = Field(
        default=[], description="Final codes found in no code system (as sent)."
    )
    audit: bool = Field(default=False, description="The decision was drawn for a blind audit.")
    watch: OutcomeWatch | None = Field(
        default=None, description="The watch this audited outcome advanced (None otherwise).")


class OutcomeWatch(BaseModel):
    care_setting: str
    status: Literal["ok", "cannot_certify_yet", "violated"]
    n: int
    errors: int
    fell_back: bool = Field(description="This outcome put the care setting in fallback.")


class Interval(BaseModel):
    lower: float
    upper: float
    confidence: float


class MonitoringGroup(BaseModel):
    model_version: str
    policy_version: str
    routed: dict[str, int]
    total: int
    automation_rate: float
    outcomes: int
    automated_with_outcome: int
    automated_errors: int
    realised_error: float | None
    realised_error_interval: Interval | None = Field(
        description="FIXED-SAMPLE exact (Clopper-Pearson) interval of the realised error among "
        "automated episodes with an outcome: valid for one look at a sample size fixed in "
        "advance, not when re-read as outcomes arrive (peeking inflates its error rate), and "
        "not a random sample unless the outcomes are audits. For the anytime-valid watch on "
        "the audited outcomes, see GET /v1/watch."
    )
    interval_kind: Literal["fixed_sample_clopper_pearson"] = "fixed_sample_clopper_pearson"


class Monitoring(BaseModel):
    groups: list[MonitoringGroup]


class PolicyOut(BaseModel):
    model_version: str
    policy_version: str
    policy: dict[str, Any]
    calibration: dict[str, Any]


NonNegative = Annotated[float, Strict(), Field(ge=0, le=1e12, allow_inf_nan=False)]
Positive = Annotated[float, Strict(), Field(gt=0, le=1e12, allow_inf_nan=False)]


class CostsUpdate(BaseModel):
    """Fields of triage.policy.CostModel to change; the others keep their current values."""

    model_config = ConfigDict(extra="forbid")

    manual_cost: Positive | None = None
    assist_cost: NonNegative | None = None
    error_cost: NonNegative | None = None
    assist_error_cost: NonNegative | None = None
    unit: Literal[COST_UNITS] | None = None  # type: ignore[valid-type]  # the units CostModel knows
    drg_weighted: StrictBool | None = None
    base_rate: Annotated[float, Strict(), Field(gt=0, le=1, allow_inf_nan=False)] | None = None
    capacity: NonNegative | None = Field(default=None, description="Episodes humans can code per period.")
    period_episodes: Positive | None = Field(default=None, description="Episodes arriving per period.")

    @model_validator(mode="after")
    def _consistent(self) -> CostsUpdate:
        """CostModel's own rules, checked here so the schema says them (see service.api.openapi)."""
        if self.drg_weighted and (self.base_rate is None or self.unit != "money"):
            raise ValueError("drg_weighted needs base_rate and unit 'money'")
        if (self.capacity is None) != (self.period_episodes is None):
            raise ValueError("capacity and period_episodes are given together")
        return self


class PolicyUpdate(BaseModel):
    """New policy parameters; the policy is re-chosen from the bundle's calibration data."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"kind": "three_way", "alpha": 0.05, "delta": 0.1},
                {"costs": {"manual_cost": 20, "assist_cost": 8, "error_cost": 60}},
                {"kind": "capacity", "costs": {"capacity": 300, "period_episodes": 1000}},
            ]
        },
    )

    kind: Literal[POLICY_KINDS] | None = None  # type: ignore[valid-type]
    # bounded away from 0: a tolerance of 5e-324 overflows the certification arithmetic
    alpha: Annotated[float, Strict(), Field(ge=1e-4, lt=1, allow_inf_nan=False)] | None = None
    delta: Annotated[float, Strict(), Field(ge=1e-6, lt=1, allow_inf_nan=False)] | None = None
    method: Literal[RISK_METHODS] | None = None  # type: ignore[valid-type]
    fwer: Literal[FWER_METHODS] | None = None  # type: ignore[valid-type]
    per_setting: StrictBool | None = Field(default=None, description="One threshold per care setting (delta split).")
    costs: CostsUpdate | None = None

    @model_validator(mode="after")
    def _something(self) -> PolicyUpdate:
        if not self.params():
            raise ValueError("give at least one policy parameter")
        return self

    def params(self) -> dict[str, Any]:
        """Keyword arguments of Router.with_policy (unset fields keep the current policy's)."""
        out = self.model_dump(exclude_none=True)
        if "costs" in out and not out["costs"]:
            del out["costs"]
        return out


class RosterCoder(BaseModel):
    model_config = ConfigDict(extra="forbid")

    coder_id: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[ -~]+$")]
    specialties: list[
        Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[ -~]+$")]
    ] = Field(min_length=1, max_length=16)
    level: Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[ -~]+$")]
    hours: Annotated[float, Strict(), Field(ge=0, le=24, allow_inf_nan=False)]


class AllocateIn(BaseModel):
    """Today's roster and the routed decisions to share out among its coders."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "roster": [
                        {"coder_id": "c1", "specialties": ["cardiology"], "level": "senior",
                         "hours": 7.5},
                        {"coder_id": "c2", "specialties": ["general"], "level": "junior",
                         "hours": 6},
                    ],
                    "decision_ids": ["4f1c2b9a0d3e4c5f8a7b6c5d4e3f2a1b"],
                    "as_of": "2026-11-27",
                }
            ]
        },
    )

    roster: list[RosterCoder] = Field(min_length=1, max_length=1000)
    decision_ids: list[DecisionId] = Field(min_length=1, max_length=20_000)
    as_of: date | None = Field(default=None, description="Date billing urgency is counted from.")


class AllocateOut(BaseModel):
    """The allocator's result; episodes are named by decision_id (and episode_id)."""

    summary: dict[str, Any]
    assignments: list[dict[str, Any]]
    backlog: list[dict[str, Any]]
    automated: list[dict[str, Any]]
    coders: list[dict[str, Any]]


class ReloadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = Field(
        default=None, description="Model to load instead of the configured one."
    )


class ReloadOut(BaseModel):
    model_uri: str
    model_version: str
    policy_version: str
    previous_model_version: str | None


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    model_loaded: bool
    database: bool
    model_version: str | None = None
    warm: bool = Field(
        False, description="The code-system tables are loaded (until then the first episodes are "
        "answered the same, only slower)")


# --------------------------------------------------------------- assisted coding and audit (§4)
EXAMPLE_CODED = ["I50.9", "I10", "E11.9"]


class SuggestIn(EpisodeFields):
    """An episode routed to a person: what should the coder's form suggest?"""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"episode_id": 123, "code_scores": EXAMPLE_SCORES, "k": 15}]},
    )

    k: json_int(ge=1, le=100) = Field(default=15, description="Codes in the suggestion list.")


class SuggestedCode(BaseModel):
    code: str
    kind: str
    score: float
    prefilled: bool = Field(description="Pre-accepted in the coder's form (certified precision).")
    description: str | None = None


class SuggestionGroup(BaseModel):
    """Codes of one ontology group (ICD-10-CM chapter and category, or PCS section and body system)."""

    group: str
    group_name: str
    category: str
    score: float
    codes: list[SuggestedCode]


class PartialCandidate(BaseModel):
    code: str
    score: float


class PartialCode(BaseModel):
    """A certain category whose full code the coder completes (the structural task)."""

    category: str
    score: float
    candidates: list[PartialCandidate]


class SuggestOut(BaseModel):
    record_id: str
    episode_id: int | str
    groups: list[SuggestionGroup]
    prefilled: list[str]
    offered: list[str]
    partial: list[PartialCode]
    calibrated: bool = Field(description="False: the bundle has no assist calibration, nothing is pre-filled.")
    guarantee: dict[str, Any]
    unknown_codes: list[str] = []
    model_version: str


class AuditIn(EpisodeFields):
    """A human-coded episode to check (codes in sequence order, principal diagnosis first); send a
    score for every coded code (0 allowed) to have it checked."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"episode_id": 123, "coded_codes": EXAMPLE_CODED,
                                         "code_scores": EXAMPLE_SCORES, "metadata": EXAMPLE_METADATA}]},
    )

    coded_codes: list[CodeStr] = Field(min_length=1, max_length=2000)


class AuditFlag(BaseModel):
    type: Literal["missing", "unsupported", "principal"]
    code: str
    score: float
    replaces: str | None = Field(default=None, description="principal flags: the coded principal.")
    drg_before: str | None = None
    drg_after: str | None = None
    drg_weight_change: float | None = None
    drg_changes: bool | None = None


class AuditOut(BaseModel):
    record_id: str
    episode_id: int | str
    flags: list[AuditFlag]
    n_flags: int
    drg: str | None = None
    drg_weight: float | None = None
    guarantee: dict[str, Any]
    unknown_codes: list[str] = []
    model_version: str


# -- the operation loop: states, the watch, re-certification --------------------------------
PolicyState = Literal["shadow", "live", "fallback"]


class WatchInterval(BaseModel):
    lower: float | None
    upper: float | None
    confidence: float = Field(description="1 - delta of this setting: anytime-valid, so it holds "
                                          "however often it is read.")


class SettingWatch(BaseModel):
    care_setting: str
    policy_state: PolicyState
    automates: bool = Field(description="The policy version can automate in this setting.")
    status: Literal["ok", "cannot_certify_yet", "violated", "no_audits"] = Field(
        description="ok: the anytime-valid upper bound on the error among automated is <= alpha; "
        "violated: the e-process crossed 1/delta (the setting fell back); cannot_certify_yet: "
        "neither, so far; no_audits: no audited outcome yet.")
    alpha: float | None
    delta: float | None
    audited: int
    errors: int
    realised_error: float | None
    interval: WatchInterval | None
    e_value: float | None = Field(description="The test statistic: the e-process against "
                                              "'error <= alpha' (alarm at 1/delta).")
    audits_pending: int = Field(
        default=0, description="Audited automated decisions still without an outcome. The watch "
        "reads audits in the order the decisions were made, so it waits for the oldest.")
    oldest_pending_audit: datetime | None = None


class WatchEvent(BaseModel):
    id: int
    created_at: datetime
    kind: str
    model_version: str
    policy_version: str
    care_setting: str | None
    old_state: str | None
    new_state: str | None
    actor_role: str | None = Field(description="admin, or system for automatic actions.")
    key_fingerprint: str | None = Field(
        description="The first 12 hex digits of the sha256 of the admin's key (never the key).")
    reason: str | None
    details: dict[str, Any]


class WatchOut(BaseModel):
    model_version: str
    policy_version: str
    alpha: float | None
    watch_delta: float
    settings: list[SettingWatch]
    drift: dict[str, Any] | None = Field(
        default=None, description="The label-free drift test of the routing-time stream against "
        "the calibration reference (warnings only, unless configured to fall back).")
    events: list[WatchEvent]


class PolicyStateIn(BaseModel):
    """Move a care setting (or all) of the policy version in force to another state."""

    model_config = ConfigDict(extra="forbid")

    care_setting: Literal[CARE_SETTINGS + ("all",)] = Field(  # type: ignore[valid-type]
        description="The setting to move, or all.")
    state: PolicyState
    reason: Literal[
        "shadow_evidence_reviewed", "recertified", "manual_pause", "manual_fallback", "incident"
    ] = Field(description="Why (a code: free text never reaches the store).")
    policy_version: str | None = Field(
        default=None, max_length=128,
        description="The version the caller saw; refused (409) when another is in force.")


class PolicyStateOut(BaseModel):
    model_version: str
    policy_version: str
    states: dict[str, PolicyState]
    changed: list[str]


class RecertifyIn(BaseModel):
    """Re-certify the policy from the hospital's own labelled shadow / holdout outcomes."""

    model_config = ConfigDict(extra="forbid")

    alpha: float | None = Field(default=None, gt=0, lt=1, allow_inf_nan=False)
    delta: float | None = Field(default=None, gt=0, lt=1, allow_inf_nan=False)
    since: IsoDateTime | None = Field(default=None, description="Only decisions made since then.")
    apply: StrictBool = Field(default=False, description="Deploy the re-certified version (its "
                                                         "settings start in the initial state).")
    go_live: StrictBool = Field(
        default=False, description="Deploy it (implies apply) and put the settings it certifies "
        "live at once (reason: recertified).")


class RecertifyOut(BaseModel):
    model_version: str
    based_on_policy_versions: list[str]
    labelled: int
    without_outcome: int
    certified: dict[str, bool]
    automated_share: dict[str, float | None]
    n_used: dict[str, int]
    needed_more: dict[str, int | None]
    reason: dict[str, str]
    alpha: float
    delta: float
    proposed_policy_version: str | None
    policy: dict[str, Any] | None
    applied: bool
    states: dict[str, PolicyState] | None = None
