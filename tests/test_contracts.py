"""The config, the CLI and the service take their choices from the library's own definitions."""

from __future__ import annotations

import dataclasses
import typing

from triage.config import CostConfig, PolicyConfig
from triage.confidence.targets import TARGETS
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
