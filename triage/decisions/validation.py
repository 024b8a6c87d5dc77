"""The one definition of a valid episode: bounds, types and lengths every entry point checks.

The service's request schemas (``service/schemas.py``), the MLflow pyfunc and both ``triage
batch`` engines (through :mod:`triage.decisions.episodes`) take their limits from here, so an
episode the service refuses with 422 is a rejected row in a batch, never a routed one.

Errors name the field and say what was expected; they never quote the value (a shifted CSV
column can put note text in any field): only its type and, for text, its length.
"""

from __future__ import annotations

import math
import re
from typing import Any

#: Ages and lengths of stay beyond these are data errors, not patients.
AGE_MAX = 130.0
LOS_DAYS_MAX = 3650.0
#: Integer ids JSON numbers carry exactly (2^53 - 1); larger ids travel as strings.
EPISODE_ID_BOUND = 2**53 - 1
EPISODE_ID_MAX_CHARS = 128
EPISODE_ID_PATTERN = r"^[A-Za-z0-9._:\-]+$"
#: One code's spelling (the longest real code, ICD-10-PCS's 7 characters, dotted or spaced).
CODE_MAX_CHARS = 16
CODE_PATTERN = r"^[ -~]+$"
#: Scored codes of one episode: a real coder's top-k is a few hundred; this bounds one request's work.
MAX_CODES = 2_000
#: Characters of one note (a very long discharge summary is ~100,000).
TEXT_MAX_CHARS = 1_000_000
GENDER_MAX_CHARS = 16
ADMISSION_TYPE_MAX_CHARS = 64
#: Printable ASCII, as the service's string fields take.
PRINTABLE_PATTERN = r"^[ -~]*$"

_EPISODE_ID = re.compile(EPISODE_ID_PATTERN)
_CODE = re.compile(CODE_PATTERN)
_PRINTABLE = re.compile(PRINTABLE_PATTERN)
#: Upper bound of each number field.
NUMBER_MAX = {"age": AGE_MAX, "los_days": LOS_DAYS_MAX}
#: Longest value of each string field.
STRING_MAX_CHARS = {"gender": GENDER_MAX_CHARS, "admission_type": ADMISSION_TYPE_MAX_CHARS}


class InvalidValue(ValueError):
    """A value outside what an episode may carry; ``field`` names it, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def describe(value: Any) -> str:
    """What a value is, without quoting it: its type, and its length for text."""
    if isinstance(value, str):
        return f"text of {len(value):,} characters"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number out of range" if isinstance(value, int) else (
            "a non-finite number" if not math.isfinite(value) else "a number")
    return f"a {type(value).__name__}"


def check_number(field: str, x: float) -> float:
    """A finite number in [0, NUMBER_MAX[field]] (or >= 0 for fields without a maximum)."""
    top = NUMBER_MAX.get(field, math.inf)
    if not math.isfinite(x) or x < 0 or x > top:
        bound = f"[0, {top:g}]" if math.isfinite(top) else ">= 0"
        raise InvalidValue(field, f"must be a finite number in {bound}")
    return x


def check_string(field: str, value: str) -> str:
    """Printable ASCII within the field's length limit."""
    limit = STRING_MAX_CHARS.get(field)
    if limit is not None and len(value) > limit:
        raise InvalidValue(field, f"must be at most {limit} characters, got {len(value):,}")
    if not _PRINTABLE.match(value):
        raise InvalidValue(field, "must be printable ASCII")
    return value


def check_episode_id(value: Any) -> int | str:
    """An integer within +-(2^53 - 1), or a string id of [A-Za-z0-9._:-], at most 128 characters.

    A float is accepted only when it is an integer that a float holds exactly (within the bound):
    ``1e30`` is a data error, not the id 1000000000000000019884624838656.
    """
    if isinstance(value, bool):
        raise InvalidValue("episode_id", "must be an integer or a string, got a boolean")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer() or abs(value) > EPISODE_ID_BOUND:
            raise InvalidValue("episode_id", f"must be an integer within +-{EPISODE_ID_BOUND} or a string")
        return int(value)
    if isinstance(value, int):
        if abs(value) > EPISODE_ID_BOUND:
            raise InvalidValue("episode_id", f"integers must lie within +-{EPISODE_ID_BOUND}; send larger ids "
                               "as strings")
        return value
    if isinstance(value, str):
        if len(value) > EPISODE_ID_MAX_CHARS:
            raise InvalidValue("episode_id", f"must be at most {EPISODE_ID_MAX_CHARS} characters, got "
                               f"{len(value):,}")
        if not _EPISODE_ID.match(value):
            raise InvalidValue("episode_id", "a string id takes only letters, digits and . _ : -")
        return value
    raise InvalidValue("episode_id", f"must be an integer or a string, got {describe(value)}")


def check_code_scores(scores: dict[Any, Any]) -> dict[Any, Any]:
    """At most MAX_CODES codes, each a printable spelling of at most CODE_MAX_CHARS characters.
    (Scores themselves are checked by the router: a number in [0, 1].)"""
    if len(scores) > MAX_CODES:
        raise InvalidValue("code_scores", f"at most {MAX_CODES:,} codes per episode, got {len(scores):,}")
    for i, code in enumerate(scores):
        if not isinstance(code, str) or not code or len(code) > CODE_MAX_CHARS or not _CODE.match(code):
            raise InvalidValue("code_scores", f"code {i + 1} is not a code spelling (1-{CODE_MAX_CHARS} printable "
                               "characters)")
    return scores


def check_text(text: str) -> str:
    if len(text) > TEXT_MAX_CHARS:
        raise InvalidValue("text", f"must be at most {TEXT_MAX_CHARS:,} characters, got {len(text):,}")
    return text
