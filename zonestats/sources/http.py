"""HTTP to a zone's system: timeouts, bounded retries with backoff, Retry-After, a body cap.

Every adapter that talks HTTP builds on this; the token is in the session's headers only.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import requests

from zonestats.config import HttpSettings, ZoneSource
from zonestats.errors import ReleaseFetchError, ZoneAuthError, ZoneUnavailable
from zonestats.secrets import redact, redact_bytes, remember

_TRANSIENT_STATUS = {500, 502, 503, 504}
_TRANSIENT_EXC = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class Superseded(Exception):
    def __init__(self, latest: int | None) -> None:
        super().__init__(latest)
        self.latest = latest


class NotFound(Exception):
    pass


# orjson reads an integer beyond 64 bits as a float; a run of 19 digits or more may be one
# (every digit made "0", everything else " ": one C-level pass and one substring search)
_DIGITS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_RUN = b"0" * 19


def loads(data: bytes) -> Any:
    """Parse JSON exactly as the json module does (NaN, Infinity, big integers, UTF-16), fast.

    orjson parses what it can; what it refuses or might read differently goes to the json module,
    whose answer (a value or the error) is then the answer.
    """
    if _LONG_RUN not in data.translate(_DIGITS):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # NaN, Infinity, a lone surrogate, a BOM, UTF-16, or not JSON at all
    return json.loads(data)


class _JsonObject:
    """A body check that keeps what it parsed, so a good page is parsed once."""

    def __init__(self) -> None:
        self.body: bytes | None = None
        self.doc: Any = None

    def __call__(self, body: bytes) -> str | None:
        try:
            doc = loads(body)
        except ValueError as exc:
            return f"malformed JSON ({exc.__class__.__name__})"
        if not isinstance(doc, dict):
            return "a JSON body that is not an object"
        self.body, self.doc = body, doc
        return None


class ZoneHttp:
    """An HTTP session to one zone's system."""

    def __init__(
        self,
        source: ZoneSource,
        http: HttpSettings,
        token: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self.zone_code = source.code
        self._base = source.base_url
        self._http = http
        self._timeout = (http.connect_timeout_s, source.timeout_s or http.timeout_s)
        self._max_body = int(http.max_body_mib * 1024 * 1024)
        self._sleep = sleep
        self._session = session or requests.Session()
        # the token goes into the session's headers; nothing we log or raise reads them. It is
        # also kept to mask it in what the zone answers: a system that echoes the request back
        # (a debug mode, a proxy's error page) must not get it into logs, the ledger or the data.
        self._session.headers["Authorization"] = f"Bearer {token}"
        self._session.headers["Accept"] = "application/json"
        self._secrets = (token,)
        remember(token)

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()

    # -- HTTP -------------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        delay = min(self._http.backoff_max_s, self._http.backoff_base_s * 2 ** (attempt - 1))
        return float(delay * (0.5 + random.random() / 2))  # noqa: S311 - jitter, not crypto

    def _read_body(self, resp: requests.Response, what: str) -> bytes:
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self._max_body:
            resp.close()
            raise ReleaseFetchError(
                f"{self.zone_code}: {what}: response of {int(declared)} bytes refused "
                f"(cap {self._max_body} bytes, http.max_body_mib)"
            )
        chunks: list[bytes] = []
        size = 0
        for chunk in resp.iter_content(chunk_size=1 << 16):
            size += len(chunk)
            if size > self._max_body:
                resp.close()
                raise ReleaseFetchError(
                    f"{self.zone_code}: {what}: response body over {self._max_body} bytes refused "
                    "(http.max_body_mib)"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _get(self, path: str, params: Mapping[str, Any], what: str) -> tuple[dict[str, Any], int]:
        """GET a JSON object, retrying what is transient; return it with its size in bytes."""
        checked = _JsonObject()
        body = self._fetch(path, params, what, checked)
        # masked in the bytes, before parsing: every string of the page (records included, and
        # so the raw archive, quarantine and Parquet) is then free of the token
        masked = redact_bytes(body, self._secrets)
        if masked is body and checked.body is body:
            return checked.doc, len(body)  # nothing masked: the page as the check parsed it
        return loads(masked), len(body)

    def _fetch(
        self,
        path: str,
        params: Mapping[str, Any],
        what: str,
        verify: Callable[[bytes], str | None] | None = None,
    ) -> bytes:
        """GET a body, retrying what is transient; ``verify`` names what is wrong with a body
        that arrived cut or garbled (it is fetched again)."""
        url = f"{self._base}{path}"
        last = "no attempt made"
        for attempt in range(1, self._http.max_attempts + 1):
            try:
                resp = self._session.get(url, params=params, timeout=self._timeout, stream=True)
                status = resp.status_code
                if status == 200:
                    body = self._read_body(resp, what)
                    problem = verify(body) if verify else None
                    if problem is not None:
                        last = problem
                        self._sleep(self._backoff(attempt))
                        continue
                    return body
                # masked whole, then cut: a cut inside a token would keep its first characters
                body_text = redact(self._read_body(resp, what).decode("utf-8", "replace"))[:200]
                if status == 401:
                    raise ZoneAuthError(
                        f"{self.zone_code}: the zone's system refused the token (401) — check the"
                        " token in the environment variable this zone's token_env names"
                    )
                if status == 404:
                    raise NotFound(what)
                if status == 409:
                    try:
                        named = json.loads(body_text).get("latest_revision")
                    except (ValueError, AttributeError):
                        named = None
                    # only a whole number names a revision: int() of Infinity raises
                    # OverflowError (out of every handler), of 2.9 says 2, of true says 1
                    whole = isinstance(named, int) and not isinstance(named, bool)
                    raise Superseded(named if whole else None)
                if status == 429:
                    wait = _retry_after(resp.headers.get("Retry-After"), self._backoff(attempt))
                    last = f"rate limited (429), waited {wait:.1f}s"
                    self._sleep(min(wait, self._http.max_retry_after_s))
                    continue
                if status in _TRANSIENT_STATUS:
                    last = f"HTTP {status}"
                    self._sleep(self._backoff(attempt))
                    continue
                raise ReleaseFetchError(
                    f"{self.zone_code}: {what}: unexpected HTTP {status}: {body_text!r}"
                )
            except _TRANSIENT_EXC as exc:
                last = f"{exc.__class__.__name__}"
                self._sleep(self._backoff(attempt))
        raise ZoneUnavailable(
            f"{self.zone_code}: {what}: gave up after {self._http.max_attempts} attempts ({last})",
            last=last,
        )


def _retry_after(value: str | None, fallback: float) -> float:
    if value is None:
        return fallback
    try:
        return max(0.0, float(value))
    except ValueError:
        return fallback
