"""An operator's report form through the nightly's validation and ledger: ``submit``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.common import EXIT_FAILED, EXIT_OK, add_config, known_zone, load_app_config
from zonestats.catalog import shipped_catalog
from zonestats.config import ConfigError


def add_parsers(sub: Any) -> None:
    """Add the submit subcommand."""
    submit = sub.add_parser("submit", help="load an operator-supplied report form (.xlsx)")
    submit.add_argument("--zone", required=True, help="zone code, e.g. YQ01")
    submit.add_argument("--form", required=True, help="表号: YQ1, YQ2, YQ3 or QY1")
    submit.add_argument("--period", required=True, help="period the form reports, e.g. 2026-10")
    submit.add_argument("--file", required=True, help="the .xlsx file")
    add_config(submit)


def cmd_submit(args: argparse.Namespace) -> int:
    """Load an operator's form through the same validation and ledger as the nightly run."""
    import hashlib

    from tasks.load import prepare_warehouse
    from tasks.release import run_release
    from warehouse.store import Warehouse
    from zonestats.config import ZoneSource
    from zonestats.models import ReleaseRef, utcnow
    from zonestats.periods import PeriodError, parse_period
    from zonestats.sources.form_xlsx import FORMS, ManualFormAdapter, assign_revision

    config = load_app_config(args)
    catalog = shipped_catalog()
    known_zone(args.zone)
    if args.form not in FORMS:
        raise ConfigError("--form", f"{args.form!r} is not one of {', '.join(FORMS)}")
    dataset, frequency = FORMS[args.form]
    try:
        parse_period(args.period, frequency)
    except PeriodError as exc:
        raise ConfigError("--period", f"{exc} (form {args.form} is {frequency})") from None
    path = Path(args.file)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ConfigError("--file", f"cannot read {path}: {exc.strerror}") from None
    if len(content) > config.http.max_body_mib * 1024 * 1024:
        raise ConfigError("--file", f"{path} is larger than http.max_body_mib")
    sha = hashlib.sha256(content).hexdigest()
    prepare_warehouse(config.warehouse, catalog)
    history = Warehouse(config.warehouse).release_history(args.zone, dataset)
    ref = ReleaseRef(
        zone_code=args.zone,
        dataset=dataset,
        period=args.period,
        frequency=frequency,
        revision=assign_revision(history.get(args.period, []), sha),
        published_at=utcnow(),
        origin="manual",
        source_sha256=sha,
        form=args.form,
    )
    try:
        source = config.zone(args.zone)
    except KeyError:
        source = ZoneSource(args.zone, "form-xlsx", "http://manual.invalid", "ZONESTATS_UNUSED")
    from flows.limits import run_claims

    # no zone claim (nothing is fetched from the zone), but a heartbeat keeps the release's
    # claim alive through a long load
    with run_claims(config, "submit", None) as claims:
        outcome = run_release(
            source,
            config,
            ref,
            flow_run_id=None,
            adapter=ManualFormAdapter(args.zone, content),
            holder=claims.token,
        )
    if outcome.status == "skipped":
        print(f"{ref.key}: this file (sha256 {sha[:12]}…) is already loaded; nothing to do")
        return EXIT_OK
    print(
        f"{outcome.key} {outcome.status} (manual, sha256 {sha[:12]}…): "
        f"{outcome.records_received} received, {outcome.records_loaded} loaded, "
        f"{outcome.records_quarantined} quarantined"
        + (f" — {outcome.error}" if outcome.error else "")
    )
    return EXIT_OK if outcome.status == "loaded" else EXIT_FAILED
