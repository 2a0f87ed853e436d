"""Work files of a release in progress: the raw spool of pages, and staged Parquet of its rows."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from zonestats.errors import ReleaseRejected
from zonestats.sources.base import Page


def _unencodable(records: list[Any]) -> int:
    """The 1-based number of the first record that cannot be UTF-8 encoded (0: none)."""
    for n, rec in enumerate(records, 1):
        try:
            json.dumps(rec, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return n
    return 0


class RawSpool:
    """A PageSink that keeps the pages of one release on disk, as received, one JSON line a page.

    The release's sha256 is computed over its records' canonical JSON, so it does not depend on
    how the zone's system cut the pages.
    """

    def __init__(self, path: Path, label: str = "") -> None:
        self.path = path
        self.label = label  # the release, for messages
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[bytes] | None = None
        self.reset()

    def reset(self) -> None:
        """Start over: the release is being read again from its first page."""
        if self._fh is not None:
            self._fh.close()
        self._fh = self.path.open("wb")
        self._hash = hashlib.sha256()
        self.pages = 0
        self.records = 0

    def write(self, page: Page) -> None:
        """Append one page."""
        assert self._fh is not None
        text = json.dumps(
            {
                "page": page.number,
                "zone_code": page.zone_code,
                "revision": page.revision,
                "records": page.records,
            },
            ensure_ascii=False,
        )
        try:
            line = (text + "\n").encode("utf-8")
        except UnicodeEncodeError as exc:
            # a lone UTF-16 surrogate ("\ud800" in the JSON, or its bytes, which Python's JSON
            # decoder lets through) is not Unicode text: nothing downstream could store the
            # record (raw archive, quarantine, Parquet), so the page is refused, saying why
            raise ReleaseRejected(
                f"{self.label} page {page.number}: record {_unencodable(page.records)} holds"
                f" text with an unpaired UTF-16 surrogate ({exc.object[exc.start : exc.end]!r}),"
                " which is not Unicode text"
            ) from None
        self._fh.write(line)
        for rec in page.records:
            self._hash.update(
                json.dumps(rec, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
            )
            self._hash.update(b"\n")
        self.pages += 1
        self.records += len(page.records)

    @property
    def sha256(self) -> str:
        """The hex digest of the records received so far."""
        return self._hash.hexdigest()

    def close(self) -> None:
        """Flush and close the spool file."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def __enter__(self) -> RawSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_spool(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the pages of a spool one at a time."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


class StagedWriter:
    """Append frames of one fixed schema to a Parquet file, batch by batch (bounded memory)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.rows = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(path, schema)

    def write(self, frame: pd.DataFrame) -> None:
        """Append the rows of a frame (columns selected and cast to the schema)."""
        if frame.empty:
            return
        table = pa.Table.from_pandas(
            frame[self.schema.names], schema=self.schema, preserve_index=False
        )
        self._writer.write_table(table)
        self.rows += len(frame)

    def close(self) -> None:
        """Finish the file (an empty file still has the schema)."""
        self._writer.close()

    def __enter__(self) -> StagedWriter:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_batches(path: Path, batch_rows: int = 50_000) -> Iterator[pd.DataFrame]:
    """Read a staged Parquet file back in batches."""
    pf = pq.ParquetFile(path)
    for batch in pf.iter_batches(batch_size=batch_rows):
        yield batch.to_pandas()


def archive_spool(spool: Path, target: Path) -> None:
    """Keep the pages as received next to the data they became (atomic rename, same filesystem)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(spool, target)


def discard(path: Path) -> None:
    """Remove a staging directory, if it is there."""
    shutil.rmtree(path, ignore_errors=True)
