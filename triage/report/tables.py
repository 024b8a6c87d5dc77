"""A run's tables as readable HTML (the files on disk are written by triage.results.write_tables)."""

from __future__ import annotations

import math
import re

import pandas as pd
from markupsafe import Markup

#: Columns shown as percentages: rates, shares, accuracies and interval ends on a 0–1 scale.
_PERCENT = re.compile(
    r"(rate|share|exact_match|^ci_|_ci_|error|automation|coverage|accuracy|observed|p_mean|"
    r"^risk|upper|lower|^t_|threshold|p_correct|episode_any|episode_full)"
)


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
