"""Instructions a POST /v1/route costs the service, counted by valgrind's callgrind: the same
figure on a busy machine and an idle one.

The wall-clock benchmarks (bench_service.py, profile_batch.py) read the service's own work in
tenths of a millisecond on machines whose speed drifts by a third between minutes, so a change
worth 10-30 us is lost in them. Callgrind counts the instructions the process executes instead:
the same count for the same code, inputs and seed (checked: runs of one checkout differ by
0.1-0.2%), whatever else the machine does. It counts no cache misses (a cold cache costs the
service's SQLite write about as much again as a warm one, measured), so it ranks changes to the
Python on the request path; bench_service.py still gives the milliseconds.

Each figure comes from a child process under ``valgrind --tool=callgrind --instr-atstart=no``:
it loads the benchmark's router (900-episode cohort, code systems on, as bench_service.py), serves
the app in-process on a temporary SQLite store (the ASGI app called directly: no HTTP), warms it
with 50 requests, then switches counting on (``callgrind_control -i on``) for ``--requests``
sequential score-only requests (or as many ``Router.route_one`` calls), and off again. Printed per
request: the library's instructions, the app's, and the service's own (app - library).

``--against REV`` counts the service at git revision REV too (a temporary worktree), so a change's
effect is the difference of two counts. ``--parts`` also counts the app with one part of the
request path replaced by a no-op at a time (the metrics middleware, the edge guard, the per-key
limit, the per-request read of the policy states, the decision's write): the difference is that
part's cost. Two children run at once (one per core); each takes about a minute.

Usage: .venv/bin/python benchmarks/count_service.py [--requests 300] [--against REV] [--parts]
Needs valgrind (Debian's package; on every machine here).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "count-service-key-0123456789"

#: --parts: name -> what the child replaces with a no-op (see :func:`_ablate`)
PARTS = {
    "metrics middleware": "metrics",
    "edge guard (request id, body size, key)": "guard",
    "per-key concurrency limit": "limit",
    "policy-state read (one per request)": "states",
    "decision write (group commit, SQLite)": "write",
}


# -- the child: runs under callgrind ---------------------------------------------------------------
def _ablate(part: str) -> None:
    """Replace ``part`` of the request path by a no-op (the child's code is the checkout's)."""
    if part == "metrics":
        from service.prometheus import MetricsMiddleware

        async def passthrough(self, scope, receive, send):
            await self.app(scope, receive, send)

        MetricsMiddleware.__call__ = passthrough
    elif part == "guard":
        from service.api.guard import EdgeGuard

        async def authenticated(self, scope, receive, send):
            state = scope.setdefault("state", {})
            state["role"], state["key_fingerprint"] = "router", "count"
            await self.app(scope, receive, send)

        EdgeGuard.__call__ = authenticated
    elif part == "limit":
        from service.api.limits import KeyConcurrency

        async def unlimited(self, scope, receive, send):
            await self.app(scope, receive, send)

        KeyConcurrency.__call__ = unlimited
    elif part == "states":
        from service.operation import Operation

        read, kept = Operation.states, {}

        def states_read_once(self, routing):
            if "states" not in kept:
                kept["states"] = read(self, routing)
            return kept["states"]

        Operation.states = states_read_once
    elif part == "write":
        from service.store import DecisionStore

        async def no_write(self, rows):
            return None

        DecisionStore.record_decisions_on_loop = no_write
    elif part:
        raise SystemExit(f"unknown part {part!r}")


def _counting(on: bool) -> None:
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
                   check=True, capture_output=True)


def child(bundle: str, n: int, library: bool, part: str) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from router_bundle import sample_episodes

    import service.main
    from service.core.config import Settings
    from service.loading import freeze_long_lived, load_router

    _ablate(part)
    # nothing of the service's own in the background while counting: no WAL checkpoint, policy
    # sync or drift refresh falls in the counted requests
    service.main.CHECKPOINT_SECONDS = 3600.0
    work = Path(tempfile.mkdtemp(prefix="count-service-"))
    router = load_router(bundle)
    episodes = sample_episodes(300, seed=1)
    bodies = [json.dumps(e).encode() for e in episodes]
    settings = Settings(database_url=f"sqlite:///{work / 'decisions.db'}",
                        api_keys=f"router:{API_KEY}", model_uri="count", table_prefix="count_",
                        initial_policy_state="live", policy_sync_seconds=3600,
                        drift_refresh_seconds=86_400)
    app = service.main.create_app(settings, router_loader=lambda _uri: router)
    headers = [(b"host", b"count"), (b"content-type", b"application/json"),
               (b"x-api-key", API_KEY.encode())]

    async def post(body: bytes) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": "/v1/route", "raw_path": b"/v1/route",
                 "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
                 "server": ("127.0.0.1", 80), "state": {},
                 "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict] = []

        async def receive() -> dict:
            if messages:
                return messages.pop()
            await asyncio.Event().wait()  # never: the body was read whole
            return {}

        async def send(message: dict) -> None:
            sent.append(message)

        await app(scope, receive, send)
        assert sent[0]["status"] == 200, sent

    async def main() -> None:
        inbox: asyncio.Queue = asyncio.Queue()
        outbox: asyncio.Queue = asyncio.Queue()
        await inbox.put({"type": "lifespan.startup"})
        life = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"},
                                        "state": {}}, inbox.get, outbox.put))
        assert (await outbox.get())["type"] == "lifespan.startup.complete"
        while not app.state.warm.is_set():  # the code tables load after start-up
            await asyncio.sleep(0.05)
        for body in bodies[:50]:
            await post(body)
        calls = [dict(e) for e in episodes]
        router.route_one(**dict(calls[0]))
        freeze_long_lived()
        _counting(True)
        for i in range(n):
            if library:
                router.route_one(**dict(calls[i % len(calls)]))
            else:
                await post(bodies[i % len(bodies)])
        _counting(False)
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await life

    import uvloop  # the event loop uvicorn serves on

    uvloop.run(main())


# -- the parent ------------------------------------------------------------------------------------
def count(root: Path, bundle: Path, n: int, *, library: bool = False, part: str = "") -> int:
    """Instructions of ``n`` requests (or library calls) by the service in ``root``."""
    env = dict(os.environ, PYTHONHASHSEED="0", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(root), str(root / "tests" / "service")]))
    out = Path(tempfile.mkdtemp(prefix="callgrind-")) / "callgrind.out"
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
           sys.executable, str(Path(__file__).resolve()), "--child", str(bundle),
           "--requests", str(n)] + (["--library"] if library else []) + (["--part", part] if part else [])
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        sys.exit(f"callgrind run failed ({root}, part {part or 'none'}):\n{done.stderr[-3000:]}")
    shutil.rmtree(out.parent, ignore_errors=True)
    return int(found.group(1))


def worktree(rev: str, into: Path) -> Path:
    path = into / f"at-{re.sub(r'[^A-Za-z0-9]+', '-', rev)}"
    subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], cwd=ROOT, check=True,
                   capture_output=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--against", metavar="REV", help="also count the service at git revision REV")
    ap.add_argument("--parts", action="store_true",
                    help="also count the app with each part of the request path a no-op")
    ap.add_argument("--child", metavar="BUNDLE", help=argparse.SUPPRESS)
    ap.add_argument("--library", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--part", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.requests, args.library, args.part)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    sys.path.insert(0, str(ROOT / "tests" / "service"))
    from router_bundle import build_bundle

    work = Path(tempfile.mkdtemp(prefix="count-service-"))
    bundle = build_bundle(work / "router", n=900, seed=0, code_systems=True)
    n = args.requests
    jobs: dict[str, tuple] = {"library": (ROOT, True, ""), "app": (ROOT, False, "")}
    other = None
    if args.against:
        other = worktree(args.against, work)
        jobs[f"app at {args.against}"] = (other, False, "")
    if args.parts:
        jobs.update({f"app without the {name}": (ROOT, False, part) for name, part in PARTS.items()})
    try:
        with ThreadPoolExecutor(max(1, min(2, os.cpu_count() or 1))) as pool:
            futures = {k: pool.submit(count, root, bundle, n, library=lib, part=part)
                       for k, (root, lib, part) in jobs.items()}
            per = {k: f.result() / n for k, f in futures.items()}
    finally:
        if other is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT,
                           check=False, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    lib, app = per["library"], per["app"]
    print(f"instructions per request (callgrind, {n} sequential score-only requests in-process, "
          "SQLite store, no HTTP)")
    print(f"  library Router.route_one    {lib:12,.0f}")
    print(f"  app (POST /v1/route)        {app:12,.0f}")
    print(f"  the service's own work      {app - lib:12,.0f}")
    if args.against:
        old = per[f"app at {args.against}"]
        print(f"  the service's own at {args.against:8s} {old - lib:11,.0f} "
              f"(today {app - old:+,.0f}, {(app - old) / (old - lib):+.1%} of it)")
    if args.parts:
        print("  its parts (the app's count minus the app's with the part a no-op):")
        for name in PARTS:
            part = app - per[f"app without the {name}"]
            print(f"    {name:40s} {part:10,.0f} ({part / (app - lib):.1%})")


if __name__ == "__main__":
    main()
