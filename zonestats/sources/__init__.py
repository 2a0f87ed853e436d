"""Adapters: one per way a zone hands in data. Adding a vendor means adding one adapter here."""

from __future__ import annotations

from typing import Any

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
from zonestats.sources.form_xlsx import FormXlsxAdapter, HistoryLookup

ADAPTERS: dict[str, Any] = {
    "api-v1": ApiV1Adapter,
    "form-xlsx": FormXlsxAdapter,
}


def open_adapter(
    source: ZoneSource, http: HttpSettings, history: HistoryLookup | None = None
) -> SourceAdapter:
    """Build the adapter a zone's config names, with its token read from the environment.

    ``history`` tells adapters of file sources which file hashes the ledger has seen.
    """
    factory = ADAPTERS.get(source.adapter)
    if factory is None:
        raise SourceError(f"{source.code}: adapter {source.adapter!r} is not available")
    token = resolve_token(source)
    adapter: SourceAdapter = (
        factory(source, http, token, history=history)
        if source.adapter == "form-xlsx"
        else factory(source, http, token)
    )
    return adapter


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
