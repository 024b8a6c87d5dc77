"""The shape of the package: sub-packages of ``triage`` import only from their own layer or the
layers below (ARCHITECTURE.md), and their dependency graph has no cycle.

Every ``import`` and ``from ... import`` is read with ``ast`` - at module level, inside functions
and under ``TYPE_CHECKING`` alike - so a lazy import cannot hide a cycle. A new sub-package must
be given a layer here before its imports are accepted.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "triage"

#: Lowest first: data flows codes -> data -> coder -> metrics/confidence -> policy/bounds -> router
#: -> pipeline/tracking/report -> CLI. A sub-package may import from its own layer (when that
#: makes no cycle) and from any layer below. ``service/`` sits above all of them. A dotted entry
#: places one module of a sub-package on its own layer. The batch engines are entry points like the
#: CLI; the routing core and the episode/decision rows they share with the MLflow model and its
#: registered signature are their own sub-package, ``decisions``, below both.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("codes", "jsonsafe", "_lazy", "artifacts", "progress", "config_files"),
    ("data",),
    ("coder", "synth"),
    ("metrics", "confidence"),
    ("policy", "bounds", "allocation", "assist"),
    ("router", "config", "results"),
    ("decisions", "operation"),
    ("mlflow_model", "figures"),
    ("pipeline", "tracking", "report"),
    ("cli", "batch"),
)
LEVEL = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache  # each file is parsed once for all the checks
def _imports(path: Path) -> list[tuple[str, int]]:
    """Absolute names of everything ``path`` imports, with line numbers (relative imports resolved)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((name, node.lineno))
            # ``from triage import confidence`` imports the sub-package itself
            out += [(f"{name}.{alias.name}", node.lineno) for alias in node.names if name == "triage"]
    return out


def _subpackage(name: str) -> str | None:
    """The layered unit of a module: its sub-package, or a dotted entry of LAYERS naming it."""
    parts = name.split(".")
    if len(parts) < 2 or parts[0] != "triage":
        return None
    for end in range(len(parts), 2, -1):
        if ".".join(parts[1:end]) in LEVEL:
            return ".".join(parts[1:end])
    return parts[1]


def dependency_edges(root: Path = PACKAGE) -> dict[tuple[str, str], list[str]]:
    """(importer, imported) sub-package pairs -> where each import stands (``file:line``)."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        source = _subpackage(_module_name(path))
        if source is None:  # triage/__init__.py: the lazy public API may name any layer
            continue
        for name, line in _imports(path):
            target = _subpackage(name)
            top = None if target is None else target.split(".")[0]
            if top is not None and target != source and (
                (PACKAGE / top).exists() or (PACKAGE / f"{top}.py").exists()
            ):
                edges[(source, target)].append(f"{path.relative_to(ROOT)}:{line}")
    return edges


def find_cycle(edges) -> list[str] | None:
    """One cycle of the graph as a path ``[a, b, ..., a]``, or None."""
    graph = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_every_subpackage_has_a_layer():
    names = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    missing = sorted(names - set(LEVEL))
    assert not missing, f"give {missing} a layer in tests/test_architecture.py LAYERS (and ARCHITECTURE.md)"


def test_imports_only_go_down_the_layers():
    upward = [
        f"{a} (layer {LEVEL[a]}) imports {b} (layer {LEVEL[b]}) at {', '.join(where)}"
        for (a, b), where in sorted(dependency_edges().items())
        if a in LEVEL and b in LEVEL and LEVEL[b] > LEVEL[a]
    ]
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


def test_subpackage_graph_has_no_cycle():
    edges = dependency_edges()
    cycle = find_cycle(edges)
    if cycle:
        steps = [f"{a} -> {b} at {edges[(a, b)][0]}" for a, b in pairwise(cycle)]
        raise AssertionError("import cycle between sub-packages:\n" + "\n".join(steps))


def test_the_library_never_imports_the_service():
    """Only the CLI (``triage serve``) starts the service; the library never depends on it."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if _subpackage(_module_name(path)) != "cli"
        for name, line in _imports(path)
        if name == "service" or name.startswith("service.")
    ]
    assert not offenders, f"triage must not import service/: {offenders}"


def test_the_checks_see_lazy_imports_and_cycles(tmp_path):
    """The checks are not vacuous: an import inside a function counts, and a cycle is found."""
    pkg = tmp_path / "triage"
    for sub in ("codes", "data"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "codes" / "x.py").write_text("def f():\n    from triage.data import y\n")
    (pkg / "data" / "y.py").write_text("from ..codes import x\n")
    global ROOT, PACKAGE
    saved = ROOT, PACKAGE
    ROOT, PACKAGE = tmp_path, pkg
    try:
        edges = dependency_edges(pkg)
    finally:
        ROOT, PACKAGE = saved
    assert set(edges) == {("codes", "data"), ("data", "codes")}
    assert edges[("codes", "data")] == ["triage/codes/x.py:2"]
    assert find_cycle(edges) in (["codes", "data", "codes"], ["data", "codes", "data"])
    assert find_cycle({("codes", "data"): ["a"]}) is None
