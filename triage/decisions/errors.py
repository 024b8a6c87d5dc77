"""What goes wrong in a batch: input-level errors stop the job, row-level ones are set aside.

A missing column or an unreadable file stops the job with a :class:`BatchInputError` naming the
file and column. A bad row (unparseable ``code_scores``, a duplicate ``episode_id``, a metadata
value of the wrong type, a code the router rejects) never stops it: the row becomes a
:class:`Rejected` record in the ``--errors`` dataset, with the column and the reason. Neither ever
carries note text.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any

import pyarrow as pa

#: Columns of the ``--errors`` dataset, in order. ``row`` is 0-based within ``source`` (pandas
#: engine: the input file; Spark engine: ``partition``, the Spark input partition).
ERROR_SCHEMA = pa.schema([
    ("source", pa.string()),
    ("partition", pa.int64()),
    ("row", pa.int64()),
    ("episode_id", pa.string()),
    ("column", pa.string()),
    ("reason", pa.string()),
])


class BatchInputError(ValueError):
    """The input as a whole cannot be routed (missing column, unreadable file, no input files)."""


@dataclass(frozen=True)
class Rejected:
    """One input row that was not routed, and why (never the note text)."""

    source: str | None
    partition: int | None
    row: int
    episode_id: str | None
    column: str
    reason: str


def rejected_table(rejects: list[Rejected]) -> pa.Table:
    """The rejected rows as a table of :data:`ERROR_SCHEMA`."""
    columns = list(zip(*(astuple(r) for r in rejects))) if rejects else [[] for _ in ERROR_SCHEMA]
    return pa.Table.from_arrays([pa.array(list(c), type=f.type) for c, f in zip(columns, ERROR_SCHEMA)],
                                schema=ERROR_SCHEMA)


def id_text(value: Any) -> str | None:
    """An episode id as the string the errors dataset stores (None stays None)."""
    return None if value is None else str(value)[:128]
