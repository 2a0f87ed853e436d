"""A private PostgreSQL cluster for one test: its own data directory, port and socket.

The shared server at 127.0.0.1:5432 serves every other test at once (pytest-xdist); a test that
stops or restarts the server must own one. This runs the installed server binaries (initdb,
pg_ctl) in a temp directory, as the ``postgres`` OS user when we are root (the server refuses to
run as root), with trust auth, listening on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

PG_ROOT = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"
# A test cluster: durability buys nothing and costs seconds; the memory is for a few sessions.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "'16MB'",
    "max_connections": "40",
    "max_wal_size": "'256MB'",
    "logging_collector": "off",
    "log_min_messages": "warning",
}


class PgClusterError(RuntimeError):
    """The private cluster could not be created, started, stopped or restarted."""


def server_bin_dir(root: Path = PG_ROOT) -> Path:
    """The bin directory of the newest installed server that has initdb and pg_ctl."""
    found = []
    for bin_dir in root.glob("*/bin"):
        version = bin_dir.parent.name
        if re.fullmatch(r"\d+(\.\d+)?", version) and all(
            os.access(bin_dir / exe, os.X_OK) for exe in ("initdb", "pg_ctl", "postgres")
        ):
            found.append((float(version), bin_dir))
    if not found:
        raise PgClusterError(
            f"no PostgreSQL server binaries (initdb, pg_ctl, postgres) under {root}/<version>/bin; "
            "install the server package (postgresql)"
        )
    return max(found)[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """A throwaway cluster in a temp directory; ``close()`` always removes it."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        """Find the binaries; nothing is created until ``create()``."""
        self.bin_dir = bin_dir or server_bin_dir()
        self.root: Path | None = None
        self.port = 0
        self.as_root = os.geteuid() == 0

    # -- paths and URLs --------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self._root() / "data"

    @property
    def socket_dir(self) -> Path:
        """Where the server puts its unix socket (inside the temp dir, not /var/run)."""
        return self._root() / "socket"

    @property
    def log_file(self) -> Path:
        """The server's log (pg_ctl -l)."""
        return self._root() / "server.log"

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL for a database of this cluster (user postgres, trust auth)."""
        return f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def _root(self) -> Path:
        if self.root is None:
            raise PgClusterError("the cluster has not been created")
        return self.root

    # -- lifecycle -------------------------------------------------------------------------

    def create(self) -> PgCluster:
        """initdb into a fresh temp directory owned by the server's OS user; start the server."""
        # not under pytest's tmp_path: its parents are root's, mode 0700, closed to postgres
        self.root = Path(tempfile.mkdtemp(prefix="zonestats-pgcluster-"))
        self.socket_dir.mkdir()
        if self.as_root:
            user = pwd.getpwnam(SERVER_USER)  # KeyError: no postgres user, a broken install
            for path in (self.root, self.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run(
            [
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SERVER_USER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",  # a cluster that lives for one test never needs to survive a crash
            ],
            timeout=60,
        )
        settings = {**SETTINGS, "unix_socket_directories": f"'{self.socket_dir}'"}
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# zonestats test cluster\n")
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
        # the port is free when chosen but another process may take it before the server binds
        for attempt in range(1, 6):
            self.port = _free_port()
            try:
                self.start()
                return self
            except PgClusterError:
                if attempt == 5:
                    raise
        raise AssertionError("unreachable")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._pg_ctl("start", "-o", f"-p {self.port}", "-l", str(self.log_file))

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: sessions are terminated, ``immediate``: no shutdown)."""
        self._pg_ctl("stop", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        """Stop the server with ``mode`` and start it again, waiting until it is up."""
        self._pg_ctl("restart", "-m", mode, "-o", f"-p {self.port}", "-l", str(self.log_file))

    def is_running(self) -> bool:
        """True when pg_ctl finds a running server on the data directory."""
        done = self._run(["pg_ctl", "status", "-D", str(self.data_dir)], check=False)
        return done.returncode == 0

    def close(self) -> None:
        """Stop the server at once (no checkpoint) and remove the directory; safe to call twice."""
        if self.root is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run(
                    ["pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w"],
                    check=False,
                    timeout=60,
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> PgCluster:
        """Create and start the cluster for a with-block."""
        try:
            return self.create()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        """Remove the cluster, whatever happened."""
        self.close()

    # -- running the binaries --------------------------------------------------------------

    def _pg_ctl(self, action: str, *args: str) -> None:
        self._run(["pg_ctl", action, "-D", str(self.data_dir), "-w", "-t", "60", *args])

    def _run(
        self, argv: Sequence[str], check: bool = True, timeout: float = 90
    ) -> subprocess.CompletedProcess[str]:
        exe = str(self.bin_dir / argv[0])
        # the server refuses to run as root; cwd: the postgres user cannot read root's cwd
        cmd = (
            ["runuser", "-u", SERVER_USER, "--", exe, *argv[1:]]
            if self.as_root
            else [exe, *argv[1:]]
        )
        started = time.monotonic()
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=self._root()
        )
        if check and done.returncode != 0:
            log = (
                self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            )
            raise PgClusterError(
                f"{argv[0]} {' '.join(argv[1:2])} failed with exit code {done.returncode} after "
                f"{time.monotonic() - started:.1f}s: {done.stderr.strip() or done.stdout.strip()}"
                + (f"\nserver log:\n{log}" if log else "")
            )
        return done
