"""`triage allocate` and `triage simulate-backlog`: the human side of routing (seed paper §2.1)."""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path
from typing import Any

import pandas as pd
import typer
import yaml

from triage.allocation import (
    Allocator,
    PolicyFileError,
    SimulatedRouting,
    compare_policies,
    load_config,
)
from triage.cli._output import fail
from triage.jsonsafe import dumps

app = typer.Typer(help="Allocate routed episodes to coders and simulate the coding backlog.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def read_table(path: Path, what: str) -> pd.DataFrame:
    """A csv / parquet / json(l) / yaml file, or a Parquet dataset folder (what ``triage batch``
    writes: files starting with ``_`` or ``.`` are skipped), as a DataFrame; errors name the file."""
    if not path.exists():
        raise ValueError(f"{what} file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if path.is_dir():
            parts = [p for p in sorted(path.rglob("*.parquet"))
                     if not any(part.startswith(("_", ".")) for part in p.relative_to(path).parts)]
            if not parts:
                raise ValueError("a folder must hold a Parquet dataset (the output of `triage batch`)")
            return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix == ".jsonl":
            return pd.read_json(path, lines=True)
        if suffix in (".json", ".yaml", ".yml"):
            data = json.loads(path.read_text()) if suffix == ".json" else yaml.safe_load(path.read_text())
            if isinstance(data, dict):  # {"episodes": [...]} / {"coders": [...]}
                lists = [v for v in data.values() if isinstance(v, list)]
                if len(lists) != 1:
                    raise ValueError("expected a list of records (or a mapping holding one list)")
                data = lists[0]
            if not isinstance(data, list):
                raise ValueError("expected a list of records")
            return pd.DataFrame(data)
    except ValueError as exc:
        raise ValueError(f"{what} file {path}: cannot read ({exc})") from None
    except Exception as exc:  # noqa: BLE001 (parser errors of pandas/pyarrow/yaml, re-raised with the file)
        raise ValueError(f"{what} file {path}: cannot read ({type(exc).__name__}: {exc})") from None
    raise ValueError(f"{what} file {path}: unsupported format {suffix!r} (use csv, parquet, json, jsonl, yaml)")


@app.command("allocate")
def allocate_cmd(
    episodes: Path = typer.Option(..., "--episodes", help="Routed episodes: csv, parquet, json, jsonl, or the folder `triage batch` writes."),
    roster: Path = typer.Option(..., "--roster", help="Coders: csv, yaml or json (coder_id, specialties, level, hours)."),
    date: str | None = typer.Option(None, "--date", help="As-of date (YYYY-MM-DD) for days since discharge; default today."),
    config: Path | None = typer.Option(None, "--config", help="Allocation YAML merged over the shipped default."),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
) -> None:
    """Assign a day's routed episodes to the roster; print assignments and the backlog with reasons."""
    try:
        if date is not None:
            try:
                pd.Timestamp(date)
            except ValueError:
                raise ValueError(f"--date {date!r} is not a date (YYYY-MM-DD)") from None
        alloc = Allocator(load_config(config))
        result = alloc.allocate(read_table(episodes, "episodes"), read_table(roster, "roster"),
                                as_of=date, source=str(episodes), roster_source=str(roster))
    except (ValueError, RuntimeError) as exc:
        fail(exc)
        return
    if as_json:  # the solver prints nothing (HiGHS output_flag off), so stdout is the document
        typer.echo(dumps(result.to_dict(), indent=2))
        return
    _print_allocation(result)


def _print_allocation(result) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    s = result.summary
    con.print(f"[bold]{s['n_episodes']}[/] episodes: {s['n_assigned']} assigned, {s['n_backlog']} in backlog, "
              f"{s['n_automated']} automated. Priority served {s['priority_served']:.2f} "
              f"(bound {s['priority_bound']:.2f}, gap {s['optimality_gap']:.2%}, {s['solver']}, "
              f"{s['solve_seconds']:.2f} s). Cost {s['coding_cost']:.0f}.")
    t = Table(title="Coders")
    for col in ("coder_id", "n_episodes", "assigned_minutes", "capacity_minutes", "utilisation"):
        t.add_column(col)
    for row in result.coders.itertuples(index=False):
        t.add_row(row.coder_id, str(row.n_episodes), f"{row.assigned_minutes:.0f}",
                  f"{row.capacity_minutes:.0f}", f"{row.utilisation:.0%}")
    con.print(t)
    if len(result.backlog):
        b = Table(title="Backlog by reason")
        b.add_column("reason")
        b.add_column("episodes")
        b.add_column("example")
        for reason, grp in result.backlog.groupby("reason"):
            b.add_row(reason, str(len(grp)), f"{grp['episode_id'].iloc[0]}: {grp['detail'].iloc[0]}")
        con.print(b)


@app.command("simulate-backlog")
def simulate_cmd(
    days: int = typer.Option(..., "--days", min=1, help="Days to simulate."),
    arrivals_per_day: float = typer.Option(..., "--arrivals-per-day", min=0, help="Mean episodes arriving per day (Poisson)."),
    roster: Path = typer.Option(..., "--roster", help="Coders: csv, yaml or json."),
    automation_rate: float | None = typer.Option(None, "--automation-rate", min=0, max=1,
                                                    help="Share automated by the routed policy (rest assisted)."),
    policy: Path | None = typer.Option(None, "--policy", help="Routing policy file (thresholds or shares)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the arrivals."),
    config: Path | None = typer.Option(None, "--config", help="Allocation YAML merged over the shipped default."),
    as_json: bool = typer.Option(False, "--json", help="Print summaries and daily tables as JSON."),
) -> None:
    """Simulate the coding backlog under all-human coding vs the routed policy, same arrivals."""
    if automation_rate is not None and policy is not None:
        fail(ValueError("give either --automation-rate or --policy, not both"))
    try:
        routed = (SimulatedRouting.from_file(policy) if policy is not None
                  else SimulatedRouting.from_rate(0.3 if automation_rate is None else automation_rate))
        alloc = Allocator(load_config(config))
        table, results = compare_policies(read_table(roster, "roster"), days, arrivals_per_day,
                                          {"all-human": SimulatedRouting.all_human(), "routed": routed},
                                          allocator=alloc, seed=seed)
    except (ValueError, RuntimeError, PolicyFileError) as exc:
        fail(exc)
        return
    if as_json:
        out = {"policies": {name: {"summary": res.summary, "daily": res.daily.to_dict(orient="records")}
                            for name, res in results.items()}}
        typer.echo(dumps(out, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"Backlog over {days} days, {arrivals_per_day:g} arrivals/day (seed {seed})")
    t.add_column("metric")
    for name in table.index:
        t.add_column(f"{name}: {results[name].policy}" if name != results[name].policy else str(name),
                     justify="right")
    for metric in ("arrivals", "automated", "coded", "final_backlog", "mean_backlog", "mean_wait_days",
                   "p90_wait_days", "overdue_in_final_backlog", "coding_minutes", "cost", "cost_per_episode"):
        t.add_row(metric, *[_fmt(table.loc[name, metric]) for name in table.index])
    Console().print(t)


def _fmt(v: Any) -> str:
    """One number format: thousands separated; whole numbers (counts, and amounts of 1,000 or
    more) without decimals, smaller amounts with two."""
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return f"{int(v):,}"
    if isinstance(v, numbers.Real):
        v = float(v)
        return "-" if not math.isfinite(v) else (f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.2f}")
    return str(v)


def register(main: typer.Typer) -> None:
    """Add `allocate` and `simulate-backlog` to the main app."""
    main.command("allocate")(allocate_cmd)
    main.command("simulate-backlog")(simulate_cmd)
