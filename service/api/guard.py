"""The edge of the service: a pure ASGI middleware that runs before any route code.

It does four things for every HTTP request, whatever route (present or future) it targets:

* gives the request an id (``X-Request-ID`` on the response, and on every log line about it);
* refuses a body over ``max_body_bytes`` (413): at once from its ``Content-Length``, before a
  byte is read, or (a chunked body) as the app reads past the limit. Starlette's body-limit
  middleware did this before, as two layers of its own around every request (~40,000 of the
  ~1,000,000 instructions the service spent on a routed episode: benchmarks/count_service.py);
  here it is one comparison on the header pass the guard makes anyway;
* authenticates ``/v1`` calls from the ``X-API-Key`` header *before a byte of the body is read*
  and before any model is needed: a caller without a valid key gets 401 at once, a router key on
  an admin route (one that depends on :func:`service.security.require_admin`) gets 403;
* catches every exception the app lets through, so none ever reaches the server's logger (whose
  traceback would quote SQL parameters, decision JSON or note text). It logs one line: error
  class, route template and request id. A database that cannot be reached or written (server
  down, disk full, locked) answers 503 with ``Retry-After``; anything else 500.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.schemas import BATCH_LIMIT
from service.security import require_admin

log = logging.getLogger("service")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
#: The answer to a body over the limit: Starlette's body limit's (status, type and text).
_TOO_LARGE = b"Content Too Large"
#: Distinct (path, method) pairs the edge remembers before starting over (paths with ids vary).
_LOOKUP_CACHE = 4096


def database_unavailable(exc: BaseException) -> bool:
    """Whether an exception means "the database cannot serve now" (a 503), not a bug (a 500).

    Connection refused or lost, server shutting down, disk or quota full, database locked: the
    client may retry. Checked by class only, never by message text.
    """
    try:
        import sqlalchemy.exc as sa_exc
    except ImportError:  # pragma: no cover - sqlalchemy is a dependency
        return False
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                            sa_exc.TimeoutError)):
            return True
        if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
            return True
        if isinstance(exc, OSError) and exc.errno in (28, 122):  # ENOSPC, EDQUOT
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class BodyTooLarge(HTTPException):
    """A body without a Content-Length (chunked) grew past the limit as the app read it: the app's
    HTTPException handlers answer it 413 (as Starlette's limit's own error was answered)."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="Content Too Large")


def _within(receive: Receive, limit: int) -> Receive:
    """``receive``, raising :class:`BodyTooLarge` once the body read so far passes ``limit``."""
    total = 0

    async def receive_within_limit() -> Message:
        nonlocal total
        message = await receive()
        if message["type"] == "http.request":
            total += len(message.get("body", b""))
            if total > limit:
                raise BodyTooLarge
        return message

    return receive_within_limit


@dataclass(frozen=True)
class ApiRoute:
    """One operation of the app: full path template, methods, whether it needs an admin key."""

    path: str
    methods: frozenset[str]
    admin: bool
    regex: re.Pattern[str]


def _needs_admin(route: Any) -> bool:
    stack = [getattr(route, "dependant", None)]
    while stack:
        dep = stack.pop()
        if dep is None:
            continue
        if getattr(dep, "call", None) is require_admin:
            return True
        stack.extend(getattr(dep, "dependencies", ()))
    return False


def _walk(routes: Any, prefix: str = "") -> Any:
    """(full path, APIRoute) of every operation, through FastAPI's included-router wrappers
    (FastAPI >= 0.16x keeps them lazy) and plain APIRoute lists (older FastAPI) alike."""
    from fastapi.routing import APIRoute

    for r in routes:
        if isinstance(r, APIRoute):
            yield prefix + r.path, r
        elif hasattr(r, "effective_candidates"):
            for c in r.effective_candidates():
                if hasattr(c, "effective_candidates"):
                    yield from _walk([c])
                elif isinstance(getattr(c, "original_route", None), APIRoute):
                    yield (c.path or c.original_route.path), c.original_route


def api_routes(app: Any) -> list[ApiRoute]:
    """Every operation of ``app`` (cached; rebuilt when routes are added)."""
    key = len(app.router.routes)
    cached = getattr(app.state, "_edge_routes", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    from starlette.routing import compile_path

    table = [
        ApiRoute(path, frozenset(route.methods or ()), _needs_admin(route), compile_path(path)[0])
        for path, route in _walk(app.router.routes)
    ]
    app.state._edge_routes = (key, table)
    return table


def _json(status: int, body: dict[str, Any], request_id: str, extra: list[tuple[bytes, bytes]]):
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"x-request-id", request_id.encode()),
        *extra,
    ]
    return (
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": payload},
    )


class EdgeGuard:
    """Request id, authentication before the body, and the one error handler (see module doc)."""

    def __init__(self, app: ASGIApp, *, api_app: Any, prefix: str = "/v1") -> None:
        self.app = app
        self.api_app = api_app  # the FastAPI app: its key registry and its routes
        self.prefix = prefix
        self._seen_table: list[ApiRoute] | None = None
        self._seen_routes = -1  # how many routes the app had when the table was read
        self._seen: dict[tuple[str, str], tuple[ApiRoute | None, frozenset[str]]] = {}

    # -- helpers -------------------------------------------------------------------------------
    def _lookup(self, scope: Scope) -> tuple[ApiRoute | None, frozenset[str]]:
        """(route, methods the path allows): a method-only mismatch gives the path's routes.
        Remembered per (path, method) for the app's route table (a bounded cache: every request
        otherwise matches each route's pattern in turn)."""
        key = (scope.get("path", ""), scope.get("method", ""))
        routes = len(self.api_app.router.routes)
        if routes != self._seen_routes or len(self._seen) >= _LOOKUP_CACHE:
            # the table is read again only when routes were added (api_routes' own rule)
            self._seen_table, self._seen_routes, self._seen = api_routes(self.api_app), routes, {}
        table = self._seen_table
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = self._match(table, *key)
        return found

    @staticmethod
    def _match(table: list[ApiRoute], path: str, method: str
               ) -> tuple[ApiRoute | None, frozenset[str]]:
        partial, allowed = None, set()
        for route in table:
            if route.regex.match(path):
                if method in route.methods or (method == "HEAD" and "GET" in route.methods):
                    return route, route.methods
                partial = partial or route
                allowed |= route.methods
        return partial, frozenset(allowed)

    @staticmethod
    def _headers(scope: Scope) -> tuple[str | None, str | None, int | None]:
        """(X-Request-ID, X-API-Key, Content-Length) as sent (the first of each; a length that is
        not a number counts as none, as Starlette's limit read it), in one pass over the headers."""
        given = key = length = None
        for k, v in scope.get("headers", ()):
            if k == b"x-api-key":
                if key is None:
                    key = v.decode("latin-1")
            elif k == b"content-length":
                if length is None:
                    length = v
            elif k == b"x-request-id" and given is None:
                given = v.decode("latin-1")
        if length is not None:
            try:
                length = int(length)
            except ValueError:
                length = None
        return given, key, length

    # -- the middleware ------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given, key, length = self._headers(scope)
        # 16 random hex digits: os.urandom, not uuid4 (which builds a UUID object: ~4x the time)
        request_id = given if given and _REQUEST_ID.match(given) else os.urandom(8).hex()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        settings = self.api_app.state.settings
        BATCH_LIMIT.set(settings.batch_limit)  # checked before items validate
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (b"x-request-id", request_id.encode())]}
            await send(message)

        path = scope.get("path", "")
        route, allowed = self._lookup(scope)
        limit = settings.max_body_bytes
        if length is None:
            receive = _within(receive, limit)  # chunked: counted as it is read
        elif length > limit:  # refused whatever the route or the key, before a byte is read
            if route is not None:
                scope["route"] = route  # metrics label it by route template
            await send({"type": "http.response.start", "status": 413, "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(_TOO_LARGE)).encode()),
                (b"x-request-id", request_id.encode())]})
            await send({"type": "http.response.body", "body": _TOO_LARGE})
            return
        if path == self.prefix or path.startswith(self.prefix + "/"):
            refusal = self._authenticate(key, state, route)
            if refusal is not None:
                if route is not None:
                    scope["route"] = route  # metrics label the refusal by route template
                status, detail, extra = refusal
                for message in _json(status, {"detail": detail}, request_id, extra):
                    await send(message)
                return
        if route is not None and scope.get("method") not in route.methods and not (
            scope.get("method") == "HEAD" and "GET" in route.methods
        ):
            # every method the path has (Starlette would name only the first route's)
            scope["route"] = route  # metrics label it by the path's template
            allow = ", ".join(sorted(allowed)).encode()
            for message in _json(405, {"detail": "Method Not Allowed"}, request_id,
                                 [(b"allow", allow)]):
                await send(message)
            return
        try:
            await self.app(scope, receive, send_with_id)
        except BodyTooLarge:
            if started:
                raise
            for message in _json(413, {"detail": "Content Too Large"}, request_id, []):
                await send(message)  # as the app's HTTPException handler answers it
        except Exception as exc:  # noqa: BLE001 - the one handler of every error (module doc)
            route = scope.get("route")
            where = getattr(route, "path", None) or "unmatched"
            unavailable = database_unavailable(exc)
            # class, route template and request id only: messages and tracebacks may quote
            # SQL parameters, decision JSON or note text
            log.error(
                "%s on %s %s (request_id=%s)%s",
                type(exc).__name__, scope.get("method", ""), where, request_id,
                ": database unavailable" if unavailable else "",
            )
            if started:
                return  # the response is under way: nothing more can be said to the client
            if unavailable:
                status, body = 503, {"detail": "the decision store is unavailable; retry later",
                                     "request_id": request_id}
                extra = [(b"retry-after", b"5")]
            else:
                status, body = 500, {"detail": "internal server error", "request_id": request_id}
                extra = []
            for message in _json(status, body, request_id, extra):
                await send(message)

    def _authenticate(self, key: str | None, state: dict[str, Any], route: ApiRoute | None):
        """None when the caller may go on (its role in ``state``); else (status, detail, headers)."""
        challenge = [(b"www-authenticate", b"APIKey")]
        if not key:
            return 401, "missing API key (X-API-Key header)", challenge
        role, fingerprint = self.api_app.state.api_keys.identify(key)
        if role is None:
            return 401, "unknown API key", challenge
        state["role"] = role
        state["key_fingerprint"] = fingerprint
        if role != "admin":
            if route is not None and route.admin:
                return 403, "this endpoint needs an admin key", []
        return None


class RedactQuery(logging.Filter):
    """Drops query strings from uvicorn's access log lines (a key sent as ``?api_key=`` is
    refused, but the access log would still have recorded it in clear)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (args[0], args[1], args[2].split("?", 1)[0] + "?[redacted]", *args[3:])
        return True


_REDACT = RedactQuery()

#: Line breaks and other control characters (C0, DEL, C1, the Unicode line separators).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_control(text: str) -> str:
    """``text`` with every control character written as an escape (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class EscapeControl(logging.Filter):
    """Writes control characters of a log message as escapes, so a value that reaches a log line
    (a model path with a newline, a header) cannot forge a second line or colour a terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record: let the handler report it
            return True
        if _CONTROL.search(message):
            record.msg, record.args = escape_control(message), None
        return True


_ESCAPE = EscapeControl()
#: Loggers whose lines may carry values from requests or files.
ESCAPED_LOGGERS = ("service", "triage", "triage.batch", "uvicorn.access", "uvicorn.error")


def install_log_filters() -> None:
    """Attach the query-string filter to uvicorn's access logger and the control-character
    escape to every logger that may carry a request's values (idempotent)."""
    access = logging.getLogger("uvicorn.access")
    if _REDACT not in access.filters:
        access.addFilter(_REDACT)
    for name in ESCAPED_LOGGERS:  # after the redaction, which reads the access line's arguments
        logger = logging.getLogger(name)
        if _ESCAPE not in logger.filters:
            logger.addFilter(_ESCAPE)
