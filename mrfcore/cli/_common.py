"""Pieces shared by the subcommands: sequence arguments and a terminal progress bar."""

from __future__ import annotations

import argparse
import sys
import time

from mrfcore.progress import Progress


def add_sequence_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "--sequence",
        required=required,
        metavar="NAME|FILE",
        help="built-in sequence name (see 'mrf sequences') or a schedule file (.csv/.json)",
    )
    parser.add_argument(
        "--te", type=float, default=None, metavar="MS", help="override the echo time (ms)"
    )


def sequence_from_args(args: argparse.Namespace):
    from mrfcore.sequences import load_sequence

    return load_sequence(args.sequence, te_ms=args.te)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        default="auto",
        help="compute device: auto (CUDA GPU if present, else CPU), cpu, cuda, cuda:N",
    )


class TerminalProgress:
    """A one-line progress bar on stderr (silent when stderr is not a terminal)."""

    def __init__(self, enabled: bool | None = None, width: int = 30) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.width = width
        self.start = time.monotonic()

    def __call__(self, step: int, total: int, message: str) -> None:
        if not self.enabled:
            return
        fraction = step / total if total else 1.0
        filled = int(self.width * fraction)
        elapsed = time.monotonic() - self.start
        bar = "#" * filled + "-" * (self.width - filled)
        sys.stderr.write(f"\r[{bar}] {100 * fraction:5.1f}% {elapsed:6.1f}s {message[:60]:<60}")
        if step >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def progress(self) -> Progress:
        return Progress(self, min_interval_s=0.1)
