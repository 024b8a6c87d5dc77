"""Progress reporting: one line per step off a terminal, live counts on one, loops reached through current()."""

from __future__ import annotations

import io

import pandas as pd
from rich.console import Console

from triage.progress import LineReporter, Reporter, RichReporter, current, reporter_for


class Recording(Reporter):
    """Remembers every task and how far it got."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks: list = []

    def _task_started(self, description, total):
        task = super()._task_started(description, total)
        self.tasks.append(task)
        return task


def test_line_reporter_writes_one_line_per_step_and_times_it():
    out = io.StringIO()
    reporter = LineReporter(out)
    with reporter.step("coder", "Coder: training"), current().task("folds", 3) as task:
        for _ in range(3):
            task.advance()
    with reporter("policy", "Routing policies"):  # the pipeline's call form
        pass
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("  ✓ Coder: training (") and lines[0].endswith(" CPU-s)")
    assert set(reporter.timings) == {"coder", "policy"}


def test_rich_reporter_shows_counts_on_a_terminal():
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    reporter = reporter_for(console)
    assert isinstance(reporter, RichReporter)
    with reporter.step("confidence", "Confidence models"):
        for _ in current().track(["exact", "principal"], "targets"):
            reporter._progress.refresh()
    shown = buffer.getvalue()
    assert "targets" in shown and "1/2 ETA" in shown and "Confidence models" in shown
    assert "0/?" not in shown  # the step's own row shows no count


def test_no_console_is_silent_and_a_pipe_gets_lines():
    assert type(reporter_for(None)) is Reporter
    assert isinstance(reporter_for(Console(file=io.StringIO())), LineReporter)
    assert type(current()) is Reporter  # outside a step: a silent stand-in


def test_cross_fitting_reports_every_fold_and_epoch():
    from triage.coder import TextCoder
    from triage.synth import synthesize_episodes

    episodes: pd.DataFrame = synthesize_episodes(120, seed=0, note_words_scale=0.1)
    reporter = Recording()
    coder = TextCoder(min_count=2, epochs=2, n_folds=3, random_state=0)
    with reporter.step("coder", "Coder"):
        coder.fit_cross_fit(episodes, deploy_fold=0)
    [task] = reporter.tasks
    assert task.description == "cross-fitting: 3 folds x 2 epochs"
    assert task.total == task.completed == 6


def test_cpu_seconds_count_the_work_not_the_waiting():
    import time

    reporter = Reporter()
    with reporter.step("sleep", "Waiting"):
        time.sleep(0.3)
    with reporter.step("work", "Working"):
        sum(i * i for i in range(2_000_000))
    assert reporter.timings["sleep"] >= 0.3 > reporter.cpu_timings["sleep"]
    assert reporter.cpu_timings["work"] > 0.05


def test_triage_run_progress_is_silent_under_quiet():
    import logging

    from triage.cli._output import configure_logging
    from triage.cli.run import run_progress

    root = logging.getLogger()
    saved = root.level
    try:
        configure_logging(0, quiet=True)
        assert type(run_progress()) is Reporter
        configure_logging(0, quiet=False)
        assert isinstance(run_progress(), LineReporter)  # stderr is no terminal under pytest
    finally:
        root.setLevel(saved)
