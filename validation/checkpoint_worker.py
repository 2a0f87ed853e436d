"""A checkpoint worker: a process that gets the data-quality checkpoint ready while the run fetches.

Importing Great Expectations and building its context and suites costs seconds of CPU, and so does
reading and validating a million rows; the run itself keeps about one core busy, the machine has
two. So the flow starts a worker at the beginning of the run (``CheckpointWorker.start``): it
imports GX, builds the suites and renders their pages, then polls the ledger and reads and
validates each release as it is loaded (``CheckpointRun.prefetch``), at a lower CPU priority than
the run. At the end ``finish`` hands it the run's list of loaded releases; it checks what it read
against that list and the ledger, reads what is missing, and answers with the outcome.

The protocol is length-prefixed pickles over the worker's stdin and stdout (parent and child run
the same code). The warehouse settings — their URL is a secret — travel only that way: never on a
command line, in the environment or in a log line. The worker dies with its parent (its stdin
closes: it exits at once); the parent never waits on it without a bound (a worker that stops
answering is killed), and a dead worker is a clear error, which the flow reports as a checkpoint
that could not run.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import resource
import select
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from validation.checkpoint import CHUNK_ROWS, CheckpointRun
from validation.expectations import DqOutcome
from warehouse.arrow import use_run_memory_pool
from zonestats.allocator import prefer_run_pool
from zonestats.catalog import Catalog
from zonestats.config import WarehouseSettings
from zonestats.models import ReleaseKey
from zonestats.secrets import redact

# how long the parent waits for any sign of progress once it asked for the outcome, and in all:
# a worker that is busy sends a word after each release read and each chunk validated
IDLE_TIMEOUT_S = 120.0
TOTAL_TIMEOUT_S = 1800.0
# how often the worker looks for newly loaded releases
POLL_S = 0.5
# below the run's priority: the worker takes the core the run leaves idle, not the run's
NICENESS = 10
_HEADER = struct.Struct(">Q")


class CheckpointWorkerError(RuntimeError):
    """The checkpoint worker failed, died or stopped answering: the checkpoint did not run."""


@dataclass(frozen=True)
class WorkerReport:
    """What the worker did, for the run's log: releases read early, rows, seconds."""

    prefetched_releases: int
    rows_read: int
    warm_s: float  # starting: GX imported, context and suites built, suite pages written
    finish_s: float  # from the finish request to the answer, in the worker
    seconds: dict[str, float]  # CheckpointRun.seconds: warm, read, validate, docs
    peak_rss_mb: float  # the worker's own peak memory


def _send(stream: IO[bytes], message: dict[str, Any]) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _read_exact(stream: IO[bytes], n: int) -> bytes | None:
    """n bytes from a blocking stream, or None at its end."""
    chunks = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _recv(stream: IO[bytes]) -> dict[str, Any] | None:
    """The next message of a blocking stream, or None when it closed."""
    header = _read_exact(stream, _HEADER.size)
    if header is None:
        return None
    data = _read_exact(stream, _HEADER.unpack(header)[0])
    if data is None:
        return None
    message: dict[str, Any] = pickle.loads(data)  # noqa: S301 - our own child, same code
    return message


class _TimedReader:
    """Messages from a pipe, each awaited for at most a given time (select, then os.read)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""

    def recv(self, timeout_s: float) -> dict[str, Any] | None:
        """The next message; None when the pipe closed; TimeoutError when none came in time."""
        deadline = time.monotonic() + timeout_s
        while True:
            if len(self._buffer) >= _HEADER.size:
                size = _HEADER.unpack(self._buffer[: _HEADER.size])[0]
                end = _HEADER.size + size
                if len(self._buffer) >= end:
                    data, self._buffer = self._buffer[_HEADER.size : end], self._buffer[end:]
                    message: dict[str, Any] = pickle.loads(data)  # noqa: S301 - our own child
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self._fd], [], [], remaining)
            if not ready:
                raise TimeoutError
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Stop a worker for good (it may already be gone) and reap it."""
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
        proc.wait(timeout=5)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


class CheckpointWorker:
    """The parent's handle on a checkpoint worker process."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self._reader = _TimedReader(proc.stdout.fileno()) if proc.stdout else None
        self._finalizer = weakref.finalize(self, _kill, proc)
        self.report: WorkerReport | None = None

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.proc.pid

    @classmethod
    def start(
        cls,
        settings: WarehouseSettings,
        catalog: Catalog,
        chunk_rows: int | None = None,
        prefetch: bool = True,
        poll_s: float = POLL_S,
    ) -> CheckpointWorker:
        """Start a worker; it warms up and follows the run's loads until ``finish``."""
        env = dict(os.environ)
        env.setdefault("GX_ANALYTICS_ENABLED", "False")
        prefer_run_pool(env)  # read by Arrow as the worker loads it
        # our own interpreter and module; nothing of the settings on the command line
        proc = subprocess.Popen(
            [sys.executable, "-m", "validation.checkpoint_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        worker = cls(proc)
        start = {
            "op": "start",
            "settings": settings,
            "catalog": catalog,
            "chunk_rows": chunk_rows,
            "prefetch": prefetch,
            "poll_s": poll_s,
        }
        try:
            if proc.stdin is None:
                raise OSError("no pipe to the worker")
            _send(proc.stdin, start)
        except OSError as exc:
            worker.close()
            raise CheckpointWorkerError(
                f"the checkpoint worker could not be started: {exc}"
            ) from exc
        return worker

    def finish(
        self,
        releases: Sequence[ReleaseKey],
        run_name: str,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        total_timeout_s: float = TOTAL_TIMEOUT_S,
    ) -> DqOutcome:
        """The checkpoint over these releases; raises CheckpointWorkerError, never hangs."""
        try:
            return self._finish(list(releases), run_name, idle_timeout_s, total_timeout_s)
        finally:
            self.close()

    def _finish(
        self, releases: list[ReleaseKey], run_name: str, idle_s: float, total_s: float
    ) -> DqOutcome:
        if not self._finalizer.alive:
            raise CheckpointWorkerError("the checkpoint worker was stopped before the checkpoint")
        if self.proc.stdin is None or self._reader is None:
            raise CheckpointWorkerError("the checkpoint worker has no pipes")
        try:
            _send(self.proc.stdin, {"op": "finish", "releases": releases, "run_name": run_name})
        except OSError:
            raise CheckpointWorkerError(self._died()) from None
        deadline = time.monotonic() + total_s
        while True:
            wait = min(idle_s, deadline - time.monotonic())
            if wait <= 0:
                raise CheckpointWorkerError(
                    f"the checkpoint worker did not finish within {total_s:.0f} s: stopped"
                )
            try:
                message = self._reader.recv(wait)
            except TimeoutError:
                raise CheckpointWorkerError(
                    f"the checkpoint worker gave no sign of progress for {wait:.0f} s: stopped"
                ) from None
            if message is None:
                raise CheckpointWorkerError(self._died())
            op = message.get("op")
            if op == "done":
                self.report = message.get("report")
                outcome: DqOutcome = message["outcome"]
                return outcome
            if op == "error":
                raise CheckpointWorkerError(f"the checkpoint failed: {message.get('message')}")
            # "ready", "progress": the worker is alive; keep waiting

    def _died(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        how = f"exit code {code}" if code is not None else "it no longer answers"
        return f"the checkpoint worker died before answering ({how})"

    def close(self) -> None:
        """Stop the worker if it still runs (idempotent)."""
        self._finalizer()


def _mask(text: str, settings: WarehouseSettings | None) -> str:
    """An error text without the warehouse URL or its password, nor any token we read."""
    if settings is not None:
        url = settings.url.get_secret_value()
        text = text.replace(url, "***")
        try:
            from sqlalchemy.engine import make_url

            password = make_url(url).password
        except Exception:  # an unparsable URL: nothing more to mask
            password = None
        if password:
            text = text.replace(str(password), "***")
    return redact(text)[:2000]


def _note(text: str) -> None:
    """A line for the run's log (the worker's stderr is the run's)."""
    print(f"checkpoint worker: {text}", file=sys.stderr, flush=True)


def _pump(stream: IO[bytes], inbox: queue.Queue[dict[str, Any]]) -> None:
    """The worker's stdin, message by message; its end means the parent is gone: exit now."""
    while True:
        message = _recv(stream)
        if message is None:
            # the parent died or is done with us; nothing we hold is worth finishing
            os._exit(0)
        inbox.put(message)


class _Background(threading.Thread):
    """The worker's work before ``finish``, below the run's priority: warm up, then read ahead.

    Linux nices a thread, not the process: this thread takes only CPU that nothing else wants,
    and the finish, in the main thread while the run waits for it, keeps the normal priority.
    """

    def __init__(
        self,
        run: CheckpointRun,
        settings: WarehouseSettings,
        prefetch: bool,
        poll_s: float,
        lock: threading.Lock,
    ) -> None:
        super().__init__(name="checkpoint-background", daemon=True)
        self.run_ = run
        self.settings = settings
        self.prefetch = prefetch
        self.poll_s = poll_s
        self.lock = lock
        self.stopping = threading.Event()
        self.releases = 0
        self.warm_s: float | None = None
        self.error: str | None = None  # the warm-up failed: the checkpoint cannot run

    def run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + NICENESS)
        began = time.perf_counter()
        with self.lock:
            try:
                # importing GX, the context, the suites and their pages: the fixed cost
                self.run_.session.write_suite_pages()
            except Exception as exc:
                self.error = _mask(f"{type(exc).__name__}: {exc}", self.settings)
                return
            finally:
                self.warm_s = time.perf_counter() - began
        quiet = 0
        while self.prefetch and not self.stopping.wait(self.poll_s):
            with self.lock:
                if self.stopping.is_set():
                    return
                try:
                    found = self.run_.prefetch(stop=self.stopping.is_set)
                    self.releases += found
                    quiet = 0 if found else quiet + 1
                    # a lull (the run builds its marts, or waits on a zone): validate what is
                    # pending, so that the end finds it done
                    if quiet == _LULL_POLLS and self.run_.pending_rows:
                        self.run_.flush()
                except Exception as exc:
                    # finish reads whatever is missing; reading early is only an optimization
                    why = _mask(f"{type(exc).__name__}: {exc}", self.settings)
                    _note(f"reading ahead stopped: {why}")
                    return


# polls without a new release before the pending rows are validated anyway
_LULL_POLLS = 2
# how long finish waits for a warm-up still under way (it says it is alive meanwhile)
_WARM_WAIT_S = 600.0


def main() -> int:
    """The worker process: warm up, follow the run's loads, answer ``finish``."""
    use_run_memory_pool(os.environ)
    proto_in = sys.stdin.buffer
    # the protocol gets its own copy of stdout; whatever a library prints goes to stderr instead
    proto_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    start = _recv(proto_in)
    if start is None or start.get("op") != "start":
        return 2
    inbox: queue.Queue[dict[str, Any]] = queue.Queue()
    threading.Thread(target=_pump, args=(proto_in, inbox), daemon=True).start()
    settings: WarehouseSettings | None = start.get("settings")
    lock = threading.Lock()
    background: _Background | None = None
    error: str | None = None
    try:
        if settings is None:
            raise ValueError("no warehouse settings were given")
        run = CheckpointRun(
            settings, start["catalog"], chunk_rows=start["chunk_rows"] or CHUNK_ROWS
        )
        prefetch = bool(start.get("prefetch"))
        if prefetch:
            try:
                # first: a release that loads while GX imports is then one to read ahead
                run.watch()
            except Exception as exc:
                prefetch = False
                _note(f"not reading ahead: {_mask(f'{type(exc).__name__}: {exc}', settings)}")
        poll_s = float(start.get("poll_s") or POLL_S)
        background = _Background(run, settings, prefetch, poll_s, lock)
        background.start()
    except Exception as exc:
        error = _mask(f"{type(exc).__name__}: {exc}", settings)
    while (message := inbox.get()).get("op") != "finish":
        pass
    asked = time.perf_counter()
    if background is None or error is not None:
        _send(proto_out, {"op": "error", "message": error or "the worker did not start"})
        return 1
    background.stopping.set()
    # the step the background thread is in finishes first (the warm-up, if still under way)
    waited = 0.0
    while not lock.acquire(timeout=5):
        _send(proto_out, {"op": "progress"})
        waited += 5
        if waited >= _WARM_WAIT_S:
            _send(proto_out, {"op": "error", "message": "the warm-up did not finish in time"})
            return 1
    try:
        if background.error is not None:
            _send(proto_out, {"op": "error", "message": background.error})
            return 1
        # from now on the parent waits: a word after each step shows we are alive
        run.progress = lambda: _send(proto_out, {"op": "progress"})
        try:
            outcome = run.finish(message["releases"], message["run_name"])
        except Exception as exc:
            message_ = _mask(f"{type(exc).__name__}: {exc}", settings)
            _send(proto_out, {"op": "error", "message": message_})
            return 1
    finally:
        lock.release()
    report = WorkerReport(
        prefetched_releases=background.releases,
        rows_read=run.rows_read,
        warm_s=background.warm_s or 0.0,
        finish_s=time.perf_counter() - asked,
        seconds=dict(run.seconds),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    _send(proto_out, {"op": "done", "outcome": outcome, "report": report})
    return 0


if __name__ == "__main__":
    # run as the importable module, not as __main__: what it pickles (WorkerReport) must be
    # found by the parent under the module's own name
    from validation.checkpoint_worker import main as _main

    sys.exit(_main())
