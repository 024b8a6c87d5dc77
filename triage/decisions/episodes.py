"""Table rows -> the episode dicts ``Router.route_many`` takes, one bad row never stopping the rest.

The MLflow pyfunc and both ``triage batch`` engines read their input through this module, and the
service's ``Metadata`` schema is checked against the same field list, so every path hands the
router the same metadata: the fields of :data:`triage.router.ROUTING_METADATA_FIELDS` that an
episode supplies (:data:`EPISODE_METADATA_FIELDS`), typed as the service types them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from triage.decisions.errors import BatchInputError, Rejected, id_text
from triage.decisions.validation import (
    InvalidValue,
    check_code_scores,
    check_episode_id,
    check_number,
    check_string,
    check_text,
    describe,
)
from triage.router import ROUTING_METADATA_FIELDS

#: Metadata an episode supplies: every routing-time field but ``text`` (an input of its own) and
#: ``icd_version`` (the bundle's).
EPISODE_METADATA_FIELDS = tuple(f for f in ROUTING_METADATA_FIELDS if f not in ("text", "icd_version"))
#: How each supplied field is typed (the service's Metadata types); any other field is a string.
METADATA_KINDS: dict[str, str] = {"age": "number", "los_days": "number", "died": "bool",
                                  "discharge_date": "date"}
#: Every input column the router reads; other columns are ignored.
INPUT_COLUMNS = ("episode_id", "code_scores", "text", *EPISODE_METADATA_FIELDS)

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def metadata_kind(name: str) -> str:
    return METADATA_KINDS.get(name, "string")


class RowError(ValueError):
    """A value in one row that cannot be routed; ``column`` names where."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"column {column!r} {reason}")
        self.column = column
        self.reason = reason


def check_columns(names: Sequence[str], source: str = "input") -> None:
    """Raise BatchInputError when the table lacks ``episode_id`` or both ``code_scores`` and ``text``."""
    names = list(names)
    if "episode_id" not in names:
        raise BatchInputError(f"{source}: missing the column 'episode_id' (columns: {names})")
    if "code_scores" not in names and "text" not in names:
        raise BatchInputError(
            f"{source}: needs a 'code_scores' column (or 'text' when the bundle has a coder); "
            f"columns: {names}"
        )


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        import pandas as pd

        return value is pd.NA or value is pd.NaT or (not isinstance(value, (str, bytes, Mapping, list, tuple))
                                                     and bool(pd.isna(value)))
    except (TypeError, ValueError):
        return False


def parse_code_scores(value: Any) -> dict[str, Any] | None:
    """A JSON object string, a dict, or an Arrow map (list of pairs) -> dict; None when absent."""
    if is_missing(value):
        return None
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RowError("code_scores", f"is not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise RowError("code_scores",
                           f"must be a JSON object of label -> score, got {type(parsed).__name__}")
        return parsed
    if isinstance(value, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
        return dict(value)  # an Arrow map<string, double> arrives as (key, value) pairs
    raise RowError("code_scores", f"must be a JSON string or a dict, got {type(value).__name__}")


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise RowError(name, "must be a number, got a boolean")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise RowError(name, f"must be a number, got {describe(value)}") from None
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise RowError(name, f"must be a number, got {describe(value)}") from None
    return check_number(name, x)


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise RowError(name, f"must be true or false, got {describe(value)}")


def _date(name: str, value: Any) -> str:
    """ISO date string, as the service forwards its ``date`` field."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return value.to_pydatetime().date().isoformat()
    if isinstance(value, str):
        s = value.strip()
        for parse in (date.fromisoformat, lambda t: datetime.fromisoformat(t).date()):
            try:
                return parse(s).isoformat()
            except ValueError:
                continue
        raise RowError(name, f"must be an ISO date (YYYY-MM-DD), got {describe(s)}")
    raise RowError(name, f"must be a date, got {type(value).__name__}")


def _string(name: str, value: Any) -> str:
    if isinstance(value, (dict, list, tuple, bytes)):
        raise RowError(name, f"must be a string, got {type(value).__name__}")
    return check_string(name, str(value))


_COERCE = {"number": _number, "bool": _bool, "date": _date, "string": _string}


def coerce_metadata(name: str, value: Any) -> Any:
    """One metadata value typed as the service types it; RowError names the column otherwise."""
    return _COERCE[metadata_kind(name)](name, value)


def _episode_id(value: Any) -> int | str:
    if is_missing(value) or (isinstance(value, str) and not value.strip()):
        raise RowError("episode_id", "is missing")
    if hasattr(value, "item") and not isinstance(value, (int, float, str)):  # numpy scalar
        value = value.item()
    return check_episode_id(value)


def _decoded(record: dict[str, Any]) -> dict[str, Any]:
    """Bytes (a CSV block with a value that is not UTF-8 stays bytes) as text; RowError names
    the column whose value does not decode."""
    for name, value in record.items():
        if isinstance(value, bytes):
            try:
                record[name] = value.decode("utf-8")
            except UnicodeDecodeError:
                raise RowError(name, "is not valid UTF-8 text") from None
    return record


def _maybe_text(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value


def _valid_id(value: Any) -> int | str | None:
    try:
        return _episode_id(value)
    except (RowError, InvalidValue):
        return None


def episode_from_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """One row (column -> value) as a ``route_many`` episode; RowError names the bad column."""
    episode_id = _episode_id(record.get("episode_id"))
    scores = parse_code_scores(record.get("code_scores"))
    text = record.get("text")
    if is_missing(text):
        text = None
    elif not isinstance(text, str):
        raise RowError("text", f"must be a string, got {type(text).__name__}")
    else:
        check_text(text)
    if scores:
        check_code_scores(scores)
    if not scores and not (text and text.strip()):
        raise RowError("code_scores", "is empty and there is no text: the episode has neither")
    metadata = {}
    for name in EPISODE_METADATA_FIELDS:
        value = record.get(name)
        if is_missing(value) or (isinstance(value, str) and not value.strip()):
            continue
        metadata[name] = coerce_metadata(name, value)
    return {"episode_id": episode_id, "code_scores": scores, "text": text, "metadata": metadata or None}


def episodes_from_columns(
    columns: Mapping[str, Sequence[Any]],
    n_rows: int,
    *,
    first_row: int = 0,
    rows: Sequence[int] | None = None,
    source: str | None = None,
    partition: int | None = None,
    duplicate: Sequence[bool] | None = None,
    strict: bool = False,
) -> tuple[list[dict[str, Any]], list[int], list[Rejected]]:
    """Episodes of a column-wise batch, the positions they came from, and the rejected rows.

    Row ``i`` is numbered ``first_row + i``, or ``rows[i]`` when given (a CSV block with rows
    skipped for their number of fields). ``strict`` raises a ValueError naming the first bad row (the pyfunc's behaviour) instead of
    collecting it. ``duplicate[i]`` marks a row whose ``episode_id`` occurs more than once in the
    whole input: all its copies are rejected, since none can be told to be the right one.
    """
    names = [c for c in INPUT_COLUMNS if c in columns]

    def row_of(i: int) -> int:
        return int(rows[i]) if rows is not None else first_row + i

    episodes: list[dict[str, Any]] = []
    kept: list[int] = []
    rejects: list[Rejected] = []
    for i in range(n_rows):
        record = {c: columns[c][i] for c in names}
        try:
            record = _decoded(record)
            if duplicate is not None and duplicate[i]:
                raise RowError("episode_id", "occurs more than once in the input")
            episodes.append(episode_from_record(record))
            kept.append(i)
        except (RowError, InvalidValue) as exc:
            if isinstance(exc, InvalidValue):
                exc = RowError(exc.field, exc.reason)
            raw_id = _valid_id(_maybe_text(record.get("episode_id")))  # an invalid id is not quoted back
            if strict:
                raise ValueError(f"row {row_of(i)} (episode_id={raw_id!r}): {exc}") from None
            rejects.append(Rejected(source, partition, row_of(i), id_text(raw_id), exc.column, exc.reason))
    return episodes, kept, rejects
