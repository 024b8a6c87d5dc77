"""The run report: one self-contained HTML page for coding managers (figures embedded)."""

from triage.report.practice import policy_in_practice
from triage.report.render import render_report, write_report
from triage.report.tables import html_table
from triage.results import write_tables

__all__ = ["html_table", "policy_in_practice", "render_report", "write_report", "write_tables"]
