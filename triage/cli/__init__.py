"""The ``triage`` command. Each area registers its own sub-commands from its module here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="triage",
    help="Route hospital episodes between an automated ICD coder and human coders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main() -> None:
    """Route hospital episodes between an automated ICD coder and human coders."""
    from triage.cli._output import install_warning_notes

    install_warning_notes()  # Python warnings as one-line notes on stderr, for every command


def _register() -> None:
    from triage.cli import allocate, audit, batch, coder, data, models, replay, run, serve, synth

    for module in (data, synth, coder, run, models, serve, allocate, batch, audit, replay):
        module.register(app)


_register()
