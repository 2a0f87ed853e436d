"""The ``api-v1`` adapter: the zones' JSON API of zone-api.md, over requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from zonestats.models import PERIOD_TEXT, ReleaseRef
from zonestats.periods import PeriodError, infer_frequency, parse_period
from zonestats.sources.base import (
    MAX_REVISION,
    Page,
    PageSink,
    ReleaseFetchError,
    ReleaseRejected,
    SourceError,
    is_revision,
    listed_time,
)
from zonestats.sources.http import NotFound, Superseded, ZoneHttp


class ApiV1Adapter(ZoneHttp):
    """Reads one zone over api-v1 with timeouts, bounded retries, a body cap and paging checks."""

    # -- releases ---------------------------------------------------------------------------

    def list_releases(self, dataset: str, since: datetime | None) -> list[ReleaseRef]:
        """GET /releases; every entry is checked before it becomes a ReleaseRef."""
        params: dict[str, str] = {"dataset": dataset}
        if since is not None:
            params["since"] = since.isoformat()
        what = f"/releases?dataset={dataset}"
        try:
            doc, _ = self._get("/releases", params, what)
        except NotFound:
            raise ReleaseFetchError(f"{self.zone_code}: {what}: 404 not found") from None
        except Superseded:
            raise ReleaseFetchError(f"{self.zone_code}: {what}: unexpected 409") from None
        if doc.get("zone_code") != self.zone_code:
            raise ReleaseRejected(
                f"{self.zone_code}: {what}: the listing is of zone {doc.get('zone_code')!r}"
            )
        entries = doc.get("releases")
        if not isinstance(entries, list):
            raise ReleaseFetchError(f"{self.zone_code}: {what}: no 'releases' list")
        refs = [self._parse_entry(dataset, e, i) for i, e in enumerate(entries)]
        return sorted(refs, key=lambda r: (r.published_at, r.period))

    def _parse_entry(self, dataset: str, entry: Any, i: int) -> ReleaseRef:
        where = f"{self.zone_code}: /releases entry {i}"
        if not isinstance(entry, dict):
            raise ReleaseFetchError(f"{where}: not an object")
        period, freq, rev = entry.get("period"), entry.get("frequency"), entry.get("revision")
        # the period becomes part of file paths: only the shapes of zone-api.md get through
        if not isinstance(period, str) or not PERIOD_TEXT.match(period):
            raise ReleaseFetchError(f"{where}: period {period!r} is not a period string")
        # a period that does not fit its frequency (2026-01, a Q period listed as M) is still a
        # release we can name: it goes to the ledger as rejected instead of failing the listing
        problem: str | None = None
        if freq not in ("M", "Q", "A"):
            problem = f"unknown frequency {freq!r} in /releases"
            freq = infer_frequency(period) or "?"
        else:
            try:
                parse_period(period, freq)
            except PeriodError as exc:
                problem = f"/releases lists {exc}"
        if not is_revision(rev):
            raise ReleaseFetchError(
                f"{where} ({period}): revision {rev!r} is not an integer in 1..{MAX_REVISION}"
            )
        published = listed_time(entry, "published_at", f"{where} ({period})")
        count = entry.get("record_count")
        return ReleaseRef(
            zone_code=self.zone_code,
            dataset=dataset,
            period=period,
            frequency=freq,
            revision=rev,
            published_at=published,
            record_count=count if isinstance(count, int) and not isinstance(count, bool) else None,
            problem=problem,
        )

    def read_release(self, ref: ReleaseRef, sink: PageSink) -> ReleaseRef:
        """Page through /data/{dataset}; on 409 or a revision change start again at the latest."""
        current = ref
        ask: int | None = ref.revision
        for _ in range(self._http.max_restarts + 1):
            sink.reset()
            try:
                return self._read_pages(current, ask, sink)
            except Superseded as exc:
                if exc.latest is not None and not is_revision(exc.latest):
                    raise ReleaseFetchError(
                        f"{ref.key}: 409 names latest revision {exc.latest!r}, not an integer"
                        f" in 1..{MAX_REVISION}"
                    ) from None
                if exc.latest is not None and exc.latest > current.revision:
                    current, ask = current.at_revision(exc.latest), exc.latest
                else:
                    # a page of another revision without a 409: ask for whatever is latest now
                    # and take the revision its first page states
                    ask = None
        raise ReleaseFetchError(
            f"{ref.key}: its revision changed {self._http.max_restarts + 1} times while being"
            " read; try later"
        )

    def _read_pages(self, ref: ReleaseRef, ask: int | None, sink: PageSink) -> ReleaseRef:
        cursor: str | None = None
        seen: set[str] = set()
        number = 0
        while True:
            number += 1
            if number > self._http.max_pages:
                raise ReleaseFetchError(f"{ref.key}: more than {self._http.max_pages} pages")
            params: dict[str, Any] = {"period": ref.period, "limit": self._http.page_size}
            if ask is not None:
                params["revision"] = ask
            if cursor is not None:
                params["cursor"] = cursor
            what = f"{ref.key} page {number}"
            try:
                doc, nbytes = self._get(f"/data/{ref.dataset}", params, what)
            except NotFound:
                raise ReleaseFetchError(
                    f"{what}: 404 not found (the release may have been revised or withdrawn)"
                ) from None
            page = self._check_page(ref, doc, number, nbytes)
            if number == 1 and ask is None:
                if page.revision < ref.revision:
                    raise ReleaseFetchError(
                        f"{what}: the latest revision served ({page.revision}) is older than the"
                        f" one listed ({ref.revision})"
                    )
                ref = ref.at_revision(page.revision)
            if page.revision != ref.revision:
                # the pages would mix two revisions of the release
                raise Superseded(None)
            sink.write(page)
            nxt = doc.get("next_cursor")
            if nxt is None:
                return ref
            if not isinstance(nxt, str) or nxt in seen:
                raise ReleaseFetchError(f"{what}: next_cursor repeats or is not a string")
            seen.add(nxt)
            cursor = nxt

    def _check_page(self, ref: ReleaseRef, doc: dict[str, Any], number: int, nbytes: int) -> Page:
        what = f"{ref.key} page {number}"
        if doc.get("dataset") != ref.dataset or doc.get("period") != ref.period:
            raise ReleaseRejected(
                f"{what}: the page is of dataset {doc.get('dataset')!r} period"
                f" {doc.get('period')!r}, not what was asked"
            )
        zone = doc.get("zone_code")
        if number == 1 and zone != self.zone_code:
            raise ReleaseRejected(f"{what}: the release is of zone {zone!r}, not {self.zone_code}")
        records = doc.get("records")
        if not isinstance(records, list):
            raise ReleaseFetchError(f"{what}: no 'records' list")
        revision = doc.get("revision")
        if not is_revision(revision):
            raise ReleaseFetchError(
                f"{what}: revision {revision!r} is not an integer in 1..{MAX_REVISION}"
            )
        return Page(
            number=number,
            zone_code=str(zone),
            dataset=ref.dataset,
            period=ref.period,
            revision=revision,
            records=records,
            nbytes=nbytes,
        )


__all__ = ["ApiV1Adapter", "SourceError"]
