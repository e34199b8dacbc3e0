"""Command-line options of the local Hub, shared by ``fakeimg hub serve`` and ``python -m``:
declared on a parser, then turned into ``HubServer`` keyword arguments.

Tokens come from ``--token`` (repeatable) and from the ``FAKEIMG_HUB_TOKENS`` environment
variable (comma-separated), read when the command runs, never at import.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from fakeimg_assets.lib.arg_checks import arg_type, check_float, check_int
from fakeimg_assets.testbed.local_hub.deadline import REQUEST_TIMEOUT_S
from fakeimg_assets.testbed.local_hub.faults import FAULT_KINDS, FaultPlan

TOKENS_ENV = "FAKEIMG_HUB_TOKENS"


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add DIR and every serving option to ``parser``."""
    parser.add_argument("dir", help="folder holding {org}/{name}/ repos")
    parser.add_argument("--port", type=arg_type(check_int, 0, 65535), default=8765,
                        help="TCP port (0: any free one; default 8765)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address only")
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="TOKEN",
        help=f"bearer token that unlocks gated/private repos and uploads (repeatable; also "
        f"${TOKENS_ENV}, comma-separated); without any, gated repos are always refused and "
        "the server is read-only",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND[:RATE]",
        help=f"inject a fault into a fraction RATE (default 1) of distinct requests; KIND is one "
        f"of {', '.join(FAULT_KINDS)} (repeatable)",
    )
    parser.add_argument("--fault-seed", type=arg_type(check_int, 0), default=0, help="which requests get faults")
    parser.add_argument(
        "--fault-times",
        type=arg_type(check_int, 1),
        default=1,
        help="a faulted request fails this many attempts, then succeeds (default 1)",
    )
    parser.add_argument(
        "--stall-seconds", type=arg_type(check_float, 0.0), default=2.0, help="sleep of a 'stall' fault (default 2)"
    )
    parser.add_argument("--request-log", default=None, metavar="FILE", help="JSON lines log")
    parser.add_argument(
        "--max-connections", type=arg_type(check_int, 1), default=32, help="connections served at once (default 32)"
    )
    parser.add_argument(
        "--request-timeout",
        type=arg_type(check_float, 0.0, above=True),
        default=REQUEST_TIMEOUT_S,
        metavar="SECONDS",
        help="a request's line, headers and body must arrive within this, else 408 "
        f"(default {REQUEST_TIMEOUT_S:g})",
    )
    parser.add_argument("--verbose", action="store_true", help="print every request")


def tokens_from(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> list[str]:
    """``--token`` values plus the comma-separated ``FAKEIMG_HUB_TOKENS``."""
    env = os.environ if environ is None else environ
    from_env = [t.strip() for t in env.get(TOKENS_ENV, "").split(",") if t.strip()]
    return [*args.token, *from_env]


def server_options(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> dict[str, object]:
    """``HubServer`` keyword arguments from parsed options (raises ValueError on bad ones)."""
    plan = FaultPlan.from_specs(
        args.fault, seed=args.fault_seed, times=args.fault_times, stall_s=args.stall_seconds
    )
    return {
        "tokens": tokens_from(args, environ),
        "faults": plan if plan.rates else None,
        "request_log": Path(args.request_log) if args.request_log else None,
        "max_connections": args.max_connections,
        "request_timeout_s": args.request_timeout,
        "verbose": args.verbose,
    }
