"""Work files of a release in progress: the raw spool of pages, and staged Parquet of its rows."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from itertools import repeat
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from zonestats.errors import ReleaseRejected
from zonestats.sources.base import Page
from zonestats.sources.http import loads

# orjson writes a few floats differently from the json module (1e-07 as 1e-7, 1e-05 as 0.00001)
# and NaN / ±Infinity as null; output holding any of these byte sequences is made again by the
# json module, so the canonical text (and the release's sha256) stays the json module's
_MAY_DIFFER = (b"e-", b"0.0000", b"null")
# types the json module does not know (datetime, dataclasses, subclasses) go to it and fail there
_PLAIN = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
_SORTED = orjson.OPT_SORT_KEYS | _PLAIN
_COMPACT = b'{"page":'


def _may_differ(text: bytes) -> bool:
    return any(s in text for s in _MAY_DIFFER)


# what the spool keeps of each record for repeats and conflicts, next to the pages
DIGEST_SCHEMA = pa.schema([("zone", pa.string()), ("key", pa.string()), ("digest", pa.binary(16))])
_KEY_FIELD = {"zone": "indicator", "enterprise": "uscc"}


def canonical_bytes(record: Any) -> bytes:
    """A record as stable JSON (keys sorted, Chinese kept, compact): the json module's text.

    Raises UnicodeEncodeError for text that is not Unicode (a lone UTF-16 surrogate).
    """
    try:
        out = orjson.dumps(record, option=_SORTED)
    except (TypeError, orjson.JSONEncodeError):
        out = None  # a big integer, a lone surrogate, a type orjson does not know
    if out is None or _may_differ(out):
        text = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return text.encode("utf-8")
    return out


def canonical_text(record: Any) -> str:
    """``canonical_bytes`` as text; text that is not Unicode as the json module writes it."""
    try:
        return canonical_bytes(record).decode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def record_key(dataset: str, record: Any) -> str | None:
    """The key a record is identified by in its release (indicator or credit code), stripped."""
    value = record.get(_KEY_FIELD[dataset]) if isinstance(record, dict) else None
    return value.strip() if isinstance(value, str) else None


def digest_path(spool: Path) -> Path:
    """Where a spool keeps its records' keys and content digests."""
    return spool.with_name(spool.name + ".digests")


def _canonical_page(records: list[Any]) -> tuple[list[bytes], bool]:
    """Each record's canonical JSON, and whether orjson alone wrote the page exactly."""
    try:
        canon = [orjson.dumps(r, option=_SORTED) for r in records]
    except (TypeError, orjson.JSONEncodeError):
        return [canonical_bytes(r) for r in records], False
    # one look over the page for what orjson may write otherwise, then record by record
    if _may_differ(b"".join(canon)):
        return [canonical_bytes(r) for r in records], False
    return canon, True


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
    how the zone's system cut the pages. Beside the pages it keeps each record's key and a digest
    of its canonical JSON (``digest_path``): validation finds repeats and conflicts from those
    without reading the pages twice.
    """

    def __init__(self, path: Path, label: str = "") -> None:
        self.path = path
        self.label = label  # the release, for messages
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[bytes] | None = None
        self._digests: pa.ipc.RecordBatchStreamWriter | None = None
        self.reset()

    def reset(self) -> None:
        """Start over: the release is being read again from its first page."""
        self._close_files()
        self._fh = self.path.open("wb")
        self._digests = pa.ipc.new_stream(str(digest_path(self.path)), DIGEST_SCHEMA)
        self._hash = hashlib.sha256()
        self.pages = 0
        self.records = 0

    def write(self, page: Page) -> None:
        """Append one page."""
        assert self._fh is not None
        assert self._digests is not None
        try:
            canon, exact = _canonical_page(page.records)
            line = self._line(page, exact)
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
        if canon:
            self._hash.update(b"\n".join(canon))
            self._hash.update(b"\n")
        field = _KEY_FIELD.get(page.dataset)
        records = page.records
        if field is None:
            keys: list[str | None] = [None] * len(records)
        else:
            objs = (
                records
                if list(map(type, records)).count(dict) == len(records)
                else [r if type(r) is dict else {} for r in records]
            )
            keys = [
                v.strip() if isinstance(v, str) else None
                for v in map(dict.get, objs, repeat(field))
            ]
        self._digests.write_batch(
            pa.record_batch(
                [
                    pa.array([page.zone_code] * len(canon), pa.string()),
                    pa.array(keys, pa.string()),
                    pa.array(
                        [hashlib.blake2b(c, digest_size=16).digest() for c in canon], pa.binary(16)
                    ),
                ],
                schema=DIGEST_SCHEMA,
            )
        )
        self.pages += 1
        self.records += len(page.records)

    @staticmethod
    def _line(page: Page, plain: bool) -> bytes:
        """The page as one JSON line, its records in the order received."""
        head = {"page": page.number, "zone_code": page.zone_code, "revision": page.revision}
        if plain:
            # compact: iter_spool tells these lines from the json module's by the missing space
            return (
                orjson.dumps(head)[:-1]
                + b',"records":'
                + orjson.dumps(page.records, option=_PLAIN)
                + b"}\n"
            )
        # a null may be a NaN, which orjson would write as null: the json module's line
        text = json.dumps({**head, "records": page.records}, ensure_ascii=False)
        return (text + "\n").encode("utf-8")

    @property
    def sha256(self) -> str:
        """The hex digest of the records received so far."""
        return self._hash.hexdigest()

    def _close_files(self) -> None:
        if self._digests is not None:
            self._digests.close()
            self._digests = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def close(self) -> None:
        """Flush and close the spool file."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        self._close_files()

    def __enter__(self) -> RawSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_spool(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the pages of a spool one at a time."""
    with path.open("rb") as fh:
        for line in fh:
            # a compact line is orjson's own, of values it wrote exactly: no need to look twice
            compact = line.startswith(_COMPACT) and line[len(_COMPACT) : len(_COMPACT) + 1] != b" "
            yield orjson.loads(line) if compact else loads(line)


def read_digests(spool: Path) -> pa.Table | None:
    """The key and content digest of every record of a spool, in order (None: not kept)."""
    path = digest_path(spool)
    if not path.exists():
        return None
    with pa.ipc.open_stream(str(path)) as reader:
        return reader.read_all()


class StagedWriter:
    """Append rows of one fixed schema to a Parquet file, batch by batch (bounded memory).

    Small batches are held until ``group_rows`` rows are there, then written as one row group:
    memory holds at most that many rows, and a file is a few row groups, not one per batch.
    """

    def __init__(
        self,
        path: Path,
        schema: pa.Schema,
        dictionary: Sequence[str] | None = None,
        group_rows: int = 65_536,
    ) -> None:
        self.path = path
        self.schema = schema
        self.rows = 0
        self._held: list[pa.Table] = []
        self._held_rows = 0
        self._group_rows = group_rows
        path.parent.mkdir(parents=True, exist_ok=True)
        # a work file read once, whole: no statistics; dictionaries for the columns that repeat
        # (``dictionary``, default all), where a float or a credit code would only cost time
        self._writer = pq.ParquetWriter(
            path,
            schema,
            use_dictionary=True if dictionary is None else list(dictionary),
            write_statistics=False,
        )

    def write(
        self, rows: pa.Table | pa.RecordBatch | pd.DataFrame | dict[str, Sequence[Any] | np.ndarray]
    ) -> None:
        """Append rows: an Arrow table or batch, a frame, or columns by name (cast to the schema)."""
        if isinstance(rows, pd.DataFrame):
            if rows.empty:
                return
            table = pa.Table.from_pandas(
                rows[self.schema.names], schema=self.schema, preserve_index=False
            )
        elif isinstance(rows, dict):
            table = pa.table(
                [pa.array(rows[f.name], f.type) for f in self.schema], schema=self.schema
            )
        else:
            if isinstance(rows, pa.RecordBatch):
                rows = pa.Table.from_batches([rows])
            table = rows.select(self.schema.names).cast(self.schema)
        if table.num_rows == 0:
            return
        self._held.append(table)
        self._held_rows += table.num_rows
        self.rows += table.num_rows
        if self._held_rows >= self._group_rows:
            self._flush()

    def _flush(self) -> None:
        if self._held:
            self._writer.write_table(pa.concat_tables(self._held))
            self._held, self._held_rows = [], 0

    def close(self) -> None:
        """Finish the file (an empty file still has the schema)."""
        try:
            self._flush()
        finally:
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
