"""Allocation settings: the shipped YAML default, user overrides merged over it, validated once.

Every number the allocator uses (queue mapping, effort coefficients, priority weights, solver
limits) lives in the YAML file so a coding manager can change it without touching code.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG_NAME = "default_allocation.yaml"
EFFORT_FEATURES = ("intercept", "per_1000_words", "per_code", "per_category")
HUMAN_ROUTES = ("manual", "assist")
ROUTES = ("automate", "assist", "manual")


class AllocationConfigError(ValueError):
    """A configuration file or value is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class DrgFamily:
    name: str
    ranges: tuple[tuple[int, int], ...]
    specialty: str


@dataclass(frozen=True)
class AllocationConfig:
    """Validated allocation settings (see default_allocation.yaml for the meaning of each key)."""

    specialties: tuple[str, ...]
    default_queue: str
    drg_families: tuple[DrgFamily, ...]
    mdc_queues: Mapping[int, str]
    chapter_queues: Mapping[int, str]
    specialists_take_general: bool
    levels: Mapping[str, int]
    complexity: Mapping[str, float]
    effort_routes: Mapping[str, Mapping[str, float]]
    audit_minutes: float
    priority: Mapping[str, Any]
    defaults: Mapping[str, float]
    productive_fraction: float
    cost_per_hour: float
    solver: Mapping[str, float]
    simulation: Mapping[str, Any]
    source: str = DEFAULT_CONFIG_NAME

    def level_rank(self, level: Any, where: str = "level") -> int:
        """Rank of an experience level given by name (``senior``) or number (3)."""
        if isinstance(level, str) and level.strip().lower() in self.levels:
            return self.levels[level.strip().lower()]
        try:
            rank = int(level)
        except (TypeError, ValueError):
            rank = -1
        if rank in self.levels.values():
            return rank
        raise AllocationConfigError(
            f"{where}: unknown experience level {level!r}; expected one of "
            f"{sorted(self.levels, key=self.levels.get)} or {sorted(self.levels.values())}"
        )

    def level_name(self, rank: int) -> str:
        for name, r in self.levels.items():
            if r == rank:
                return name
        return str(rank)


def _deep_merge(base: dict, override: Mapping, path: str, source: str) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in base:
            raise AllocationConfigError(f"{source}: unknown key {where!r}")
        if isinstance(base[key], dict) and isinstance(value, Mapping) and key not in _REPLACED_MAPS:
            out[key] = _deep_merge(base[key], value, where, source)
        else:
            out[key] = copy.deepcopy(value)
    return out


# Mappings a user file replaces wholesale: merging would keep default entries the user meant to drop.
_REPLACED_MAPS = {"mdc", "chapters", "levels", "chapter_weights"}


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError as exc:
        raise AllocationConfigError(f"config file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise AllocationConfigError(f"{path}: not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AllocationConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def default_config_path() -> Path:
    """Path of the shipped default (package data)."""
    return Path(str(resources.files("triage.allocation").joinpath(DEFAULT_CONFIG_NAME)))


def _num(value: Any, where: str, source: str, minimum: float | None = 0.0) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise AllocationConfigError(f"{source}: {where} must be a number, got {value!r}") from None
    if math.isnan(x) or (minimum is not None and x < minimum):
        raise AllocationConfigError(f"{source}: {where} must be a number >= {minimum}, got {value!r}")
    return x


def _int_keyed(mapping: Any, where: str, source: str, specialties: set[str]) -> dict[int, str]:
    if not isinstance(mapping, Mapping):
        raise AllocationConfigError(f"{source}: {where} must be a mapping of number -> specialty")
    out = {}
    for key, spec in mapping.items():
        try:
            k = int(key)
        except (TypeError, ValueError):
            raise AllocationConfigError(f"{source}: {where} key {key!r} is not a number") from None
        if spec not in specialties:
            raise AllocationConfigError(
                f"{source}: {where}.{key} names specialty {spec!r}, not in specialties {sorted(specialties)}"
            )
        out[k] = spec
    return out


def load_config(path: str | Path | None = None, overrides: Mapping | None = None) -> AllocationConfig:
    """Shipped default, with the YAML file at ``path`` and then ``overrides`` merged over it."""
    raw = _read_yaml(default_config_path())
    source = DEFAULT_CONFIG_NAME
    if path is not None:
        source = str(path)
        raw = _deep_merge(raw, _read_yaml(Path(path)), "", source)
    if overrides:
        raw = _deep_merge(raw, overrides, "", source if path else "overrides")
    return _validate(raw, source)


def _validate(raw: dict, source: str) -> AllocationConfig:
    specialties = tuple(str(s) for s in raw["specialties"])
    spec_set = set(specialties)
    q = raw["queues"]
    if q["default"] not in spec_set:
        raise AllocationConfigError(f"{source}: queues.default {q['default']!r} is not a specialty")
    families = []
    for i, fam in enumerate(q.get("drg_families") or []):
        where = f"queues.drg_families[{i}]"
        if not isinstance(fam, Mapping) or not {"name", "drgs", "specialty"} <= set(fam):
            raise AllocationConfigError(f"{source}: {where} needs name, drgs and specialty")
        if fam["specialty"] not in spec_set:
            raise AllocationConfigError(
                f"{source}: {where}.specialty {fam['specialty']!r} is not in specialties"
            )
        ranges = []
        for r in fam["drgs"]:
            if not isinstance(r, (list, tuple)) or len(r) != 2 or int(r[0]) > int(r[1]):
                raise AllocationConfigError(f"{source}: {where}.drgs entry {r!r} is not [low, high]")
            ranges.append((int(r[0]), int(r[1])))
        families.append(DrgFamily(str(fam["name"]), tuple(ranges), str(fam["specialty"])))

    levels = {}
    for name, rank in raw["levels"].items():
        levels[str(name).lower()] = int(_num(rank, f"levels.{name}", source, 0))
    cx = {k: _num(v, f"complexity.{k}", source) for k, v in raw["complexity"].items()}
    if cx["senior_from"] < cx["intermediate_from"]:
        raise AllocationConfigError(f"{source}: complexity.senior_from < complexity.intermediate_from")
    for name in ("intermediate", "senior"):
        if name not in levels:
            raise AllocationConfigError(f"{source}: levels must define {name!r} (complexity gates use it)")

    routes = {}
    for route in HUMAN_ROUTES:
        coefs = raw["effort"]["routes"].get(route)
        if not isinstance(coefs, Mapping) or set(coefs) != set(EFFORT_FEATURES):
            raise AllocationConfigError(
                f"{source}: effort.routes.{route} must give exactly {list(EFFORT_FEATURES)}"
            )
        routes[route] = {k: _num(coefs[k], f"effort.routes.{route}.{k}", source) for k in EFFORT_FEATURES}

    pr = dict(raw["priority"])
    for key in ("base_rate", "payment_unit", "billing_deadline_days", "urgency_power", "overdue_penalty",
                "min_priority"):
        pr[key] = _num(pr[key], f"priority.{key}", source)
    if pr["payment_unit"] <= 0 or pr["billing_deadline_days"] <= 0:
        raise AllocationConfigError(f"{source}: priority.payment_unit and billing_deadline_days must be > 0")
    pr["weights"] = {
        k: _num(v, f"priority.weights.{k}", source, minimum=None) for k, v in pr["weights"].items()
    }
    missing = {"payment", "urgency", "complexity", "confidence"} - set(pr["weights"])
    if missing:
        raise AllocationConfigError(f"{source}: priority.weights lacks {sorted(missing)}")

    defaults = {k: _num(v, f"defaults.{k}", source) for k, v in raw["defaults"].items()}
    solver = {k: _num(v, f"solver.{k}", source) for k, v in raw["solver"].items()}
    frac = _num(raw["capacity"]["productive_fraction"], "capacity.productive_fraction", source)
    if not 0 < frac <= 1:
        raise AllocationConfigError(f"{source}: capacity.productive_fraction must be in (0, 1]")
    return AllocationConfig(
        specialties=specialties,
        default_queue=str(q["default"]),
        drg_families=tuple(families),
        mdc_queues=_int_keyed(q.get("mdc") or {}, "queues.mdc", source, spec_set),
        chapter_queues=_int_keyed(q.get("chapters") or {}, "queues.chapters", source, spec_set),
        specialists_take_general=bool(raw["eligibility"]["specialists_take_general"]),
        levels=levels,
        complexity=cx,
        effort_routes=routes,
        audit_minutes=_num(raw["effort"]["audit_minutes"], "effort.audit_minutes", source),
        priority=pr,
        defaults=defaults,
        productive_fraction=frac,
        cost_per_hour=_num(raw["capacity"]["cost_per_hour"], "capacity.cost_per_hour", source),
        solver=solver,
        simulation=dict(raw["simulation"]),
        source=source,
    )
