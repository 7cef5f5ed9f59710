"""``mrf dictionary``: build (or load from the cache) a compressed dictionary."""

from __future__ import annotations

import argparse

from mrfcore.cli._common import add_device_argument, add_sequence_arguments


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dictionary",
        help="build or load the compressed dictionary of a sequence",
        description="Simulate a dictionary over a T1/T2[/B1] grid, compress it to its SVD "
        "subspace and keep it in the user's cache (a second request loads it).",
    )
    add_sequence_arguments(parser)
    parser.add_argument("--rank", type=int, default=10, help="subspace dimension s (default 10)")
    from mrfcore.dictionary import GRID_PRESETS

    presets = "; ".join(f"{name}: {text}" for name, text in GRID_PRESETS.items())
    parser.add_argument(
        "--grid", default="paper", metavar="NAME", help=f"grid preset (default paper) – {presets}"
    )
    parser.add_argument(
        "--t1", metavar="START:STOP:STEP", help="regular T1 axis in ms (with --t2; replaces --grid)"
    )
    parser.add_argument("--t2", metavar="START:STOP:STEP", help="regular T2 axis in ms")
    parser.add_argument(
        "--t2-le-t1", action="store_true", help="with --t1/--t2: drop atoms with T2 > T1"
    )
    parser.add_argument(
        "--b1",
        metavar="LIST|START:STOP:STEP",
        help="add a relative-B1 axis, e.g. 0.8,0.9,1.0 or 0.7:1.3:0.05",
    )
    parser.add_argument("--max-states", type=int, default=None, help="EPG state truncation")
    parser.add_argument("--out", metavar="FILE", help="also write the dictionary to this .h5 file")
    parser.add_argument(
        "--no-cache", action="store_true", help="build afresh; neither read nor write the cache"
    )
    add_device_argument(parser)
    parser.set_defaults(handler=run)


def parse_axis(text: str, name: str) -> list[float] | tuple[float, float, float]:
    """``"a:b:c"`` → (start, stop, step); ``"a,b,c"`` or ``"a"`` → list of values."""
    try:
        if ":" in text:
            parts = [float(v) for v in text.split(":")]
            if len(parts) != 3:
                raise ValueError
            return (parts[0], parts[1], parts[2])
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(
            f"--{name} must be START:STOP:STEP or a comma-separated list, got {text!r}"
        ) from None


def grid_from_args(args: argparse.Namespace):
    import numpy as np

    from mrfcore.dictionary import ParameterGrid, grid_preset, inclusive_range

    b1 = None
    if args.b1:
        axis = parse_axis(args.b1, "b1")
        b1 = inclusive_range("--b1", axis) if isinstance(axis, tuple) else np.asarray(axis)
    if args.t1 or args.t2:
        if not (args.t1 and args.t2):
            raise ValueError("--t1 and --t2 go together")
        t1, t2 = parse_axis(args.t1, "t1"), parse_axis(args.t2, "t2")
        if not (isinstance(t1, tuple) and isinstance(t2, tuple)):
            raise ValueError("--t1 and --t2 must be START:STOP:STEP ranges in ms")
        return ParameterGrid.regular(t1, t2, b1, t2_le_t1=args.t2_le_t1)
    return grid_preset(args.grid, b1)


def run(args: argparse.Namespace) -> int:
    import time

    from mrfcore.cli._common import TerminalProgress, sequence_from_args
    from mrfcore.dictionary import build_dictionary, load_or_build_dictionary

    sequence = sequence_from_args(args)
    grid = grid_from_args(args)
    progress = TerminalProgress().progress()
    started = time.perf_counter()
    if args.no_cache:
        dictionary = build_dictionary(
            sequence,
            grid,
            args.rank,
            device=args.device,
            progress=progress,
            max_states=args.max_states,
        )
        source = "built (cache not used)"
    else:
        dictionary = load_or_build_dictionary(
            sequence,
            grid,
            args.rank,
            device=args.device,
            progress=progress,
            max_states=args.max_states,
        )
        cache = dictionary.metadata.get("cache")
        where = dictionary.metadata.get("cache_path")
        source = f"loaded from cache {where}" if cache == "hit" else f"built, cached in {where}"
    elapsed = time.perf_counter() - started
    metadata = dictionary.metadata
    print(
        f"sequence         {sequence.name} ({sequence.n_frames} frames, hash "
        f"{dictionary.sequence_hash})"
    )
    print(
        f"grid             {metadata['grid'].get('kind', 'custom')}, "
        f"{dictionary.n_atoms:,} atoms ({', '.join(dictionary.parameter_names())})"
    )
    print(f"rank             {dictionary.rank}")
    print(f"energy captured  {100 * dictionary.energy_captured:.5f} %")
    print(f"method           {metadata['method']}")
    print(f"device           {metadata['device']}")
    print(f"time             {elapsed:.2f} s ({source})")
    if args.out:
        print(f"wrote            {dictionary.save(args.out)}")
    return 0
