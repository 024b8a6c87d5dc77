"""Progress of a long run, reported through one small object the caller passes in.

``run_pipeline(config, progress=...)`` takes a :class:`Reporter`; each step of the run is a
``with reporter.step(name, what):`` block (timed: ``reporter.timings``), and inside a step the
slow loops report their counts through :func:`current` (the reporter of the step being run), so
the coder's folds and epochs and the confidence model's targets need no extra parameters:

* :class:`RichReporter` (a terminal): a live line per step with a bar, ``done/total`` and an ETA
  for the loop inside it, then ``✓ what (12.3 s, 20.1 CPU-s)``;
* :class:`LineReporter` (a log, a pipe, CI): one line per finished step, nothing in between;
* :class:`Reporter` itself: times the steps and prints nothing (tests, notebooks, the service).

:func:`reporter_for` picks the first or the second by whether the console is a terminal.
"""

from __future__ import annotations

import contextvars
import resource
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO, TypeVar

T = TypeVar("T")

_CURRENT: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar("triage_progress", default=None)


class Task:
    """A counted loop inside a step: ``advance()`` once per unit of work."""

    def __init__(self, description: str, total: int | None, on_advance: Callable[[int], None] | None = None):
        self.description = description
        self.total = total
        self.completed = 0
        self._on_advance = on_advance

    def advance(self, n: int = 1) -> None:
        self.completed += n
        if self._on_advance is not None:
            self._on_advance(n)


class Reporter:
    """Times named steps; reports nothing. The base the visible reporters build on."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        #: CPU seconds per step (this process and the worker processes it waited for): the steady
        #: figure on a shared machine, where wall time depends on the load.
        self.cpu_timings: dict[str, float] = {}

    @contextmanager
    def step(self, name: str, what: str) -> Iterator[None]:
        """Run one named step: timed, and :func:`current` returns this reporter inside it."""
        token = _CURRENT.set(self)
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        self._step_started(what)
        try:
            yield
        finally:
            _CURRENT.reset(token)
        self.timings[name] = time.perf_counter() - start
        self.cpu_timings[name] = _cpu_seconds() - cpu_start
        self._step_finished(what, self.timings[name], self.cpu_timings[name])

    # the pipeline's former StepTimer was called as ``steps(name, what)``
    __call__ = step

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Task]:
        """A counted loop inside the current step (``total`` None: counts without an ETA)."""
        task = self._task_started(description, total)
        try:
            yield task
        finally:
            self._task_finished(task)

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        """Iterate over ``items``, advancing a task once per item."""
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        with self.task(description, total) as task:
            for item in items:
                yield item
                task.advance()

    # hooks for the visible reporters
    def _step_started(self, what: str) -> None:
        pass

    def _step_finished(self, what: str, seconds: float, cpu_seconds: float) -> None:
        pass

    def _task_started(self, description: str, total: int | None) -> Task:
        return Task(description, total)

    def _task_finished(self, task: Task) -> None:
        pass


class LineReporter(Reporter):
    """One line per finished step (``✓ what (12.3 s, 20.1 CPU-s)``) on ``stream``: logs, pipes, CI."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self.stream = stream

    def _step_finished(self, what: str, seconds: float, cpu_seconds: float) -> None:
        stream = self.stream or sys.stderr
        stream.write(f"  ✓ {what} ({seconds:.1f} s, {cpu_seconds:.1f} CPU-s)\n")
        stream.flush()


class RichReporter(Reporter):
    """A live rich progress display per step on a terminal: spinner, bar, counts, elapsed and ETA."""

    def __init__(self, console: Any) -> None:
        super().__init__()
        self.console = console
        self._progress: Any = None
        self._step_id: Any = None

    def _step_started(self, what: str) -> None:
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), _counts_and_eta_column(),
            TimeElapsedColumn(), console=self.console, transient=True,
        )
        self._progress.start()
        self._step_id = self._progress.add_task(f"{what}…", total=None)

    def _step_finished(self, what: str, seconds: float, cpu_seconds: float) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self.console.print(f"  [green]✓[/] {what} [dim]({seconds:.1f} s, {cpu_seconds:.1f} CPU-s)[/]")

    def _task_started(self, description: str, total: int | None) -> Task:
        progress = self._progress
        if progress is None:  # a task outside any step: counted, not shown
            return Task(description, total)
        task_id = progress.add_task(f"  {description}", total=total)
        task = Task(description, total, on_advance=lambda n: progress.advance(task_id, n))
        task._rich_id = task_id  # type: ignore[attr-defined]
        return task

    def _task_finished(self, task: Task) -> None:
        task_id = getattr(task, "_rich_id", None)
        if self._progress is not None and task_id is not None:
            self._progress.remove_task(task_id)


def _counts_and_eta_column() -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class CountsAndEta(ProgressColumn):
        """``done/total ETA m:ss`` for a counted loop; nothing for the step's own row."""

        def render(self, task: Any) -> Text:
            if task.total is None:
                return Text("")
            eta = task.time_remaining
            left = "ETA -:--" if eta is None else f"ETA {int(eta) // 60}:{int(eta) % 60:02d}"
            return Text(f"{int(task.completed)}/{int(task.total)} {left}", style="progress.remaining")

    return CountsAndEta()


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def reporter_for(console: Any | None) -> Reporter:
    """The reporter for ``console``: live progress on a terminal, one line per step otherwise,
    silent (timings only) without a console."""
    if console is None:
        return Reporter()
    if getattr(console, "is_terminal", False):
        return RichReporter(console)
    return LineReporter(getattr(console, "file", None))


def current() -> Reporter:
    """The reporter of the step being run (a silent one outside any step)."""
    return _CURRENT.get() or Reporter()
