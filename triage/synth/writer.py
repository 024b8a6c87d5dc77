"""Deterministic ``.csv.gz`` writing: same rows, same bytes (gzip header mtime 0, no file name)."""

from __future__ import annotations

import gzip
import queue
import threading
from pathlib import Path

import pandas as pd


class GzipCsvWriter:
    """Streams CSV chunks into one gzip file; compression runs on a background thread.

    zlib releases the GIL, so compressing chunk k while the caller builds chunk k+1 uses the
    second core; bytes are identical to a single-threaded write because order is kept.
    """

    def __init__(self, path: Path, compresslevel: int = 4, max_pending: int = 2):
        self.path = Path(path)
        self._raw = open(self.path, "wb")
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0,
                                 compresslevel=compresslevel)
        self._q: queue.Queue[bytes | None] = queue.Queue(maxsize=max_pending)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._header = True

    def _run(self) -> None:
        try:
            while (item := self._q.get()) is not None:
                self._gz.write(item)
        except BaseException as exc:  # surfaced by close()
            self._error = exc
            while self._q.get() is not None:
                pass

    def write(self, frame: pd.DataFrame) -> None:
        text = frame.to_csv(index=False, header=self._header, lineterminator="\n")
        self._header = False
        self._q.put(text.encode("utf-8"))

    def close(self) -> None:
        self._q.put(None)
        self._thread.join()
        self._gz.close()
        self._raw.close()
        if self._error is not None:
            raise OSError(f"writing {self.path} failed: {self._error}") from self._error

    def __enter__(self) -> "GzipCsvWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_csv_gz(frame: pd.DataFrame, path: Path, compresslevel: int = 4) -> None:
    with GzipCsvWriter(path, compresslevel) as w:
        w.write(frame)


def gzip_csv_bytes(frame: pd.DataFrame, compresslevel: int = 4) -> bytes:
    """The bytes ``write_csv_gz`` would write, in memory."""
    text = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    return gzip.compress(text, compresslevel=compresslevel, mtime=0)
