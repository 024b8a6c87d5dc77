"""Allocation settings: the shipped YAML default, user overrides merged over it, validated once.

Every number the allocator uses (queue mapping, effort coefficients, priority weights, solver
limits) lives in the YAML file so a coding manager can change it without touching code.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    field_validator,
    model_validator,
)

from triage.config_files import ConfigError, read_config_file

DEFAULT_CONFIG_NAME = "default_allocation.yaml"
EFFORT_FEATURES = ("intercept", "per_1000_words", "per_code", "per_category")
HUMAN_ROUTES = ("manual", "assist")
ROUTES = ("automate", "assist", "manual")


#: A configuration file or value is invalid (the message names the file and the key): the one
#: settings-file error, :class:`triage.config_files.ConfigError`, under its allocation name.
AllocationConfigError = ConfigError


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


def default_config_path() -> Path:
    """Path of the shipped default (package data)."""
    return Path(str(resources.files("triage.allocation").joinpath(DEFAULT_CONFIG_NAME)))


class _Invalid(ValueError):
    """A check whose message names its own place (``queues.mdc.3 names specialty ...``)."""


def _number(minimum: float | None):
    """A check for a number >= ``minimum`` (None: any number but NaN); its message is relative to
    the field's place, which the error names in front of it."""

    def check(value: Any) -> float:
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number, got {value!r}") from None
        if math.isnan(x) or (minimum is not None and x < minimum):
            raise ValueError(f"must be a number >= {minimum}, got {value!r}")
        return x

    return check


#: A number >= 0 (effort minutes, rates, limits) and any number (priority weights).
Number = Annotated[float, BeforeValidator(_number(0.0))]
Weight = Annotated[float, BeforeValidator(_number(None))]
Rank = Annotated[float, BeforeValidator(_number(0))]


def _int_keyed(mapping: Any, where: str, specialties: set[str]) -> dict[int, str]:
    if not isinstance(mapping, Mapping):
        raise _Invalid(f"{where} must be a mapping of number -> specialty")
    out = {}
    for key, spec in mapping.items():
        try:
            k = int(key)
        except (TypeError, ValueError):
            raise _Invalid(f"{where} key {key!r} is not a number") from None
        if spec not in specialties:
            raise _Invalid(f"{where}.{key} names specialty {spec!r}, not in specialties {sorted(specialties)}")
        out[k] = spec
    return out


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _DrgFamilyIn(_Section):
    name: Any
    drgs: list[Any]
    specialty: Any

    @model_validator(mode="before")
    @classmethod
    def _has_keys(cls, value: Any) -> Any:
        if not isinstance(value, Mapping) or not {"name", "drgs", "specialty"} <= set(value):
            raise ValueError("needs name, drgs and specialty")
        return value

    @field_validator("drgs")
    @classmethod
    def _ranges(cls, drgs: list[Any]) -> list[tuple[int, int]]:
        ranges = []
        for r in drgs:
            try:
                ok = isinstance(r, (list, tuple)) and len(r) == 2 and int(r[0]) <= int(r[1])
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(f"entry {r!r} is not [low, high]")
            ranges.append((int(r[0]), int(r[1])))
        return ranges


class _QueuesIn(_Section):
    default: Any
    drg_families: list[_DrgFamilyIn] | None = None
    mdc: Any = None
    chapters: Any = None


class _EligibilityIn(_Section):
    specialists_take_general: Any


class _EffortIn(_Section):
    routes: Mapping[Any, Any]
    audit_minutes: Number

    @field_validator("routes")
    @classmethod
    def _routes(cls, routes: Mapping[Any, Any]) -> dict[str, dict[str, float]]:
        out = {}
        for route in HUMAN_ROUTES:
            coefs = routes.get(route)
            if not isinstance(coefs, Mapping) or set(coefs) != set(EFFORT_FEATURES):
                raise _Invalid(f"effort.routes.{route} must give exactly {list(EFFORT_FEATURES)}")
            out[route] = {}
            for k in EFFORT_FEATURES:
                try:
                    out[route][k] = _number(0.0)(coefs[k])
                except ValueError as exc:
                    raise _Invalid(f"effort.routes.{route}.{k} {exc}") from None
        return out


class _PriorityIn(_Section):
    base_rate: Number
    payment_unit: Number
    billing_deadline_days: Number
    urgency_power: Number
    overdue_penalty: Number
    min_priority: Number
    weights: dict[Any, Weight]

    @model_validator(mode="after")
    def _positive_and_complete(self) -> _PriorityIn:
        if self.payment_unit <= 0 or self.billing_deadline_days <= 0:
            raise _Invalid("priority.payment_unit and billing_deadline_days must be > 0")
        missing = {"payment", "urgency", "complexity", "confidence"} - set(self.weights)
        if missing:
            raise _Invalid(f"priority.weights lacks {sorted(missing)}")
        return self


class _CapacityIn(_Section):
    productive_fraction: Number
    cost_per_hour: Number

    @field_validator("productive_fraction")
    @classmethod
    def _fraction(cls, frac: float) -> float:
        if not 0 < frac <= 1:
            raise _Invalid("capacity.productive_fraction must be in (0, 1]")
        return frac


class _AllocationFile(_Section):
    """The merged YAML, typed: each section's fields and the checks across sections."""

    specialties: list[Any]
    queues: _QueuesIn
    eligibility: _EligibilityIn
    levels: dict[Any, Rank]
    complexity: dict[Any, Number]
    effort: _EffortIn
    priority: _PriorityIn
    defaults: dict[Any, Number]
    capacity: _CapacityIn
    solver: dict[Any, Number]
    simulation: dict[Any, Any]

    @model_validator(mode="after")
    def _across_sections(self) -> _AllocationFile:
        spec_set = {str(s) for s in self.specialties}
        if self.queues.default not in spec_set:
            raise _Invalid(f"queues.default {self.queues.default!r} is not a specialty")
        for i, fam in enumerate(self.queues.drg_families or []):
            if fam.specialty not in spec_set:
                raise _Invalid(f"queues.drg_families[{i}].specialty {fam.specialty!r} is not in specialties")
        for key in ("senior_from", "intermediate_from"):
            if key not in self.complexity:
                raise _Invalid(f"complexity must define {key!r}")
        if self.complexity["senior_from"] < self.complexity["intermediate_from"]:
            raise _Invalid("complexity.senior_from < complexity.intermediate_from")
        names = {str(name).lower() for name in self.levels}
        for name in ("intermediate", "senior"):
            if name not in names:
                raise _Invalid(f"levels must define {name!r} (complexity gates use it)")
        _int_keyed(self.queues.mdc or {}, "queues.mdc", spec_set)
        _int_keyed(self.queues.chapters or {}, "queues.chapters", spec_set)
        return self


def _place(loc: tuple) -> str:
    """A pydantic location as the file's dotted path (``queues.drg_families[0].drgs``)."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _config_error(exc: ValidationError, source: str) -> AllocationConfigError:
    """The first problem, naming the file, the field and the value."""
    err = exc.errors()[0]
    where = _place(err["loc"])
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, _Invalid):
        return AllocationConfigError(f"{source}: {cause}")
    if isinstance(cause, ValueError):
        return AllocationConfigError(f"{source}: {where} {cause}")
    if err["type"] == "missing":
        return AllocationConfigError(f"{source}: {where} is missing")
    msg = re.sub(r" or instance of \w+", "", err["msg"])
    return AllocationConfigError(f"{source}: {where or 'top level'}: {msg}, got {err['input']!r}")


def load_config(path: str | Path | None = None, overrides: Mapping | None = None) -> AllocationConfig:
    """Shipped default, with the YAML file at ``path`` and then ``overrides`` merged over it."""
    raw = read_config_file(default_config_path())
    source = DEFAULT_CONFIG_NAME
    if path is not None:
        source = str(path)
        raw = _deep_merge(raw, read_config_file(Path(path)), "", source)
    if overrides:
        raw = _deep_merge(raw, overrides, "", source if path else "overrides")
    return _validate(raw, source)


def _validate(raw: dict, source: str) -> AllocationConfig:
    """The merged settings checked by :class:`_AllocationFile`; AllocationConfigError names the
    file, the field and the value of the first problem."""
    try:
        f = _AllocationFile.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(exc, source) from None
    specialties = tuple(str(s) for s in f.specialties)
    spec_set = set(specialties)
    pr = dict(raw["priority"])
    pr.update({k: getattr(f.priority, k) for k in _PriorityIn.model_fields if k != "weights"})
    pr["weights"] = dict(f.priority.weights)
    return AllocationConfig(
        specialties=specialties,
        default_queue=str(f.queues.default),
        drg_families=tuple(DrgFamily(str(fam.name), tuple(fam.drgs), str(fam.specialty))
                           for fam in f.queues.drg_families or []),
        mdc_queues=_int_keyed(f.queues.mdc or {}, "queues.mdc", spec_set),
        chapter_queues=_int_keyed(f.queues.chapters or {}, "queues.chapters", spec_set),
        specialists_take_general=bool(f.eligibility.specialists_take_general),
        levels={str(name).lower(): int(rank) for name, rank in f.levels.items()},
        complexity=dict(f.complexity),
        effort_routes=f.effort.routes,
        audit_minutes=f.effort.audit_minutes,
        priority=pr,
        defaults=dict(f.defaults),
        productive_fraction=f.capacity.productive_fraction,
        cost_per_hour=f.capacity.cost_per_hour,
        solver=dict(f.solver),
        simulation=dict(raw["simulation"]),
        source=source,
    )
