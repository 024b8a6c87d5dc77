"""The README's "Library use" block runs as written: the public API it shows is the real one."""

from __future__ import annotations

import contextlib
import io
import math
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def library_use_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Library use", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert match, "README: the Library use section has no ```python block"
    return match.group(1)


@pytest.mark.slow
def test_readme_library_use_block_runs():
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(library_use_block(), f"{README}:Library use", "exec"), namespace)  # noqa: S102
    printed = out.getvalue()
    assert re.search(r"micro-F1 0\.\d{3}", printed), printed
    routes, part = namespace["routes"], namespace["part"]
    assert len(routes) == int((part == 4).sum()) > 0
    assert set(routes) <= {"automate", "assist", "manual"}
    # the block shows a policy that automates something under a certified bound, as the text says
    policy = namespace["policy"]
    assert math.isfinite(policy.t_automate) and namespace["automated"].sum() > 0
    assert policy.expected["automated_error_guarantee"] <= 0.2
    said = re.search(r"automate when p >= (\d\.\d{3}): .*\ntest: .*; (\d+) wrong of (\d+) automated", printed)
    assert said, printed
    assert said.group(1) in README.read_text(encoding="utf-8").split("### Library use", 1)[1].split("```")[0]
    assert int(said.group(3)) == int(namespace["automated"].sum())
