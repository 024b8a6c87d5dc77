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

REF_TEMPLATE = "#/components/schemas/{model}"
_JSON_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_EDGE_RESPONSES = {
    "400": {"description": "The body is not JSON (or not UTF-8)", "content": _JSON_ERROR},
    "401": {"description": "No or unknown API key (checked before the body is read)",
            "content": _JSON_ERROR},
    "413": {"description": "Request body or requested work past a configured limit",
            "content": {"text/plain": {"schema": {"type": "string"}}, **_JSON_ERROR}},
    "429": {"description": "Too many requests of this API key running and waiting; retry after Retry-After",
            "content": _JSON_ERROR},
    "500": {"description": "Internal error (logged with its class, route and request id only)",
            "content": _JSON_ERROR},
    "503": {"description": "No model is loaded, or the decision store is unavailable; retry",
            "content": _JSON_ERROR},
}


def _body_components(components: dict[str, Any]) -> None:
    """The models routes read straight from JSON bytes (:func:`service.api.hotpath.body_doc`):
    FastAPI does not see them as parameters, so their schemas are added here."""
    from fastapi.encoders import jsonable_encoder
    from fastapi.openapi.models import Schema

    from service.api.hotpath import DOCUMENTED_BODIES

    def as_fastapi(schema: dict[str, Any]) -> dict[str, Any]:  # FastAPI's own normal form
        return jsonable_encoder(Schema(**schema), by_alias=True, exclude_none=True)

    for name, model in DOCUMENTED_BODIES.items():
        if name in components:
            continue
        body = model.model_json_schema(ref_template=REF_TEMPLATE)
        for sub, sub_schema in body.pop("$defs", {}).items():
            components.setdefault(sub, as_fastapi(sub_schema))
        components[name] = as_fastapi(body)


def _needs_admin(app: FastAPI, path: str, method: str) -> bool:
    from service.api.guard import api_routes

    return any(r.admin for r in api_routes(app) if r.path == path and method.upper() in r.methods)


def _not_null(name: str) -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


def _episode_schema(schema: dict[str, Any], has_coder: bool) -> None:
    """An episode (any body with code_scores and text: route, suggest, audit...) needs non-empty
    code_scores, or (only when the model has a coder) a note that is not blank."""
    with_scores = {"required": ["code_scores"],
                   "properties": {"code_scores": {"type": "object", "minProperties": 1}}}
    with_text = {"required": ["text"], "properties": {"text": {"type": "string", "pattern": r"\S"}}}
    for component in schema["components"]["schemas"].values():
        props = component.get("properties", {})
        if "code_scores" in props and "text" in props:
            component["anyOf"] = [with_scores, with_text] if has_coder else [with_scores]


def _one_of_references(schema: dict[str, Any]) -> None:
    """An outcome names its decision by exactly one of decision_id or episode_id."""
    outcome = schema["components"]["schemas"].get("OutcomeIn")
    if outcome is not None:
        outcome["oneOf"] = [
            {"required": ["decision_id"], "properties": {"decision_id": {"type": "string"}}},
            _not_null("episode_id"),
        ]


def _policy_update(schema: dict[str, Any]) -> None:
    """A policy update changes at least one parameter (a null or an empty costs object is none)."""
    comps = schema["components"]["schemas"]
    update, costs = comps.get("PolicyUpdate"), comps.get("CostsUpdate")
    if update is None:
        return
    if costs is not None and {"drg_weighted", "base_rate"} <= set(costs.get("properties", {})):
        # CostModel: DRG-weighted error costs need the payment per unit of relative weight
        # ... and both CostModel rules the update model checks (CostsUpdate._consistent)
        costs["allOf"] = [
            {"if": {"required": ["drg_weighted"], "properties": {"drg_weighted": {"const": True}}},
             "then": {"required": ["base_rate", "unit"], "properties": {
                 "base_rate": {"type": "number"}, "unit": {"const": "money"}}}},
            {"if": _not_null("capacity"), "then": _not_null("period_episodes")},
            {"if": _not_null("period_episodes"), "then": _not_null("capacity")},
        ]
    branches = [_not_null(k) for k in update.get("properties", {}) if k != "costs"]
    if costs is not None and "costs" in update.get("properties", {}):
        # costs alone count only when they change something
        branches.append({"required": ["costs"], "properties": {"costs": {
            "type": "object", "anyOf": [_not_null(k) for k in costs.get("properties", {})]}}})
    update["anyOf"] = branches


def _per_setting(schema: dict[str, Any], has_settings: bool) -> None:
    """A per-setting policy needs calibration episodes that carry their care setting."""
    update = schema["components"]["schemas"].get("PolicyUpdate", {}).get("properties", {})
    if "per_setting" in update and not has_settings:
        update["per_setting"] = {"anyOf": [{"const": False}, {"type": "null"}],
                                 "description": "This model's calibration episodes carry no care "
                                 "setting: one set of thresholds only."}


def _roster(schema: dict[str, Any], allocator_config: Any) -> None:
    """Roster values the allocator takes: its specialties and experience levels; ids unique."""
    comps = schema["components"]["schemas"]
    coder = comps.get("RosterCoder", {}).get("properties", {})
    if allocator_config is not None and coder:
        coder["specialties"].setdefault("items", {})["enum"] = sorted(allocator_config.specialties)
        coder["specialties"]["uniqueItems"] = True
        coder["level"] = {"title": "Level", "type": "string",
                          "enum": sorted(allocator_config.levels, key=allocator_config.levels.get)}
        coder["coder_id"]["pattern"] = r"^[!-~]([ -~]*[!-~])?$"  # no blank ends: ids are stripped
    alloc = comps.get("AllocateIn", {}).get("properties", {})
    if "decision_ids" in alloc:
        alloc["decision_ids"]["uniqueItems"] = True


def _close_pattern_maps(node: Any) -> None:
    """Pydantic writes a dict with constrained keys as ``patternProperties``, which lets keys
    outside the pattern through with any value; the service refuses those, so say so."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_pattern_maps(value)
    elif isinstance(node, list):
        for value in node:
            _close_pattern_maps(value)


def _set_limit(schema: dict[str, Any], model: str, field: str, **limits: int) -> None:
    prop = schema["components"]["schemas"].get(model, {}).get("properties", {}).get(field)
    if prop is not None:
        prop.update(limits)


def _allocator_config(app: FastAPI) -> Any:
    from service.api.deps import allocator_for

    try:
        return allocator_for(app.state, app.state.router_holder.get()).config
    except Exception:  # noqa: BLE001 - the document still serves without the enums
        return None


def build_schema(
    app: FastAPI, has_coder: bool, allocator_config: Any = None, has_settings: bool = True
) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    _body_components(components)
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            responses = op.setdefault("responses", {})
            if path.startswith("/v1"):
                for code, resp in _EDGE_RESPONSES.items():
                    if code in ("400", "413") and "requestBody" not in op:
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
    _close_pattern_maps(schema["components"]["schemas"])
    _episode_schema(schema, has_coder)
    _one_of_references(schema)
    _policy_update(schema)
    _roster(schema, allocator_config)
    _per_setting(schema, has_settings)
    _set_limit(schema, "RouteBatchRequest", "episodes", maxItems=settings.batch_limit)
    _set_limit(schema, "AllocateIn", "decision_ids", maxItems=settings.allocate_max_decisions)
    _set_limit(schema, "AllocateIn", "roster", maxItems=settings.allocate_max_coders)
    return schema


def document_edges(app: FastAPI) -> None:
    """Serve the completed document; rebuilt when the loaded model's coder or allocator changes."""
    cache: dict[tuple[bool, int, bool], dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        router = app.state.router_holder.get()
        has_coder = bool(getattr(router, "has_coder", False))
        config = _allocator_config(app)
        has_settings = getattr(router, "settings_calibration", None) is not None
        key = (has_coder, id(config), has_settings)
        if key not in cache:
            cache.clear()
            cache[key] = build_schema(app, has_coder, config, has_settings)
        app.openapi_schema = cache[key]
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
