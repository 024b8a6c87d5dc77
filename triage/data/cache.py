"""The cache directory: under the user cache dir (or ``TRIAGE_CACHE_DIR``), never beside raw data.

The reference pipeline writes feather copies next to MIMIC's read-only files; we never write
into an input folder and refuse a cache directory placed inside one.
"""

from __future__ import annotations

import os
from pathlib import Path

from triage.data.errors import DataError

ENV_VAR = "TRIAGE_CACHE_DIR"


def cache_dir(create: bool = True) -> Path:
    """The cache root: ``$TRIAGE_CACHE_DIR`` if set, else the platform user cache dir."""
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
    else:
        from platformdirs import user_cache_dir

        path = Path(user_cache_dir("coding-triage", appauthor=False))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def check_outside(cache: Path, data: Path) -> None:
    """Raise when the cache would sit inside (or be) the raw-data folder."""
    c, d = cache.resolve(), data.resolve()
    d = d if d.is_dir() else d.parent
    if c == d or d in c.parents:
        raise DataError(f"cache directory {c} is inside the input folder {d}: set {ENV_VAR} elsewhere")
