"""The ``Server-Timing`` answer header (W3C Server Timing): where one routing request's time went
inside the app, phase by phase, for a coding platform's engineers (browsers' developer tools show
it) and for ``benchmarks/bench_service.py``'s split of the service's overhead.

Off unless ``TRIAGE_SERVER_TIMING=true``: durations are a timing side channel, and a request that
is not timed gets :data:`UNTIMED`, whose laps do nothing (no clock read, no header). Phases, in the order they happen (a phase a request does not
take is absent):

* ``read``: a batch's body received (a single episode's is read within ``parse``);
* ``parse``: the body read and validated into the request model;
* ``wait``: the hop to a threadpool worker (episodes with a note or many codes, and batches);
* ``policy``: decision ids, the per-request read of the policy states, the router's arguments;
* ``route``: the router's own work (``Router.route_one`` / ``route_many``) and its dicts;
* ``encode``: the answer's and the stored row's JSON;
* ``write``: until the decision's row is committed (a group commit's wait included);
* ``total``: from the start of the routing handler until the answer is built (the edge guard,
  the per-key limit and uvicorn's HTTP parsing come before it; the request-duration histogram at
  /metrics includes them).

Spec: https://www.w3.org/TR/server-timing/ (``name;dur=milliseconds``).
"""

from __future__ import annotations

from time import perf_counter

HEADER = b"server-timing"


class PhaseTimer:
    """Laps of one request: :meth:`lap` ends the phase under way and names it."""

    __slots__ = ("_last", "_start", "phases")

    def __init__(self) -> None:
        self._start = self._last = perf_counter()
        #: (phase, seconds) in the order they ended
        self.phases: list[tuple[str, float]] = []

    def lap(self, name: str) -> None:
        now = perf_counter()
        self.phases.append((name, now - self._last))
        self._last = now

    def header(self) -> tuple[bytes, bytes] | None:
        """The ``Server-Timing`` header: every phase and ``total``, in milliseconds."""
        total = perf_counter() - self._start
        parts = [f"{name};dur={seconds * 1e3:.3f}" for name, seconds in self.phases]
        parts.append(f"total;dur={total * 1e3:.3f}")
        return HEADER, ", ".join(parts).encode("ascii")


class _Untimed(PhaseTimer):
    """The timer of a request that is not timed: every lap a no-op, no header."""

    __slots__ = ()

    def __init__(self) -> None:  # no clock read
        pass

    def lap(self, name: str) -> None:
        pass

    def header(self) -> None:
        return None


#: The one timer of every untimed request (it keeps no state).
UNTIMED: PhaseTimer = _Untimed()


def timer_for(enabled: bool) -> PhaseTimer:
    """A new :class:`PhaseTimer` started now when ``enabled`` (the setting), else :data:`UNTIMED`."""
    return PhaseTimer() if enabled else UNTIMED


def read_header(value: str) -> dict[str, float]:
    """phase -> milliseconds of a ``Server-Timing`` value (the client side: benchmarks, tests).
    Raises ValueError naming the entry that is not ``name;dur=number``."""
    out: dict[str, float] = {}
    for entry in value.split(","):
        name, _, params = entry.strip().partition(";")
        key, _, number = params.strip().partition("=")
        if not name or key.strip() != "dur":
            raise ValueError(f"Server-Timing entry {entry.strip()!r} is not name;dur=milliseconds")
        try:
            out[name] = float(number)
        except ValueError:
            raise ValueError(f"Server-Timing entry {entry.strip()!r}: dur is not a number") from None
    return out
