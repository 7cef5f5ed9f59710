"""``mrf demo``: make (once) and list the demo scans."""

from __future__ import annotations

import argparse

from mrfcore.cli._common import TerminalProgress, add_device_argument


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="create the demo scans (brain and NIST phantom, ISMRMRD) once and print their paths",
        description="Simulate the demo scans into the user data folder the first time; "
        "later calls reuse them.",
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="demo scans to make (default: all)"
    )
    add_device_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mrfcore.acquisition.demo import DEMO_SCANS, demo_scan_is_current, demo_scan_path

    names = args.names or list(DEMO_SCANS)
    unknown = sorted(set(names) - set(DEMO_SCANS))
    if unknown:
        raise ValueError(f"no demo scan named {unknown}; demo scans: {sorted(DEMO_SCANS)}")
    for name in names:
        state = "reused" if demo_scan_is_current(name) else "created"
        path = demo_scan_path(name, progress=TerminalProgress().progress(), device=args.device)
        recipe = DEMO_SCANS[name]
        print(
            f"{name:6s} {path}  ({state}; {recipe.phantom} phantom, {recipe.sequence}, "
            f"{recipe.trajectory}, {recipe.coils} coils, SNR {recipe.snr:g})"
        )
    return 0
