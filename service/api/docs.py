"""``/docs`` (Swagger UI) and ``/redoc`` from assets installed with the package: no CDN.

Hospital networks are often offline, and FastAPI's default pages load Swagger UI and ReDoc from
a CDN (a blank page offline). The JavaScript, CSS and favicon come from the pinned
``fastapi-offline`` wheel's ``static/`` folder, mounted at :data:`ASSETS_URL`; the pages are
FastAPI's own ``get_swagger_ui_html`` / ``get_redoc_html`` pointed at that mount (the
self-hosting recipe of FastAPI's documentation). Like ``/openapi.json``, none of this needs an
API key (the edge guard only checks ``/v1``).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS_URL = "/docs-assets"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"


def assets_dir() -> Path:
    """The installed folder holding swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js."""
    return Path(str(files("fastapi_offline") / "static"))


def install_offline_docs(app: FastAPI) -> None:
    """Serve the docs pages and their assets locally (create the app with docs_url=None,
    redoc_url=None)."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")
    oauth2_redirect = app.swagger_ui_oauth2_redirect_url or f"{DOCS_URL}/oauth2-redirect"

    def _root(request: Request) -> str:
        return request.scope.get("root_path", "")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{oauth2_redirect}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
