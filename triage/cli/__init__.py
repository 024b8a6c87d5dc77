"""The ``triage`` command. Each area registers its own sub-commands from its module here."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup


def _plain_flags(command: Any) -> None:
    """Show on/off options as flags (``--promote/--no-promote``), without a ``<bool>`` value
    (Typer's vendored click command tree: duck-typed)."""
    for param in command.params:
        is_flag = getattr(param, "is_flag", False) or getattr(param, "count", False)
        if param.param_type_name == "option" and is_flag and param.metavar is None:
            param.metavar = ""
    make_help = command.get_help_option

    def get_help_option(ctx: Any) -> Any:  # --help is made per context: tidy it there
        option = make_help(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option
    for sub in (getattr(command, "commands", None) or {}).values():
        _plain_flags(sub)


class _TriageGroup(TyperGroup):
    """The top-level group; built once its commands are, so it can tidy their help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_flags(self)


app = typer.Typer(
    cls=_TriageGroup,
    name="triage",
    help="Route hospital episodes between an automated ICD coder and human coders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def package_version() -> str:
    """The installed coding-triage version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("coding-triage")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without install
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"triage (coding-triage) {package_version()}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True,
                                help="More log lines: -v info (MLflow's own too), -vv debug."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Log errors only."),
) -> None:
    """Route hospital episodes between an automated ICD coder and human coders."""
    from triage.cli._output import configure_logging, install_warning_notes

    install_warning_notes()  # Python warnings as one-line notes on stderr, for every command
    configure_logging(verbose, quiet)


def _register() -> None:
    from triage.cli import (
        allocate, audit, batch, coder, config, data, models, replay, run, serve, synth,
    )

    for module in (data, synth, coder, run, models, serve, allocate, batch, audit, config, replay):
        module.register(app)


_register()
