"""POST /v1/suggest and /v1/audit: the seed paper's section 4 where coders meet it.

``/v1/suggest``: for an episode a person codes, the coder's best codes grouped by ontology,
the pre-filled subset (certified precision), and partial codes. ``/v1/audit``: for an episode a
person has coded, flags for missing, unsupported and mis-sequenced codes with their MS-DRG
impact. Both read the certified thresholds from the router bundle (``Router.info["assist"]``,
written by :func:`triage.assist.calibrate_assistant`), validate as ``/v1/route`` does, and store
every answer (``triage_assist`` table) before answering.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status

from service.api.deps import RouterDep, RouterRole, StoreDep
from service.api.errors import invalid_episode_error
from service.api.hotpath import body_doc, json_response, parse_body, run, runs_inline
from service.api.spelling import public_code
from service.schemas import AuditIn, AuditOut, SuggestIn, SuggestOut
from service.store import DecisionStore, new_decision_id, utcnow
from triage.assist import Assistant, PrecisionThreshold
from triage.router import InvalidEpisode, Router

router = APIRouter(prefix="/v1", tags=["assist"])

_ERRORS = {401: {"description": "No or unknown API key"}, 422: {"description": "Bad input"}}


def _uncalibrated(icd_version: int) -> Assistant:
    """No calibration in the bundle: suggestions without pre-filled or partial codes, no audit."""
    nothing = PrecisionThreshold(float("inf"), 0.95, 0.1, "episode", 5, False, 0, 0, None)
    return Assistant(nothing, nothing, {}, icd_version)


def assistant_for(request: Request, routing: Router) -> tuple[Assistant, bool]:
    """The router's assistant (built once per router object), and whether it is calibrated."""
    cached = getattr(request.app.state, "assist_cache", None)
    if cached is not None and cached[0] is routing:
        return cached[1], cached[2]
    info = (getattr(routing, "info", None) or {}).get("assist")
    version = int(getattr(routing, "icd_version", 10))
    assistant, calibrated = (Assistant.from_dict(info), True) if info else (_uncalibrated(version), False)
    request.app.state.assist_cache = (routing, assistant, calibrated)
    return assistant, calibrated


def _scores(routing: Router, body: SuggestIn | AuditIn) -> tuple[dict[str, float], list[str]]:
    try:
        return routing.scores_for(body.code_scores, body.text)
    except InvalidEpisode as exc:
        raise invalid_episode_error(exc) from None


def _metadata(body: SuggestIn | AuditIn) -> dict[str, Any]:
    return body.metadata.model_dump(mode="json", exclude_none=True) if body.metadata is not None else {}


def _store(store: Any, kind: str, episode_id: Any, model_version: str, record: dict[str, Any]) -> str:
    record_id = new_decision_id()
    store.record_assist([{"record_id": record_id, "kind": kind, "episode_id": str(episode_id),
                          "model_version": model_version, "record": record, "created_at": utcnow()}])
    return record_id


@router.post("/suggest", response_model=SuggestOut, summary="Suggestions for a coder", responses=_ERRORS,
             openapi_extra=body_doc(SuggestIn))
async def suggest(request: Request, routing: RouterDep, store: StoreDep, _role: RouterRole) -> Any:
    """The coder's best ``k`` codes grouped by ontology, each with its probability; codes whose
    precision is certified (e.g. >= 95%) come pre-filled, certain categories as partial codes."""
    body = await parse_body(request, SuggestIn)
    inline = runs_inline(body.code_scores, body.text, store)
    return await run(inline, _suggest, body, request, routing, store)


def _suggest(body: SuggestIn, request: Request, routing: Router, store: DecisionStore) -> Response:
    scores, unknown = _scores(routing, body)
    assistant, calibrated = assistant_for(request, routing)
    out = assistant.suggest(scores, k=body.k, describe=routing.describe)
    for g in out["groups"]:
        if "category" in g:  # a truncated label (I10.) is internal too: the API says I10
            g["category"] = public_code(g["category"])
        for c in g["codes"]:
            c["code"] = public_code(c["code"])
    out["prefilled"] = [public_code(c) for c in out["prefilled"]]
    out["offered"] = [public_code(c) for c in out["offered"]]
    for p in out["partial"]:
        if "category" in p:
            p["category"] = public_code(p["category"])
        for c in p["candidates"]:
            c["code"] = public_code(c["code"])
    model_version = str(getattr(routing, "model_version", "unversioned"))
    out.update(episode_id=body.episode_id, calibrated=calibrated, unknown_codes=unknown,
               model_version=model_version)
    out["record_id"] = _store(store, "suggest", body.episode_id, model_version, out)
    return json_response(out)


@router.post(
    "/audit", response_model=AuditOut, summary="Audit a human-coded episode",
    responses={**_ERRORS, 409: {"description": "The model bundle has no audit calibration"}},
    openapi_extra=body_doc(AuditIn),
)
async def audit(request: Request, routing: RouterDep, store: StoreDep, _role: RouterRole) -> Any:
    """Flags for codes the model is confident are missing, coded codes it finds unsupported and a
    principal diagnosis it would sequence differently, each above a threshold certified for flag
    precision, with the MS-DRG change accepting it would cause; DRG-changing flags first."""
    body = await parse_body(request, AuditIn)
    inline = runs_inline(body.code_scores, body.text, store)
    return await run(inline, _audit, body, request, routing, store)


def _audit(body: AuditIn, request: Request, routing: Router, store: DecisionStore) -> Response:
    assistant, calibrated = assistant_for(request, routing)
    if not calibrated or not assistant.audit:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail="this model bundle has no audit calibration (Router.info['assist']); "
                                   "re-run `triage run` to write one")
    # a coded code in no code system is left out and listed in unknown_codes, as route and
    # suggest treat an unknown scored code (valid by the schema, so never a 422)
    coded, unknown_coded = routing.resolve_codes(body.coded_codes)
    scores, unknown = _scores(routing, body)
    unknown = list(dict.fromkeys([*unknown_coded, *unknown]))
    md = _metadata(body)
    result = assistant.auditor().audit(coded, scores, md.get("gender"), md.get("died"))
    for f in result["flags"]:
        f["code"] = public_code(f["code"])
        if f.get("replaces") is not None:
            f["replaces"] = public_code(f["replaces"])
    model_version = str(getattr(routing, "model_version", "unversioned"))
    out = {**result, "episode_id": body.episode_id, "unknown_codes": unknown, "model_version": model_version,
           "guarantee": {t: p.to_dict() for t, p in assistant.audit.items()}}
    out["record_id"] = _store(store, "audit", body.episode_id, model_version, out)
    return json_response(out)
