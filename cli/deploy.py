"""The deployments: ``serve`` them from this machine, or ``deploy`` them on a work pool."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from cli.common import EXIT_OK, EXIT_USAGE, add_config, load_app_config
from zonestats.environment import prefect_environment


def add_parsers(sub: Any) -> None:
    """Add the serve and deploy subcommands."""
    serve = sub.add_parser("serve", help="run the nightly, rerun and backfill deployments here")
    add_config(serve)

    dep = sub.add_parser(
        "deploy", help="register nightly, zone-pull, rerun and backfill on a process work pool"
    )
    dep.add_argument(
        "--pool", default="zonestats", help="the process work pool (default zonestats)"
    )
    dep.add_argument(
        "--source", help="the checkout the workers run the code from (default: this one)"
    )
    dep.add_argument(
        "--heartbeat-s",
        type=int,
        default=30,
        help="flow-run heartbeat, seconds (Prefect's floor: 30)",
    )
    dep.add_argument(
        "--crash-after-s",
        type=int,
        help="a running flow run without heartbeat this long is Crashed (default 3 beats)",
    )
    dep.add_argument(
        "--pending-crash-s",
        type=int,
        default=300,
        help="a flow run pending this long (its worker died before starting it) is Crashed",
    )
    dep.add_argument(
        "--overdue-notify",
        metavar="BLOCK",
        help="a Prefect notification block, <block-type-slug>/<name>, that the overdue "
        "automation messages for each release turning overdue (default: the automation only)",
    )
    add_config(dep)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the deployments from this machine (flow.serve) until interrupted."""
    config = load_app_config(args)
    prefect_environment()
    from deployments.nightly import serve

    print("zonestats: serving nightly (02:00 Asia/Shanghai), rerun and backfill; Ctrl-C to stop")
    serve(str(Path(config.source_path).resolve()) if config.source_path else None)
    return EXIT_OK


def cmd_deploy(args: argparse.Namespace) -> int:
    """Register the deployments on the work pool and the zombie automation (needs PREFECT_API_URL)."""
    config = load_app_config(args)
    if not os.environ.get("PREFECT_API_URL"):
        print("zonestats: deploy needs PREFECT_API_URL (the Prefect server)", file=sys.stderr)
        return EXIT_USAGE
    if args.heartbeat_s < 30:
        print("zonestats: --heartbeat-s must be at least 30 (Prefect's floor)", file=sys.stderr)
        return EXIT_USAGE
    if config.source_path is None:
        print("zonestats: deploy needs a config file the workers can read", file=sys.stderr)
        return EXIT_USAGE
    prefect_environment()
    from deployments.nightly import UnknownBlock, deploy

    try:
        deploy(
            config.source_path,
            args.source,
            args.pool,
            args.heartbeat_s,
            args.crash_after_s,
            args.pending_crash_s,
            args.overdue_notify,
        )
    except UnknownBlock as exc:
        print(f"zonestats: --overdue-notify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    notify = f", messaging {args.overdue_notify}" if args.overdue_notify else ""
    print(
        f"zonestats: nightly (02:00 Asia/Shanghai), zone-pull, rerun and backfill on pool "
        f"{args.pool!r}; zombie runs Crashed after "
        f"{args.crash_after_s or 3 * args.heartbeat_s} s without heartbeat; an automation on "
        f"each release turning overdue{notify}"
    )
    return EXIT_OK
