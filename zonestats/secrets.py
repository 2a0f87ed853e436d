"""Zone tokens: read from the environment variable a zone's config names, kept out of every output."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

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


def redact(text: str) -> str:
    """Replace every token this process has read with ``***``; used on all error text we store."""
    with _lock:
        secrets = sorted(_known, key=len, reverse=True)
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, _MASK)
    return text
