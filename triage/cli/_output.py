"""What the CLI writes: one JSON document on stdout for ``--json``, its own one-line notes on stderr.

* :func:`fail` ends a command with ``error: <message>`` on stderr and exit code 2, the one way
  every command reports a bad input.
* ``--json`` documents are the only thing on stdout: libraries are silenced at the source (HiGHS
  through its ``output_flag`` option, see :mod:`triage.allocation.solver`), not by moving file
  descriptors.
* :func:`configure_logging` sets the log level from ``-v``/``-q``; MLflow's and alembic's INFO
  lines show from ``-v`` on.
* :func:`install_warning_notes` shows Python warnings as ``note: <message> [<Category>]`` on
  stderr, once per message, without the source line Python would print (it may quote data); the
  ``triage`` callback calls it, so every command, ``triage run`` included, gets it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from typing import Any, NoReturn, TextIO


def fail(message: object) -> NoReturn:
    """Print ``error: <message>`` on stderr (red on a terminal) and exit with code 2."""
    import typer

    typer.echo(f"{typer.style('error:', fg='red')} {message}", err=True)
    raise typer.Exit(2)


def emit_json(document: Any, stream: TextIO | None = None, **dumps: Any) -> None:
    """Write one strict-JSON document (NaN refused) and a newline."""
    text = json.dumps(document, allow_nan=False, **dumps)
    target = stream or sys.stdout
    target.write(text + "\n")
    target.flush()


def format_note(message: Warning | str, category: type[Warning] | None = None) -> str:
    """``note: <first line of the message> [<Category>]``, at most 200 characters."""
    first = str(message).strip().splitlines()[0] if str(message).strip() else "(empty warning)"
    if len(first) > 200:
        first = first[:197] + "..."
    name = (category or type(message)).__name__ if category or isinstance(message, Warning) else ""
    return f"note: {first}" + (f" [{name}]" if name else "")


_seen: set[str] = set()


def _show(message, category, filename, lineno, file=None, line=None) -> None:
    text = format_note(message, category)
    if text in _seen:
        return
    _seen.add(text)
    stream = file or sys.stderr
    try:
        stream.write(text + "\n")
    except (OSError, ValueError):  # pragma: no cover - stderr gone
        pass


def install_warning_notes() -> None:
    """Every Python warning from here on prints as one ``note:`` line on stderr (once each)."""
    warnings.showwarning = _show



class _CurrentStderr(logging.StreamHandler):
    """A handler that writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:  # StreamHandler.__init__ assigns it
        pass


#: Loggers of libraries that print INFO lines of their own (MLflow's run/registry chatter,
#: alembic's migrations when MLflow creates a database): shown from ``-v`` on
CHATTY_LOGGERS = ("mlflow", "alembic", "py4j", "urllib3", "httpx")


def configure_logging(verbose: int = 0, quiet: bool = False) -> int:
    """Log level of the command from ``-v`` (INFO), ``-vv`` (DEBUG) or ``-q`` (errors only); the
    default shows warnings. Log lines go to stderr as ``<level> <logger>: <message>``."""
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO)[min(verbose, 1)]
    if verbose >= 2:
        level = logging.DEBUG
    chatty = logging.INFO if verbose >= 1 else max(level, logging.WARNING)
    os.environ["MLFLOW_LOGGING_LEVEL"] = logging.getLevelName(chatty)  # read when MLflow is imported
    root = logging.getLogger()
    if not any(isinstance(h, _CurrentStderr) for h in root.handlers):
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(chatty)
    return level
