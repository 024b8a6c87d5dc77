"""examples/README.md runs as written: every ``sh`` block, in order, with a real ``triage serve``.

The blocks run in a scratch folder holding a copy of ``examples/`` whose ``run.yaml`` keeps every
setting but the sizes (a small day-case cohort, two folds), so the walkthrough takes a minute or
two rather than the full run's. The service block is started in the background and the next
block's own readiness loop waits for it as long as the machine needs (bounded by a generous
timeout, never a fixed sleep). Port 8000 is swapped for a free port so parallel runs never meet.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
WALKTHROUGH = EXAMPLES / "README.md"
#: Generous bound per block: a loaded 2-core machine runs the small `triage run` in minutes.
BLOCK_TIMEOUT_S = 1200
#: The walkthrough's run with the full settings but a small cohort.
SMALL_RUN = {"data": {"synthetic_episodes": 800, "synthetic_workload": "day_case"},
             "coder": {"n_folds": 2},
             "confidence": {"compare_models": ["lightgbm", "product", "min-accepted"]}}


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _merge(base: dict, over: dict) -> dict:
    return {**base, **{k: _merge(base.get(k, {}), v) if isinstance(v, dict) else v for k, v in over.items()}}


def test_example_inputs_are_valid():
    """run.yaml is a RunConfig, the roster and the episodes are what allocate and batch read."""
    from triage.allocation import Allocator
    from triage.allocation.roster import make_roster
    from triage.config import resolve_config
    from triage.router import ROUTING_METADATA_FIELDS

    config = resolve_config(EXAMPLES / "run.yaml")
    assert config.tracking.enabled and str(config.export_dir) == "models/router"
    roster = json.loads((EXAMPLES / "roster.json").read_text())["roster"]
    assert len(make_roster(roster, Allocator().config)) == len(roster) == 4
    episodes = pd.read_csv(EXAMPLES / "episodes.csv")
    assert episodes["episode_id"].is_unique and len(episodes) == 16
    assert set(episodes.columns) - {"episode_id", "code_scores"} <= set(ROUTING_METADATA_FIELDS)
    assert all(isinstance(json.loads(s), dict) for s in episodes["code_scores"])


@pytest.mark.slow
def test_walkthrough_runs_as_written(tmp_path):
    blocks = shell_blocks(WALKTHROUGH.read_text(encoding="utf-8"))
    serve_blocks = [i for i, b in enumerate(blocks) if "triage serve" in b]
    assert len(blocks) >= 6 and len(serve_blocks) == 1, blocks
    port = str(_free_port())
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    run_yaml = tmp_path / "examples" / "run.yaml"
    run_yaml.write_text(yaml.safe_dump(_merge(yaml.safe_load(run_yaml.read_text()), SMALL_RUN)))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT), "COLUMNS": "200"}  # rich wraps nothing the checks below read
    env.pop("MLFLOW_TRACKING_URI", None)  # the run.yaml's own sqlite:///mlflow.db, in the scratch folder
    outputs: list[str] = []
    server = None
    log = (tmp_path / "serve.log").open("w")
    try:
        for i, block in enumerate(blocks):
            assert "localhost:8000" in block or "--port 8000" in block or "8000" not in block
            block = block.replace("localhost:8000", f"localhost:{port}").replace("--port 8000", f"--port {port}")
            if i == serve_blocks[0]:
                server = subprocess.Popen(["bash", "-c", block], cwd=tmp_path, env=env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
                outputs.append("")
                continue
            try:
                done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env,
                                      capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S, check=False)
            except subprocess.TimeoutExpired:
                pytest.fail(f"block {i} timed out after {BLOCK_TIMEOUT_S} s:\n{block}\nserve log:\n"
                            f"{(tmp_path / 'serve.log').read_text()[-3000:]}")
            assert done.returncode == 0, f"block {i} failed:\n{block}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            outputs.append(done.stdout)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
        log.close()

    run_out, _, route_out, batch_out, allocate_out, service_allocate_out = outputs[:6]
    assert re.search(r"registered version:\s+1\b", run_out) and "champion" in run_out, run_out[-3000:]
    assert (tmp_path / "models" / "router" / "manifest.json").is_file()
    decision = json.loads(route_out)
    assert decision["route"] in {"automate", "assist", "manual"} and decision["principal"] == "I50.9"
    summary = json.loads((tmp_path / "routed" / "_summary.json").read_text())
    assert summary["routed"] == 16 and summary["rejected"] == 0
    assert "episode_id" in batch_out and "queue" in batch_out
    assert "16 episodes:" in allocate_out and all(c in allocate_out for c in ("ana", "ben", "chloe", "dev"))
    allocation = json.loads(service_allocate_out)
    assert allocation["summary"]["n_episodes"] == 1
    assert len(allocation["assignments"]) + len(allocation["backlog"]) + len(allocation["automated"]) == 1
