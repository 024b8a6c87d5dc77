"""The one reader of settings files (a run's config, the allocation settings, a routing policy).

YAML (also ``.yml``; the default for any other suffix), TOML or JSON by suffix, into a plain
mapping; every problem is a :class:`ConfigError` whose message names the file (and, from the
validators that use it, the field), never its values beyond the one at fault.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A settings file or override that is missing, unreadable or does not fit its schema; the
    message names the file and the field."""


def read_config_file(path: str | Path, what: str = "config") -> dict[str, Any]:
    """The top-level mapping of a YAML, TOML or JSON file ({} for an empty YAML file)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} file not found: {path}")
    text = path.read_text()
    suffix = path.suffix.lower()
    kind = {".toml": "TOML", ".json": "JSON"}.get(suffix, "YAML")
    try:
        if kind == "TOML":
            data = tomllib.loads(text)
        elif kind == "JSON":
            data = json.loads(text)
        else:
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid {kind}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data
