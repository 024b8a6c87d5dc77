"""Codes in API answers use the standard spelling (``I10``, ``I50.9``, ``0DTJ4ZZ``).

Inside, the coder, the metrics and the store speak labels, the reference pipeline's dotted form
with a trailing dot on 3-character ICD-10-CM codes (``I10.``, see :mod:`triage.codes.labels`).
Every route that answers with codes passes its answer through :func:`public_decision` (or
:func:`public_code` for single codes); the stored decision keeps the label form.
"""

from __future__ import annotations

from typing import Any

from triage.codes.labels import standard_spelling


def public_code(label: str | None) -> str | None:
    return None if label is None else standard_spelling(label)


def _rows(rows: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """A new list of the rows with each code in the standard spelling; a row is copied only when
    its code is spelt differently (a label with a trailing dot, ~3% of a batch's codes): copying
    every row was a third of encoding a batch's answer."""
    out = list(rows or ())
    for i, r in enumerate(out):
        if "code" in r:
            code = r["code"]
            public = standard_spelling(code)
            if public is not code:
                out[i] = {**r, "code": public}
    return out


def public_decision(decision: dict[str, Any]) -> dict[str, Any]:
    """A copy of a decision dict with every code in the standard spelling."""
    out = dict(decision)
    out["codes"] = _rows(decision.get("codes"))
    out["suggestions"] = _rows(decision.get("suggestions"))
    out["principal"] = public_code(decision.get("principal"))
    out.pop("discharge_date", None)  # stored for allocation only
    out.pop("metadata", None)  # stored for judging outcomes only
    out.pop("policy_alpha", None)  # stored for the watch only
    return out
