"""``RoutingDecision`` -> one flat output row, the same for the pyfunc and both batch engines.

The columns follow the decision's own fields (``RoutingDecision.to_dict()``), so a field the
router gains appears in the output without a change here:

* ``thresholds`` (a dict) becomes ``t_automate`` and ``t_assist`` (null: that route is never
  taken, e.g. an infeasible policy automates nothing);
* list fields (``codes``, ``suggestions``, ``reasons``) are JSON strings: flat Parquet that
  pandas, Spark (``from_json``), SQL engines and CSV exports all read the same way;
* ``float`` fields are doubles, ``int`` fields int64, ``bool`` fields booleans, anything else a
  string; ``episode_id`` keeps the input's type (int64 or string).
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Any

import pyarrow as pa

from triage.router import RoutingDecision

#: The decision's ``thresholds`` keys, flattened into ``t_<key>`` columns in this order.
THRESHOLD_KEYS = ("automate", "assist")
INT64, STRING = pa.int64(), pa.string()


def _kind(annotation: Any) -> str:
    words = set(re.findall(r"[A-Za-z_]+", str(annotation)))
    if words & {"list", "dict", "List", "Dict", "Mapping", "Sequence", "tuple"}:
        return "json"
    for word, kind in (("float", "double"), ("bool", "bool"), ("int", "int")):
        if word in words:
            return kind
    return "string"


_ARROW = {"double": pa.float64(), "bool": pa.bool_(), "int": pa.int64(), "string": pa.string(),
          "json": pa.string()}


def decision_fields() -> list[tuple[str, str]]:
    """(field, kind) of every RoutingDecision field but episode_id and thresholds."""
    return [(f.name, _kind(f.type)) for f in fields(RoutingDecision) if f.name not in ("episode_id", "thresholds")]


def output_schema(episode_id_type: pa.DataType = INT64) -> pa.Schema:
    """Arrow schema of the decision rows, in output order."""
    cols = [pa.field("episode_id", episode_id_type)]
    for name, kind in decision_fields():
        cols.append(pa.field(name, _ARROW[kind]))
        if name == "p_correct":  # thresholds sit next to the probability they apply to
            cols += [pa.field(f"t_{k}", pa.float64()) for k in THRESHOLD_KEYS]
    return pa.schema(cols)


def output_columns() -> tuple[str, ...]:
    return tuple(output_schema().names)


def decision_columns(decisions: list[Any]) -> dict[str, list[Any]]:
    """Column -> values of the decisions (JSON for list/dict fields, None for missing)."""
    out: dict[str, list[Any]] = {"episode_id": [d.episode_id for d in decisions]}
    for name, kind in decision_fields():
        values = [getattr(d, name, None) for d in decisions]
        if kind == "json":
            values = [None if v is None else json.dumps(v) for v in values]
        elif kind == "double":
            values = [None if v is None else float(v) for v in values]
        elif kind == "string":
            values = [None if v is None else str(v) for v in values]
        out[name] = values
        if name == "p_correct":
            for k in THRESHOLD_KEYS:
                out[f"t_{k}"] = [d.thresholds.get(k) for d in decisions]  # finite or None (Router)
    return out


def decision_table(decisions: list[Any], episode_id_type: pa.DataType = INT64) -> pa.Table:
    """The decisions as an Arrow table of :func:`output_schema`."""
    schema = output_schema(episode_id_type)
    cols = decision_columns(decisions)
    if pa.types.is_string(episode_id_type):
        cols["episode_id"] = [None if v is None else str(v) for v in cols["episode_id"]]
    return pa.Table.from_arrays([pa.array(cols[f.name], type=f.type) for f in schema], schema=schema)
