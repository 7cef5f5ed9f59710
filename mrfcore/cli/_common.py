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


def parse_method_options(info, pairs: list[str] | None):
    """Options object for a registered method from ``name=value`` strings.

    Values are converted to each option's declared type; the result is validated with
    the option's limits and choices (errors name the option).
    """
    from mrfcore.methods import options_from_dict

    specs = {spec.name: spec for spec in info.options}
    values = {}
    for pair in pairs or []:
        name, sep, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise ValueError(f"option {pair!r} must be written name=value")
        if name not in specs:
            raise ValueError(
                f"{info.label} has no option {name!r}; options: {', '.join(specs)}"
            )
        kind = specs[name].type
        try:
            if kind is bool:
                lowered = text.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                    raise ValueError
                values[name] = lowered in ("true", "1", "yes", "on")
            elif kind in (int, float):
                values[name] = kind(float(text)) if kind is int else float(text)
            else:
                values[name] = text
        except ValueError:
            raise ValueError(f"option {name}: {text!r} is not a valid {kind.__name__}") from None
    return options_from_dict(info.options_type, values)


def describe_options(info) -> str:
    """One line per option: name, default, unit, limits — for --help epilogs."""
    lines = []
    for spec in info.options:
        limits = []
        if spec.minimum is not None:
            limits.append(f"≥ {spec.minimum:g}")
        if spec.maximum is not None:
            limits.append(f"≤ {spec.maximum:g}")
        if spec.choices:
            limits.append("one of " + "/".join(str(c) for c in spec.choices))
        unit = f" {spec.unit}" if spec.unit else ""
        extra = f" ({', '.join(limits)})" if limits else ""
        lines.append(f"  {info.name}: {spec.name}={spec.default}{unit}{extra}  {spec.label}")
    return "\n".join(lines)
