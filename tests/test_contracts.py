"""The config, the CLI and the service take their choices from the library's own definitions."""

from __future__ import annotations

import dataclasses
import typing

from triage.confidence.targets import TARGETS
from triage.config import CostConfig, PolicyConfig
from triage.policy import FWER_METHODS, KINDS, METHODS, CostModel


def _literal(annotation) -> set:
    args = set()
    for arg in typing.get_args(annotation):
        args |= _literal(arg) if typing.get_args(arg) else {arg}
    return args - {type(None)}


def test_cost_fields_are_the_cost_models_everywhere():
    from service.schemas import CostsUpdate

    fields = {f.name for f in dataclasses.fields(CostModel)}
    assert set(CostConfig.model_fields) == fields
    assert set(CostsUpdate.model_fields) == fields
    # the config's defaults build a valid CostModel as they are
    assert CostModel(**CostConfig().model_dump()).assist_error_cost > 0


def test_policy_choices_come_from_the_library():
    from service.schemas import PolicyUpdate
    from triage.cli.run import Fwer, Method, PolicyKind, Target
    from triage.config import ConfidenceConfig

    assert _literal(PolicyConfig.model_fields["kind"].annotation) == set(KINDS)
    assert _literal(PolicyConfig.model_fields["method"].annotation) == set(METHODS)
    assert _literal(PolicyConfig.model_fields["fwer"].annotation) == set(FWER_METHODS)
    assert _literal(ConfidenceConfig.model_fields["target"].annotation) == set(TARGETS)
    assert _literal(PolicyUpdate.model_fields["kind"].annotation) == set(KINDS)
    assert _literal(PolicyUpdate.model_fields["fwer"].annotation) == set(FWER_METHODS)
    assert {m.value for m in PolicyKind} == set(KINDS) and {t.value for t in Target} == set(TARGETS)
    assert {m.value for m in Method} == set(METHODS) and {f.value for f in Fwer} == set(FWER_METHODS)


def _field(model, name: str) -> set:
    return _literal(model.model_fields[name].annotation)


def test_every_config_choice_comes_from_the_library():
    """Each Literal of the run config is the library's own tuple: a choice added or renamed in the
    library (or restated in the config) fails here, not in a run."""
    from triage.coder.choices import DEPLOY_MODES, MODEL_KINDS
    from triage.coder.decision import KINDS as RULES
    from triage.confidence.calibration import METHODS as CALIBRATION_METHODS
    from triage.confidence.models import CALIBRATIONS
    from triage.confidence.models import KINDS as CONFIDENCE_KINDS
    from triage.config import CoderConfig, ConfidenceConfig, DataConfig
    from triage.data.loader import FORMAT_CHOICES, FORMATS
    from triage.data.schema import ICD_VERSIONS
    from triage.policy.costs import UNITS

    assert _field(DataConfig, "format") == set(FORMAT_CHOICES) == {"auto", *FORMATS}
    assert _field(DataConfig, "icd_version") == set(ICD_VERSIONS)
    assert _field(CoderConfig, "model") == set(MODEL_KINDS)
    assert _field(CoderConfig, "deploy") == set(DEPLOY_MODES)
    assert _field(CoderConfig, "decision_rule") == set(RULES)
    assert _field(ConfidenceConfig, "model") == set(CONFIDENCE_KINDS)
    assert _field(ConfidenceConfig, "calibration") == set(CALIBRATIONS) == {"auto", *CALIBRATION_METHODS}
    assert _field(ConfidenceConfig, "compare_models") == set(CONFIDENCE_KINDS)
    assert _field(CostConfig, "unit") == set(UNITS)


def test_no_config_literal_is_left_unchecked():
    """Every Literal field of every config section is one the test above ties to the library."""
    from pydantic import BaseModel

    from triage.config import RunConfig

    checked = {("DataConfig", "format"), ("DataConfig", "icd_version"), ("CoderConfig", "model"),
               ("CoderConfig", "deploy"), ("CoderConfig", "decision_rule"), ("ConfidenceConfig", "target"),
               ("ConfidenceConfig", "model"), ("ConfidenceConfig", "calibration"),
               ("ConfidenceConfig", "compare_models"), ("CostConfig", "unit"), ("PolicyConfig", "kind"),
               ("PolicyConfig", "method"), ("PolicyConfig", "fwer")}
    found, sections = set(), [RunConfig]
    while sections:
        section = sections.pop()
        for name, field in section.model_fields.items():
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                sections.append(ann)
            elif _literal(ann) and all(isinstance(a, (str, int)) for a in _literal(ann)):
                found.add((section.__name__, name))
    assert found == checked


def test_config_rejects_choices_the_library_lacks():
    import pytest

    from triage.config import ConfigError, resolve_config

    with pytest.raises(ConfigError, match="compare_models"):
        resolve_config(overrides={"confidence": {"compare_models": ["lightgbm", "xgboost"]}})
    with pytest.raises(ConfigError, match="decision_rule"):
        resolve_config(overrides={"coder": {"decision_rule": "top_p"}})


def test_cli_choices_come_from_the_library():
    import typing

    from triage.cli.coder import CIChoice, ModelChoice
    from triage.cli.data import FormatChoice
    from triage.coder.choices import MODEL_KINDS
    from triage.data.loader import FORMAT_CHOICES
    from triage.metrics.evaluate import CI_METHODS, evaluate

    assert [m.value for m in ModelChoice] == list(MODEL_KINDS)
    assert [f.value for f in FormatChoice] == list(FORMAT_CHOICES)
    assert [c.value for c in CIChoice] == [*CI_METHODS, "none"]
    ci_hint = typing.get_type_hints(evaluate)["ci"]
    assert set(typing.get_args(typing.get_args(ci_hint)[0])) == set(CI_METHODS)
