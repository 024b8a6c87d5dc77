"""ARCHITECTURE.md stays true: every module of ``triage/`` and ``service/`` is named in its package's
entry, every file the document names exists, and its chain of layers is the one
``tests/test_architecture.py`` enforces."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from test_architecture import LAYERS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
TREE = DOC.split("```", 2)[1]
ENTRY = re.compile(r"^(?:  )?([A-Za-z_][\w]*(?:/|\.py))\s")


def _entries() -> dict[str, str]:
    """Top-level entry of the tree block (``codes/``, ``router.py``, ``service/`` ...) -> its text."""
    out: dict[str, str] = {}
    current = None
    for line in TREE.splitlines():
        m = ENTRY.match(line)
        if m and not line.startswith("    "):
            current = m.group(1)
            out[current] = line
        elif current is not None:
            out[current] += "\n" + line
    return out


def _named(stem: str, text: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(stem)}(?:\.py)?(?![\w])", text) is not None


def test_every_module_is_named_where_its_package_is_described():
    entries = _entries()
    missing = []
    for path in sorted((ROOT / "triage").rglob("*.py")):
        rel = path.relative_to(ROOT / "triage")
        if len(rel.parts) == 1:  # a top-level module has an entry of its own
            if rel.name != "__init__.py" and rel.name not in entries:
                missing.append(f"triage/{rel}")
            continue
        if path.name == "__init__.py" or path.stem.startswith("_"):
            continue
        text = entries.get(f"{rel.parts[0]}/", "")
        if not text:
            missing.append(f"triage/{rel.parts[0]}/ (no entry)")
        elif not _named(path.stem, text):
            missing.append(f"triage/{rel}")
    service = entries.get("service/", "")
    for path in sorted((ROOT / "service").rglob("*.py")):
        if path.name == "__init__.py" or path.stem.startswith("_"):
            continue
        if not _named(path.stem, service):
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"ARCHITECTURE.md does not say where these live: {sorted(set(missing))}"


def test_every_file_the_document_names_exists():
    names = set(re.findall(r"(?<![\w/.])([\w/]+\.(?:py|md|json|yaml|toml))\b", DOC))
    # the committed tree only: a gitignored run output (models/router/...) exists or not depending on
    # which tests ran before, so it must not decide this test
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    tree = set(tracked.stdout.split())
    by_name = {Path(p).name for p in tree}
    # a file the code writes (a bundle's manifest.json) is named by the code as a string literal
    written = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "triage").rglob("*.py"))
    absent = sorted(n for n in names
                    if n not in tree and not any(t.endswith("/" + n) for t in tree)
                    and Path(n).name not in by_name and f'"{Path(n).name}"' not in written)
    assert not absent, f"ARCHITECTURE.md names files that do not exist: {absent}"


def test_the_chain_of_layers_is_the_enforced_one():
    chain = re.search(r"\*\*Imports go down the layers\*\* `([^`]+)`", DOC)
    assert chain, "ARCHITECTURE.md has no chain of layers"
    words = set(re.findall(r"[a-z_]+", chain.group(1)))
    missing = sorted(name for layer in LAYERS for name in layer if name not in words)
    assert not missing, f"the chain in ARCHITECTURE.md leaves out the layers of {missing}"
