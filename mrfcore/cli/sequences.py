"""``mrf sequences``: list the built-in schedules, show one, or export it."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sequences",
        help="list built-in sequences, show one, or export it as CSV/JSON",
        description="Without arguments, list the built-in sequences.",
    )
    parser.add_argument("name", nargs="?", help="built-in name or schedule file to show")
    parser.add_argument("--te", type=float, default=None, metavar="MS", help="override TE (ms)")
    parser.add_argument("--out", help="write the schedule to this .csv or .json file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mrfcore.sequences import BUILTIN_SEQUENCES, load_sequence, write_sequence

    if args.name is None:
        for name in BUILTIN_SEQUENCES:
            sequence = load_sequence(name)
            print(
                f"{name:18s} {sequence.n_frames:5d} frames  {sequence.readout:5s}  "
                f"hash {sequence.content_hash()}  {sequence.description}"
            )
        return 0
    sequence = load_sequence(args.name, te_ms=args.te)
    prep = "none" if sequence.ti_ms is None else f"inversion, TI {sequence.ti_ms:g} ms"
    print(f"name         {sequence.name}")
    print(f"description  {sequence.description}")
    print(f"frames       {sequence.n_frames}")
    print(f"readout      {sequence.readout}")
    print(f"preparation  {prep}")
    print(f"flip angle   {sequence.flip_angle_deg.min():g}–{sequence.flip_angle_deg.max():g}°")
    print(f"TR           {sequence.tr_ms.min():g}–{sequence.tr_ms.max():g} ms")
    print(f"TE           {sequence.te_ms.min():g}–{sequence.te_ms.max():g} ms")
    print(f"duration     {sequence.duration_ms / 1000:.2f} s")
    print(f"hash         {sequence.content_hash()}")
    if args.out:
        print(f"wrote        {write_sequence(sequence, args.out)}")
    return 0
