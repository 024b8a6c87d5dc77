"""Error responses: field-level 422s, and a generic 500 that never carries a stack trace."""

from __future__ import annotations

import logging
import math
import re
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

log = logging.getLogger("service")


class FieldErrors(Exception):
    """Bad input found after schema validation (by the router or a configured limit)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = errors


def safe_input(value: Any) -> Any:
    """A short, JSON-safe echo of a bad scalar value (NaN, lone surrogates, huge strings)."""
    if value is None or isinstance(value, bool | int):
        return value if not isinstance(value, int) or abs(value) < 2**63 else str(value)[:40]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        short = value if len(value) <= 120 else value[:120] + "..."
        return short.encode("utf-8", "replace").decode("utf-8")
    return None  # containers: the loc already says where; do not echo whole bodies back


def field_error(loc: Sequence[str | int], msg: str, value: Any = None, kind: str = "value_error"):
    return {"loc": list(loc), "msg": msg, "type": kind, "input": safe_input(value)}


_BATCH_ITEM = re.compile(r"^episodes\[(\d+)\]\.(.+)$")


def field_loc(field: str) -> list[str | int]:
    """``episodes[3].code_scores.I50.9`` -> ``["episodes", 3, "code_scores", "I50.9"]``.

    The router names a score by its code after the first dot; codes may contain dots.
    """
    loc: list[str | int] = []
    m = _BATCH_ITEM.match(field)
    if m:
        loc += ["episodes", int(m.group(1))]
        field = m.group(2)
    head, _, rest = field.partition(".")
    return [*loc, head, rest] if rest else [*loc, head]


def invalid_episode_error(exc: Any, prefix: Sequence[str | int] = ("body",)) -> FieldErrors:
    """Map the router's InvalidEpisode(field, message, value) to a 422 at ``prefix + field``."""
    field = getattr(exc, "field", None) or "episode"
    message = getattr(exc, "message", None) or str(exc)
    return FieldErrors(
        [
            field_error(
                [*prefix, *field_loc(field)], message, getattr(exc, "value", None), "invalid_episode"
            )
        ]
    )


def _clean(errors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        loc = [x if isinstance(x, int) else safe_input(str(x)) for x in e.get("loc", ())]
        # never echo note text back (it is PHI, and error bodies end up in client logs)
        echo = None if "text" in loc else safe_input(e.get("input"))
        out.append(
            {
                "loc": loc,
                "msg": safe_input(str(e.get("msg", ""))),
                "type": str(e.get("type", "value_error")),
                "input": echo,
            }
        )
    return out


async def _request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": _clean(exc.errors())}
    )


async def _field_errors(_: Request, exc: FieldErrors) -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": _clean(exc.errors)}
    )


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    error_id = uuid.uuid4().hex[:12]
    # Type and route only: exception messages may quote episode content.
    log.error(
        "unhandled %s on %s %s (error_id=%s)",
        type(exc).__name__, request.method, request.url.path, error_id,
    )
    return JSONResponse(
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        content={"detail": "internal server error", "error_id": error_id},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(FieldErrors, _field_errors)
    app.add_exception_handler(Exception, _unhandled)
