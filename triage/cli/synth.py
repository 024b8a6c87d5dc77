"""``triage synth``: write the synthetic MIMIC-IV-layout cohort and report its fidelity."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from triage.cli._output import fail


def _print_report(report, title: str) -> int:
    """Print target vs achieved; return the number of applicable targets outside tolerance."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col, justify in (("statistic", "left"), ("target", "right"), ("tolerance", "right"),
                         ("achieved", "right"), ("in tolerance", "center")):
        table.add_column(col, justify=justify)

    def fmt(x: float) -> str:
        return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.4g}"

    misses = 0
    for row in report.itertuples(index=False):
        ok = row.in_tolerance
        if ok is True or ok is False:
            misses += int(not ok)
        shown = "n/a (cohort too small)" if not (ok is True or ok is False) else ("yes" if ok else "NO")
        table.add_row(row.statistic, fmt(row.target), f"{fmt(row.low)}-{fmt(row.high)}", fmt(row.achieved), shown)
    Console(width=120).print(table)
    return misses


def synth(
    out: Path = typer.Option(..., "--out", help="Folder to write hosp/*.csv.gz and note/discharge.csv.gz into."),
    episodes: int = typer.Option(10_000, "--episodes", min=1, help="Number of admissions (MIMIC-IV ICD-10 has 122,279)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed; the same seed writes byte-identical files."),
    workload: str = typer.Option("mixed", "--workload", help="Care-setting mix: mixed (inpatient 0.5, observation 0.15, day_case 0.35), inpatient (MIMIC-like, the seed paper's statistics), observation, day_case, or shares 'inpatient=0.5,observation=0.15,day_case=0.35'."),
    note_words: float | None = typer.Option(None, "--note-words", min=1.0, help="Median words per note (default: the seed paper's 1,492)."),
    note_scale: float = typer.Option(1.0, "--note-scale", min=0.001, help="Scale note length (e.g. 0.05 for fast tests); ignored with --note-words."),
    report: bool = typer.Option(False, "--report", help="Load the written folder and print each fidelity target beside the achieved value."),
    existing: bool = typer.Option(False, "--existing", help="Do not generate: report on the cohort already in --out (implies --report)."),
) -> None:
    """Write a synthetic cohort in the MIMIC-IV layout, faithful to the seed paper's statistics."""
    from rich.console import Console

    err = Console(stderr=True)
    from triage.synth import parse_workload

    try:
        wl = parse_workload(workload)
    except ValueError as exc:
        fail(f"--workload: {exc}")
    if not existing:
        from triage.synth import generate

        t0 = time.perf_counter()
        try:
            result = generate(out, n_episodes=episodes, seed=seed, workload=wl,
                              note_words_scale=note_scale, note_words=note_words)
        except (ValueError, OSError) as exc:
            fail(exc)
        err.print(f"wrote {result.n_episodes:,} admissions of {result.n_subjects:,} patients to {out} "
                  f"in {time.perf_counter() - t0:.1f} s")
    if report or existing:
        import warnings

        from triage.data import DataError, load_episodes
        from triage.data.settings import CARE_SETTINGS
        from triage.synth import fidelity_report

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                eps = load_episodes(out, format="mimic-iv")
        except DataError as exc:
            fail(exc)
        full_notes = existing or (note_words is None and note_scale == 1.0)
        counts = eps["care_setting"].value_counts()
        err.print("care settings: " + ", ".join(f"{s} {int(counts.get(s, 0)):,}" for s in CARE_SETTINGS))
        # the seed paper's targets are MIMIC-IV inpatient statistics: judged on the inpatient episodes
        inpatient = eps[eps["care_setting"] == "inpatient"].reset_index(drop=True)
        if len(inpatient) == 0:
            err.print("no inpatient episodes: the seed paper's targets (MIMIC-IV inpatients) do not apply")
            return
        rep = fidelity_report(inpatient, include_words=full_notes)
        misses = _print_report(rep, f"Fidelity to MIMIC-IV ICD-10 (seed paper), {len(inpatient):,} inpatient episodes")
        if misses:
            err.print(f"[yellow]{misses} target(s) outside tolerance[/yellow]")


def register(app: typer.Typer) -> None:
    """Add ``triage synth`` to the main app."""
    app.command("synth")(synth)
