"""Allocation settings errors name the file, the field and the value (the pydantic schema)."""

from __future__ import annotations

import pytest

from triage.allocation import AllocationConfigError, load_config
from triage.allocation.config import _validate, default_config_path
from triage.config_files import read_config_file


@pytest.mark.parametrize(("override", "message"), [
    ({"queues": {"default": "cardiolgy"}}, "queues.default 'cardiolgy' is not a specialty"),
    ({"queues": {"drg_families": [{"name": "x", "drgs": [[1, 2]]}]}},
     r"queues.drg_families\[0\] needs name, drgs and specialty"),
    ({"queues": {"drg_families": [{"name": "x", "drgs": [[3, 2]], "specialty": "renal"}]}},
     r"queues.drg_families\[0\].drgs entry \[3, 2\] is not \[low, high\]"),
    ({"levels": {"junior": -1, "intermediate": 2, "senior": 3}}, "levels.junior must be a number >= 0, got -1"),
    ({"complexity": {"per_code": "x"}}, "complexity.per_code must be a number, got 'x'"),
    ({"effort": {"routes": {"assist": {"per_code": -1}}}},
     r"effort.routes.assist.per_code must be a number >= 0.0, got -1"),
    ({"priority": {"payment_unit": 0}}, "priority.payment_unit and billing_deadline_days must be > 0"),
    ({"capacity": {"productive_fraction": 1.5}}, r"capacity.productive_fraction must be in \(0, 1\]"),
    ({"queues": {"mdc": {3: "nope"}}}, "queues.mdc.3 names specialty 'nope', not in specialties"),
])
def test_messages_kept_from_the_hand_written_checks(override, message):
    with pytest.raises(AllocationConfigError, match=f"^default_allocation.yaml: {message}"):
        load_config(overrides=override)


@pytest.mark.parametrize(("override", "message"), [
    # these used to escape as TypeError / ValueError from int() with no file or field
    ({"queues": None}, "queues: Input should be a valid dictionary, got None"),
    ({"queues": {"drg_families": [{"name": "x", "drgs": [["a", 2]], "specialty": "renal"}]}},
     r"queues.drg_families\[0\].drgs entry \['a', 2\] is not \[low, high\]"),
    ({"specialties": "abc"}, "specialties: Input should be a valid list, got 'abc'"),
])
def test_malformed_sections_name_the_field_and_value(override, message):
    with pytest.raises(AllocationConfigError, match=f"^default_allocation.yaml: {message}$"):
        load_config(overrides=override)


def test_a_section_or_key_missing_from_the_merged_file_is_named(tmp_path):
    raw = read_config_file(default_config_path())
    del raw["complexity"]["senior_from"]
    with pytest.raises(AllocationConfigError, match=r"^f.yaml: complexity must define 'senior_from'$"):
        _validate(raw, "f.yaml")
    raw = read_config_file(default_config_path())
    del raw["capacity"]
    with pytest.raises(AllocationConfigError, match=r"^f.yaml: capacity is missing$"):
        _validate(raw, "f.yaml")


def test_a_user_file_is_named_in_the_error(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("priority:\n  weights: {payment: x}\n")
    with pytest.raises(AllocationConfigError, match=r"mine.yaml: priority.weights.payment must be a number, got 'x'"):
        load_config(f)
