"""Route one batch of rows (an Arrow record batch) with a loaded router: the engines' shared step.

The router runs once over the batch (``route_many``), exactly as for the service's batch
endpoint; only when that raises (a code the router rejects, bad allocation metadata) is the
batch re-checked row by row, so one bad row costs its own rejection and nothing else. Episodes
given as text run the bundle's coder once over all of the batch's notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from triage.decisions.episodes import INPUT_COLUMNS, episodes_from_columns
from triage.decisions.errors import Rejected, id_text
from triage.decisions.rows import INT64, decision_table
from triage.router import InvalidEpisode, Router


def batch_columns(batch: pa.RecordBatch | pa.Table) -> dict[str, list[Any]]:
    """The router's input columns of an Arrow batch as Python lists (other columns skipped)."""
    return {name: batch.column(name).to_pylist() for name in INPUT_COLUMNS if name in batch.schema.names}


def _reason(exc: InvalidEpisode) -> tuple[str, str]:
    """Column and reason of a router rejection (the field path minus the batch index)."""
    field = exc.field.split(".", 1)[1] if exc.field.startswith("episodes[") and "." in exc.field else exc.field
    column = field.split(".", 1)[0]
    detail = exc.message if field == column else f"{field[len(column) + 1:]}: {exc.message}"
    return column, detail


def score_text_episodes(router: Router, episodes: list[dict[str, Any]]) -> None:
    """Run the coder once over every episode that has text and no scores (in place)."""
    todo = [i for i, ep in enumerate(episodes) if not ep["code_scores"] and ep["text"] and ep["text"].strip()]
    if not todo or router.coder is None:
        return  # no coder: route_many names the text field of those rows
    frame = pd.DataFrame({"episode_id": range(len(todo)), "subject_id": 0,
                          "text": [episodes[i]["text"] for i in todo]})
    scores = router.coder.predict_proba(frame)
    for j, i in enumerate(todo):
        episodes[i]["code_scores"] = scores.row(j)


def route_checked(
    router: Router,
    episodes: list[dict[str, Any]],
    rows: Sequence[int],
    *,
    source: str | None = None,
    partition: int | None = None,
) -> tuple[list[Any], list[Rejected]]:
    """Decisions of the routable episodes (input order) and a Rejected for each of the others."""
    if not episodes:
        return [], []
    try:
        return router.route_many(episodes), []
    except InvalidEpisode:
        pass
    rejects: list[Rejected] = []

    def reject(ep: dict[str, Any], row: int, exc: InvalidEpisode) -> None:
        column, reason = _reason(exc)
        rejects.append(Rejected(source, partition, int(row), id_text(ep["episode_id"]), column, reason))

    # cheap per-row checks first (code spellings and scores), then the batch again
    good, good_rows = [], []
    for ep, row in zip(episodes, rows):
        try:
            if ep["code_scores"]:
                router.split_scores(ep["code_scores"])
            else:
                router.route_one(**ep)  # text without a coder: the router's own message
            good.append(ep)
            good_rows.append(row)
        except InvalidEpisode as exc:
            reject(ep, row, exc)
    try:
        return (router.route_many(good) if good else []), rejects
    except InvalidEpisode:
        pass
    decisions = []  # what is left is found only while deciding (e.g. allocation metadata)
    for ep, row in zip(good, good_rows):
        try:
            decisions.append(router.route_one(**ep))
        except InvalidEpisode as exc:
            reject(ep, row, exc)
    return decisions, rejects


def _integer_id(value: Any) -> Any:
    try:
        return int(value.decode("utf-8")) if isinstance(value, bytes) else value
    except (UnicodeDecodeError, ValueError):
        return value  # rejected row by row (not UTF-8, or not an integer)


def route_batch(
    router: Router,
    batch: pa.RecordBatch | pa.Table,
    *,
    first_row: int = 0,
    rows: Sequence[int] | None = None,
    source: str | None = None,
    partition: int | None = None,
    duplicate: Sequence[bool] | None = None,
    episode_id_type: pa.DataType = INT64,
) -> tuple[pa.Table, list[Rejected]]:
    """Decision rows (``rows.output_schema``) and rejected rows of one input batch (row ``i``
    numbered ``first_row + i``, or ``rows[i]``)."""
    columns = batch_columns(batch)
    if "episode_id" in columns and pa.types.is_binary(batch.schema.field("episode_id").type) \
            and pa.types.is_integer(episode_id_type):
        # a CSV block whose ids did not all decode: the others are the integers the output holds
        columns["episode_id"] = [_integer_id(v) for v in columns["episode_id"]]
    episodes, kept, rejects = episodes_from_columns(
        columns, batch.num_rows, first_row=first_row, rows=rows, source=source, partition=partition,
        duplicate=duplicate,
    )
    score_text_episodes(router, episodes)
    decisions, refused = route_checked(router, episodes,
                                       [rows[i] if rows is not None else first_row + i for i in kept],
                                       source=source, partition=partition)
    return decision_table(decisions, episode_id_type), rejects + refused
