"""One hash of a table for the pinned-output tests, the same under pandas 2 and 3.

pandas 3 stores text as its ``str`` dtype where pandas 2 stores ``object``, and hashes the two
differently; the pins must move only when the numbers or texts do, not with the library.
"""

from __future__ import annotations

import hashlib

import pandas as pd


def frame_hash(df: pd.DataFrame) -> str:
    """sha256 (16 hex) of a table's cells as text, its index, column names and value kinds."""
    body = df.astype(str).astype(object).to_csv(index=True, lineterminator="\n")
    kinds = "|".join("text" if (pd.api.types.is_object_dtype(t) or pd.api.types.is_string_dtype(t))
                     else str(t) for t in df.dtypes)
    return hashlib.sha256((body + kinds).encode()).hexdigest()[:16]
