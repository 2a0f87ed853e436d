"""The HTTP side: one ThreadingHTTPServer for every zone, plus loopback admin endpoints.

Paths: ``/{zone}/...`` goes through the zone's faults and bearer-token check, then to the first
route of ZONE_ROUTES that matches (api-v1, then the xlsx forms of form-xlsx); ``/_admin/...``
changes the simulator at runtime. New endpoints plug in by adding their module's routes to
ZONE_ROUTES.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from zonesim import api_v1, forms
from zonesim.bad_data import ECHO_TEXT_AT, EchoCase, echo_case
from zonesim.faults import Faults
from zonesim.routing import (
    JSON,
    RawJSON,
    Response,
    ZoneRequest,
    ZoneRoute,
    encode,
    error,
    not_found,
)
from zonesim.schedule import iso
from zonesim.view import RequestRecord, ServedSimulator

log = logging.getLogger("zonesim")

ZONE_ROUTES: tuple[ZoneRoute, ...] = (*api_v1.ROUTES, *forms.ROUTES)
LOOPBACK = ("127.0.0.1", "::1")
# What a reverse proxy in front of a struggling zone system answers: HTML, not JSON.
UNAVAILABLE_BODY = (
    b"<html><head><title>503 Service Temporarily Unavailable</title></head>"
    b"<body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>"
)
_CHUNK = 1 << 20


class SimulatorServer(ThreadingHTTPServer):
    """The listening server; it knows its simulator and the connections it has open."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: ServedSimulator) -> None:
        """Bind to the address and serve the simulator's zones."""
        self.sim = sim
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, is_open: bool) -> None:
        """Remember or forget a client connection."""
        with self._open_lock:
            if is_open:
                self._open.add(conn)
            else:
                self._open.discard(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Keep clients that hang up from printing tracebacks; log anything else."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            log.debug("zonesim: connection from %s ended: %s", client_address, exc)
        else:
            log.exception("zonesim: error while serving %s", client_address)

    def close_connections(self) -> None:
        """Cut every open keep-alive connection, so that stop() really stops serving."""
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def _padded(body: bytes, size: int) -> tuple[int, Iterator[bytes]]:
    """Return (length, chunks) of a JSON object body padded with a string field to ``size``."""
    if size <= len(body) or not body.endswith(b"}") or body == b"{}":
        return len(body), iter((body,))
    head = body[:-1] + b', "padding": "'
    tail = b'"}'
    fill = max(0, size - len(head) - len(tail))

    def chunks() -> Iterator[bytes]:
        yield head
        left = fill
        block = b"x" * min(_CHUNK, fill)
        while left > 0:
            yield block[:left]
            left -= len(block)
        yield tail

    return len(head) + fill + len(tail), chunks()


_DATA_PATH = re.compile(r"api/v1/data/(?P<dataset>[^/]+)")


def _echo_error(case: EchoCase, authorization: str) -> Response:
    """The error answer of an ECHO_CASES entry, its body quoting the Authorization header."""
    if case.where == "json":
        return error(
            case.status,
            "bad request",
            detail=f"the request carried Authorization: {authorization}",
            authorization=authorization,
        )
    if case.where == "text":
        lead = f"{case.status} Forbidden: this account may not read this release. Request headers: "
        lead += "." * (ECHO_TEXT_AT - len(lead) - len("Authorization: ")) + "Authorization: "
        text = f"{lead}{authorization}\n"
        return Response(case.status, body=text.encode(), content_type="text/plain; charset=utf-8")
    html = (
        f"<html><head><title>{case.status} Bad Gateway</title></head><body>"
        f"<h1>{case.status} Bad Gateway</h1><pre>upstream request: Authorization: {authorization}"
        "</pre></body></html>"
    )
    return Response(case.status, body=html.encode(), content_type="text/html")


def _echoed(resp: Response, authorization: str, rest: str, params: dict[str, str]) -> Response:
    """What the echo_token fault makes of an answer: the Authorization header it received goes
    into its headers, into a JSON answer's "request" field and where ECHO_CASES say."""
    data = _DATA_PATH.fullmatch(rest)
    case = None
    if data is not None and resp.status == 200:
        case = echo_case(data["dataset"], params.get("period", ""))
    if case is not None and case.status != 200:
        resp = _echo_error(case, authorization)
    elif case is not None and "cursor" not in params and isinstance(resp.payload, dict):
        records = resp.payload.get("records") or []
        if isinstance(records, RawJSON):
            records = records.value()
        if records and isinstance(records[0], dict):
            # a copy: the records may be the simulator's cached release
            first = dict(records[0])
            if case.where == "value":
                first["value"] = authorization
            else:
                first[case.where] = f"{first.get(case.where, '')}（{authorization}）"
            resp.payload = {**resp.payload, "records": [first, *records[1:]]}
    if resp.status == 200 and isinstance(resp.payload, dict):
        resp.payload = {**resp.payload, "request": {"authorization": authorization}}
    resp.headers = {**resp.headers, "X-Echo-Authorization": authorization}
    if resp.status >= 400:
        resp.headers["WWW-Authenticate"] = (
            f'Bearer realm="zonesim", error="invalid_request", '
            f'error_description="received Authorization: {authorization}"'
        )
    return resp


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "zonesim/0.1"
    # Headers and body go out in separate writes; without this, Nagle + delayed ACK add ~40 ms
    # to every keep-alive request.
    disable_nagle_algorithm = True
    # An idle keep-alive connection gives its thread back after this long.
    timeout = 60

    @property
    def _server(self) -> SimulatorServer:
        assert isinstance(self.server, SimulatorServer)
        return self.server

    def setup(self) -> None:
        super().setup()
        self._server.track(self.connection, True)

    def finish(self) -> None:
        self._server.track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if not length or not length.isdigit():
            return b""
        return self.rfile.read(int(length))

    def _dispatch(self) -> None:
        sim = self._server.sim
        split = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        body = self._read_body()
        head, _, rest = split.path.lstrip("/").partition("/")
        zone = head if head in sim.zone_codes else None
        echoed = False
        try:
            if head == "_admin":
                resp = self._admin(sim, rest, body)
            elif zone is not None:
                resp = self._zone(sim, zone, rest, params, body)
                if sim.fault_book.echoes_token(zone):
                    echoed = True
                    resp = _echoed(resp, self.headers.get("Authorization", ""), rest, params)
            else:
                resp = not_found()
        except Exception:
            log.exception("zonesim: %s %s failed", self.command, self.path)
            resp = error(500, "internal error")
        # Logged before answering, so that a client that got its answer finds it in the log.
        sim.record_request(
            RequestRecord(zone, self.command, split.path, params, resp.status, echoed)
        )
        self._send(resp)

    def _authorized(self, sim: ServedSimulator, zone: str) -> bool:
        given = self.headers.get("Authorization", "")
        expected = f"Bearer {sim.token(zone)}"
        return hmac.compare_digest(given.strip().encode(), expected.encode())

    def _zone(
        self, sim: ServedSimulator, zone: str, rest: str, params: dict[str, str], body: bytes
    ) -> Response:
        gate = sim.fault_book.gate(zone)
        if gate.slow_s > 0:
            time.sleep(gate.slow_s)
        if gate.status == 503:
            return Response(503, body=UNAVAILABLE_BODY, content_type="text/html")
        if gate.status == 429:
            return Response(
                429, {"error": "rate limited"}, headers={"Retry-After": str(gate.retry_after_s)}
            )
        if gate.status == 401 or not self._authorized(sim, zone):
            return error(401, "unauthorized")
        path_known = False
        for method, pattern, handler in ZONE_ROUTES:
            match = pattern.fullmatch(rest)
            if match is None:
                continue
            path_known = True
            if method == self.command:
                if sim.fault_book.data_down(zone) and not rest.startswith("api/v1/releases"):
                    return error(500, "internal server error")
                return handler(
                    ZoneRequest(sim, zone, self.command, params, match.groupdict(), body)
                )
        return error(405, "method not allowed") if path_known else not_found()

    def _admin(self, sim: ServedSimulator, rest: str, body: bytes) -> Response:
        # No token on admin: it is only reachable from the machine itself.
        if self.client_address[0] not in LOOPBACK:
            return error(403, "forbidden")
        parts = [p for p in rest.split("/") if p]
        try:
            payload: Any = json.loads(body) if body.strip() else {}
        except ValueError:
            return error(400, "body must be JSON")
        if not isinstance(payload, dict):
            return error(400, "body must be a JSON object")
        try:
            match (self.command, parts):
                case ("GET", ["faults"]):
                    return Response(200, {z: f.to_dict() for z, f in sim.fault_book.all().items()})
                case ("POST", ["faults", zone]) if zone in sim.zone_codes:
                    sim.set_faults(zone, Faults.from_dict(payload))
                    return Response(200, {"zone_code": zone, "faults": sim.faults(zone).to_dict()})
                case ("DELETE", ["faults"]):
                    sim.clear_faults()
                    return Response(200, {"cleared": "all"})
                case ("DELETE", ["faults", zone]) if zone in sim.zone_codes:
                    sim.clear_faults(zone)
                    return Response(200, {"cleared": zone})
                case ("GET", ["as_of"]):
                    return Response(200, {"as_of": iso(sim.as_of)})
                case ("POST", ["as_of"]):
                    sim.as_of = datetime.fromisoformat(str(payload["as_of"]))
                    return Response(200, {"as_of": iso(sim.as_of)})
                case ("POST", ["publish", zone]) if zone in sim.zone_codes:
                    when = payload.get("published_at")
                    revision = sim.publish_revision(
                        zone,
                        str(payload.get("dataset", "zone")),
                        str(payload["period"]),
                        datetime.fromisoformat(when) if isinstance(when, str) else None,
                    )
                    return Response(200, {"zone_code": zone, "revision": revision})
        except (KeyError, TypeError, ValueError) as exc:
            return error(400, str(exc).strip("'\""))
        return not_found()

    def _send(self, resp: Response) -> None:
        body = encode(resp.payload) if resp.payload is not None else resp.body or b""
        total, chunks = _padded(body, resp.pad_to)
        limit = total // 2 if resp.truncate else total
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type if resp.payload is None else JSON)
            self.send_header("Content-Length", str(total))
            for name, value in resp.headers.items():
                self.send_header(name, value)
            self.end_headers()
            sent = 0
            for chunk in chunks:
                piece = chunk[: limit - sent]
                self.wfile.write(piece)
                sent += len(piece)
                if sent >= limit:
                    break
        except OSError:
            # The client gave up (a timeout, a body over its cap) or stop() cut the connection:
            # nothing left to tell it.
            self.close_connection = True
            return
        if resp.truncate:
            self.close_connection = True
