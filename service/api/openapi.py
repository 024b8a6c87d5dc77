"""The OpenAPI document says every status a route can answer and allows nothing the service refuses.

FastAPI documents 200 and 422 per route; the edge adds the rest for every ``/v1`` route (present
or future, no per-route annotation needed): 401 (no or unknown key, from :mod:`service.api.guard`),
403 (router key on an admin route), 413 (body or work past a configured limit), 503 (no model
loaded, or the decision store unavailable) and 500. Limits that depend on settings (the batch
size, the allocate sizes) and on the loaded model (whether it has a coder, so whether a note
alone is enough) are written into the schema when it is served.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "request_id": {"type": "string"},
    },
    "required": ["detail"],
}

_JSON_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_EDGE_RESPONSES = {
    "401": {"description": "No or unknown API key (checked before the body is read)",
            "content": _JSON_ERROR},
    "413": {"description": "Request body or requested work past a configured limit",
            "content": {"text/plain": {"schema": {"type": "string"}}, **_JSON_ERROR}},
    "500": {"description": "Internal error (logged with its class, route and request id only)",
            "content": _JSON_ERROR},
    "503": {"description": "No model is loaded, or the decision store is unavailable; retry",
            "content": _JSON_ERROR},
}


def _needs_admin(app: FastAPI, path: str, method: str) -> bool:
    from service.security import require_admin

    for route in app.routes:
        if getattr(route, "path", None) == path and method.upper() in getattr(route, "methods", ()):
            stack = [getattr(route, "dependant", None)]
            while stack:
                dep = stack.pop()
                if dep is None:
                    continue
                if getattr(dep, "call", None) is require_admin:
                    return True
                stack.extend(dep.dependencies)
    return False


def _episode_schema(schema: dict[str, Any], has_coder: bool) -> None:
    """An episode needs non-empty code_scores, or (only when the model has a coder) a note."""
    episode = schema["components"]["schemas"].get("Episode")
    if episode is None:
        return
    with_scores = {"required": ["code_scores"],
                   "properties": {"code_scores": {"type": "object", "minProperties": 1}}}
    with_text = {"required": ["text"], "properties": {"text": {"type": "string", "pattern": r"\S"}}}
    episode["anyOf"] = [with_scores, with_text] if has_coder else [with_scores]


def _set_limit(schema: dict[str, Any], model: str, field: str, **limits: int) -> None:
    prop = schema["components"]["schemas"].get(model, {}).get("properties", {}).get(field)
    if prop is not None:
        prop.update(limits)


def build_schema(app: FastAPI, has_coder: bool) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            responses = op.setdefault("responses", {})
            if path.startswith("/v1"):
                for code, resp in _EDGE_RESPONSES.items():
                    if code == "413" and "requestBody" not in op:
                        continue
                    responses.setdefault(code, deepcopy(resp))
                if _needs_admin(app, path, method):
                    responses.setdefault("403", {"description": "Needs an admin key",
                                                 "content": deepcopy(_JSON_ERROR)})
                elif "403" in responses and "content" not in responses["403"]:
                    responses["403"]["content"] = deepcopy(_JSON_ERROR)
                for code in ("403", "404", "409"):
                    if code in responses and "content" not in responses[code]:
                        responses[code]["content"] = deepcopy(_JSON_ERROR)
            else:
                responses.setdefault("500", deepcopy(_EDGE_RESPONSES["500"]))
    settings = app.state.settings
    _episode_schema(schema, has_coder)
    _set_limit(schema, "RouteBatchRequest", "episodes", maxItems=settings.batch_limit)
    _set_limit(schema, "AllocateIn", "decision_ids", maxItems=settings.allocate_max_decisions)
    _set_limit(schema, "AllocateIn", "roster", maxItems=settings.allocate_max_coders)
    return schema


def document_edges(app: FastAPI) -> None:
    """Serve the completed document; rebuilt when the loaded model gains or loses a coder."""
    cache: dict[bool, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        router = app.state.router_holder.get()
        has_coder = bool(getattr(router, "has_coder", False))
        if has_coder not in cache:
            cache[has_coder] = build_schema(app, has_coder)
        app.openapi_schema = cache[has_coder]
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
