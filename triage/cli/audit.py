"""``triage audit``: check a batch of human-coded episodes (seed paper section 4.3), and
``triage simulate-coding``: write a simulated first-pass human coding to try it on.

The coded file names each episode's codes in sequence order (principal diagnosis first), either
one row per episode (``episode_id,codes`` with codes separated by ``;``, ``|`` or spaces) or one
row per code (``episode_id,code[,seq_num]``); CSV, TSV or parquet.
"""

from __future__ import annotations

import re
from pathlib import Path

import typer

from triage.cli._episodes import load_episodes_or_fail
from triage.cli._output import fail

_SPLIT = re.compile(r"[;|\s]+")


def read_coded(path: Path, icd_version: int) -> dict[int, list[str]]:
    """episode_id -> ordered labels; ValueError names the file, the row (a CSV's line number,
    header = line 1; a Parquet file's 0-based row) and the column, never quoting an id or text."""
    import pandas as pd

    from triage.codes.normalize import normalize_label

    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    suffix = path.suffix.lower()
    parquet = suffix in (".parquet", ".pq", ".parq")
    sep = "\t" if suffix in (".tsv", ".tab") else ","
    try:
        if parquet:
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except UnicodeDecodeError:
        line, column = _bad_utf8(path, sep)
        raise ValueError(f"{path}: line {line}{f', column {column!r}' if column else ''}: not valid UTF-8") from None
    except pd.errors.ParserError as exc:  # names the line and the field counts, not the row's text
        detail = str(exc).strip().splitlines()[-1].replace("Error tokenizing data. C error: ", "")
        raise ValueError(f"{path}: cannot be read as a table: {detail[:200]}") from None
    except Exception as exc:  # noqa: BLE001 - any other reader failure is a bad file
        raise ValueError(f"{path}: cannot be read as a table ({type(exc).__name__})") from None
    if "episode_id" not in frame.columns:
        raise ValueError(f"{path}: no 'episode_id' column (columns: {list(frame.columns)})")
    long = "code" in frame.columns
    if not long and "codes" not in frame.columns:
        raise ValueError(f"{path}: needs a 'codes' column (one row per episode) or a 'code' column (one per code)")

    def where(position: int) -> str:
        return f"{path}: row {position}" if parquet else f"{path}: line {position + 2}"

    frame = frame.reset_index(drop=True)
    if long and "seq_num" in frame.columns:
        seq = pd.to_numeric(frame["seq_num"], errors="coerce")
        if seq.isna().any():
            row = int(seq.isna().to_numpy().argmax())
            raise ValueError(f"{where(row)}, column 'seq_num': not a number")
        frame = frame.assign(_seq=seq).sort_values(["episode_id", "_seq"], kind="stable")
    out: dict[int, list[str]] = {}
    column = "code" if long else "codes"
    for position, eid, value in zip(frame.index, frame["episode_id"], frame[column]):
        at = where(int(position))
        try:
            key = int(str(eid).strip())
        except ValueError:
            raise ValueError(f"{at}, column 'episode_id': not an integer id") from None
        codes = [str(value).strip()] if long else [c for c in _SPLIT.split(str(value).strip()) if c]
        labels = out.setdefault(key, [])
        if not long and labels:
            raise ValueError(f"{at}, column 'episode_id': episode {key} appears twice")
        for code in codes:
            try:
                labels.append(normalize_label(code, icd_version))
            except ValueError:
                shown = repr(code) if len(code) <= 16 and code.isprintable() else f"{len(code)} characters"
                raise ValueError(f"{at}, column {column!r}: not a code of ICD-{icd_version}: {shown}") from None
    empty = [k for k, v in out.items() if not v]
    if empty:
        raise ValueError(f"{path}: episode {empty[0]} has no codes")
    return out


def _bad_utf8(path: Path, sep: str) -> tuple[int, str | None]:
    """(line number, column name) of the first bytes that are not UTF-8 (a quoted field spanning
    lines is counted by physical line)."""
    header: list[str] = []
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                fields = raw[: exc.start].count(sep.encode())
                return number, header[fields] if fields < len(header) else None
            if number == 1:
                header = [h.strip().strip('"') for h in text.rstrip("\r\n").split(sep)]
    return 0, None


def audit_command(
    data: Path = typer.Option(..., "--data", help="Dataset folder or file with the episodes' notes."),
    coded: Path = typer.Option(..., "--coded", help="Human coding to audit (CSV/TSV/parquet, see above)."),
    coder_path: Path | None = typer.Option(None, "--coder", help="A coder saved by `triage coder train`."),
    router_dir: Path | None = typer.Option(
        None, "--router", help="A router bundle: its coder, and its assist calibration when it has one."),
    split_file: Path | None = typer.Option(None, "--split-file", help="Published split (_id, split)."),
    calibration_split: str = typer.Option(
        "val", "--calibration-split", help="Split the flag thresholds are certified on (when the bundle has none)."),
    target: float = typer.Option(0.95, "--target", help="Certified flag precision."),
    delta: float = typer.Option(0.1, "--delta", help="Probability the guarantee may fail."),
    out: Path | None = typer.Option(None, "--out", help="Write the flags here (.csv or .parquet)."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Flag missing, unsupported and mis-sequenced codes in human-coded episodes, with MS-DRG impact."""
    import numpy as np
    from rich.console import Console

    from triage.assist.batch_audit import audit_coded_batch, calibration_episodes, certify_flags

    err = Console(stderr=True, soft_wrap=True)
    if (coder_path is None) == (router_dir is None):
        fail("give exactly one of --coder PATH or --router DIR")
    if not 0 < target < 1 or not 0 < delta < 1:
        fail(f"--target and --delta must lie in (0, 1), got {target} and {delta}")
    episodes = load_episodes_or_fail(data, split_file)
    version = int(episodes["icd_version"].iloc[0])
    try:
        coded_map = read_coded(coded, version)
    except ValueError as exc:
        fail(str(exc))
    by_id = episodes.set_index("episode_id", drop=False)
    missing = [e for e in coded_map if e not in by_id.index]
    if missing:
        fail(f"{coded}: {len(missing)} episode ids are not in {data} (first: {missing[:5]})")
    coder, assistant = _load_coder(coder_path, router_dir, err)
    ids = np.fromiter(coded_map, dtype=np.int64)
    if assistant is None:
        cal = calibration_episodes(episodes, calibration_split, ids)
        if len(cal) == 0:
            fail(f"no {calibration_split!r} episodes outside the coded batch to certify the flag thresholds on")
        err.print(f"flag thresholds: certified on {len(cal):,} {calibration_split} episodes (simulated first-pass "
                  "coding against their recorded codes)")
        assistant = certify_flags(coder, cal, target=target, delta=delta, icd_version=version, random_state=seed)
    result = audit_coded_batch(assistant, coder, by_id.loc[ids].reset_index(drop=True), coded_map, version)
    summary = result.summary
    if out is not None:
        frame = result.flags.drop(columns=["row"])
        frame.to_parquet(out, index=False) if out.suffix == ".parquet" else frame.to_csv(out, index=False)
        summary["out"] = str(out)
    if as_json:
        from triage.jsonsafe import dumps

        typer.echo(dumps(summary, indent=2))
        return
    _print_summary(result)


def _load_coder(coder_path: Path | None, router_dir: Path | None, err):
    """(coder, assistant): a router bundle's coder and its assist calibration (None when it has
    none), or a saved coder and None; exits with the reason when neither loads."""
    if router_dir is not None:
        from triage.assist import Assistant
        from triage.router import Router

        try:
            router = Router.load(router_dir)
        except (FileNotFoundError, ValueError) as exc:
            fail(str(exc))
        if router.coder is None:
            fail(f"{router_dir}: the bundle has no coder to score the notes")
        if router.info.get("assist"):
            assistant = Assistant.from_dict(router.info["assist"])
            err.print(f"flag thresholds: certified in the bundle ({router_dir})")
            return router.coder, assistant
        return router.coder, None
    from triage.coder import TextCoder

    try:
        return TextCoder.load(coder_path), None
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))


def _print_summary(result) -> None:
    import pandas as pd
    from rich.console import Console

    summary, flags = result.summary, result.flags
    console = Console()
    console.print(f"audited {summary['episodes']:,} episodes: {summary['flags']:,} flags "
                  f"({summary['flags_by_type'] or 'none'}), {summary['drg_changing_flags']:,} change the MS-DRG; "
                  f"an auditor opens {100 * summary['episodes_to_open']:.1f}% of the episodes")
    for t, p in result.thresholds.items():
        console.print(f"  {t}: {p.statement()}")
    console.print(f"against the data's own codes: coded exact match {100 * summary['coded_exact_match_vs_data']:.1f}%"
                  + ("" if summary["flag_precision_vs_data"] is None
                     else f", flags that agree {100 * summary['flag_precision_vs_data']:.1f}%"))
    if len(flags):
        console.print(pd.DataFrame(flags.drop(columns=["row"]).head(10)).to_string(index=False))


def simulate_coding_command(
    data: Path = typer.Option(..., "--data", help="Dataset folder or file."),
    out: Path = typer.Option(..., "--out", help="Where to write the simulated coding (.csv)."),
    split: str = typer.Option("test", "--split", help="Split to code."),
    split_file: Path | None = typer.Option(None, "--split-file"),
    exact_match: float = typer.Option(0.61, "--exact-match", help="Target share of episodes coded exactly."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Simulated first-pass human coding (omitted secondaries, wrong specificity, wrong principal)."""
    import pandas as pd
    from rich.console import Console

    from triage.assist import simulate_human_coding
    from triage.data import gold_labels

    if not 0 < exact_match < 1:
        fail(f"--exact-match must lie in (0, 1), got {exact_match}")
    episodes = load_episodes_or_fail(data, split_file)
    part = episodes[episodes["split"] == split]
    if len(part) == 0:
        fail(f"the data has no episodes in split {split!r}")
    gold = gold_labels(part)
    pool = sorted({c for g in gold_labels(episodes) for c in g})
    sim = simulate_human_coding(gold, pool, exact_match, random_state=seed)
    pd.DataFrame({"episode_id": part["episode_id"].to_numpy(), "codes": [";".join(c) for c in sim.coded]}).to_csv(
        out, index=False)
    Console(stderr=True).print(f"wrote {len(gold):,} coded episodes to {out}: exact match {100 * sim.exact_match:.1f}% "
                               f"(sequence exact match {100 * sim.sequence_exact_match:.1f}%)")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("audit")(audit_command)
    app.command("simulate-coding")(simulate_coding_command)
