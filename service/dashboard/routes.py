"""``/dashboard``: the coding manager's pages, behind a browser sign-in.

Every page needs a session (a GET without one is sent to the sign-in form, anything else gets
403); admin actions need the admin role, the session's CSRF token and a confirmation step. Pages
are server-rendered HTML with inline SVG charts: no script, no external asset.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from service.dashboard import actions, pages
from service.dashboard.auth import COOKIE, Session, csrf_ok
from service.dashboard.queries import WINDOWS

PREFIX = "/dashboard"
router = APIRouter(prefix=PREFIX, include_in_schema=False)
_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
_MAX_FORM = 8 * 1024

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _fmt_pct(v: Any, digits: int = 1) -> str:
    return f"{v * 100:.{digits}f}%" if isinstance(v, int | float) else "—"


def _fmt_num(v: Any, digits: int = 0) -> str:
    if not isinstance(v, int | float):
        return "—"
    if isinstance(v, float) and v == float("inf"):
        return "∞"
    return f"{v:,.{digits}f}"


def _fmt_time(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, datetime):
        v = v if v.tzinfo else v.replace(tzinfo=UTC)
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(v)


_env.filters.update(pct=_fmt_pct, num=_fmt_num, when=_fmt_time)


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _dash(request: Request) -> Any:
    state = request.app.state
    if getattr(state, "dashboard_signer", None) is None:
        raise HTTPException(404, detail="the dashboard is off (no TRIAGE_DASHBOARD_USERS)")
    return state


def session_of(request: Request) -> Session | None:
    state = _dash(request)
    return state.dashboard_signer.read(request.cookies.get(COOKIE), state.dashboard_users)


class SignInNeeded(Exception):
    """Raised by a page without a session; answered by a redirect to the sign-in form."""


def need_session(request: Request) -> Session:
    session = session_of(request)
    if session is None:
        if request.method in ("GET", "HEAD"):
            raise SignInNeeded()
        raise HTTPException(403, detail="sign in first")
    return session


async def form_of(request: Request) -> dict[str, str]:
    """A small urlencoded form body (the dashboard's forms post nothing else)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise HTTPException(415, detail="expected a form")
    body = await request.body()
    if len(body) > _MAX_FORM:
        raise HTTPException(413, detail="form too large")
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


def _checked_post(session: Session, form: dict[str, str]) -> None:
    if not csrf_ok(session, form.get("csrf_token")):
        raise HTTPException(403, detail="the form's CSRF token does not match the session")


def _window(request: Request) -> str:
    w = request.query_params.get("window", "week")
    return w if w in WINDOWS else "week"


def _base(request: Request, session: Session, page: str) -> dict[str, Any]:
    routing = request.app.state.router_holder.get()
    return {"session": session, "page": page, "now": datetime.now(UTC), "routing": routing,
            "prefix": PREFIX}


# -- sign-in ----------------------------------------------------------------------------------
@router.get("/login")
async def login_form(request: Request) -> Response:
    _dash(request)
    if session_of(request) is not None:
        return RedirectResponse(PREFIX, status_code=303)
    return render("login.html", error=None, prefix=PREFIX)


@router.post("/login")
async def login(request: Request) -> Response:
    state = _dash(request)
    form = await form_of(request)
    user = await run_in_threadpool(state.dashboard_users.authenticate, form.get("username", "")[:128],
                                   form.get("password", "")[:1024])
    if user is None:
        return render("login.html", status=401, error="Unknown user name or wrong password.", prefix=PREFIX)
    cookie, _ = state.dashboard_signer.issue(user)
    response = RedirectResponse(PREFIX, status_code=303)
    response.set_cookie(COOKIE, cookie, max_age=state.dashboard_signer.max_age_s, path=PREFIX,
                        httponly=True, samesite="strict", secure=state.settings.dashboard_secure_cookie)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = need_session(request)
    _checked_post(session, await form_of(request))
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict",
                           secure=request.app.state.settings.dashboard_secure_cookie)
    return response


# -- pages ------------------------------------------------------------------------------------
@router.get("")
def today_page(request: Request) -> Response:
    session = need_session(request)
    ctx = _base(request, session, "today")
    state = request.app.state
    data = pages.today(state.store, ctx["routing"], ctx["now"], _window(request),
                       state.settings.monitoring_confidence)
    return render("today.html", **ctx, **data)


@router.get("/work")
def work_page(request: Request) -> Response:
    session = need_session(request)
    ctx = _base(request, session, "work")
    from service.api.deps import allocator_for

    state = request.app.state
    data = pages.work(state.store, allocator_for(state, ctx["routing"]), state.settings.dashboard_roster,
                      ctx["now"])
    return render("work.html", **ctx, **data)


@router.get("/policy")
def policy_page(request: Request) -> Response:
    session = need_session(request)
    ctx = _base(request, session, "policy")
    data = pages.policy(request.app.state.store, ctx["routing"])
    return render("policy.html", **ctx, **data, actions=actions.ACTIONS,
                  done=request.query_params.get("done") if request.query_params.get("done") in actions.ACTIONS
                  else None)


@router.get("/quality")
def quality_page(request: Request) -> Response:
    session = need_session(request)
    ctx = _base(request, session, "quality")
    data = pages.quality(request.app.state.store, ctx["now"], _window(request))
    return render("quality.html", **ctx, **data)


# -- admin actions: POST (CSRF token), then a confirmation page, then POST with confirm=yes ------
@router.post("/policy/action")
async def policy_action(request: Request) -> Response:
    session = need_session(request)
    form = await form_of(request)
    _checked_post(session, form)
    if session.role != "admin":
        raise HTTPException(403, detail="this action needs the admin role")
    action, setting = form.get("action", ""), form.get("care_setting", "")
    if action not in actions.ACTIONS:
        raise HTTPException(422, detail=f"action must be one of {list(actions.ACTIONS)}")
    routing = request.app.state.router_holder.get()
    if routing is None:
        raise HTTPException(503, detail="no model is loaded")
    problem = actions.check(request, routing, action, setting)
    if problem:
        raise HTTPException(409, detail=problem)
    if form.get("confirm") != "yes":
        return render("confirm.html", **_base(request, session, "policy"), action=action,
                      action_label=actions.ACTIONS[action], setting=setting)
    try:
        report = await run_in_threadpool(actions.run, request, routing, action, setting, session)
    except ValueError as exc:  # the operation refused (e.g. a transition not allowed)
        raise HTTPException(409, detail=str(exc)[:300]) from None
    if report is not None:
        return render("recertified.html", **_base(request, session, "policy"), report=report)
    return RedirectResponse(f"{PREFIX}/policy?done={action}", status_code=303)
