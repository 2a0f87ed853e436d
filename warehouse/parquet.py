"""Parquet files that readers see: written under a hidden temp name, then renamed into place."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse import schema
from warehouse.arrow import arrow_schema

# Columns per table in SQL order, without the partition columns (zone_code, year) that the
# directory names carry; DuckDB/pandas/Arrow add them back when reading the table root.
# The quarantine's raw payloads stay in SQL (operators) and under raw/ (the pages as received): the
# Parquet tree is what statisticians read, and their role may not read raw payloads.
SCHEMAS: dict[str, pa.Schema] = {
    table.name: arrow_schema(table, drop=("zone_code", "raw"))
    for table in (schema.obs_zone, schema.obs_enterprise, schema.quarantine)
}


class TempParquet:
    """A Parquet file written batch by batch under a hidden temp name beside its final path."""

    def __init__(self, table: str, final: Path) -> None:
        self.schema = SCHEMAS[table]
        self.final = final
        self.tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        """Append a batch (columns in the table's order; timestamps made UTC)."""
        for col in ("loaded_at", "created_at", "resolved_at"):
            if col in frame.columns and col in self.schema.names:
                frame[col] = pd.to_datetime(frame[col], utc=True)
        arrow = pa.Table.from_pandas(
            frame[self.schema.names], schema=self.schema, preserve_index=False
        )
        if self._writer is None:
            # the partition directory appears with the first row, never for an empty part
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")
        self._writer.write_table(arrow)
        self.rows += len(frame)

    def close(self) -> Path | None:
        """Finish the temp file; None when nothing was written (no file for an empty part)."""
        if self._writer is None:
            return None
        self._writer.close()
        with self.tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        return self.tmp


def publish(tmp: Path, final: Path) -> None:
    """Move a finished temp file into place in one step."""
    os.replace(tmp, final)


def discard_temp(tmp: Path) -> None:
    """Remove a temp file that will not be published."""
    tmp.unlink(missing_ok=True)
