"""API keys: hashed, constant-time, roles; the full auth matrix over the endpoints."""

from __future__ import annotations

import hashlib

import pytest

from service.security import ApiKeyRegistry, hash_key

ENDPOINTS = [
    ("post", "/v1/route", {"episode_id": 1, "code_scores": {"I50.9": 0.9}}, "router"),
    ("post", "/v1/route/batch", {"episodes": [{"episode_id": 1, "code_scores": {"I10": 0.9}}]},
     "router"),
    ("post", "/v1/outcomes", {"decision_id": "0" * 32, "final_codes": ["I10"]}, "router"),
    ("get", "/v1/monitoring", None, "router"),
    ("get", "/v1/policy", None, "router"),
    ("put", "/v1/policy", {"alpha": 0.1}, "admin"),
    ("post", "/v1/admin/reload", None, "admin"),
    ("post", "/v1/allocate", {"roster": [{"coder_id": "a", "specialties": ["general"],
                                          "level": "senior", "hours": 7}],
                              "decision_ids": ["0" * 32]}, "router"),
]


@pytest.mark.parametrize("method, path, body, needed", ENDPOINTS)
@pytest.mark.parametrize("who", [None, "unknown", "router", "admin"])
def test_auth_matrix(sqlite_client, keys, method, path, body, needed, who):
    headers = keys[who] if who else {}
    kwargs = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    r = getattr(sqlite_client, method)(path, **kwargs)
    if who in (None, "unknown"):
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "APIKey"
    elif who == "router" and needed == "admin":
        assert r.status_code == 403
    else:
        assert r.status_code not in (401, 403), r.text
        assert r.status_code < 500


def test_health_endpoints_need_no_key(sqlite_client):
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert sqlite_client.get(path).status_code == 200


def test_registry_keeps_only_hashes_and_maps_roles():
    reg = ApiKeyRegistry.from_spec(" router:abc-0123456789abc , admin:xyz-0123456789xyz,")
    assert reg.role_for("abc-0123456789abc") == "router"
    assert reg.role_for("xyz-0123456789xyz") == "admin"
    assert reg.role_for("abc-0123456789ab") is None and reg.role_for("") is None
    held = repr(reg._entries)
    assert "abc-0123456789abc" not in held and "xyz-0123456789xyz" not in held
    assert hashlib.sha256(b"abc-0123456789abc").hexdigest() in held


def test_registry_accepts_prehashed_keys():
    reg = ApiKeyRegistry.from_spec(f"admin:sha256:{hash_key('s3cret')}")
    assert reg.role_for("s3cret") == "admin"
    assert reg.role_for(f"sha256:{hash_key('s3cret')}") is None


@pytest.mark.parametrize(
    "spec, message",
    [
        ("root:abc", "unknown role 'root'"),
        ("abc", "not role:key"),
        ("router:", "not role:key"),
        ("admin:sha256:xyz", "64 hex"),
        ("router:abc", "shorter than 16"),
        ("router: abc-0123456789abc", "whitespace"),
        ("router:abc-0123\t456789abc", "whitespace"),
        ("router:abc-0123456789abc,admin:abc-0123456789abc", "entry 2: the same key is listed twice"),
        (f"router:abc-0123456789abc,admin:sha256:{hash_key('abc-0123456789abc')}", "listed twice"),
    ],
)
def test_registry_rejects_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message) as info:
        ApiKeyRegistry.from_spec(spec)
    assert "0123456789" not in str(info.value)  # the key itself is never quoted


def test_no_keys_configured_means_everyone_401(app_factory, sqlite_url):
    c = app_factory(sqlite_url, api_keys="")
    assert c.get("/v1/policy", headers={"X-API-Key": ""}).status_code == 401
    assert c.get("/v1/policy", headers={"X-API-Key": "anything"}).status_code == 401


def test_env_configures_keys(monkeypatch):
    from service.core.config import Settings

    monkeypatch.setenv("TRIAGE_API_KEYS", "router:abc-0123456789abc,admin:xyz-0123456789xyz")
    monkeypatch.setenv("TRIAGE_BATCH_LIMIT", "7")
    s = Settings()
    assert s.batch_limit == 7
    assert ApiKeyRegistry.from_spec(s.api_keys).role_for("xyz-0123456789xyz") == "admin"


def test_default_model_uri(monkeypatch):
    from service.core.config import Settings

    monkeypatch.delenv("TRIAGE_MODEL_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert Settings().resolved_model_uri() == "models/router"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    assert Settings().resolved_model_uri() == "models:/coding-triage-router@champion"
    monkeypatch.setenv("TRIAGE_MODEL_URI", "/srv/router")
    assert Settings().resolved_model_uri() == "/srv/router"
