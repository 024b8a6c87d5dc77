"""``/docs`` and ``/redoc`` work offline: every asset they reference is local and served."""

from __future__ import annotations

import re

import pytest


def _references(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html) + re.findall(
        r"""url\s*:\s*['"]([^'"]+)['"]""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_references_only_local_assets_that_are_served(sqlite_client, page):
    r = sqlite_client.get(page)  # no API key, as for /openapi.json
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    refs = _references(r.text)
    assert any(ref.endswith(".js") for ref in refs), refs
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), f"{page} references {ref}"
        asset = sqlite_client.get(ref)
        assert asset.status_code == 200, (ref, asset.status_code)
        assert len(asset.content) > 0
    assert "cdn" not in r.text.lower() and "fonts.googleapis" not in r.text


def test_docs_assets_are_real_bundles(sqlite_client):
    js = sqlite_client.get("/docs-assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000  # the real Swagger UI bundle
    assert sqlite_client.get("/docs-assets/redoc.standalone.js").status_code == 200
    assert sqlite_client.get("/docs-assets/nothing.js").status_code == 404


def test_docs_not_in_the_openapi_document(sqlite_client):
    paths = sqlite_client.get("/openapi.json").json()["paths"]
    assert not {"/docs", "/redoc"} & set(paths)
