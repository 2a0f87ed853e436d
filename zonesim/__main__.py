"""``zonesim``: serve every zone's api-v1 (and the form-xlsx zones' forms) on one local port
until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from datetime import date, datetime
from types import FrameType

from zonesim.scenario import SCENARIOS, apply_scenario
from zonesim.schedule import CST, iso
from zonesim.simulator import Simulator


def _as_of(text: str) -> datetime:
    # A bare date means the start of that day in Beijing; a time without offset is Beijing time.
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), CST)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or date-time: {text!r}") from None


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (e.g. from a process supervisor) stops as cleanly as Ctrl-C.
    raise KeyboardInterrupt


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of ``zonesim``."""
    parser = argparse.ArgumentParser(
        prog="zonesim",
        description="Simulate the 11 zones' online statistics systems (api-v1, form-xlsx) on one "
        "local port.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any)")
    parser.add_argument("--seed", type=int, default=2026, help="data seed (default 2026)")
    parser.add_argument(
        "--as-of",
        type=_as_of,
        default=None,
        help="simulated present, e.g. 2026-11-27 or 2026-11-27T12:00+08:00 (default: now)",
    )
    parser.add_argument(
        "--start-year", type=int, default=None, help="first year served (default: as-of year - 2)"
    )
    parser.add_argument(
        "--enterprise-scale",
        type=float,
        default=1.0,
        help="multiply every zone's number of enterprises (default 1: a few hundred to ~2,000)",
    )
    parser.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="none",
        help="demo: one release in two revisions and one with bad records (what zonestats demo "
        "serves); default none",
    )
    parser.add_argument(
        "--handshake",
        action="store_true",
        help="for a parent process (zonesim.SimulatorProcess): print one JSON line (port, as_of, "
        "tokens) instead of the banner, and serve until stdin closes or the parent exits",
    )
    return parser


# How often a --handshake child checks that its parent is still there.
PARENT_POLL_S = 0.5


def _serve_for_parent(sim: Simulator) -> None:
    """Say where the simulator listens, then serve until the parent lets go of it: stdin closed
    (the parent stopped it, or died and the kernel closed its end) or the parent gone (a child
    the parent forked may still hold stdin open)."""
    parent = os.getppid()
    released = threading.Event()

    def watch_stdin() -> None:
        while sys.stdin.buffer.read(4096):
            pass
        released.set()

    threading.Thread(target=watch_stdin, name="zonesim:stdin", daemon=True).start()
    hello = {
        "host": sim.host,
        "port": sim.port,
        "seed": sim.seed,
        "as_of": sim.as_of.isoformat(),
        "start_year": sim.start_year,
        "enterprise_scale": sim.enterprise_scale,
        "tokens": {zone: sim.token(zone) for zone in sim.zone_codes},
    }
    print(json.dumps(hello), flush=True)
    while not released.wait(PARENT_POLL_S) and os.getppid() == parent:
        pass


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted; print each zone's base URL, token variable and export lines."""
    args = build_parser().parse_args(argv)
    if args.handshake:
        # Ctrl-C reaches the whole process group: the parent decides when its child stops.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        sim = Simulator(
            seed=args.seed,
            as_of=args.as_of,
            start_year=args.start_year,
            host=args.host,
            port=args.port,
            enterprise_scale=args.enterprise_scale,
        )
    except ValueError as exc:
        print(f"zonesim: {exc}", file=sys.stderr)
        return 2
    try:
        apply_scenario(sim, args.scenario)
    except ValueError as exc:
        print(f"zonesim: {exc}", file=sys.stderr)
        return 2
    try:
        sim.start()
    except OSError as exc:
        print(f"zonesim: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    if args.handshake:
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            _serve_for_parent(sim)
        except KeyboardInterrupt:
            pass
        finally:
            sim.stop()
        return 0
    out = sys.stdout
    print(
        f"zonesim: seed {sim.seed}, as of {iso(sim.as_of)}, "
        f"years {sim.start_year}..{sim.as_of.year}, listening on http://{sim.host}:{sim.port}",
        file=out,
    )
    for zone in sim.zone_codes:
        forms = "  (+ forms/{YQ1,YQ2,YQ3,QY1}/index.json)" if zone in sim.form_zones else ""
        print(
            f"  {zone}  {sim.base_url(zone)}  token in ${Simulator.token_env(zone)}{forms}",
            file=out,
        )
    print("# simulator tokens (fake, for local use):", file=out)
    for zone in sim.zone_codes:
        print(f"export {Simulator.token_env(zone)}={sim.token(zone)}", file=out)
    print(
        f"# faults: curl -X POST http://{sim.host}:{sim.port}/_admin/faults/TY01 "
        "-d '{\"error_5xx\": 2}'   clear: curl -X DELETE .../_admin/faults",
        file=out,
    )
    out.flush()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
