"""An S3 server for tests (moto on loopback), and reading a lake back to compare it with SQL.

``S3Server`` starts moto's ``ThreadedMotoServer`` on 127.0.0.1 (a port the OS picks), creates
one bucket and makes up credentials for this run only: the secret key is random, so a test can
search every output for it afterwards (``assert_secret_absent``). ``env`` holds the variables
``warehouse.lake.storage_options`` reads — the only place zonestats takes endpoint, region and
credentials from — for a test's own process (monkeypatch) or a worker's environment.

``assert_lake_equals_sql`` reads each Delta table twice — through ``deltalake`` and, as a plain
Parquet reader would, its active files through ``pyarrow.dataset`` on S3 — and compares both with
the SQL view of the same name by the table's key and every column's value, not only by counts.
A missing moto, boto3 or deltalake is an ImportError here: the tests that use it fail, never skip.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from sqlalchemy import text
from werkzeug.serving import make_server

from warehouse.engine import make_engine
from warehouse.lake import LAKE_TABLES, storage_options, table_schema

REGION = "us-east-1"
#: each lake table's key: what identifies a row in SQL (the view's key) and in the lake
KEYS: dict[str, list[str]] = {
    "obs_zone": ["zone_code", "indicator_code", "period", "revision"],
    "obs_enterprise": ["zone_code", "uscc", "indicator_code", "period", "revision"],
    "quarantine": ["quarantine_id"],
    # one revision per release: the key without it (the revision is a value, and must be the latest)
    "obs_zone_current": ["zone_code", "indicator_code", "period"],
    "obs_enterprise_current": ["zone_code", "uscc", "indicator_code", "period"],
}
_TIMESTAMPS = ("loaded_at", "created_at", "resolved_at")


class _CountingServer(ThreadedMotoServer):
    """moto's threaded server on a port of the OS's choosing, counting the requests it serves."""

    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)

        def counting(environ: dict[str, Any], start_response: Any) -> Any:
            with self._lock:
                self.requests[environ.get("REQUEST_METHOD", "?")] += 1
            return app(environ, start_response)

        # port 0: the OS picks a free one when binding, so no other process can take it first
        self._server = make_server(
            self._ip_address, self._port, counting, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


class S3Server:
    """A moto S3 server on loopback with one bucket and this run's own credentials."""

    def __init__(self, bucket: str = "zonestats-lake") -> None:
        self.bucket = bucket
        self.access_key = "AKIA" + secrets.token_hex(8).upper()
        #: random per run: searched for in every output afterwards
        self.secret = "zs-s3-" + secrets.token_urlsafe(30)
        self._server = _CountingServer()
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.env: dict[str, str] = {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
        }
        self.create_bucket(bucket)

    def create_bucket(self, name: str) -> str:
        """Create a bucket on this server; its name."""
        self.client().create_bucket(Bucket=name)
        return name

    def client(self) -> Any:
        """A boto3 S3 client on this server, with this run's credentials."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret,
        )

    def uri(self, prefix: str = "zonestats", bucket: str | None = None) -> str:
        """``s3://bucket/prefix``: a ``warehouse.data_dir``."""
        return f"s3://{bucket or self.bucket}/{prefix}"

    @property
    def requests(self) -> int:
        """Requests served so far (every method)."""
        return sum(self._server.requests.values())

    def requests_by_method(self) -> dict[str, int]:
        """Requests served so far, per HTTP method."""
        return dict(self._server.requests)

    def objects(self, uri: str) -> list[tuple[str, int]]:
        """(key, size) of every object under an ``s3://bucket/prefix``."""
        parsed = urlparse(uri)
        pages = self.client().get_paginator("list_objects_v2")
        prefix = parsed.path.lstrip("/")
        return [
            (o["Key"], int(o["Size"]))
            for page in pages.paginate(Bucket=parsed.netloc, Prefix=prefix)
            for o in page.get("Contents", [])
        ]

    def assert_secret_absent_in(self, uri: str) -> int:
        """No object under an ``s3://bucket/prefix`` holds the secret key; objects searched."""
        parsed = urlparse(uri)
        client = self.client()
        found = []
        objects = self.objects(uri)
        for key, _ in objects:
            body = client.get_object(Bucket=parsed.netloc, Key=key)["Body"].read()
            if self.secret.encode() in body:
                found.append(key)
        assert found == [], f"the S3 secret key is in objects {found}"
        return len(objects)

    def stop(self) -> None:
        """Stop the server (its state goes with it)."""
        self._server.stop()

    # -- reading a lake ------------------------------------------------------------------------

    def delta(self, uri: str, table: str) -> DeltaTable:
        """A lake table, opened with this server's options (the env, not the caller's process)."""
        return DeltaTable(f"{uri.rstrip('/')}/parquet/{table}", storage_options=self._options())

    def versions(self, uri: str, tables: Iterable[str] = LAKE_TABLES) -> dict[str, int | None]:
        """Each table's Delta version (None: never committed)."""
        out: dict[str, int | None] = {}
        for table in tables:
            try:
                out[table] = self.delta(uri, table).version()
            except TableNotFoundError:  # no commit yet
                out[table] = None
        return out

    def read_delta(self, uri: str, table: str) -> pa.Table:
        """A table's rows through deltalake."""
        return self.delta(uri, table).to_pyarrow_table()

    def read_parquet(self, uri: str, table: str) -> pa.Table:
        """A table's rows as a plain Parquet reader gets them: its active files, Hive partitions."""
        dt = self.delta(uri, table)
        base = urlparse(f"{uri.rstrip('/')}/parquet/{table}")
        root = f"{base.netloc}{base.path}"
        files = [f"{urlparse(u).netloc}{urlparse(u).path}" for u in dt.file_uris()]
        schema = table_schema(table)
        parts = pads.partitioning(
            pa.schema([schema.field("year"), schema.field("zone_code")]), flavor="hive"
        )
        data = pads.dataset(
            files,
            filesystem=self._filesystem(),
            format="parquet",
            partitioning=parts,
            partition_base_dir=root,
        )
        return data.to_table()

    def _options(self) -> dict[str, str]:
        return storage_options(self.env)

    def _filesystem(self) -> pafs.S3FileSystem:
        endpoint = urlparse(self.endpoint)
        return pafs.S3FileSystem(
            access_key=self.access_key,
            secret_key=self.secret,
            region=REGION,
            endpoint_override=endpoint.netloc,
            scheme=endpoint.scheme,
        )


def canon(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """A frame in one form for both sides: UTC timestamps, None for missing text, key order."""
    frame = frame.copy()
    for col in _TIMESTAMPS:
        if col in frame:
            frame[col] = pd.to_datetime(frame[col], utc=True)
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].map(lambda v: None if v is None else str(v))
    # the table's columns that the frame has, in the table's order (``year`` is the partition)
    cols = [c.name for c in table_schema(table) if c.name != "year" and c.name in frame]
    return frame[cols].sort_values(KEYS[table]).reset_index(drop=True)


def sql_frame(url: str, table: str) -> pd.DataFrame:
    """A SQL view's rows, the lake table's columns (but ``year``)."""
    cols = [c.name for c in table_schema(table) if c.name != "year"]
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(text(f"SELECT {', '.join(cols)} FROM {table}"), conn)
    finally:
        engine.dispose()


def compare_table(s3: S3Server, uri: str, sql_url: str, table: str) -> int:
    """Assert a lake table holds exactly the SQL view's rows (key and values); their number.

    Checked: each row's ``year`` partition is its period's year; no key twice on either side;
    the same keys; every column equal; deltalake and a plain Parquet read of the active files
    give the same rows.
    """
    want = sql_frame(sql_url, table)
    try:
        delta = s3.read_delta(uri, table)
    except TableNotFoundError as exc:
        if want.empty:
            return 0  # never committed: right when SQL has no row for it
        raise AssertionError(f"{table}: SQL has {len(want)} rows, the lake none ({exc})") from exc
    got = delta.to_pandas()
    years = got["period"].str.slice(0, 4).astype(int)
    assert (got["year"].astype(int) == years).all(), f"{table}: rows in another year's partition"
    got, want = canon(got, table), canon(want, table)
    key = KEYS[table]
    for side, frame in (("lake", got), ("SQL", want)):
        dup = frame[frame.duplicated(key, keep=False)]
        assert dup.empty, f"{table}: keys twice in the {side}: {dup[key].head().values.tolist()}"
    keys = got[key].merge(want[key], on=key, how="outer", indicator=True)
    extra = keys[keys["_merge"] == "left_only"][key]
    missing = keys[keys["_merge"] == "right_only"][key]
    assert missing.empty, (
        f"{table}: {len(missing)} SQL rows not in the lake, e.g. {missing.head(3).values.tolist()}"
    )
    assert extra.empty, (
        f"{table}: {len(extra)} lake rows not in SQL, e.g. {extra.head(3).values.tolist()}"
    )
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_exact=True, obj=table)
    plain = canon(s3.read_parquet(uri, table).to_pandas(), table)
    pd.testing.assert_frame_equal(plain, got, check_dtype=False, check_exact=True, obj=table)
    return len(got)


def assert_lake_equals_sql(
    s3: S3Server, uri: str, sql_url: str, tables: Iterable[str] = LAKE_TABLES
) -> dict[str, int]:
    """Every lake table equals its SQL view by key and values (``compare_table``); rows each."""
    return {t: compare_table(s3, uri, sql_url, t) for t in tables}


def assert_secret_absent(secret: str, root: Path) -> int:
    """No file under ``root`` holds the secret (as bytes); the number of files searched."""
    needle = secret.encode()
    found, n = [], 0
    for f in root.rglob("*"):
        if f.is_file() and not f.is_symlink():
            n += 1
            if needle in f.read_bytes():
                found.append(str(f.relative_to(root)))
    assert found == [], f"the S3 secret key is in {found}"
    return n


def secret_rows_in_postgres(url: str, secret: str) -> dict[str, int]:
    """Per table of a PostgreSQL database (every schema but the catalogs), rows whose text holds
    the secret: each row is cast to text whole (``t::text``), so JSON parameters, logs, event
    payloads and every other column are searched."""
    engine = make_engine(url)
    found: dict[str, int] = {}
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                text(
                    "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)"
                    " FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
                    " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
                )
            ).scalars()
            for name in list(tables):
                n = conn.execute(
                    text(f"SELECT count(*) FROM {name} t WHERE strpos(t::text, :s) > 0"),
                    {"s": secret},
                ).scalar_one()
                if n:
                    found[name] = int(n)
    finally:
        engine.dispose()
    return found


def lake_sizes(s3: S3Server, uri: str) -> Mapping[str, tuple[int, int]]:
    """Per lake table, (objects, bytes) under its prefix (data files and log)."""
    out: dict[str, tuple[int, int]] = {}
    for key, size in s3.objects(uri):
        table = key.split("/parquet/", 1)[1].split("/", 1)[0] if "/parquet/" in key else "?"
        n, b = out.get(table, (0, 0))
        out[table] = (n + 1, b + size)
    return out
