"""A run's tables as readable HTML (the files on disk are written by triage.results.write_tables)."""

from __future__ import annotations

import math
import re

import pandas as pd
from markupsafe import Markup, escape

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


#: Text cells longer than this are folded: their first words as a summary, the rest on a click.
FOLD_CHARS = 60


def _cell(text: str) -> Markup:
    if len(text) <= FOLD_CHARS:
        return escape(text)
    head = text[:FOLD_CHARS].rsplit(" ", 1)[0] or text[:FOLD_CHARS]
    return Markup('<details class="fold"><summary>{}…</summary>{}</details>').format(head, text)


def _header(name: str) -> Markup:
    """Column names may break after an underscore (``test_error_upper`` fits a narrow column)."""
    return Markup("_<wbr>").join(escape(part) for part in str(name).split("_"))


def _rows_html(formatted: pd.DataFrame) -> Markup:
    return Markup("").join(
        Markup("<tr>{}</tr>").format(Markup("").join(Markup("<td>{}</td>").format(_cell(v)) for v in row))
        for row in formatted.itertuples(index=False)
    )


def html_table(table: pd.DataFrame, max_rows: int = 200, percent_columns: set[str] | None = None,
               show: pd.Series | None = None, link: str | None = None) -> Markup:
    """An escaped HTML table in a box that scrolls sideways when wider than the page, rates as
    percentages, long text folded, long tables cut at ``max_rows``.

    ``show`` (a boolean mask on ``table``) keeps only the rows that matter open; the others sit in
    a collapsed part under it. ``link`` names the file with every row (e.g. ``tables/x.csv``).
    """
    shown = table.head(max_rows)
    pct = {c for c in shown.columns if is_percent_column(c)} if percent_columns is None else percent_columns
    formatted = pd.DataFrame({
        c: [format_value(v.item() if hasattr(v, "item") else v, c in pct) for v in shown[c]] for c in shown.columns
    }, columns=shown.columns)
    head = Markup("<thead><tr>{}</tr></thead>").format(
        Markup("").join(Markup("<th>{}</th>").format(_header(c)) for c in shown.columns))
    mask = None if show is None else show.reindex(shown.index).fillna(False).to_numpy(bool)
    if mask is not None and mask.any() and not mask.all():
        main = Markup('<table class="tbl">{}<tbody>{}</tbody></table>').format(head, _rows_html(formatted[mask]))
        rest = Markup('<table class="tbl">{}<tbody>{}</tbody></table>').format(head, _rows_html(formatted[~mask]))
        html = Markup('<div class="tblwrap">{}</div><details class="more"><summary>The other {} rows</summary>'
                      '<div class="tblwrap">{}</div></details>').format(main, int((~mask).sum()), rest)
    else:
        html = Markup('<div class="tblwrap"><table class="tbl">{}<tbody>{}</tbody></table></div>').format(
            head, _rows_html(formatted))
    notes = []
    if len(table) > max_rows:
        notes.append(f"First {max_rows} of {len(table):,} rows.")
    if link:
        notes.append(Markup('Every row: <a href="{}">{}</a>.').format(link, link))
    if notes:
        html += Markup('<p class="note">{}</p>').format(Markup(" ").join(notes))
    return html
