"""The ``form-xlsx`` adapter: report forms (报表) published as .xlsx files, and the same forms
handed in by an operator (manual submission).

A form file has no revision number: a file whose sha256 the ledger has not seen for that period
is a new revision (numbered in order of arrival); a file it has seen is the revision it was.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from zonestats.config import HttpSettings, ZoneSource
from zonestats.errors import ReleaseFetchError, ReleaseRejected
from zonestats.models import PERIOD_TEXT, ReleaseRef
from zonestats.periods import PeriodError, parse_period
from zonestats.secrets import redact
from zonestats.sources.base import Page, PageSink, listed_time
from zonestats.sources.http import NotFound, Superseded, ZoneHttp
from zonestats.sources.xlsx_forms import FORMS, FormError, parse_form

#: period -> [(revision, sha256)] the ledger knows for one zone and dataset
History = dict[str, list[tuple[int, str | None]]]
HistoryLookup = Callable[[str, str], History]

_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")


def forms_of(dataset: str) -> list[tuple[str, str]]:
    """The forms (表号, frequency) that carry a dataset."""
    return [(form, freq) for form, (ds, freq) in FORMS.items() if ds == dataset]


def assign_revision(seen: list[tuple[int, str | None]], sha256: str) -> int:
    """The revision of a file: the one it had if the ledger saw it, else the next number."""
    for revision, known in seen:
        if known == sha256:
            return revision
    return max((rev for rev, _ in seen), default=0) + 1


def pages_of_form(content: bytes, ref: ReleaseRef, sink: PageSink) -> None:
    """Parse a form file and hand its records to the sink as one page; check it is what was asked.

    A file that is not the form, or whose 表号 or 报告期 disagrees with the release it was asked
    as, is unusable as a whole: the release is rejected with both values in the message.
    """
    from zonestats.catalog import shipped_catalog

    assert ref.form is not None
    try:
        parsed = parse_form(content, ref.form, shipped_catalog())
    except FormError as exc:
        raise ReleaseRejected(f"{ref.key} ({ref.form}): {exc}") from None
    if parsed.form != ref.form:
        raise ReleaseRejected(
            f"{ref.key}: 表号 in the file is {parsed.form!r}, but it was published as {ref.form}"
        )
    if parsed.period != ref.period:
        raise ReleaseRejected(
            f"{ref.key}: 报告期 in the file is {parsed.report_period_text!r}"
            f" ({parsed.period or 'not a ' + ref.frequency + ' period'}), but it was published"
            f" for {ref.period}"
        )
    # a cell that quotes one of our tokens (a system echoing requests into its exports, a file
    # an operator saved from a debug page) is masked before anything keeps it, as a JSON page is
    # in ZoneHttp._get: the records are plain JSON values (str, bool, None, dicts of them)
    text = json.dumps(parsed.records, ensure_ascii=False)
    masked = redact(text)
    records = json.loads(masked) if masked != text else parsed.records
    if ref.dataset == "zone":
        # a form has no status column: a blank figure is how a form says "not reported" (M)
        records = [
            {**r, "status": "M"} if _blank(r.get("value")) and "status" not in r else r
            for r in records
        ]
    sink.reset()
    sink.write(Page(1, ref.zone_code, ref.dataset, ref.period, ref.revision, records, len(content)))


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in ("", "-", "—"))


class FormXlsxAdapter(ZoneHttp):
    """Reads one zone's report forms: ``forms/{form}/index.json`` then ``forms/{form}/{period}.xlsx``."""

    def __init__(
        self,
        source: ZoneSource,
        http: HttpSettings,
        token: str,
        *,
        history: HistoryLookup | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(source, http, token, **kwargs)
        self._history: HistoryLookup = history or (lambda zone, dataset: {})

    def list_releases(self, dataset: str, since: datetime | None) -> list[ReleaseRef]:
        """Every form of the dataset: its periods, each at the revision its file's hash gives."""
        history = self._history(self.zone_code, dataset)
        refs: list[ReleaseRef] = []
        for form, frequency in forms_of(dataset):
            what = f"forms/{form}/index.json"
            try:
                doc, _ = self._get(f"/forms/{form}/index.json", {}, what)
            except (NotFound, Superseded):
                raise ReleaseFetchError(f"{self.zone_code}: {what}: not found") from None
            if doc.get("form") != form or not isinstance(doc.get("periods"), list):
                raise ReleaseFetchError(f"{self.zone_code}: {what}: not the index of form {form}")
            for i, entry in enumerate(doc["periods"]):
                ref = self._entry(
                    dataset, form, frequency, entry, f"{self.zone_code}: {what} entry {i}", history
                )
                if since is None or ref.published_at >= since:
                    refs.append(ref)
        return sorted(refs, key=lambda r: (r.published_at, r.period))

    def _entry(
        self, dataset: str, form: str, frequency: str, entry: Any, where: str, history: History
    ) -> ReleaseRef:
        if not isinstance(entry, dict):
            raise ReleaseFetchError(f"{where}: not an object")
        period, sha = entry.get("period"), entry.get("sha256")
        # both become parts of URLs and file names: only the expected shapes get through
        if not isinstance(period, str) or not PERIOD_TEXT.match(period):
            raise ReleaseFetchError(f"{where}: period {period!r} is not a period string")
        if not isinstance(sha, str) or not _SHA256.match(sha.lower()):
            raise ReleaseFetchError(f"{where} ({period}): sha256 {sha!r} is not a hex digest")
        updated = listed_time(entry, "updated_at", f"{where} ({period})")
        problem = None
        try:
            parse_period(period, frequency)
        except PeriodError as exc:
            problem = f"{form} index lists {exc}"
        sha = sha.lower()
        return ReleaseRef(
            zone_code=self.zone_code,
            dataset=dataset,
            period=period,
            frequency=frequency,
            revision=assign_revision(history.get(period, []), sha),
            published_at=updated,
            problem=problem,
            origin="form-xlsx",
            source_sha256=sha,
            form=form,
        )

    def read_release(self, ref: ReleaseRef, sink: PageSink) -> ReleaseRef:
        """Download the form file (its sha256 must match the index) and parse it."""
        what = f"forms/{ref.form}/{ref.period}.xlsx"

        def verify(body: bytes) -> str | None:
            digest = hashlib.sha256(body).hexdigest()
            # a cut download or a file replaced since the index was read: fetch again
            return (
                None if digest == ref.source_sha256 else f"sha256 {digest[:12]}… is not the index's"
            )

        try:
            body = self._fetch(f"/forms/{ref.form}/{ref.period}.xlsx", {}, what, verify)
        except (NotFound, Superseded):
            raise ReleaseFetchError(f"{ref.key}: {what}: not found") from None
        pages_of_form(body, ref, sink)
        return ref


class ManualFormAdapter:
    """An operator's form file, read through exactly the same parsing and checks."""

    def __init__(self, zone_code: str, content: bytes) -> None:
        self.zone_code = zone_code
        self._content = content

    def list_releases(self, dataset: str, since: datetime | None) -> list[ReleaseRef]:
        """A manual file is not listed; the submit command names its release."""
        return []

    def read_release(self, ref: ReleaseRef, sink: PageSink) -> ReleaseRef:
        """Parse the file."""
        pages_of_form(self._content, ref, sink)
        return ref

    def close(self) -> None:
        """Nothing to release."""
