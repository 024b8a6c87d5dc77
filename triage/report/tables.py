"""A run's tables on disk (parquet for code, CSV for spreadsheets) and as readable HTML."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
from markupsafe import Markup

#: Columns shown as percentages: rates, shares, accuracies and interval ends on a 0–1 scale.
_PERCENT = re.compile(
    r"(rate|share|exact_match|^ci_|_ci_|error|automation|coverage|accuracy|observed|p_mean|"
    r"^risk|upper|lower|^t_|threshold|p_correct|episode_any|episode_full)"
)


def write_tables(tables: dict[str, pd.DataFrame], out_dir: str | Path) -> dict[str, Path]:
    """``out_dir/<name>.parquet`` and ``.csv`` for each table; returns the parquet paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in tables.items():
        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"table {name!r} must be a pandas DataFrame, got {type(table).__name__}")
        frame = table.copy()
        # parquet needs string column names and one type per object column
        frame.columns = [str(c) for c in frame.columns]
        for col in frame.columns[frame.dtypes.eq(object)]:
            if frame[col].map(lambda v: isinstance(v, (list, dict, tuple, set))).any():
                frame[col] = frame[col].map(lambda v: v if not isinstance(v, set) else sorted(v))
            elif not frame[col].map(lambda v: v is None or isinstance(v, str)).all():
                frame[col] = frame[col].map(lambda v: None if v is None else str(v))
        path = out_dir / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        frame.to_csv(out_dir / f"{name}.csv", index=False)
        paths[name] = path
    return paths


def is_percent_column(name: str) -> bool:
    return bool(_PERCENT.search(str(name)))


def format_value(value: object, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if percent and -1.0 <= value <= 1.0:
            return f"{value:.1%}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    if isinstance(value, int) and abs(value) >= 10000:
        return f"{value:,}"
    return str(value)


def html_table(table: pd.DataFrame, max_rows: int = 200, percent_columns: set[str] | None = None) -> Markup:
    """An escaped HTML table with rates as percentages and long tables cut at ``max_rows``."""
    shown = table.head(max_rows)
    pct = {c for c in shown.columns if is_percent_column(c)} if percent_columns is None else percent_columns
    formatted = pd.DataFrame({
        c: [format_value(v.item() if hasattr(v, "item") else v, c in pct) for v in shown[c]] for c in shown.columns
    })
    html = formatted.to_html(index=False, escape=True, classes="tbl", border=0)
    if len(table) > max_rows:
        html += f'<p class="note">First {max_rows} of {len(table):,} rows; all rows are in tables/.</p>'
    return Markup(html)
