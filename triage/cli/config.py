"""``triage config show``: the run configuration a ``triage run`` would use, as YAML."""

from __future__ import annotations

from pathlib import Path

import typer

from triage.cli._output import fail

config_app = typer.Typer(help="The run configuration (RunConfig).", no_args_is_help=True)


@config_app.command("show")
def show(
    config_file: Path | None = typer.Option(
        None, "--config", help="YAML/TOML config to resolve over the defaults (default: show the defaults)."),
) -> None:
    """Print the defaults, or the defaults with --config applied, as YAML a --config file accepts."""
    import yaml

    from triage.config import ConfigError, config_to_dict, resolve_config

    try:
        config = resolve_config(config_file)
    except ConfigError as exc:
        fail(exc)
    typer.echo(yaml.safe_dump(config_to_dict(config), sort_keys=False), nl=False)


def register(app: typer.Typer) -> None:
    """Add ``triage config show``."""
    app.add_typer(config_app, name="config")
