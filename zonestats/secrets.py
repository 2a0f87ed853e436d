"""Zone tokens: read from the environment variable a zone's config names, kept out of every output."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping

from zonestats.config import ZoneSource
from zonestats.errors import SourceError

_MASK = "***"
_known: set[str] = set()
_lock = threading.Lock()


class MissingTokenError(SourceError):
    """The environment variable that should hold a zone's token is unset or empty."""


def resolve_token(source: ZoneSource, env: Mapping[str, str] | None = None) -> str:
    """Return the zone's bearer token from ``$<token_env>``; remember it so it can be redacted."""
    env = os.environ if env is None else env
    token = env.get(source.token_env, "").strip()
    if not token:
        raise MissingTokenError(
            f"{source.code}: environment variable {source.token_env} (zones[{source.code}].token_env)"
            " is not set; it must hold the zone's API token"
        )
    with _lock:
        _known.add(token)
    return token


def remember(token: str) -> None:
    """Add a token to those ``redact`` masks (a token handed over without ``resolve_token``)."""
    if token:
        with _lock:
            _known.add(token)


def redact_bytes(data: bytes, secrets: Iterable[str] | None = None) -> bytes:
    """Mask tokens in a body as received (UTF-8): ``secrets``, else every token this process read.

    Masks the same forms of a token as ``redact``.
    """
    if secrets is None:
        with _lock:
            secrets = set(_known)
    mask = _MASK.encode()
    for secret in sorted(secrets, key=len, reverse=True):
        for form in _forms(secret):
            needle = form.encode()
            if needle in data:
                data = data.replace(needle, mask)
    return data


def redact(text: str) -> str:
    """Replace every token this process has read with ``***``; used on all error text we store."""
    with _lock:
        secrets = sorted(_known, key=len, reverse=True)
    for secret in secrets:
        for form in _forms(secret):
            if form in text:
                text = text.replace(form, _MASK)
    return text


def _forms(secret: str) -> set[str]:
    # a token as written, and as a JSON encoder that escapes slashes writes it (PHP's does by
    # default): a body quoting it that way parses back to the token
    return {secret, secret.replace("/", "\\/")} if secret else set()
