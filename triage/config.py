"""Typed configuration of a `triage run`: every setting in one place, loadable from YAML/TOML.

Precedence: defaults < config file (read by :mod:`triage.config_files`) < CLI options. The resolved config
is logged with each run so that a run can be repeated exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from triage.coder.choices import DEPLOY_MODES
from triage.coder.choices import MODEL_KINDS as CODER_MODELS
from triage.coder.decision import KINDS as DECISION_RULES
from triage.confidence.models import CALIBRATIONS
from triage.confidence.models import KINDS as CONFIDENCE_KINDS
from triage.confidence.targets import TARGETS
from triage.config_files import ConfigError, read_config_file
from triage.data.loader import FORMAT_CHOICES
from triage.data.schema import ICD_VERSIONS
from triage.policy import DEFAULT_FWER, DEFAULT_METHOD, FWER_METHODS, KINDS, METHODS
from triage.policy.costs import UNITS


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Section):
    path: Path | None = Field(None, description="MIMIC-III/IV folder or the reference pipeline's files; None = synthetic cohort")
    format: Literal[FORMAT_CHOICES] = "auto"
    icd_version: Literal[ICD_VERSIONS] | None = 10
    split_file: Path | None = None
    synthetic_episodes: int = Field(10_000, ge=200)
    # mixed = a coding department's workload: MIMIC-like inpatients 50%, observation stays 15%, day
    # cases 35% (reasoning in triage/synth/workload.py; seed paper rec. 5-6). On inpatient episodes
    # alone, as on MIMIC, almost no code set is exactly right; `--workload inpatient` reproduces that.
    synthetic_workload: str = Field(
        "mixed", description="synthetic cohort's care-setting mix: a preset (mixed, inpatient, observation, "
        "day_case) or shares 'inpatient=0.5,observation=0.15,day_case=0.35'")
    synthetic_note_words: float = Field(1.0, gt=0, description="scale of note length (1.0 = the seed paper's)")
    split_fractions: tuple[float, float, float] = (0.75, 0.10, 0.15)
    strict: bool = False

    @field_validator("synthetic_workload")
    @classmethod
    def _valid_workload(cls, value: str) -> str:
        from triage.synth.workload import parse_workload

        parse_workload(value)  # ValueError naming the bad setting or share
        return value


class CoderConfig(_Section):
    predictions: Path | None = Field(None, description="bring-your-own test predictions instead of training")
    val_predictions: Path | None = None
    path: Path | None = Field(None, description="a saved coder to use instead of training one")
    model: Literal[CODER_MODELS] = "torch-mlp"
    min_count: int = Field(10, ge=1)
    n_folds: int = Field(5, ge=2)
    deploy: Literal[DEPLOY_MODES] = Field(
        "fold", description="deployed coder: one cross-fitting fold's model (its out-of-fold scores are then the "
        "kind seen at routing time) or a final model fitted on all training episodes")
    decision_rule: Literal[DECISION_RULES] = "global"
    threshold: float | None = Field(None, ge=0, lt=1, description="fixed global threshold instead of tuning one")
    top_k: int = Field(15, ge=1)
    params: dict[str, Any] = Field(default_factory=dict, description="extra TextCoder parameters")


class ConfidenceConfig(_Section):
    # principal_drg by default: payment follows the MS-DRG and coding audits judge the principal diagnosis
    # first (docs/references.md#audits-targets-and-coding-time); the exact code set (the seed paper's
    # instance accuracy) is reported beside it in every run (tables/automation_by_target), as are
    # principal and audit.
    target: Literal[TARGETS] = Field(
        "principal_drg", description="what counts as a correct automated episode (the headline target)")
    jaccard_tau: float = Field(0.8, gt=0, le=1)
    model: Literal[CONFIDENCE_KINDS] = "lightgbm"
    calibration: Literal[CALIBRATIONS] = "auto"
    compare_models: list[Literal[CONFIDENCE_KINDS]] = Field(default_factory=lambda: list(CONFIDENCE_KINDS))
    n_jobs: int = Field(-1, description="processes for the MS-DRG/Elixhauser features of large batches (-1: all cores)")
    params: dict[str, Any] = Field(default_factory=dict)


class CostConfig(_Section):
    """Every field of :class:`triage.policy.CostModel` (a test keeps the two in step).

    The minutes are assumptions a department should replace with its own: 20 minutes to code an
    inpatient episode by hand, 8 to confirm suggested codes (the 40-46% time reductions of
    computer-assisted coding trials, docs/references.md#audits-targets-and-coding-time, give 11-12
    minutes; 8 is optimistic), 120 of rework and audit for a wrong automated episode, and 30 for an
    error that survives an assisted review: the same 120 minutes for the share of wrong suggestions
    a reviewing coder accepts, assumed 25% (automation bias; no published figure for clinical coding
    was found).
    """

    unit: Literal[UNITS] = "minutes"
    manual_cost: float = Field(20.0, gt=0, description="coding one episode by hand")
    assist_cost: float | None = Field(8.0, ge=0, description="a coder confirming suggested codes (None: no assisted route)")
    error_cost: float = Field(120.0, ge=0, description="an automated episode that is wrong (rework, denial, audit)")
    assist_error_cost: float = Field(30.0, ge=0, description="an error that passes assisted review (assumed: 25% of 120)")
    drg_weighted: bool = Field(False, description="error cost adds payment at risk, base_rate x |DRG weight gap|")
    base_rate: float | None = Field(None, gt=0, description="payment per unit of MS-DRG relative weight (money)")
    capacity: float | None = Field(None, gt=0, description="episodes people can code per period")
    period_episodes: float | None = Field(None, gt=0, description="episodes arriving per period")


class PolicyConfig(_Section):
    kind: Literal[KINDS] = "three_way"
    # 0.05: the field's 95% accuracy bar for autonomous coding; the default run certifies day cases at it
    # (0.10 is reported beside it in every table: report_alphas)
    alpha: float = Field(0.05, gt=0, lt=1, description="target error rate among automated episodes")
    delta: float = Field(0.10, gt=0, lt=1, description="allowed probability that the guarantee fails")
    method: Literal[METHODS] = Field(DEFAULT_METHOD, description="risk control: Learn-then-Test or SGR")
    fwer: Literal[FWER_METHODS] = Field(DEFAULT_FWER, description="Learn-then-Test's family-wise error procedure")
    per_setting: bool = Field(True, description="one set of thresholds per care setting (delta split across settings)")
    report_alphas: tuple[float, ...] = Field((0.05, 0.10), description="alphas the per-target/per-setting tables report")
    policy_share: float | None = Field(
        None, gt=0, lt=1, description="share of the held-out pool used to choose the policy (None: sized from the "
        "evidence the guarantee needs, the rest calibrates probabilities)")
    costs: CostConfig = Field(default_factory=CostConfig)


class TrackingConfig(_Section):
    uri: str | None = Field(None, description="MLflow tracking URI; default MLFLOW_TRACKING_URI or sqlite:///mlflow.db")
    experiment: str = "coding-triage"
    registered_model: str = "coding-triage-router"
    promote: bool = False
    enabled: bool = True


class RunConfig(_Section):
    seed: int = 0
    out: Path = Path("runs/latest")
    export_dir: Path = Path("models/router")
    data: DataConfig = Field(default_factory=DataConfig)
    coder: CoderConfig = Field(default_factory=CoderConfig)
    confidence: ConfidenceConfig = Field(default_factory=ConfidenceConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)


def _deep_update(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_update(out[key], value)
        else:
            out[key] = value
    return out


def resolve_config(
    config_file: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> RunConfig:
    """Defaults, then the file, then ``overrides`` (nested dict; None values are ignored)."""
    data: dict[str, Any] = read_config_file(config_file) if config_file else {}
    data = _deep_update(data, _drop_none(overrides or {}))
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        where = f"{config_file}: " if config_file else ""
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{where}invalid configuration: {problems}") from None


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            v = _drop_none(v)
            if v:
                out[k] = v
        elif v is not None:
            out[k] = v
    return out


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """JSON/YAML-ready dict (paths as strings)."""
    return config.model_dump(mode="json")
