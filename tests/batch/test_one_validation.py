"""One validation of an episode: what the service refuses with 422, the batch engines reject as a
row (never route) and the MLflow pyfunc refuses, each naming the same field; the limits come from
``triage.decisions.validation`` alone."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from triage.decisions import validation as V
from triage.decisions.batch import route_batch

KEY = "validation-router-key-0123"
CS = {"I50.9": 0.93, "I10": 0.81}

#: (name, the episode's fields as a batch row gives them, the field the refusal names)
CASES = [
    ("age_500", {"age": 500}, "age"),
    ("age_1e3_text", {"age": "1e3"}, "age"),
    ("age_negative", {"age": -1}, "age"),
    ("los_1e9", {"los_days": 1e9}, "los_days"),
    ("float_id_1e30", {"episode_id": 1e30}, "episode_id"),
    ("int_id_2_60", {"episode_id": 2**60}, "episode_id"),
    ("string_id_with_space", {"episode_id": "a b"}, "episode_id"),
    ("string_id_129_chars", {"episode_id": "a" * 129}, "episode_id"),
    ("code_5000_chars", {"code_scores": {"I" + "X" * 4999: 0.9}}, "code_scores"),
    ("too_many_codes", {"code_scores": {f"Z{i:05d}": 0.1 for i in range(V.MAX_CODES + 1)}}, "code_scores"),
    ("gender_17_chars", {"gender": "F" * 17}, "gender"),
    ("admission_type_not_ascii", {"admission_type": "URGENT\u00e9"}, "admission_type"),
    ("text_too_long", {"text": "x" * (V.TEXT_MAX_CHARS + 1), "code_scores": None}, "text"),
]
METADATA = ("age", "los_days", "gender", "admission_type")


def _row(fields: dict) -> dict:
    row = {"episode_id": 7, "code_scores": CS, **fields}
    return row


def _request(row: dict) -> dict:
    body = {"episode_id": row["episode_id"]}
    if row.get("code_scores") is not None:
        body["code_scores"] = row["code_scores"]
    if row.get("text") is not None:
        body["text"] = row["text"]
    md = {k: row[k] for k in METADATA if k in row}
    if md:
        body["metadata"] = md
    return body


@pytest.fixture(scope="module")
def client(light_router, tmp_path_factory):
    from service.core.config import Settings
    from service.main import create_app

    db = tmp_path_factory.mktemp("svc") / "svc.db"
    settings = Settings(database_url=f"sqlite:///{db}", api_keys=f"router:{KEY}", model_uri="x")
    with TestClient(create_app(settings, router_loader=lambda uri: light_router)) as c:
        yield c


@pytest.mark.parametrize("name, fields, field", CASES, ids=[c[0] for c in CASES])
def test_service_batch_and_pyfunc_refuse_alike(name, fields, field, client, light_router):
    from triage.mlflow_model import episodes_from_frame

    row = _row(fields)
    # the service: 422 naming the field
    r = client.post("/v1/route", content=json.dumps(_request(row)), headers={"X-API-Key": KEY,
                                                                               "content-type": "application/json"})
    assert r.status_code == 422, (name, r.status_code)
    assert any(field in ".".join(map(str, d["loc"])) for d in r.json()["detail"]), r.json()
    # the batch engines' step (one Arrow batch, as both engines route it): rejected, not routed
    table = {k: [json.dumps(v) if k == "code_scores" and v is not None else v] for k, v in row.items()}
    batch = pa.table({k: pa.array(v) for k, v in table.items()})
    id_type = pa.int64() if isinstance(row["episode_id"], int) and abs(row["episode_id"]) < 2**63 else pa.string()
    decisions, rejects = route_batch(light_router, batch, source="t", episode_id_type=id_type)
    assert decisions.num_rows == 0 and len(rejects) == 1, name
    assert rejects[0].column == field
    # the pyfunc: a ValueError naming the row and the field
    with pytest.raises(ValueError, match=field):
        episodes_from_frame(pd.DataFrame(table))


def test_a_valid_episode_passes_all_three(client, light_router):
    row = _row({"age": 130, "los_days": 3650.0, "gender": "F" * 16, "episode_id": V.EPISODE_ID_BOUND})
    assert client.post("/v1/route", json=_request(row), headers={"X-API-Key": KEY}).status_code == 200
    table = {k: [json.dumps(v) if k == "code_scores" else v] for k, v in row.items()}
    decisions, rejects = route_batch(light_router, pa.table(table), source="t")
    assert decisions.num_rows == 1 and not rejects
