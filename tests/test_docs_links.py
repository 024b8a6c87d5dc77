"""Docs travel with the code: no file cites a document (or a section of one) that is not in the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

#: the gathered-facts file of the team, never part of the project (spelt in two pieces so that
#: this test is not itself a citation of it)
LEGACY = "REFERENCE" + ".md"

ROOT = Path(__file__).resolve().parents[1]
#: Text files whose citations are checked (notebooks are checked through their paired .py).
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".j2", ".txt", ".cfg"}
#: A mention of a project document: docs/<name>.md, optionally with a #section.
DOC_MENTION = re.compile(r"(?<![\w/.-])(docs/[\w./-]+\.md)(#[\w-]+)?")
#: A relative Markdown link: [text](path) or [text](path#section), not a URL.
MD_LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s]+?)(#[\w-]+)?\)")


def repository_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout.split()
        files = [ROOT / f for f in listed]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an sdist): walk the tree
        files = [p for p in ROOT.rglob("*") if ".venv" not in p.parts and ".git" not in p.parts]
    this = Path(__file__).resolve()  # the checker names what it looks for
    return [p for p in files if p.suffix in SUFFIXES and p.is_file() and p.resolve() != this]


def anchors(markdown: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    found = set()
    for line in markdown.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return found


def broken_citations(files: list[Path], root: Path = ROOT) -> list[str]:
    problems = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        rel = path.relative_to(root)
        if LEGACY in text or re.search(r"\bREFERENCE §", text):
            problems.append(f"{rel}: cites {LEGACY}, which is not part of the project (use docs/references.md)")
        cited = [(root / m.group(1), m.group(2)) for m in DOC_MENTION.finditer(text)]
        if path.suffix == ".md":
            cited += [((path.parent / m.group(1)).resolve(), m.group(2)) for m in MD_LINK.finditer(text)]
        for target, section in cited:
            if not target.exists():
                shown = target.relative_to(root) if target.is_relative_to(root) else target
                problems.append(f"{rel}: cites {shown}, which does not exist")
            elif section and target.suffix == ".md" and section[1:] not in anchors(target):
                problems.append(f"{rel}: cites {target.relative_to(root)}{section}, a section it does not have")
    return problems


def test_every_cited_document_and_section_exists():
    files = repository_files()
    assert any(p.name == "README.md" for p in files)
    assert broken_citations(files) == []


def test_the_check_finds_a_missing_document_a_missing_section_and_reference_md(tmp_path):
    tmp_path = tmp_path.resolve()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "references.md").write_text("# References\n\n## Seed paper\n")
    good = tmp_path / "good.py"
    good.write_text('"""See docs/references.md#seed-paper and [x](docs/references.md)."""\n')
    bad = tmp_path / "bad.md"
    bad.write_text(f"{LEGACY} §7, docs/missing.md, docs/references.md#no-such-section, [y](other.md)\n")
    problems = broken_citations([good, bad], root=tmp_path)
    assert len(problems) == 4, problems
    assert all(p.startswith("bad.md:") for p in problems)
