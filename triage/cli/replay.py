"""``triage replay``: a year in a hospital, streamed through the running service.

Fits a small router bundle on a synthetic hospital's pre-shift history, starts the service on it
(a subprocess on a free loopback port, a temporary SQLite store, shadow start) unless ``--url``
names one already running, streams the episodes through it (:mod:`triage.operation.replay`) and
writes the timeline, a summary and the figure. The service is started by command line, not
imported: only ``triage serve`` imports ``service/``.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer

from triage.cli._output import fail

#: Generous bound on the service's start (loading the bundle and the code tables on a busy machine).
READY_TIMEOUT_S = 300.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(bundle: Path, workdir: Path, *, audit_probability: float,
                  audit_minimum: dict[str, float], holdout_probability: float, seed: int,
                  watch_delta: float) -> tuple[subprocess.Popen, str, str, str]:
    """Start the service on ``bundle`` with a fresh SQLite store; return (process, url, router
    key, admin key) once /readyz answers 200 (or raise, with the log's tail)."""
    import httpx

    router_key, admin_key = secrets.token_hex(16), secrets.token_hex(16)
    port = _free_port()
    env = {**os.environ,
           "TRIAGE_MODEL_URI": str(bundle),
           "TRIAGE_DATABASE_URL": f"sqlite:///{workdir / 'replay-store.db'}",
           "TRIAGE_API_KEYS": f"router:{router_key},admin:{admin_key}",
           "TRIAGE_INITIAL_POLICY_STATE": "shadow",
           "TRIAGE_AUDIT_PROBABILITY": str(audit_probability),
           "TRIAGE_AUDIT_MINIMUM": json.dumps(audit_minimum),
           "TRIAGE_HOLDOUT_PROBABILITY": str(holdout_probability),
           "TRIAGE_SAMPLING_SEED": str(seed),
           "TRIAGE_WATCH_DELTA": str(watch_delta),
           "OMP_NUM_THREADS": "1"}
    log = open(workdir / "service.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "service.main:create_app", "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/readyz", timeout=5.0).status_code == 200:
                return proc, url, router_key, admin_key
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop_service(proc)
    tail = (workdir / "service.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the service did not become ready within {READY_TIMEOUT_S:.0f} s:\n{tail}")


def stop_service(proc: subprocess.Popen) -> None:
    """Stop the service this command started (its own process id only)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def replay(
    episodes: int = typer.Option(50_000, "--episodes", min=100, help="Episodes streamed (a year of a mid-sized hospital)."),
    shift_at: int | None = typer.Option(25_000, "--shift-at", min=0, help="Episode at which day cases move to coder version 2 (omit with --no-shift)."),
    no_shift: bool = typer.Option(False, "--no-shift", help="No shift: the stream stays on the bundle's distribution."),
    logit_drop: float = typer.Option(2.0, "--logit-drop", min=0.0, help="Coder v2: P(principal right) = sigmoid(z - drop) at unchanged scores."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the hospital, the bundle and the audit draws."),
    out: Path = typer.Option(Path("replay"), "--out", help="Folder for timeline, summary, figure and the bundle."),
    history: int = typer.Option(20_000, "--history", min=1_000, help="Pre-shift episodes the bundle is fitted on."),
    alpha: float = typer.Option(0.10, "--alpha", min=0.001, max=0.5, help="Target error among automated episodes."),
    shadow: int = typer.Option(5_000, "--shadow", min=0, help="Episodes in shadow before going live."),
    go_live: str = typer.Option("recertify", "--go-live", help="recertify (on the shadow outcomes; default) or admin (move live as fitted)."),
    audit_probability: float = typer.Option(0.10, "--audit", min=0.0, max=1.0, help="Audit probability of live automated decisions."),
    holdout_probability: float = typer.Option(0.05, "--holdout", min=0.0, max=1.0, help="Share of live episodes held out for human coding."),
    watch_delta: float = typer.Option(0.05, "--watch-delta", min=1e-6, max=0.5, help="False-alarm probability of the watch (split across settings)."),
    batch_size: int = typer.Option(250, "--batch", min=1, max=1000, help="Episodes per POST /v1/route/batch."),
    recertify_every: int = typer.Option(1_000, "--recertify-every", min=1, help="Episodes between re-certification attempts after an alarm."),
    audit_lag: int = typer.Option(0, "--audit-lag", min=0, help="Episodes between a decision and its audit/outcome arriving."),
    url: str | None = typer.Option(None, "--url", help="A running service serving OUT/router (keys from TRIAGE_REPLAY_ROUTER_KEY / TRIAGE_REPLAY_ADMIN_KEY) instead of starting one."),
    fit_only: bool = typer.Option(False, "--fit-only", help="Write OUT/router and stop (serve it, then replay with --url)."),
) -> None:
    """Stream a synthetic hospital's year through the service: shadow, go-live, audits, the watch's
    alarm and fallback after a shift, re-certification; write timeline, summary and figure."""
    from rich.console import Console

    from triage.operation.replay import (
        ReplayPlan,
        Shift,
        coder_fidelity,
        fit_replay_router,
        run_replay,
        simulate_hospital,
    )

    err = Console(stderr=True)
    if go_live not in ("recertify", "admin"):
        fail(f"--go-live must be recertify or admin, got {go_live!r}")
    if shift_at is not None and not no_shift and shift_at >= episodes:
        fail(f"--shift-at {shift_at} is not before --episodes {episodes}")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    err.print(f"fitting the router bundle on {history:,} pre-shift episodes ...")
    past = simulate_hospital(history, seed=seed + 1, target="principal")
    router = fit_replay_router(past, alpha=alpha, seed=seed, model_version=f"replay-s{seed}")
    bundle = router.save(out / "router")
    if fit_only:
        err.print(f"bundle written to {bundle}")
        return
    shift = Shift(at=None if no_shift else shift_at, logit_drop=logit_drop)
    err.print(f"simulating {episodes:,} episodes ...")
    stream = simulate_hospital(episodes, seed=seed + 2, shift=shift, target="principal",
                               first_id=10_000_000)
    plan = ReplayPlan(shadow_episodes=shadow, batch_size=batch_size, go_live=go_live,
                      recertify_every=recertify_every, audit_lag=audit_lag)
    proc = None
    with tempfile.TemporaryDirectory(prefix="triage-replay-") as tmp:
        if url is None:
            err.print("starting the service (shadow start, temporary SQLite store) ...")
            try:
                proc, base, router_key, admin_key = start_service(
                    bundle, Path(tmp), audit_probability=audit_probability, audit_minimum={},
                    holdout_probability=holdout_probability, seed=seed, watch_delta=watch_delta)
            except RuntimeError as exc:
                fail(str(exc))
        else:
            base = url
            router_key = os.environ.get("TRIAGE_REPLAY_ROUTER_KEY", "")
            admin_key = os.environ.get("TRIAGE_REPLAY_ADMIN_KEY", "")
            if not router_key or not admin_key:
                fail("--url needs TRIAGE_REPLAY_ROUTER_KEY and TRIAGE_REPLAY_ADMIN_KEY")
        try:
            result = run_replay(stream, base, router_key=router_key, admin_key=admin_key,
                                plan=plan, progress=err.print)
        finally:
            if proc is not None:
                stop_service(proc)
    paths = write_replay(result, out, alpha=alpha, fidelity=coder_fidelity(stream))
    result.summary["total_wall_seconds"] = round(time.perf_counter() - t0, 1)
    (out / "summary.json").write_text(json.dumps(result.summary, indent=2, default=str))
    for name, path in paths.items():
        err.print(f"{name}: {path}")
    s = result.summary
    alarm = s.get("alarm")
    if alarm:
        err.print(f"alarm in {alarm['care_setting']} {alarm['episodes_after_shift']:,} episodes "
                  f"after the shift ({alarm['audited_after_shift']} audited outcomes after it); "
                  f"{alarm['automated_between_shift_and_alarm']:,} automated meanwhile, "
                  f"{alarm['wrong_among_them']:,} wrong")
    if s.get("recertification"):
        r = s["recertification"]
        err.print(f"re-certified at episode {r['episode']:,} on {r['labelled']:,} labelled outcomes")


def write_replay(result, out: Path, *, alpha: float, fidelity=None) -> dict[str, Path]:
    """timeline.parquet (and .csv.gz), summary.json, replay.png, coder_fidelity.csv."""
    from triage.figures import replay_figure

    out.mkdir(parents=True, exist_ok=True)
    paths = {"timeline": out / "timeline.parquet", "timeline_csv": out / "timeline.csv.gz",
             "summary": out / "summary.json", "figure": out / "replay.png"}
    result.timeline.to_parquet(paths["timeline"], index=False)
    result.timeline.to_csv(paths["timeline_csv"], index=False)
    paths["summary"].write_text(json.dumps(result.summary, indent=2, default=str))
    fig = replay_figure(result.timeline, result.events, alpha)
    fig.savefig(paths["figure"], format="png")
    if fidelity is not None:
        paths["fidelity"] = out / "coder_fidelity.csv"
        fidelity.to_csv(paths["fidelity"], index=False)
    return paths


def register(app: typer.Typer) -> None:
    """Add ``triage replay`` to the main app."""
    app.command("replay")(replay)
