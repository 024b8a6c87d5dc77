"""``triage batch --engine pandas``: one process streaming the input chunk by chunk.

Memory is bounded by the chunk size, not the input: each chunk is read, routed (one
``route_many`` call; the coder once over the chunk's notes) and written before the next is
read. Only the ``episode_id`` column is ever read whole (to reject duplicated ids).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from triage.batch.io import (
    DatasetWriter,
    check_output,
    clean_stale,
    duplicate_mask,
    iter_batches,
    list_inputs,
    scan_ids,
)
from triage.batch.model import load_batch_router
from triage.decisions.batch import route_batch
from triage.decisions.errors import ERROR_SCHEMA, Rejected, rejected_table
from triage.decisions.rows import output_schema

log = logging.getLogger("triage.batch")

DEFAULT_CHUNK_ROWS = 20_000
#: The ``column`` of a rejected CSV row whose number of fields differs from the header's.
RAGGED_COLUMN = "(row)"


def run_pandas(
    input_path: str | Path,
    bundle: str | Path,
    output: str | Path,
    errors: str | Path,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    overwrite: bool = False,
    router: Any = None,
) -> dict[str, Any]:
    """Route every episode of ``input_path`` into the Parquet dataset ``output``; rejects to ``errors``.

    Returns the run summary (counts per route and per rejected column, time, throughput).
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    t0 = time.perf_counter()
    for dest in (output, errors):  # what killed runs left beside the outputs
        for stale in clean_stale(dest):
            log.warning("removed %s, left by an interrupted run", stale)
    check_output(output, overwrite)
    check_output(errors, overwrite)
    inputs = list_inputs(input_path)
    ids = scan_ids(inputs)
    router = router if router is not None else load_batch_router(bundle)
    out = DatasetWriter(output, output_schema(ids.id_type))
    bad = DatasetWriter(errors, ERROR_SCHEMA)
    routes: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    n_read = 0
    try:
        for path in inputs.files:
            row = 0
            ragged: list[tuple[int, int, int]] = []
            for batch in iter_batches(path, inputs.format, chunk_rows, ids.id_type, ragged=ragged):
                skipped = {number - 2 for number, _, _ in ragged}  # rows of this block set aside
                numbers = [r for r in range(row, row + batch.num_rows + len(skipped)) if r not in skipped]
                decisions, rejects = route_batch(
                    router, batch, rows=numbers if skipped else None, first_row=row, source=path,
                    duplicate=duplicate_mask(batch, ids.duplicates), episode_id_type=ids.id_type,
                )
                rejects += ragged_rejects(path, ragged)
                row += len(skipped)
                n_read += len(skipped)
                ragged.clear()
                out.write(decisions)
                if rejects:
                    bad.write(rejected_table(rejects))
                    rejected.update(r.column for r in rejects)
                routes.update(dict(zip(*_counts(decisions.column("route")))))
                row += batch.num_rows
                n_read += batch.num_rows
            log.info("routed %s (%d rows)", path, row)
        # both datasets complete before either takes its name; the decisions, the result, go last
        out.close()
        bad.close()
        bad.commit()
        out.commit()
    except BaseException:
        out.abort()
        bad.abort()
        raise
    seconds = time.perf_counter() - t0
    return summary("pandas", input_path, output, errors, n_read, routes, rejected, seconds, router,
                   n_files=len(inputs.files))


def ragged_rejects(path: str, ragged: list[tuple[int, int, int]]) -> list[Rejected]:
    """CSV rows with the wrong number of fields, as rejected rows (never their text). ``row`` is
    0-based among the data rows, like every other rejected row."""
    return [Rejected(path, None, max(number - 2, -1), None, RAGGED_COLUMN,
                     f"has {found} fields, the header {expected}")
            for number, expected, found in ragged]


def _counts(column) -> tuple[list[str], list[int]]:
    vc = pc.value_counts(column)
    return vc.field("values").to_pylist(), vc.field("counts").to_pylist()


def summary(engine: str, input_path: Any, output: Any, errors: Any, n_read: int, routes: Counter,
            rejected: Counter, seconds: float, router: Any, **extra: Any) -> dict[str, Any]:
    """The run summary both engines print and write (``_summary.json`` beside the output)."""
    n_routed = int(sum(routes.values()))
    return {
        "engine": engine,
        "input": str(input_path),
        "output": str(output),
        "errors": str(errors),
        "rows_read": int(n_read),
        "routed": n_routed,
        "rejected": int(sum(rejected.values())),
        "rejected_by_column": dict(sorted(rejected.items())),
        "routes": dict(sorted(routes.items())),
        "model_version": getattr(router, "model_version", None),
        "policy_version": getattr(getattr(router, "policy", None), "version", None),
        "seconds": round(seconds, 3),
        "episodes_per_second": round(n_read / seconds, 1) if seconds > 0 else None,
        **extra,
    }
