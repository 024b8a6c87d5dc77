import pytest

from triage.synth import WORKLOAD_PRESETS, parse_workload


def test_presets_and_explicit_shares_share_one_canonical_spelling():
    mixed = parse_workload("mixed")
    assert mixed.as_dict() == {"inpatient": 0.5, "observation": 0.15, "day_case": 0.35}
    assert mixed.canonical == "inpatient=0.5,observation=0.15,day_case=0.35"
    assert parse_workload(" day_case=0.35, inpatient=0.5 ,observation=0.15") == mixed
    assert parse_workload(None) == mixed and parse_workload(mixed) is mixed
    assert parse_workload({"inpatient": 1}).canonical == "inpatient=1,observation=0,day_case=0"
    assert parse_workload("inpatient").single == "inpatient" and mixed.single is None
    assert parse_workload("day_case").slug == "inpatient0-observation0-day_case1"
    assert set(WORKLOAD_PRESETS) == {"mixed", "inpatient", "observation", "day_case"}


@pytest.mark.parametrize("spec, message", [
    ("icu", "not a preset"),
    ("inpatient=0.5,icu=0.5", "unknown care setting 'icu'"),
    ("inpatient=0.5,observation=0.4", "sum to 1"),
    ("inpatient=1.2,observation=-0.2", "'observation' must be a finite number >= 0"),
    ("inpatient=abc", "'inpatient' must be a number"),
    ("inpatient=0.5,inpatient=0.5", "named twice"),
    ("inpatient", None),
    ("inpatient=0.9999999,day_case=0.0000001", None),
    (3, "preset name"),
])
def test_bad_workloads_name_the_problem(spec, message):
    if message is None:
        parse_workload(spec)
        return
    with pytest.raises(ValueError, match=message):
        parse_workload(spec)


def test_run_config_validates_the_workload():
    from pydantic import ValidationError

    from triage.config import DataConfig

    assert DataConfig().synthetic_workload == "mixed"
    assert DataConfig(synthetic_workload="inpatient=0.6,day_case=0.4").synthetic_workload == "inpatient=0.6,day_case=0.4"
    with pytest.raises(ValidationError, match="unknown care setting 'icu'"):
        DataConfig(synthetic_workload="icu=1")
