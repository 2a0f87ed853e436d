"""A mutating HTTP proxy for the fuzz suite: forwards to the simulator, deforms what comes back.

The simulator stays as it is; the proxy sits in front of it on loopback and hands every answer
to the ``mutator`` of the current example, which may change the status, the headers or the
body before it goes to the client. What was served is kept in ``served`` for the assertions.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# the response headers passed on from the simulator; the rest (Date, Server, …) are the proxy's
_KEPT_HEADERS = ("Content-Type", "Retry-After", "Content-Disposition")


@dataclass
class Exchange:
    """One request and the answer the client is about to get."""

    path: str  # without the query string
    query: dict[str, str]
    status: int
    headers: dict[str, str]
    body: bytes
    # the Content-Length to announce; more than len(body) cuts the connection short after body
    declared_length: int | None = None
    # the proxy's way to fetch another resource of the same zone with the client's token (an
    # xlsx mutation needs the file's bytes when it rewrites the index that lists its sha256)
    fetch: Callable[[str], tuple[int, bytes]] = field(default=lambda path: (599, b""), repr=False)


Mutator = Callable[[Exchange], Exchange]


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, proxy: MutatingProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer is part of the game: stay quiet about it."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""

    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, _ProxyServer)
        server.proxy.handle(self)


class MutatingProxy:
    """Forwards GET requests to ``upstream`` (host, port) and deforms answers with ``mutator``."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self.mutator: Mutator | None = None
        self.served: list[Exchange] = []
        self._lock = threading.Lock()
        self._server = _ProxyServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        """The loopback port the proxy listens on."""
        return int(self._server.server_address[1])

    def base_url(self, zone_code: str) -> str:
        """A zone's api-v1 base URL through the proxy."""
        return f"http://127.0.0.1:{self.port}/{zone_code}/api/v1"

    def start(self) -> MutatingProxy:
        """Serve in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def reset(self, mutator: Mutator | None) -> None:
        """Start an example: its mutator, and nothing served yet."""
        with self._lock:
            self.mutator = mutator
            self.served = []

    def _forward(self, target: str, authorization: str) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(*self._upstream, timeout=30)
        try:
            headers = {"Authorization": authorization} if authorization else {}
            conn.request("GET", target, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            kept = {h: v for h in _KEPT_HEADERS if (v := resp.getheader(h)) is not None}
            return resp.status, kept, body
        finally:
            conn.close()

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        """Forward one request, let the mutator deform the answer, send it."""
        authorization = handler.headers.get("Authorization", "")
        split = urlsplit(handler.path)
        try:
            status, headers, body = self._forward(handler.path, authorization)
        except OSError:
            status, headers, body = 502, {"Content-Type": "text/plain"}, b"upstream unreachable"

        def fetch(path: str) -> tuple[int, bytes]:
            code, _, content = self._forward(path, authorization)
            return code, content

        exchange = Exchange(
            path=split.path,
            query={k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()},
            status=status,
            headers=headers,
            body=body,
            fetch=fetch,
        )
        with self._lock:
            mutator = self.mutator
        if mutator is not None:
            exchange = mutator(exchange)
        with self._lock:
            self.served.append(exchange)
        self._send(handler, exchange)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, ex: Exchange) -> None:
        declared = ex.declared_length if ex.declared_length is not None else len(ex.body)
        try:
            handler.send_response(ex.status)
            for name, value in ex.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(declared))
            # one connection per answer: a cut-short body must not poison a kept-alive socket
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.write(ex.body)
            handler.wfile.flush()
        except OSError:
            pass
        handler.close_connection = True
        if declared > len(ex.body):
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
