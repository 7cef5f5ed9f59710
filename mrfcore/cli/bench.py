"""``mrf bench NAME``: run one of the benchmarks in :mod:`mrfcore.bench`."""

from __future__ import annotations

import argparse
import importlib
import pkgutil

import mrfcore.bench


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench", help="measure speed and accuracy; prints tables (see 'mrf bench -h')"
    )
    benchmarks = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for info in sorted(pkgutil.iter_modules(mrfcore.bench.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"mrfcore.bench.{info.name}")
        doc = (module.__doc__ or "").strip().splitlines()
        sub = benchmarks.add_parser(
            info.name, help=doc[0] if doc else "", description=module.__doc__
        )
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
