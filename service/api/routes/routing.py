"""POST /v1/route and /v1/route/batch: validate, call the router, persist, answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from service.api.deps import RouterDep, RouterRole, SettingsDep, StoreDep
from service.api.errors import FieldErrors, field_error, invalid_episode_error
from service.api.hotpath import (
    JSONAnswer,
    body_doc,
    hot_route,
    json_body,
    parse_body,
    runs_inline,
    validate,
)
from service.api.spelling import public_decision, spelt_alike
from service.api.timing import UNTIMED, PhaseTimer, timer_for
from service.core.config import Settings
from service.schemas import (
    BATCH_LIMIT,
    BatchDecisions,
    BatchEpisodes,
    Decision,
    Episode,
    Metadata,
    RouteBatchRequest,
)
from service.store import (
    DecisionStore,
    EncodedJSON,
    json_bytes,
    new_decision_id,
    new_decision_ids,
    utcnow,
)
from triage.router import InvalidEpisode, Router

router = APIRouter(prefix="/v1", tags=["routing"])


def _call_args(episode: Episode, metadata: dict[str, Any] | None) -> dict[str, Any]:
    """The router's keyword arguments, ``metadata`` being the episode's as JSON values (dumped
    once: the stored row keeps the same dict)."""
    return {"episode_id": episode.episode_id, "code_scores": episode.code_scores,
            "text": episode.text, "metadata": metadata}


#: How an episode's metadata becomes the router's (and the stored row's) JSON values.
_METADATA_DUMP: dict[str, Any] = {"mode": "json", "exclude_none": True}
#: A batch's metadata dumped in one call (a model_dump per episode took ~2.7x as long).
_METADATA_LIST = TypeAdapter(list[Metadata | None])


def _metadata_json(episode: Episode) -> dict[str, Any] | None:
    if episode.metadata is None:
        return None
    return episode.metadata.model_dump(**_METADATA_DUMP)


def _batch_call_args(episodes: list[Episode]) -> list[dict[str, Any]]:
    """:func:`_call_args` of every episode of a batch."""
    metadata = _METADATA_LIST.dump_python([e.metadata for e in episodes], **_METADATA_DUMP)
    return [_call_args(e, m) for e, m in zip(episodes, metadata, strict=True)]


def _storable(text: str) -> str:
    """Text every database accepts: no NUL (PostgreSQL), no lone surrogates (UTF-8)."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _stored(decision: dict[str, Any], metadata: dict[str, Any] | None, alpha: Any) -> dict[str, Any]:
    """The decision as stored (its ``decision`` column): the answer's fields in the router's
    labels, and what is kept beside them (service.api.spelling.STORED_ONLY)."""
    # the policy's alpha travels with the decision: the watch tests its audited outcome against it
    stored = {**decision, "policy_alpha": alpha}
    if metadata is not None:
        # kept beside the decision, not part of the response: the routing-time metadata the
        # outcome is judged with (POST /v1/outcomes: the MS-DRG targets group with it) and the
        # discharge date POST /v1/allocate weighs (billing urgency)
        stored["metadata"] = metadata
        if "discharge_date" in metadata:
            stored["discharge_date"] = metadata["discharge_date"]
    return stored


def encode_decision(decision: dict[str, Any], metadata: dict[str, Any] | None, alpha: Any,
                    alpha_json: bytes | None = None) -> tuple[bytes, EncodedJSON]:
    """(the decision's answer, its stored ``decision`` column) as JSON: the bytes of
    ``json_bytes(public_decision(decision))`` and the text of ``json_bytes(_stored(...))``, with
    one encoding for both when they share the answer's fields (:func:`spelt_alike`: every code
    spelt alike, ~2/3 of decisions): the stored text is then the answer's with the stored-only
    keys appended (``alpha_json``: ``json_bytes(alpha)``, encoded once per batch)."""
    if not spelt_alike(decision):
        return (json_bytes(public_decision(decision)),
                EncodedJSON(json_bytes(_stored(decision, metadata, alpha)).decode()))
    answer = json_bytes(decision)
    tail = [b',"policy_alpha":', json_bytes(alpha) if alpha_json is None else alpha_json]
    if metadata is not None:
        tail += [b',"metadata":', json_bytes(metadata)]
        if "discharge_date" in metadata:
            tail += [b',"discharge_date":', json_bytes(metadata["discharge_date"])]
    # answer is an object with at least one key ({"episode_id": ...}): its closing brace goes last
    return answer, EncodedJSON(b"".join([answer[:-1], *tail, b"}"]).decode())


def _row(
    decision: dict[str, Any], episode: Episode, metadata: dict[str, Any] | None, store_text: bool,
    now: datetime, alpha: Any, stored: EncodedJSON | None = None,
) -> dict[str, Any]:
    """The decision's row (``stored``: its ``decision`` column encoded already, else
    :func:`_stored`'s dict)."""
    text = episode.text
    discharge = None
    if metadata is not None and "discharge_date" in metadata:
        discharge = episode.metadata.discharge_date
    return {
        "decision_id": decision["decision_id"],
        "episode_id": str(decision["episode_id"]),
        "route": decision["route"],
        "p_correct": float(decision["p_correct"]),
        "model_version": decision["model_version"],
        "policy_version": decision["policy_version"],
        "decision": _stored(decision, metadata, alpha) if stored is None else stored,
        "text": _storable(text) if (store_text and text) else None,
        "created_at": now,
        "care_setting": decision.get("care_setting"),
        "policy_route": decision.get("policy_route"),
        "mode": decision.get("mode"),
        "audit": bool(decision.get("audit")),
        "holdout": bool(decision.get("holdout")),
        "queue": decision.get("queue"),
        "priority": decision.get("priority"),
        "discharge_date": discharge,
    }


def _count_routes(request: Request, decisions: list[dict[str, Any]]) -> None:
    request.app.state.metrics.routed_decisions(decisions)


def _answer(body: bytes, timer: PhaseTimer) -> Response:
    """The answer, with its Server-Timing header when the request is timed (service.api.timing)."""
    response = JSONAnswer(body)
    header = timer.header()
    if header is not None:
        response.raw_headers.append(header)
    return response


def _route_and_record(
    episode: Episode, request: Request, routing: Router, store: DecisionStore, store_text: bool,
    timer: PhaseTimer = UNTIMED,
) -> Response:
    """Route one episode, commit its row, answer (in the threadpool: see :func:`_route_one`)."""
    timer.lap("wait")
    decision, row, answer = _decide(episode, request, routing, store_text, timer)
    store.record_decisions([row])
    timer.lap("write")
    _count_routes(request, [decision])
    return _answer(answer, timer)


def _decide(episode: Episode, request: Request, routing: Router, store_text: bool,
            timer: PhaseTimer = UNTIMED) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """(the decision, its row, its answer's bytes): the router's judgement, nothing stored yet."""
    decision_id = new_decision_id()
    rule = request.app.state.operation.serve_rule(routing, [decision_id])
    call = _call_args(episode, _metadata_json(episode))
    timer.lap("policy")
    try:
        decision = routing.route_one(**call, serve=rule).to_dict()
    except InvalidEpisode as exc:
        raise invalid_episode_error(exc) from None
    timer.lap("route")
    decision["decision_id"] = decision_id
    alpha = routing.policy.constraints.get("alpha")
    metadata = call["metadata"]
    answer, stored = encode_decision(decision, metadata, alpha)  # one encoding for both, mostly
    row = _row(decision, episode, metadata, store_text, utcnow(), alpha, stored)
    timer.lap("encode")
    return decision, row, answer


def _current(request: Request) -> tuple[Router, DecisionStore, Settings]:
    """The router this request will use from start to finish (503 when none is loaded), the
    store and the settings: what the FastAPI declarations below get from their dependencies."""
    state = request.app.state
    routing = state.router_holder.get()
    if routing is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="no model is loaded")
    return routing, state.store, state.settings


@hot_route("POST", "/v1/route")
async def route_one(request: Request) -> Response:
    """POST /v1/route, as served (service.api.hotpath.HotRoutes)."""
    routing, store, settings = _current(request)
    return await _route_one(request, routing, store, settings)


async def _route_one(request: Request, routing: Router, store: DecisionStore,
                     settings: Settings) -> Response:
    timer = timer_for(settings.server_timing)
    episode = await parse_body(request, Episode)
    timer.lap("parse")
    if not runs_inline(episode.code_scores, episode.text, store):
        return await run_in_threadpool(_route_and_record, episode, request, routing, store,
                                       settings.store_text, timer)
    # on the event loop: the row is committed with those of the requests routed beside it
    decision, row, answer = _decide(episode, request, routing, settings.store_text, timer)
    await store.record_decisions_on_loop([row])
    timer.lap("write")
    _count_routes(request, [decision])
    return _answer(answer, timer)


@router.post(
    "/route",
    response_model=Decision,
    summary="Route one episode",
    responses={401: {"description": "No or unknown API key"}, 422: {"description": "Bad input"}},
    openapi_extra=body_doc(Episode),
)
async def route_episode(
    request: Request,
    routing: RouterDep,
    store: StoreDep,
    settings: SettingsDep,
    _role: RouterRole,
) -> Any:
    """Automate, assisted review or manual — with the codes, the confidence and the reasons."""
    # served by route_one through HotRoutes; this declaration is the OpenAPI document's (and the
    # path a request takes were HotRoutes not installed)
    return await _route_one(request, routing, store, settings)


def validate_batch(body: bytes) -> BatchEpisodes | RouteBatchRequest:
    """The batch body validated as :class:`RouteBatchRequest` validates it, in about half the time.

    A batch within the limit is validated straight from the JSON bytes (:class:`BatchEpisodes`).
    Every other body takes RouteBatchRequest's own path, so its errors (and the count-first
    refusal of a batch past the limit, before any episode is validated) are exactly that model's:
    a body with more ``"episode_id"`` keys than the limit allows (a cheap count of the bytes; code
    keys may add to it, so it only chooses the path), a body the fast model refuses, and one
    that turns out longer than the limit after all (its keys spelt with JSON escapes: a body
    within the size limit validated twice, never accepted)."""
    limit = BATCH_LIMIT.get()
    if body.count(b'"episode_id"') <= limit:
        try:
            batch = BatchEpisodes.model_validate_json(body)
        except ValidationError:
            batch = None
        if batch is not None and len(batch.episodes) <= limit:
            return batch
    return validate(RouteBatchRequest, body)


def _route_batch(body: bytes, request: Request, routing: Router, store: DecisionStore,
                 settings: Settings, timer: PhaseTimer = UNTIMED) -> Response:
    """The whole batch in one threadpool hop: validate the list once, route_many once, one
    group-committed write of every row, the answer sent after it; each decision encoded once for
    both its answer and its row where they agree (:func:`encode_decision`)."""
    timer.lap("wait")
    batch = validate_batch(body)
    n = len(batch.episodes)
    if n > settings.batch_limit:
        raise FieldErrors(
            [
                field_error(
                    ["body", "episodes"],
                    f"batch has {n} episodes; the limit is {settings.batch_limit}",
                    n,
                    "too_long",
                )
            ]
        )
    timer.lap("parse")
    calls = _batch_call_args(batch.episodes)
    ids = new_decision_ids(len(calls))
    rule = request.app.state.operation.serve_rule(routing, ids)
    timer.lap("policy")
    try:
        decisions = [d.to_dict() for d in routing.route_many(calls, serve=rule)]
    except InvalidEpisode as exc:  # field is "episodes[i].<field>": the loc names the episode
        raise invalid_episode_error(exc) from None
    timer.lap("route")
    now = utcnow()
    alpha = routing.policy.constraints.get("alpha")
    alpha_json = json_bytes(alpha)
    rows, answers = [], []
    for decision, episode, call, decision_id in zip(decisions, batch.episodes, calls, ids):
        decision["decision_id"] = decision_id
        metadata = call["metadata"]
        answer, stored = encode_decision(decision, metadata, alpha, alpha_json)
        rows.append(_row(decision, episode, metadata, settings.store_text, now, alpha, stored))
        answers.append(answer)
    # json_response({"decisions": [public_decision(d) ...]})'s bytes, of the answers encoded above
    answer = b"".join([b'{"decisions":[', b",".join(answers), b"]}"])
    timer.lap("encode")
    store.record_decisions(rows)
    timer.lap("write")
    _count_routes(request, decisions)
    return _answer(answer, timer)


@hot_route("POST", "/v1/route/batch")
async def route_many(request: Request) -> Response:
    """POST /v1/route/batch, as served (service.api.hotpath.HotRoutes)."""
    routing, store, settings = _current(request)
    return await _serve_batch(request, routing, store, settings)


async def _serve_batch(request: Request, routing: Router, store: DecisionStore,
                       settings: Settings) -> Response:
    timer = timer_for(settings.server_timing)
    body = await json_body(request)
    timer.lap("read")
    return await run_in_threadpool(_route_batch, body, request, routing, store, settings, timer)


@router.post(
    "/route/batch",
    response_model=BatchDecisions,
    summary="Route many episodes in one call",
    responses={401: {"description": "No or unknown API key"}, 422: {"description": "Bad input"}},
    openapi_extra=body_doc(RouteBatchRequest),
)
async def route_batch(
    request: Request,
    routing: RouterDep,
    store: StoreDep,
    settings: SettingsDep,
    _role: RouterRole,
) -> Any:
    """Up to the configured batch limit (default 1,000); all decisions or none are stored."""
    # served by route_many through HotRoutes (see route_episode)
    return await _serve_batch(request, routing, store, settings)
