"""Adapters: one per way a zone hands in data. Adding a vendor means adding one adapter here."""

from __future__ import annotations

from collections.abc import Callable

from zonestats.config import HttpSettings, ZoneSource
from zonestats.secrets import resolve_token
from zonestats.sources.api_v1 import ApiV1Adapter
from zonestats.sources.base import (
    Page,
    PageSink,
    ReleaseFetchError,
    ReleaseRejected,
    SourceAdapter,
    SourceError,
    ZoneAuthError,
    ZoneUnavailable,
)

AdapterFactory = Callable[[ZoneSource, HttpSettings, str], SourceAdapter]

ADAPTERS: dict[str, AdapterFactory] = {
    "api-v1": ApiV1Adapter,
}


def open_adapter(source: ZoneSource, http: HttpSettings) -> SourceAdapter:
    """Build the adapter a zone's config names, with its token read from the environment."""
    factory = ADAPTERS.get(source.adapter)
    if factory is None:
        raise SourceError(f"{source.code}: adapter {source.adapter!r} is not available yet")
    return factory(source, http, resolve_token(source))


__all__ = [
    "ADAPTERS",
    "Page",
    "PageSink",
    "ReleaseFetchError",
    "ReleaseRejected",
    "SourceAdapter",
    "SourceError",
    "ZoneAuthError",
    "ZoneUnavailable",
    "open_adapter",
]
