"""The request path's three rules, in one place (every route that routes, suggests or audits).

* **Bodies in**: the JSON bytes go straight into the pydantic model (``model_validate_json``: one
  pass in Rust, no ``json.loads`` to dicts first and no second validation), with the same 422
  contract as FastAPI's own parsing (``loc`` starts with ``body``; note text and whole bodies are
  never echoed, :mod:`service.api.errors`). The route declares its body with :func:`body_doc`, so
  the OpenAPI document still shows the model.
* **Bodies out**: the router already builds the documented shape (tests validate every field
  against the schema), so the answer is encoded once by ``pydantic_core.to_json`` (Rust) and
  FastAPI's second validation pass over it is skipped (~50 us a decision).
* **No framework in between**: the hot operations (``POST /v1/route``, ``/v1/route/batch``) are
  declared as FastAPI routes (the OpenAPI document, the dependencies' security scheme) but served
  by :class:`HotRoutes`, a pure ASGI layer inside the edge guard and the per-key limit: no route
  matching over every path, no dependency solving, no exception-middleware wrapping (~0.3 ms a
  request under load, measured). The key was checked by the guard already, and every error goes
  through the app's own exception handlers, so answers are the same byte for byte.
* **Where the work runs**: a score-only episode is ~0.3 ms of Python plus a local SQLite commit:
  cheaper on the event loop than the threadpool hop (~0.6 ms measured); its commit is shared with
  the requests routed in the same pass of the loop (``service.store.LoopCommit``). An episode
  with a note (the coder may run), with many codes, or on a networked database goes to the
  threadpool, so it never stalls other requests.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pydantic_core
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

#: Scored codes a score-only episode may have and still be handled on the event loop (~0.3 ms);
#: more (up to triage.decisions.validation.MAX_CODES) run in the threadpool.
INLINE_MAX_CODES = 64

#: Models documented as request bodies through :func:`body_doc` (service.api.openapi adds their
#: JSON schemas to the document's components).
DOCUMENTED_BODIES: dict[str, type[BaseModel]] = {}


def body_doc(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` of a route that reads its JSON body with :func:`parse_body`."""
    DOCUMENTED_BODIES[model.__name__] = model
    return {"requestBody": {
        "required": required,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
    }}


def _is_json(content_type: str | None) -> bool:
    """application/json or application/*+json, parameters ignored (FastAPI's rule, without
    building an email.message.Message per request)."""
    if content_type is None:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    kind, _, sub = media.partition("/")
    return kind == "application" and (sub == "json" or sub.endswith("+json"))


def _error(loc: tuple[str | int, ...], msg: str, kind: str, value: Any = None) -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": msg, "input": value}


def request_error(exc: ValidationError) -> RequestValidationError:
    """A pydantic error as FastAPI reports a body error (``loc`` from ``body``)."""
    return RequestValidationError(
        [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_context=False)])


def _slow_path(model: type[M], body: bytes) -> M:
    """What FastAPI did, for a body the strict JSON parser refused: Python's JSON reader (which
    takes NaN and lone surrogate escapes) then validation, so such a value is refused at its
    field (``code_scores.I50.9``, ``text``), and a real syntax error at its position."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        pos = exc.pos if isinstance(exc, json.JSONDecodeError) else exc.start
        raise RequestValidationError([_error(("body", pos), "JSON decode error", "json_invalid")]) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise request_error(exc) from None


async def read_body(request: Request) -> bytes:
    """``await request.body()``: the same bytes, kept on the request as Starlette keeps them, and
    :class:`ClientDisconnect` when the client left, without Starlette's stream generator (the
    hot routes read every body once; ~3 us less a request, measured)."""
    if hasattr(request, "_body"):
        return request._body
    receive, chunks = request.receive, []
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        elif kind == "http.disconnect":
            request._is_disconnected = True
            raise ClientDisconnect()
    request._stream_consumed = True
    request._body = body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return body


def _content_type(request: Request) -> str | None:
    for name, value in request.scope["headers"]:
        if name == b"content-type":
            return value.decode("latin-1")
    return None


async def json_body(request: Request) -> bytes:
    """The request's body, refused (422 at ``body``) when empty or not sent as JSON."""
    body = await read_body(request)
    if not body:
        raise RequestValidationError([_error(("body",), "Field required", "missing")])
    if not _is_json(_content_type(request)):
        raise RequestValidationError([_error(
            ("body",), "Input should be a JSON object sent as application/json", "model_attributes_type")])
    return body


def validate(model: type[M], body: bytes) -> M:
    """JSON bytes validated into ``model`` in one pass; errors as FastAPI's (see the module doc)."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors(include_url=False)):
            return _slow_path(model, body)  # never echoes the body (the JSON error's input)
        raise request_error(exc) from None


async def parse_body(request: Request, model: type[M]) -> M:
    """The request's JSON body validated into ``model`` (:func:`json_body`, :func:`validate`)."""
    return validate(model, await json_body(request))


class JSONAnswer(Response):
    """``Response(body, media_type="application/json")`` for JSON bytes encoded already: the same
    headers in the same order (content-length, content-type), built without Starlette's general
    ``__init__`` (rendering, header merging)."""

    media_type = "application/json"

    def __init__(self, body: bytes, status_code: int = 200) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [(b"content-length", str(len(body)).encode("latin-1")),
                            (b"content-type", b"application/json")]


def json_response(content: Any, status_code: int = 200) -> Response:
    """An answer encoded once (see the module doc)."""
    return JSONAnswer(pydantic_core.to_json(content), status_code=status_code)


def runs_inline(code_scores: Any, text: Any, store: Any) -> bool:
    """Whether this episode's work is cheap enough for the event loop (see the module doc)."""
    return text is None and store.is_local and len(code_scores or ()) <= INLINE_MAX_CODES


async def run(inline: bool, work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` on the event loop when ``inline``, else in the threadpool."""
    if inline:
        return work(*args)
    return await run_in_threadpool(work, *args)


#: A hot operation: the request in, the answer out (errors raised, as a FastAPI endpoint does).
Handler = Callable[[Request], Awaitable[Response]]

#: (method, path) -> handler of the operations :class:`HotRoutes` serves; the route modules add
#: theirs (next to the FastAPI declaration the OpenAPI document shows).
HOT_ROUTES: dict[tuple[str, str], Handler] = {}


def hot_route(method: str, path: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` as the implementation of ``method path`` (see :class:`HotRoutes`)."""
    def register(handler: Handler) -> Handler:
        HOT_ROUTES[(method, path)] = handler
        return handler
    return register


class HotRoutes:
    """Serves the :data:`HOT_ROUTES` straight from ASGI (see the module doc); anything else goes
    on to FastAPI. It sits inside the edge guard, so a request reaching it was authenticated (a
    request without a role, were the guard ever bypassed, takes FastAPI's path and its
    dependencies); errors are answered by the app's exception handlers for their class, as
    FastAPI's exception middleware would, and any other exception goes out to the guard."""

    def __init__(self, app: ASGIApp, *, api_app: Any) -> None:
        self.app = app
        self.api_app = api_app
        self._routes: dict[tuple[str, str], Any] | None = None

    def _declared(self) -> dict[tuple[str, str], Any]:
        """(method, path) -> the FastAPI route declaring it: metrics label a request by it."""
        if self._routes is None:
            from service.api.guard import _walk

            self._routes = {(m, path): route for path, route in _walk(self.api_app.router.routes)
                            for m in route.methods or ()}
        return self._routes

    def _handler_for(self, exc: Exception) -> Any:
        handlers = self.api_app.exception_handlers
        for cls in type(exc).__mro__:
            if cls is Exception:
                return None  # not a handled error: the guard's 500/503, as on FastAPI's path
            if cls in handlers:
                return handlers[cls]
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            key = (scope["method"], scope["path"])
            handler = HOT_ROUTES.get(key)
            if handler is not None and (scope.get("state") or {}).get("role") is not None:
                route = self._declared().get(key)
                if route is not None:
                    scope["route"] = route
                    request = Request(scope, receive)
                    try:
                        response = await handler(request)
                    except Exception as exc:
                        answer = self._handler_for(exc)
                        if answer is None:
                            raise
                        response = await answer(request, exc)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
