"""One reader of settings files and one error: the run config, the allocation settings and a
simulation's routing-policy file fail the same way, naming the file."""

from __future__ import annotations

import pytest

from triage.allocation import AllocationConfigError, PolicyFileError, SimulatedRouting, load_config
from triage.config import resolve_config
from triage.config_files import ConfigError, read_config_file


def test_one_error_class_for_every_settings_file(tmp_path):
    assert AllocationConfigError is ConfigError and PolicyFileError is ConfigError
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    for read in (resolve_config, load_config, SimulatedRouting.from_file):
        with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
            read(bad)
        with pytest.raises(ConfigError, match="list.yaml: the top level must be a mapping, got list"):
            read(listed)
        with pytest.raises(ConfigError, match="file not found: .*absent.yaml"):
            read(tmp_path / "absent.yaml")


@pytest.mark.parametrize("name, text", [("s.yaml", "policy:\n  alpha: 0.1\n"), ("s.yml", "policy: {alpha: 0.1}\n"),
                                        ("s.toml", "[policy]\nalpha = 0.1\n"), ("s.json", '{"policy": {"alpha": 0.1}}')])
def test_yaml_toml_and_json_read_alike(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    assert read_config_file(path) == {"policy": {"alpha": 0.1}}
    assert resolve_config(path).policy.alpha == 0.1


def test_an_empty_yaml_file_is_no_settings(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    assert read_config_file(tmp_path / "empty.yaml") == {}
    with pytest.raises(ConfigError, match="bad.json: not valid JSON"):
        (tmp_path / "bad.json").write_text("{")
        read_config_file(tmp_path / "bad.json")
